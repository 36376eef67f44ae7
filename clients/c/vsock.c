/* vsock: AF_VSOCK streams against the host's side of Firecracker's vsock device (the test rig runs it):
 * connects to the host's echo server on port 5000 (a Unix socket `<uds_path>_5000` on the host), sends
 * 64 KiB, shuts its sending side and checks the echo (closing ends the host's connection); a non-blocking connect to the same server, waited for with poll; a connect
 * to port 5001, where nothing listens, refused with ECONNRESET (as on Linux); then listens on port 6000,
 * takes one connection from the host, reads HOST_BYTES bytes and answers "got N sum S" (the host cannot
 * end its side first: Firecracker turns a host's half close into a shutdown both ways).
 * One line per failed check, then "vsock: N passed, M failed"; the exit status is M. */
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

/* What the host sends the guest's server (the test harness's HOST_BYTES). */
#define HOST_BYTES 200000ul

static unsigned local_cid;

static void test_local_cid(void) {
    int fd = open("/dev/vsock", O_RDONLY);
    CHECK("open /dev/vsock", fd >= 0);
    CHECK("IOCTL_VM_SOCKETS_GET_LOCAL_CID", ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &local_cid) == 0);
    printf("vsock: local CID %u\n", local_cid);
    close(fd);
}

static void test_socket_rules(void) {
    errno = 0;
    CHECK("no datagram vsock", socket(AF_VSOCK, SOCK_DGRAM, 0) < 0 && errno == ESOCKTNOSUPPORT);
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK("socket", s >= 0);
    struct sockaddr_vm me;
    socklen_t len = sizeof me;
    CHECK("unbound getsockname", getsockname(s, (struct sockaddr *)&me, &len) == 0 && len == sizeof me &&
                                     me.svm_family == AF_VSOCK && me.svm_port == VMADDR_PORT_ANY);
    errno = 0;
    CHECK("unconnected getpeername", getpeername(s, (struct sockaddr *)&me, &len) < 0 && errno == ENOTCONN);
    errno = 0;
    CHECK("listen before bind", listen(s, 1) < 0 && errno == EINVAL);
    struct sockaddr_vm other = vm_addr(local_cid + 100, 7000);
    errno = 0;
    CHECK("bind to another CID", bind(s, (struct sockaddr *)&other, sizeof other) < 0 && errno == EADDRNOTAVAIL);
    struct sockaddr_vm any = vm_addr(VMADDR_CID_ANY, VMADDR_PORT_ANY);
    CHECK("bind to any port", bind(s, (struct sockaddr *)&any, sizeof any) == 0);
    len = sizeof me;
    CHECK("bound port", getsockname(s, (struct sockaddr *)&me, &len) == 0 && me.svm_port != VMADDR_PORT_ANY);
    int t = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm same = vm_addr(VMADDR_CID_ANY, me.svm_port);
    errno = 0;
    CHECK("port in use", bind(t, (struct sockaddr *)&same, sizeof same) < 0 && errno == EADDRINUSE);
    close(t);
    close(s);
}

static void test_echo(void) {
    static char out[64 * 1024], back[64 * 1024];
    for (unsigned i = 0; i < sizeof out; i++)
        out[i] = pattern(i);
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm host = vm_addr(VMADDR_CID_HOST, 5000);
    CHECK("connect to the host", connect(s, (struct sockaddr *)&host, sizeof host) == 0);
    struct sockaddr_vm a;
    socklen_t len = sizeof a;
    CHECK("getpeername", getpeername(s, (struct sockaddr *)&a, &len) == 0 && a.svm_cid == VMADDR_CID_HOST &&
                             a.svm_port == 5000);
    len = sizeof a;
    CHECK("getsockname", getsockname(s, (struct sockaddr *)&a, &len) == 0 && a.svm_cid == local_cid &&
                             a.svm_port != VMADDR_PORT_ANY);
    CHECK("write 64 KiB", write_all(s, out, sizeof out) == (int)sizeof out);
    /* Firecracker keeps the host's stream open on a half close, so the echo still comes. */
    CHECK("shutdown write", shutdown(s, SHUT_WR) == 0);
    errno = 0;
    CHECK("write after shutdown", send(s, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE);
    int got = read_all(s, back, sizeof back);
    CHECK("echo length", got == (int)sizeof out);
    CHECK("echo data", memcmp(out, back, sizeof out) == 0);
    close(s);
    printf("vsock: guest->host echo %d bytes\n", got);
}

static void test_nonblocking(void) {
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_vm host = vm_addr(VMADDR_CID_HOST, 5000);
    errno = 0;
    CHECK("non-blocking connect", connect(s, (struct sockaddr *)&host, sizeof host) < 0 && errno == EINPROGRESS);
    struct pollfd p = {.fd = s, .events = POLLOUT};
    CHECK("poll for the connection", poll(&p, 1, 10000) == 1 && (p.revents & POLLOUT));
    int err = -1;
    socklen_t len = sizeof err;
    CHECK("SO_ERROR", getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0);
    char buf[16];
    errno = 0;
    CHECK("nothing to read yet", read(s, buf, sizeof buf) < 0 && errno == EAGAIN);
    CHECK("send ping", send(s, "ping", 4, 0) == 4);
    p.events = POLLIN;
    CHECK("poll for the echo", poll(&p, 1, 10000) == 1 && (p.revents & POLLIN));
    int n = 0;
    CHECK("FIONREAD", ioctl(s, FIONREAD, &n) == 0 && n == 4);
    CHECK("peek", recv(s, buf, sizeof buf, MSG_PEEK) == 4);
    CHECK("echo ping", recv(s, buf, sizeof buf, 0) == 4 && memcmp(buf, "ping", 4) == 0);
    close(s);
}

static void test_refused(void) {
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm host = vm_addr(VMADDR_CID_HOST, 5001);
    errno = 0;
    CHECK("refused connect", connect(s, (struct sockaddr *)&host, sizeof host) < 0 && errno == ECONNRESET);
    close(s);
}

static void test_server(void) {
    int l = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm me = vm_addr(VMADDR_CID_ANY, 6000);
    CHECK("bind 6000", bind(l, (struct sockaddr *)&me, sizeof me) == 0);
    CHECK("listen", listen(l, 4) == 0);
    int on = -1;
    socklen_t len = sizeof on;
    CHECK("SO_ACCEPTCONN", getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on == 1);
    printf("vsock: listening on port 6000\n");
    fflush(stdout);
    struct sockaddr_vm peer;
    len = sizeof peer;
    int c = accept4(l, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
    CHECK("accept", c >= 0 && peer.svm_cid == VMADDR_CID_HOST && len == sizeof peer);
    unsigned long total, sum;
    unsigned long bad = read_pattern(c, HOST_BYTES, NULL, &total, &sum);
    CHECK("host data matches the pattern", bad == 0 && total == HOST_BYTES);
    char reply[64];
    int n = snprintf(reply, sizeof reply, "got %lu sum %lu\n", total, sum);
    CHECK("reply", write_all(c, reply, n) == n);
    printf("vsock: host->guest %lu bytes\n", total);
    close(c);
    close(l);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    test_local_cid();
    test_socket_rules();
    test_echo();
    test_nonblocking();
    test_refused();
    test_server();
    return summary("vsock");
}
