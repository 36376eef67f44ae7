/* vsock-snap: AF_VSOCK across a Firecracker snapshot restore (the test rig pauses the VM, snapshots it, stops
 * that Firecracker and restores the snapshot in a new one; Firecracker then has the device send
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET). Before: listens on port 6000, connects to the host's echo server
 * (port 5000) and checks an echo, takes the host's connection to port 6000 ("hello" / "hi"), and prints
 * SNAPSHOT_MARK, on which the rig takes the snapshot. Then it waits (poll) for both connections to fail:
 * each read gives ECONNRESET, as on Linux. After: the listening socket still listens; a new connection to
 * the host's echo server echoes 64 KiB; the host's new connection to port 6000 delivers HOST_BYTES bytes of
 * the pattern, checked and answered "got N sum S".
 * One line per failed check, then "vsock-snap: N passed, M failed"; the exit status is M. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "vm_sockets.h"

/* What the rig waits for before it pauses the VM (the test harness's SNAPSHOT_MARK). */
#define SNAPSHOT_MARK "vsock-snap: ready for the snapshot"
/* What the host sends the guest's server after the restore (the test harness's SNAP_HOST_BYTES). */
#define HOST_BYTES 100000ul
/* How long any one wait may take before it counts as failed. */
#define WAIT_MS 60000

static unsigned get_local_cid(void) {
    unsigned cid = 0;
    int fd = open("/dev/vsock", O_RDONLY);
    CHECK("IOCTL_VM_SOCKETS_GET_LOCAL_CID", fd >= 0 && ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) == 0);
    if (fd >= 0)
        close(fd);
    return cid;
}

/* Waits up to WAIT_MS for `fd` to be readable (or failed); whether it is. */
static int readable(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, WAIT_MS) == 1;
}

static int connect_host(unsigned port) {
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm host = vm_addr(VMADDR_CID_HOST, port);
    if (s < 0 || connect(s, (struct sockaddr *)&host, sizeof host) < 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    return s;
}

/* Sends `n` bytes of the pattern to the echo server on `s` and checks they come back. */
static void echo(int s, int n, const char *name) {
    static char out[64 * 1024], back[64 * 1024];
    for (int i = 0; i < n; i++)
        out[i] = pattern(i);
    CHECK(name, write_all(s, out, n) == n && readable(s) && read_all(s, back, n) == n && memcmp(out, back, n) == 0);
}

/* Accepts the host's next connection on listening socket `l` (waiting at most WAIT_MS). */
static int accept_host(int l) {
    if (!readable(l))
        return -1;
    struct sockaddr_vm peer;
    socklen_t len = sizeof peer;
    int c = accept(l, (struct sockaddr *)&peer, &len);
    if (c >= 0 && peer.svm_cid != VMADDR_CID_HOST) {
        close(c);
        return -1;
    }
    return c;
}

/* Waits for the transport reset: both connections report an error, and reading them gives ECONNRESET. */
static void wait_for_reset(int to_host, int from_host) {
    struct pollfd p[2] = {{.fd = to_host, .events = POLLIN}, {.fd = from_host, .events = POLLIN}};
    int both = 0;
    for (int i = 0; i < 2 * WAIT_MS / 100 && !both; i++) {
        poll(p, 2, 100);
        both = (p[0].revents & POLLERR) && (p[1].revents & POLLERR);
    }
    CHECK("both connections fail (POLLERR)", both);
    char c;
    errno = 0;
    CHECK("read of the guest's connection: ECONNRESET", read(to_host, &c, 1) < 0 && errno == ECONNRESET);
    errno = 0;
    CHECK("read of the host's connection: ECONNRESET", read(from_host, &c, 1) < 0 && errno == ECONNRESET);
    errno = 0;
    CHECK("send on a reset connection fails", send(to_host, "x", 1, MSG_NOSIGNAL) < 0);
    int err = -1;
    socklen_t len = sizeof err;
    CHECK("SO_ERROR: ECONNRESET",
          getsockopt(from_host, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == ECONNRESET);
    printf("vsock-snap: both connections reset\n");
}

/* Reads HOST_BYTES bytes of the pattern from the host on `c`, checks them, answers "got N sum S". */
static void serve(int c) {
    unsigned long total = 0, sum = 0, bad = 0;
    static char buf[8192];
    while (total < HOST_BYTES && readable(c)) {
        int r = read(c, buf, sizeof buf);
        if (r <= 0)
            break;
        for (int i = 0; i < r; i++, total++) {
            sum += (unsigned char)buf[i];
            bad += (unsigned char)buf[i] != pattern(total);
        }
    }
    CHECK("host data after the restore matches the pattern", bad == 0 && total == HOST_BYTES);
    char reply[64];
    int n = snprintf(reply, sizeof reply, "got %lu sum %lu\n", total, sum);
    CHECK("reply", write_all(c, reply, n) == n);
    printf("vsock-snap: host->guest after the restore: %lu bytes\n", total);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    unsigned cid = get_local_cid();
    printf("vsock-snap: local CID %u\n", cid);
    int l = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm me = vm_addr(VMADDR_CID_ANY, 6000);
    CHECK("bind 6000", bind(l, (struct sockaddr *)&me, sizeof me) == 0);
    CHECK("listen", listen(l, 4) == 0);

    int a = connect_host(5000);
    CHECK("connect to the host before the snapshot", a >= 0);
    echo(a, 4096, "echo before the snapshot");
    int b = accept_host(l);
    CHECK("accept the host's connection before the snapshot", b >= 0);
    char line[16] = {0};
    CHECK("greeting", readable(b) && read(b, line, sizeof line - 1) == 6 && strcmp(line, "hello\n") == 0);
    CHECK("answer", write_all(b, "hi\n", 3) == 3);
    printf("%s\n", SNAPSHOT_MARK);

    wait_for_reset(a, b);
    close(a);
    close(b);
    printf("vsock-snap: local CID after the restore %u\n", get_local_cid());

    int on = 0;
    socklen_t len = sizeof on;
    CHECK("still listening", getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on == 1);
    int d = connect_host(5000);
    CHECK("connect to the host after the restore", d >= 0);
    echo(d, 64 * 1024, "echo after the restore");
    close(d);
    printf("vsock-snap: guest->host after the restore: echo 65536 bytes\n");
    int c = accept_host(l);
    CHECK("accept the host's connection after the restore", c >= 0);
    serve(c);
    close(c);
    close(l);
    return summary("vsock-snap");
}
