/* events: self-checking tour of the readiness calls: eventfd, epoll (level, edge, one-shot, nested, woken
 * by another process), timerfd (one-shot, interval, read blocking, in epoll), signalfd (non-blocking,
 * several signals a read, a new set, poll and epoll, a read woken by another process's kill), and poll over
 * them. One line
 * per failed check, then "events: N passed, M failed"; the exit status is M. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void test_eventfd(void) {
    int fd = eventfd(3, EFD_NONBLOCK);
    CHECK("eventfd create", fd >= 0);
    uint64_t v = 0;
    CHECK("eventfd read", read(fd, &v, 8) == 8 && v == 3);
    CHECK("eventfd empty EAGAIN", read(fd, &v, 8) < 0 && errno == EAGAIN);
    CHECK("eventfd short read EINVAL", read(fd, &v, 4) < 0 && errno == EINVAL);
    v = 5;
    CHECK("eventfd write", write(fd, &v, 8) == 8 && write(fd, &v, 8) == 8);
    CHECK("eventfd sums", read(fd, &v, 8) == 8 && v == 10);
    v = UINT64_MAX;
    CHECK("eventfd write max EINVAL", write(fd, &v, 8) < 0 && errno == EINVAL);
    v = UINT64_MAX - 1;
    CHECK("eventfd fill", write(fd, &v, 8) == 8);
    v = 1;
    CHECK("eventfd overflow EAGAIN", write(fd, &v, 8) < 0 && errno == EAGAIN);
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    CHECK("eventfd poll full", poll(&p, 1, 0) == 1 && p.revents == POLLIN);
    close(fd);

    fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    CHECK("eventfd semaphore", read(fd, &v, 8) == 8 && v == 1 && read(fd, &v, 8) == 8 && v == 1 &&
                                   read(fd, &v, 8) < 0 && errno == EAGAIN);
    close(fd);
    CHECK("eventfd bad flags", eventfd(0, 0x10) < 0 && errno == EINVAL);
}

static void test_epoll(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK("epoll_create1", ep >= 0);
    CHECK("epoll_create 0 EINVAL", syscall(SYS_epoll_create, 0) < 0 && errno == EINVAL);
    int p[2];
    CHECK("pipe", pipe(p) == 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
    CHECK("epoll_ctl add", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
    CHECK("epoll_ctl add twice EEXIST", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) < 0 && errno == EEXIST);
    CHECK("epoll_ctl self EINVAL", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev) < 0 && errno == EINVAL);
    CHECK("epoll_ctl mod missing ENOENT", epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev) < 0 && errno == ENOENT);
    CHECK("epoll_ctl bad fd EBADF", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev) < 0 && errno == EBADF);
    CHECK("epoll_ctl on a pipe EINVAL", epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev) < 0 && errno == EINVAL);

    struct epoll_event out[4];
    long long t0 = now_ms();
    CHECK("epoll_wait timeout", epoll_wait(ep, out, 4, 50) == 0 && now_ms() - t0 >= 45);
    CHECK("write pipe", write(p[1], "ab", 2) == 2);
    CHECK("epoll_wait level", epoll_wait(ep, out, 4, 0) == 1 && out[0].events == EPOLLIN &&
                                  out[0].data.u64 == 0x1122334455667788ULL);
    CHECK("epoll_wait level again", epoll_wait(ep, out, 4, 0) == 1);

    ev.events = EPOLLIN | EPOLLET;
    CHECK("epoll_ctl mod edge", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) == 0);
    CHECK("epoll_wait edge", epoll_wait(ep, out, 4, 0) == 1);
    CHECK("epoll_wait edge once", epoll_wait(ep, out, 4, 0) == 0);
    CHECK("write pipe again", write(p[1], "c", 1) == 1);
    CHECK("epoll_wait new edge", epoll_wait(ep, out, 4, 0) == 1);

    ev.events = EPOLLIN | EPOLLONESHOT;
    CHECK("epoll_ctl mod oneshot", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) == 0);
    CHECK("epoll_wait oneshot", epoll_wait(ep, out, 4, 0) == 1);
    CHECK("epoll_wait oneshot disarmed", epoll_wait(ep, out, 4, 0) == 0);
    CHECK("epoll_ctl rearm", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) == 0 && epoll_wait(ep, out, 4, 0) == 1);

    ev.events = EPOLLOUT;
    ev.data.fd = p[1];
    CHECK("epoll_ctl add writer", epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev) == 0);
    CHECK("epoll_ctl del reader", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL) == 0);
    CHECK("epoll_wait writable", epoll_wait(ep, out, 4, 0) == 1 && out[0].events == EPOLLOUT &&
                                     out[0].data.fd == p[1]);
    close(p[0]);
    CHECK("epoll_wait reader gone", epoll_wait(ep, out, 4, 0) == 1 && (out[0].events & EPOLLERR));
    close(p[1]);
    CHECK("epoll_wait closed files leave", epoll_wait(ep, out, 4, 0) == 0);

    /* Nested: an epoll watching an eventfd, watched by another. */
    int efd = eventfd(0, EFD_NONBLOCK);
    int outer = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.fd = efd;
    CHECK("nested add inner", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0);
    ev.data.fd = ep;
    CHECK("nested add outer", epoll_ctl(outer, EPOLL_CTL_ADD, ep, &ev) == 0);
    ev.data.fd = outer;
    CHECK("nested loop ELOOP", epoll_ctl(ep, EPOLL_CTL_ADD, outer, &ev) < 0 && errno == ELOOP);
    CHECK("nested idle", epoll_wait(outer, out, 4, 0) == 0);

    /* Another process signals the eventfd while this one sleeps in epoll_wait. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec d = {0, 30 * 1000 * 1000};
        nanosleep(&d, NULL);
        uint64_t one = 1;
        _exit(write(efd, &one, 8) == 8 ? 0 : 1);
    }
    t0 = now_ms();
    int n = epoll_wait(outer, out, 4, 5000);
    CHECK("nested woken by child", n == 1 && out[0].data.fd == ep && now_ms() - t0 < 4000);
    CHECK("inner ready", epoll_wait(ep, out, 4, 0) == 1 && out[0].data.fd == efd);
    int status;
    CHECK("child exit", waitpid(pid, &status, 0) == pid && status == 0);
    close(outer);
    close(ep);
    close(efd);
}

static void test_timerfd(void) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    CHECK("timerfd_create", fd >= 0);
    CHECK("timerfd bad clock", timerfd_create(12345, 0) < 0 && errno == EINVAL);
    uint64_t ticks;
    CHECK("timerfd disarmed EAGAIN", read(fd, &ticks, 8) < 0 && errno == EAGAIN);
    struct itimerspec its = {{0, 0}, {0, 40 * 1000 * 1000}}, cur;
    long long t0 = now_ms();
    CHECK("timerfd_settime", timerfd_settime(fd, 0, &its, NULL) == 0);
    CHECK("timerfd_gettime", timerfd_gettime(fd, &cur) == 0 && cur.it_value.tv_sec == 0 &&
                                 cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 40 * 1000 * 1000);
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, 2000);
    long long waited = now_ms() - t0;
    CHECK("timerfd poll fires", n == 1 && p.revents == POLLIN);
    if (waited < 39)
        printf("timerfd fired after %lld ms\n", waited);
    CHECK("timerfd poll waits", waited >= 39);
    CHECK("timerfd read one", read(fd, &ticks, 8) == 8 && ticks == 1);
    CHECK("timerfd one-shot done", timerfd_gettime(fd, &cur) == 0 && cur.it_value.tv_sec == 0 &&
                                       cur.it_value.tv_nsec == 0);
    close(fd);

    /* An interval timer in epoll, then a blocking read. */
    fd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec iv = {{0, 20 * 1000 * 1000}, {0, 20 * 1000 * 1000}};
    CHECK("timerfd interval", timerfd_settime(fd, 0, &iv, NULL) == 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd}, out[2];
    CHECK("timerfd epoll add", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
    CHECK("timerfd epoll fires", epoll_wait(ep, out, 2, 2000) == 1 && out[0].data.fd == fd);
    struct timespec d = {0, 70 * 1000 * 1000};
    nanosleep(&d, NULL);
    CHECK("timerfd ticks add up", read(fd, &ticks, 8) == 8 && ticks >= 3);
    t0 = now_ms();
    CHECK("timerfd blocking read", read(fd, &ticks, 8) == 8 && ticks >= 1 && now_ms() - t0 < 1000);
    struct itimerspec off = {{0, 0}, {0, 0}};
    CHECK("timerfd disarm returns old", timerfd_settime(fd, 0, &off, &cur) == 0 &&
                                            cur.it_interval.tv_nsec == 20 * 1000 * 1000);
    CHECK("timerfd disarmed quiet", epoll_wait(ep, out, 2, 60) == 0);

    /* Absolute time on the realtime clock. */
    int rt = timerfd_create(CLOCK_REALTIME, 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    now.tv_nsec += 30 * 1000 * 1000;
    if (now.tv_nsec >= 1000000000) {
        now.tv_sec++;
        now.tv_nsec -= 1000000000;
    }
    struct itimerspec abs = {{0, 0}, now};
    CHECK("timerfd absolute", timerfd_settime(rt, TFD_TIMER_ABSTIME, &abs, NULL) == 0);
    t0 = now_ms();
    CHECK("timerfd absolute fires", read(rt, &ticks, 8) == 8 && ticks == 1 && now_ms() - t0 < 1000);
    close(rt);
    close(ep);
    close(fd);
}

static void test_signalfd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, 0);

    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    int fd = signalfd(-1, &usr1, SFD_NONBLOCK | SFD_CLOEXEC);
    CHECK("signalfd create", fd >= 0);
    CHECK("signalfd cloexec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
    CHECK("signalfd nonblock", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    struct signalfd_siginfo si[2];
    CHECK("signalfd empty EAGAIN", read(fd, si, sizeof si[0]) < 0 && errno == EAGAIN);
    CHECK("signalfd short buffer EINVAL", read(fd, si, sizeof si[0] - 1) < 0 && errno == EINVAL);
    struct pollfd p = {fd, POLLIN, 0};
    CHECK("signalfd not ready", poll(&p, 1, 0) == 0);

    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2); /* not in the set: stays pending */
    CHECK("signalfd ready", poll(&p, 1, 0) == 1 && p.revents == POLLIN);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 9};
    struct epoll_event out;
    CHECK("signalfd epoll", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0 && epoll_wait(ep, &out, 1, 0) == 1 &&
                                out.data.u32 == 9);
    CHECK("signalfd read", read(fd, si, sizeof si) == (ssize_t)sizeof si[0] && si[0].ssi_signo == SIGUSR1);
    CHECK("signalfd consumed", read(fd, si, sizeof si[0]) < 0 && errno == EAGAIN && epoll_wait(ep, &out, 1, 0) == 0);

    /* A new set for the same descriptor: the pending SIGUSR2 is read now, with a SIGCHLD, in one read. */
    CHECK("signalfd new set", signalfd(fd, &set, 0) == fd);
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, 0, 0);
    ssize_t n = read(fd, si, sizeof si);
    CHECK("signalfd two at once", n == 2 * (ssize_t)sizeof si[0] && si[0].ssi_signo == SIGUSR2 &&
                                      si[1].ssi_signo == SIGCHLD);
    sigset_t pending;
    sigpending(&pending);
    CHECK("signalfd took them", !sigismember(&pending, SIGUSR1) && !sigismember(&pending, SIGUSR2));

    /* A blocking read waits until another process sends the signal. */
    int blocking = signalfd(-1, &usr1, 0);
    pid_t parent = getpid();
    child = fork();
    if (child == 0) {
        struct timespec t = {0, 30000000};
        nanosleep(&t, 0);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    long long t0 = now_ms();
    n = read(blocking, si, sizeof si[0]);
    CHECK("signalfd blocking read", n == (ssize_t)sizeof si[0] && si[0].ssi_signo == SIGUSR1 && now_ms() - t0 >= 20);
    waitpid(child, 0, 0);

    CHECK("signalfd bad flags", signalfd(-1, &usr1, 0x1234) < 0 && errno == EINVAL);
    CHECK("signalfd not a signalfd", signalfd(ep, &usr1, 0) < 0 && errno == EINVAL);
    CHECK("signalfd bad fd", signalfd(1000, &usr1, 0) < 0 && errno == EBADF);
    CHECK("signalfd write EINVAL", write(fd, si, sizeof si[0]) < 0 && errno == EINVAL);
    close(blocking);
    close(ep);
    close(fd);
    sigprocmask(SIG_UNBLOCK, &set, 0); /* a SIGCHLD still pending is ignored by default */
}

int main(void) {
    test_eventfd();
    test_epoll();
    test_timerfd();
    test_signalfd();
    return summary("events");
}
