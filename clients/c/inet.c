/* inet: TCP and UDP over the network device, against servers the test harness runs on the host (QEMU's
 * user network reaches the host at 10.0.2.2): `inet TCP_PORT UDP_PORT` connects to the host's TCP echo
 * server, exchanges a datagram with its UDP echo server, then serves one connection on guest port 8080
 * (forwarded from the host). One line per failed check, then "inet: N passed, M failed"; the exit status is
 * M. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static struct sockaddr_in host(int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "10.0.2.2", &a.sin_addr);
    return a;
}

/* Reads until `n` bytes or end of file. */
static void test_tcp(int port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK("tcp socket", s >= 0);
    int one = 1;
    CHECK("TCP_NODELAY", setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
    struct sockaddr_in a = host(port);
    CHECK("tcp connect", connect(s, (struct sockaddr *)&a, sizeof a) == 0);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    CHECK("tcp getsockname", getsockname(s, (struct sockaddr *)&me, &len) == 0 && me.sin_family == AF_INET &&
                                 ntohs(me.sin_port) != 0);
    /* 100 KiB through the host's echo server, in one write: more than the socket buffers hold. */
    static char out[100 * 1024], back[100 * 1024];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (char)(i * 7);
    fflush(stdout);
    if (fork() == 0) {
        _exit(write(s, out, sizeof out) == sizeof out ? 0 : 1);
    }
    CHECK("tcp echo", read_all(s, back, sizeof back) == sizeof back && memcmp(out, back, sizeof out) == 0);
    CHECK("tcp shutdown", shutdown(s, SHUT_WR) == 0);
    char c;
    CHECK("tcp end of file", read(s, &c, 1) == 0);
    close(s);

    /* A non-blocking connect, completed through poll. */
    s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK("nonblocking connect", connect(s, (struct sockaddr *)&a, sizeof a) < 0 && errno == EINPROGRESS);
    struct pollfd p = {s, POLLOUT, 0};
    CHECK("poll connected", poll(&p, 1, 5000) == 1 && (p.revents & POLLOUT));
    int err = -1;
    len = sizeof err;
    CHECK("SO_ERROR", getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0);
    char buf[16];
    CHECK("nonblocking read EAGAIN", read(s, buf, sizeof buf) < 0 && errno == EAGAIN);
    close(s);

    /* Nothing listens on the host's port 1: refused. */
    s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in closed = host(1);
    CHECK("connect refused", connect(s, (struct sockaddr *)&closed, sizeof closed) < 0 && errno == ECONNREFUSED);
    close(s);
}

static void test_udp(int port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK("udp socket", s >= 0);
    struct sockaddr_in a = host(port), from;
    CHECK("udp sendto", sendto(s, "datagram from ember", 19, 0, (struct sockaddr *)&a, sizeof a) == 19);
    char buf[64];
    socklen_t len = sizeof from;
    int n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
    CHECK("udp echo", n == 19 && memcmp(buf, "datagram from ember", 19) == 0 && from.sin_port == a.sin_port);
    CHECK("udp connect", connect(s, (struct sockaddr *)&a, sizeof a) == 0 && send(s, "again", 5, 0) == 5 &&
                             recv(s, buf, sizeof buf, 0) == 5);
    close(s);
}

static void test_server(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    CHECK("SO_REUSEADDR", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(8080), .sin_addr.s_addr = INADDR_ANY};
    CHECK("bind 8080", bind(s, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK("listen", listen(s, 4) == 0);
    printf("inet: listening on 8080\n");
    fflush(stdout);
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int c = accept(s, (struct sockaddr *)&peer, &len);
    CHECK("accept", c >= 0 && peer.sin_family == AF_INET);
    char buf[5] = {0};
    CHECK("server reads ping", read_all(c, buf, 4) == 4 && memcmp(buf, "ping", 4) == 0);
    CHECK("server answers", write(c, "pong from ember\n", 16) == 16);
    close(c);
    close(s);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        printf("usage: inet TCP_PORT UDP_PORT\n");
        return 100;
    }
    test_tcp(atoi(argv[1]));
    test_udp(atoi(argv[2]));
    test_server();
    return summary("inet");
}
