/* vsock-snap: AF_VSOCK across a Firecracker snapshot restore (the test rig pauses the VM, snapshots it, stops
 * that Firecracker and restores the snapshot in a new one; Firecracker then has the device send
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET). Before: listens on port 6000, connects to the host's echo server
 * (port 5000) and checks an echo, takes the host's connection to port 6000 ("hello" / "hi"), and prints
 * SNAPSHOT_MARK, on which the rig takes the snapshot. Then it waits (poll) for both connections to fail:
 * each read gives ECONNRESET, as on Linux. After: the listening socket still listens; a new connection to
 * the host's echo server echoes 64 KiB; the host's new connection to port 6000 delivers HOST_BYTES bytes of
 * the pattern, checked and answered "got N sum S".
 * With the argument "net" (the clones case, restored several times; see firecracker.rs), the network device
 * too: MMDS version 2 on it, and the rig's Linux at RIG_ADDR behind the tap with an echo server on RIG_PORT.
 * Before the snapshot: an MMDS token and a GET with it (the first Firecracker's metadata), and a TCP
 * connection to the echo server that echoes. After each restore, what Firecracker keeps of MMDS: the version
 * and the network configuration (a GET without a token gets 401, as version 2 answers), not its token key
 * (the old token gets 401) nor its data store (the old path gets 404; the rig puts this clone's own
 * metadata, /clone/index and /clone/existing, before it resumes the VM). The held TCP connection echoes
 * again where its peer still is ("kept": the restore beside the first Firecracker) and is reset elsewhere
 * ("reset": a clone in a new network namespace, whose Linux answers it with RST); a new one echoes 64 KiB.
 * Each clone prints 8 bytes of getrandom(), which must differ between clones (the kernel reseeds from the VM
 * generation ID).
 * One line per failed check, then "vsock-snap: N passed, M failed"; the exit status is M. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "mmds_http.h"
#include "vm_sockets.h"

/* What the rig waits for before it pauses the VM (the test harness's SNAPSHOT_MARK). */
#define SNAPSHOT_MARK "vsock-snap: ready for the snapshot"
/* What the host sends the guest's server after the restore (the test harness's SNAP_HOST_BYTES). */
#define HOST_BYTES 100000ul
/* How long any one wait may take before it counts as failed. */
#define WAIT_MS 60000
/* The rig's Linux behind the tap and its echo server (the test harness's RIG_ADDR and RIG_PORT). */
#define RIG_ADDR "169.254.0.1"
#define RIG_PORT 7000
/* What MMDS serves the first Firecracker at /ember/greeting (the test harness's METADATA). */
#define GREETING "hello from mmds"

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
    unsigned long total, sum;
    unsigned long bad = read_pattern(c, HOST_BYTES, readable, &total, &sum);
    CHECK("host data after the restore matches the pattern", bad == 0 && total == HOST_BYTES);
    char reply[64];
    int n = snprintf(reply, sizeof reply, "got %lu sum %lu\n", total, sum);
    CHECK("reply", write_all(c, reply, n) == n);
    printf("vsock-snap: host->guest after the restore: %lu bytes\n", total);
}

/* A TCP connection to the rig's echo server; -1 when it fails. */
static int connect_rig(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(RIG_PORT)};
    inet_pton(AF_INET, RIG_ADDR, &a.sin_addr);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    return s;
}

/* The MMDS token taken before the snapshot. */
static char old_token[256];

/* Before the snapshot: a token, and the first Firecracker's metadata read with it. */
static void mmds_before(void) {
    static char value[256];
    CHECK("MMDS token before the snapshot", mmds_token(21600, old_token, sizeof old_token) == 200);
    CHECK("MMDS GET before the snapshot",
          mmds_get("/ember/greeting", old_token, value, sizeof value) == 200 && strcmp(value, GREETING) == 0);
}

/* After a restore: what MMDS kept and what it did not (see the top); this clone's index and what its held
 * TCP connection should do, from the clone's metadata, in `index` and `existing`. */
static void mmds_after(char *index, char *existing, int room) {
    static char token[256], value[256];
    CHECK("MMDS: the token from before the snapshot is refused (401)",
          mmds_get("/ember/greeting", old_token, value, sizeof value) == 401);
    CHECK("MMDS: still version 2 (a GET without a token: 401)",
          mmds_get("/ember/greeting", NULL, value, sizeof value) == 401);
    CHECK("MMDS token after the restore", mmds_token(60, token, sizeof token) == 200);
    CHECK("MMDS: the data store was not kept (404)", mmds_get("/ember/greeting", token, value, sizeof value) == 404);
    CHECK("MMDS: /clone/index", mmds_get("/clone/index", token, index, room) == 200);
    CHECK("MMDS: /clone/existing", mmds_get("/clone/existing", token, existing, room) == 200);
}

/* After a restore: the TCP connection held across the snapshot echoes again ("kept") or gives ECONNRESET
 * ("reset"), and a new one echoes. */
static void tcp_after(int t, const char *existing) {
    if (strcmp(existing, "kept") == 0) {
        echo(t, 4096, "the held TCP connection echoes after the restore");
    } else {
        char c;
        errno = 0;
        CHECK("the held TCP connection is reset",
              write(t, "x", 1) == 1 && readable(t) && read(t, &c, 1) < 0 && errno == ECONNRESET);
    }
    close(t);
    int n = connect_rig();
    CHECK("a new TCP connection after the restore", n >= 0);
    echo(n, 64 * 1024, "echo on a new TCP connection after the restore");
    close(n);
    printf("vsock-snap: TCP after the restore: held connection %s, new connection echoes 65536 bytes\n", existing);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int net = 0;
    for (int i = 1; i < argc; i++)
        net |= strcmp(argv[i], "net") == 0;
    int t = -1;
    if (net) {
        mmds_before();
        t = connect_rig();
        CHECK("TCP connection to the rig before the snapshot", t >= 0);
        echo(t, 4096, "TCP echo before the snapshot");
    }
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
    static char index[64] = "?", existing[64] = "?";
    if (net) {
        mmds_after(index, existing, sizeof index);
        printf("vsock-snap: clone %s: MMDS after the restore\n", index);
        unsigned long long r = 0;
        CHECK("getrandom after the restore", getrandom(&r, sizeof r, 0) == sizeof r);
        printf("vsock-snap: clone %s: random %016llx\n", index, r);
        tcp_after(t, existing);
    }

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
    if (net)
        printf("vsock-snap: clone %s done\n", index);
    return summary("vsock-snap");
}
