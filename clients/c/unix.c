/* unix: self-checking tour of AF_UNIX sockets: socketpair (stream and seqpacket), a named echo server and a
 * client in another process, descriptor passing (SCM_RIGHTS) from another process, abstract datagrams,
 * non-blocking calls, shutdown, epoll on sockets. One line per failed check, then
 * "unix: N passed, M failed"; the exit status is M. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static socklen_t path_addr(struct sockaddr_un *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strcpy(a->sun_path, path);
    return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, name, strlen(name));
    return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
}

static int wait_child(pid_t pid) {
    int status;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_pair(void) {
    int sv[2];
    CHECK("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    char buf[64];
    CHECK("pair write", write(sv[0], "hello", 5) == 5 && send(sv[0], " world", 6, 0) == 6);
    CHECK("pair read joins", read(sv[1], buf, sizeof buf) == 11 && memcmp(buf, "hello world", 11) == 0);
    CHECK("pair nonblock EAGAIN", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN);
    CHECK("pair peek", send(sv[1], "abc", 3, 0) == 3 && recv(sv[0], buf, 2, MSG_PEEK) == 2 &&
                           recv(sv[0], buf, sizeof buf, 0) == 3 && memcmp(buf, "abc", 3) == 0);
    struct stat st;
    CHECK("fstat is a socket", fstat(sv[0], &st) == 0 && S_ISSOCK(st.st_mode));
    int type = 0;
    socklen_t len = sizeof type;
    CHECK("SO_TYPE", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM);
    int big = 65536;
    CHECK("SO_RCVBUF set", setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big) == 0);
    CHECK("not a socket", getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) < 0 && errno == ENOTSOCK);

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = sv[1]}, out[2];
    CHECK("epoll add socket", epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) == 0);
    CHECK("epoll socket idle", epoll_wait(ep, out, 2, 0) == 0);
    CHECK("shutdown write", shutdown(sv[0], SHUT_WR) == 0);
    CHECK("epoll sees rdhup", epoll_wait(ep, out, 2, 1000) == 1 && (out[0].events & EPOLLRDHUP));
    CHECK("read end of file", read(sv[1], buf, sizeof buf) == 0);
    signal(SIGPIPE, SIG_IGN);
    CHECK("write after shutdown EPIPE", write(sv[0], "x", 1) < 0 && errno == EPIPE);
    CHECK("reverse still open", write(sv[1], "y", 1) == 1 && read(sv[0], buf, 1) == 1 && buf[0] == 'y');
    close(sv[0]);
    CHECK("peer closed: write EPIPE", send(sv[1], "z", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE);
    struct pollfd p = {sv[1], POLLIN, 0};
    CHECK("poll hangup", poll(&p, 1, 0) == 1 && (p.revents & POLLHUP));
    close(sv[1]);
    close(ep);

    CHECK("seqpacket pair", socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
    CHECK("seqpacket sends", send(sv[0], "one", 3, 0) == 3 && send(sv[0], "three", 5, 0) == 5);
    CHECK("seqpacket keeps boundaries", recv(sv[1], buf, sizeof buf, 0) == 3 && recv(sv[1], buf, 2, 0) == 2 &&
                                            memcmp(buf, "th", 2) == 0);
    close(sv[0]);
    CHECK("seqpacket eof", recv(sv[1], buf, sizeof buf, 0) == 0);
    close(sv[1]);
}

static void test_server(void) {
    const char *path = "/tmp/unix-echo.sock";
    unlink(path);
    struct sockaddr_un a;
    socklen_t alen = path_addr(&a, path);
    int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK("socket", srv >= 0);
    int c0 = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK("connect missing ENOENT", connect(c0, (struct sockaddr *)&a, alen) < 0 && errno == ENOENT);
    CHECK("bind path", bind(srv, (struct sockaddr *)&a, alen) == 0);
    struct stat st;
    CHECK("bound path is a socket", stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    CHECK("bind twice EINVAL", bind(srv, (struct sockaddr *)&a, alen) < 0 && errno == EINVAL);
    CHECK("bind used EADDRINUSE", bind(c0, (struct sockaddr *)&a, alen) < 0 && errno == EADDRINUSE);
    CHECK("connect unlistened ECONNREFUSED", connect(c0, (struct sockaddr *)&a, alen) < 0 && errno == ECONNREFUSED);
    close(c0);
    CHECK("listen", listen(srv, 4) == 0);
    fcntl(srv, F_SETFL, O_NONBLOCK);
    CHECK("accept empty EAGAIN", accept(srv, NULL, NULL) < 0 && errno == EAGAIN);
    fcntl(srv, F_SETFL, 0);

    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, alen) != 0)
            _exit(10);
        struct sockaddr_un peer;
        socklen_t plen = sizeof peer;
        if (getpeername(c, (struct sockaddr *)&peer, &plen) != 0 || strcmp(peer.sun_path, path) != 0)
            _exit(11);
        for (int i = 0; i < 100; i++) {
            char msg[32], back[32];
            int n = snprintf(msg, sizeof msg, "ping %d", i);
            if (write(c, msg, n) != n)
                _exit(12);
            int got = 0;
            while (got < n) {
                int r = read(c, back + got, n - got);
                if (r <= 0)
                    _exit(13);
                got += r;
            }
            if (memcmp(msg, back, n) != 0)
                _exit(14);
        }
        _exit(0);
    }
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    int conn = accept4(srv, (struct sockaddr *)&from, &flen, SOCK_CLOEXEC);
    CHECK("accept", conn >= 0 && flen == offsetof(struct sockaddr_un, sun_path));
    struct sockaddr_un me;
    socklen_t mlen = sizeof me;
    CHECK("getsockname", getsockname(conn, (struct sockaddr *)&me, &mlen) == 0 && strcmp(me.sun_path, path) == 0);
    char buf[256];
    ssize_t n;
    long echoed = 0;
    while ((n = read(conn, buf, sizeof buf)) > 0) {
        if (write(conn, buf, n) != n)
            break;
        echoed += n;
    }
    CHECK("echo to end of file", n == 0 && echoed > 500);
    CHECK("client done", wait_child(pid) == 0);
    close(conn);
    close(srv);
    CHECK("unlink socket path", unlink(path) == 0);
}

static void test_rights(void) {
    int sv[2];
    CHECK("socketpair for rights", socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        int p[2];
        if (pipe(p) != 0 || write(p[1], "via fd", 6) != 6)
            _exit(20);
        close(p[1]);
        char data = 'R';
        struct iovec iov = {&data, 1};
        union {
            struct cmsghdr h;
            char b[CMSG_SPACE(sizeof(int))];
        } u;
        memset(&u, 0, sizeof u);
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &p[0], sizeof(int));
        _exit(sendmsg(sv[1], &m, 0) == 1 ? 0 : 21);
    }
    close(sv[1]);
    char data = 0;
    struct iovec iov = {&data, 1};
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
    CHECK("recvmsg rights", recvmsg(sv[0], &m, MSG_CMSG_CLOEXEC) == 1 && data == 'R');
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    int fd = -1;
    CHECK("cmsg rights", c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                             c->cmsg_len == CMSG_LEN(sizeof(int)));
    if (c)
        memcpy(&fd, CMSG_DATA(c), sizeof fd);
    char buf[16] = {0};
    CHECK("passed fd reads", fd >= 0 && read(fd, buf, sizeof buf) == 6 && strcmp(buf, "via fd") == 0);
    CHECK("passed fd cloexec", fd >= 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
    CHECK("rights sender", wait_child(pid) == 0);
    close(fd);
    close(sv[0]);
}

static void test_dgram(void) {
    struct sockaddr_un a, from;
    socklen_t alen = abstract_addr(&a, "ember-dgram-test");
    int rx = socket(AF_UNIX, SOCK_DGRAM, 0), tx = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    CHECK("bind abstract", bind(rx, (struct sockaddr *)&a, alen) == 0);
    CHECK("sendto", sendto(tx, "datagram", 8, 0, (struct sockaddr *)&a, alen) == 8);
    CHECK("sendto again", sendto(tx, "second", 6, 0, (struct sockaddr *)&a, alen) == 6);
    char buf[64];
    socklen_t flen = sizeof from;
    CHECK("recvfrom", recvfrom(rx, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen) == 8 &&
                          memcmp(buf, "datagram", 8) == 0);
    CHECK("recv truncates", recv(rx, buf, 3, MSG_TRUNC) == 6 && memcmp(buf, "sec", 3) == 0);
    CHECK("recv empty EAGAIN", recv(rx, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN);
    CHECK("connect dgram", connect(tx, (struct sockaddr *)&a, alen) == 0 && send(tx, "c", 1, 0) == 1 &&
                               recv(rx, buf, sizeof buf, 0) == 1);
    struct sockaddr_un none = {.sun_family = AF_UNIX};
    CHECK("autobind", bind(tx, (struct sockaddr *)&none, sizeof(sa_family_t)) == 0);
    socklen_t tlen = sizeof from;
    CHECK("autobind name", getsockname(tx, (struct sockaddr *)&from, &tlen) == 0 && from.sun_path[0] == 0 &&
                               tlen > sizeof(sa_family_t));
    close(rx);
    CHECK("send to closed ECONNREFUSED", send(tx, "x", 1, 0) < 0 && errno == ECONNREFUSED);
    close(tx);
}

int main(void) {
    mkdir("/tmp", 0777);
    test_pair();
    test_server();
    test_rights();
    test_dgram();
    return summary("unix");
}
