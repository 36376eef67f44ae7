/* loopback: TCP and UDP between two processes of the guest over 127.0.0.1, with or without a network device;
 * with LOOPBACK_ADDR set it repeats the TCP and UDP checks over that address (the guest's own, which Linux delivers
 * through lo; a kernel command line word with a dot never reaches init, so the address comes as the environment
 * variable LOOPBACK_ADDR). Also SO_RCVTIMEO and SO_SNDTIMEO on loopback and Unix sockets, and a connection the
 * peer resets (test_reset). One line per failed check, then "loopback: N passed, M failed"; the exit status is M. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static struct sockaddr_in addr(const char *ip, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

/* Reads until `n` bytes or end of file. */
static int child_ok(pid_t pid) {
    int status;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#define STREAM (512 * 1024)

/* A server in this process, a client in a child: 512 KiB one way, a reply the other, then end of file. */
static void test_tcp(const char *ip, int port) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = addr(ip, port);
    CHECK("tcp bind", bind(l, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK("tcp listen", listen(l, 2) == 0);
    static char out[STREAM], in[STREAM];
    for (int i = 0; i < STREAM; i++)
        out[i] = (char)(i * 13 + i / 4096);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof a) != 0)
            _exit(1);
        if (write(c, out, STREAM) != STREAM)
            _exit(2);
        shutdown(c, SHUT_WR);
        char reply[4];
        _exit(read_all(c, reply, 4) == 4 && memcmp(reply, "done", 4) == 0 ? 0 : 3);
    }
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int c = accept(l, (struct sockaddr *)&peer, &len);
    CHECK("tcp accept", c >= 0 && peer.sin_addr.s_addr == a.sin_addr.s_addr && peer.sin_port != 0);
    CHECK("tcp stream", read_all(c, in, STREAM) == STREAM && memcmp(in, out, STREAM) == 0);
    char byte;
    CHECK("tcp end of file", read(c, &byte, 1) == 0);
    CHECK("tcp reply", write(c, "done", 4) == 4);
    CHECK("tcp client", child_ok(pid));
    close(c);
    close(l);
}

/* Connections the peer resets (SO_LINGER with a zero time, then close), reported once as on Linux: POLLERR
 * with POLLHUP, then either the first read gives ECONNRESET, the next the end of the stream and a write
 * EPIPE, or SO_ERROR gives ECONNRESET once (0 after that) and a read the end of the stream. */
static void test_reset(const char *ip, int port) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = addr(ip, port);
    CHECK("reset: listen", bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 2) == 0);
    struct linger zero = {.l_onoff = 1, .l_linger = 0};
    for (int round = 0; round < 2; round++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        CHECK("reset: connect", connect(c, (struct sockaddr *)&a, sizeof a) == 0);
        int s = accept(l, NULL, NULL);
        CHECK("reset: SO_LINGER 0 and close",
              s >= 0 && setsockopt(s, SOL_SOCKET, SO_LINGER, &zero, sizeof zero) == 0 && close(s) == 0);
        struct pollfd p = {.fd = c, .events = POLLIN};
        CHECK("reset: POLLERR and POLLHUP", poll(&p, 1, 5000) == 1 && (p.revents & POLLERR) && (p.revents & POLLHUP));
        char b;
        int err = -1;
        socklen_t len = sizeof err;
        if (round == 0) {
            errno = 0;
            CHECK("reset: read gives ECONNRESET", read(c, &b, 1) < 0 && errno == ECONNRESET);
            CHECK("reset: the next read the end of the stream", read(c, &b, 1) == 0);
            errno = 0;
            CHECK("reset: then a write EPIPE", send(c, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE);
        } else {
            CHECK("reset: SO_ERROR ECONNRESET",
                  getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == ECONNRESET);
            CHECK("reset: SO_ERROR once", getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0);
            CHECK("reset: then a read the end of the stream", read(c, &b, 1) == 0);
        }
        close(c);
    }
    close(l);
}

/* A datagram to a bound socket and its answer back to the sender's ephemeral port. */
static void test_udp(const char *ip, int port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = addr(ip, port);
    CHECK("udp bind", bind(s, (struct sockaddr *)&a, sizeof a) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_INET, SOCK_DGRAM, 0);
        if (sendto(c, "question", 8, 0, (struct sockaddr *)&a, sizeof a) != 8)
            _exit(1);
        char buf[16];
        _exit(recv(c, buf, sizeof buf, 0) == 6 && memcmp(buf, "answer", 6) == 0 ? 0 : 2);
    }
    char buf[16];
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    int n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
    CHECK("udp receive", n == 8 && memcmp(buf, "question", 8) == 0 && from.sin_port != 0);
    CHECK("udp answer", sendto(s, "answer", 6, 0, (struct sockaddr *)&from, len) == 6);
    CHECK("udp client", child_ok(pid));
    close(s);
}

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* Whether a call that failed took about `ms` (the timeout) and said EAGAIN. */
static int timed_out(long long start, int ms, int r) {
    long long took = now_ms() - start;
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && took >= ms - 20 && took < ms + 3000;
}

/* SO_RCVTIMEO on UDP, TCP and Unix sockets; SO_SNDTIMEO on a Unix stream nobody reads. */
static void test_timeouts(void) {
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    char buf[16];
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = addr("127.0.0.1", 7004);
    CHECK("udp timeout setup", bind(u, (struct sockaddr *)&a, sizeof a) == 0 &&
                                   setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    long long start = now_ms();
    CHECK("udp SO_RCVTIMEO", timed_out(start, 200, recv(u, buf, sizeof buf, 0)));
    close(u);

    int l = socket(AF_INET, SOCK_STREAM, 0);
    a = addr("127.0.0.1", 7005);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK("tcp timeout setup", bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 1) == 0 &&
                                   connect(c, (struct sockaddr *)&a, sizeof a) == 0 &&
                                   setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    start = now_ms();
    CHECK("tcp SO_RCVTIMEO", timed_out(start, 200, read(c, buf, sizeof buf)));
    CHECK("accept SO_RCVTIMEO", setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
                                    accept(l, NULL, NULL) >= 0 && (start = now_ms()) > 0 &&
                                    timed_out(start, 200, accept(l, NULL, NULL)));
    close(c);
    close(l);

    int sv[2];
    CHECK("unix timeout setup", socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 &&
                                    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
                                    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
    start = now_ms();
    CHECK("unix SO_RCVTIMEO", timed_out(start, 200, read(sv[0], buf, sizeof buf)));
    static char big[1 << 20];
    int n = write(sv[0], big, sizeof big); /* fills the peer's queue, then times out with a partial count */
    start = now_ms();
    CHECK("unix SO_SNDTIMEO", n > 0 && n < (int)sizeof big && timed_out(start, 200, write(sv[0], big, 4096)));
    close(sv[0]);
    close(sv[1]);
}

int main(void) {
    check_where = " 127.0.0.1";
    test_tcp("127.0.0.1", 7000);
    test_udp("127.0.0.1", 7001);

    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = addr("127.0.0.1", 1);
    CHECK("connect refused", connect(s, (struct sockaddr *)&a, sizeof a) < 0 && errno == ECONNREFUSED);
    close(s);

    s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    a = addr("127.0.0.1", 0);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    CHECK("bind ephemeral", bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 1) == 0 &&
                                getsockname(s, (struct sockaddr *)&me, &len) == 0 && me.sin_port != 0 &&
                                me.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    CHECK("nonblocking accept", accept(s, NULL, NULL) < 0 && errno == EAGAIN);
    close(s);

    test_timeouts();
    test_reset("127.0.0.1", 7004);

    const char *own = getenv("LOOPBACK_ADDR");
    if (own) {
        static char own_where[80];
        snprintf(own_where, sizeof own_where, " %s", own);
        check_where = own_where;
        test_tcp(own, 7002);
        test_udp(own, 7003);
    }
    return summary("loopback");
}
