/* syscalls: self-checking tour of the basic system calls. One line per check ("ok NAME" or
 * "FAIL NAME: details"), then "syscalls: N passed, M failed"; the exit status is M. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/xattr.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define FUTEX_WAIT 0 /* musl ships no <linux/futex.h> */
#define FUTEX_WAKE 1

static int passed, failed;
static __thread int tls_value = 42;

/* All output goes through write(2), so the checks' own writes interleave in order. */
static void say(const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    if (n > 0 && write(1, buf, (size_t)n) < 0)
        failed++;
}

static void check(const char *name, int ok, const char *fmt, ...) {
    if (ok) {
        passed++;
        say("ok %s\n", name);
        return;
    }
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    failed++;
    say("FAIL %s: %s\n", name, buf);
}

static int64_t now_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Extended attributes: set with the create/replace flags, read with size queries and a short buffer, list,
 * remove; the limits; and as nobody, trusted attributes neither seen nor set, security ones not set. */
static void check_xattrs(void) {
    const char *f = "/xattr-file";
    close(open(f, O_RDWR | O_CREAT | O_TRUNC, 0666));
    chmod(f, 0666);
    char buf[64];
    int set = setxattr(f, "user.a", "alpha", 5, XATTR_CREATE) == 0;
    int exists = setxattr(f, "user.a", "x", 1, XATTR_CREATE) == -1 && errno == EEXIST;
    int missing = setxattr(f, "user.b", "x", 1, XATTR_REPLACE) == -1 && errno == ENODATA;
    int replaced = setxattr(f, "user.a", "beta", 4, XATTR_REPLACE) == 0;
    int trusted = setxattr(f, "trusted.t", "", 0, 0) == 0;
    ssize_t size = getxattr(f, "user.a", 0, 0);
    ssize_t got = getxattr(f, "user.a", buf, sizeof buf);
    int value = got == 4 && memcmp(buf, "beta", 4) == 0;
    int short_buf = getxattr(f, "user.a", buf, 3) == -1 && errno == ERANGE;
    int no_data = getxattr(f, "user.none", buf, sizeof buf) == -1 && errno == ENODATA;
    int bad_ns = setxattr(f, "bogus.a", "x", 1, 0) == -1 && errno == EOPNOTSUPP;
    char name[300];
    memset(name, 'n', sizeof name);
    memcpy(name, "user.", 5);
    name[299] = 0;
    int long_name = setxattr(f, name, "x", 1, 0) == -1 && errno == ERANGE;
    static char big[65537];
    int too_big = setxattr(f, "user.big", big, sizeof big, 0) == -1 && errno == E2BIG;
    ssize_t list_len = listxattr(f, 0, 0);
    ssize_t listed = listxattr(f, buf, sizeof buf);
    /* The order of the names is the file system's. */
    int list = list_len == 17 && listed == 17 && (memcmp(buf, "trusted.t\0user.a\0", 17) == 0 ||
                                                  memcmp(buf, "user.a\0trusted.t\0", 17) == 0);
    int list_short = listxattr(f, buf, 5) == -1 && errno == ERANGE;
    int fd = open(f, O_RDONLY);
    int by_fd = fgetxattr(fd, "user.a", buf, sizeof buf) == 4 && flistxattr(fd, 0, 0) == 17;
    close(fd);
    check("xattr", set && exists && missing && replaced && trusted && size == 4 && value && short_buf && no_data &&
                       bad_ns && long_name && too_big && list && list_short && by_fd,
          "set %d exists %d missing %d replaced %d trusted %d size %zd value %d short %d nodata %d ns %d long %d "
          "big %d list %zd/%zd short %d fd %d",
          set, exists, missing, replaced, trusted, size, value, short_buf, no_data, bad_ns, long_name, too_big,
          list_len, listed, list_short, by_fd);
    pid_t child = fork();
    if (child == 0) {
        if (setuid(65534) != 0)
            _exit(1);
        char b[64];
        int hidden = listxattr(f, b, sizeof b) == 7 && strcmp(b, "user.a") == 0;
        int no_trusted = setxattr(f, "trusted.u", "x", 1, 0) == -1 && errno == EPERM;
        int no_security = setxattr(f, "security.s", "x", 1, 0) == -1 && errno == EPERM;
        int user_ok = setxattr(f, "user.c", "x", 1, 0) == 0;
        _exit(hidden | no_trusted << 1 | no_security << 2 | user_ok << 3);
    }
    int status = 0;
    waitpid(child, &status, 0);
    int removed = removexattr(f, "user.a") == 0 && removexattr(f, "user.a") == -1 && errno == ENODATA;
    check("xattr-nobody", WIFEXITED(status) && WEXITSTATUS(status) == 15 && removed, "child status %#x, removed %d",
          status, removed);
    unlink(f);
}

static int task_pipe[2];

static void *blocked_reader(void *arg) {
    char c;
    (void)arg;
    return (void *)(long)read(task_pipe[0], &c, 1);
}

/* The state letter in a /proc stat file (after the parenthesised name), or '?'. */
static char proc_state(const char *path) {
    char buf[512];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return '?';
    buf[n] = 0;
    char *close_paren = strrchr(buf, ')');
    return close_paren && close_paren[1] == ' ' ? close_paren[2] : '?';
}

/* /proc/self/task lists both threads; a thread blocked in read shows 'S', the one reading its stat 'R'. */
static void check_proc_tasks(void) {
    pthread_t th;
    if (pipe(task_pipe) != 0 || pthread_create(&th, 0, blocked_reader, 0) != 0) {
        check("proc-task", 0, "setup failed, errno %d", errno);
        return;
    }
    int entries = 0;
    long other = 0;
    char path[64], other_state = '?';
    for (int tries = 0; tries < 200 && other_state != 'S'; tries++) {
        entries = 0;
        DIR *d = opendir("/proc/self/task");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            entries++;
            if (atol(e->d_name) != getpid())
                other = atol(e->d_name);
        }
        if (d)
            closedir(d);
        snprintf(path, sizeof path, "/proc/self/task/%ld/stat", other);
        other_state = proc_state(path);
        if (other_state != 'S')
            sched_yield();
    }
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)getpid());
    char self_state = proc_state(path);
    snprintf(path, sizeof path, "/proc/self/task/%ld/comm", other);
    char comm[32] = {0};
    int fd = open(path, O_RDONLY);
    int comm_ok = fd >= 0 && read(fd, comm, sizeof comm - 1) > 1 && strchr(comm, '\n');
    close(fd);
    write(task_pipe[1], "x", 1);
    pthread_join(th, 0);
    close(task_pipe[0]);
    close(task_pipe[1]);
    check("proc-task", entries == 2 && other_state == 'S' && self_state == 'R' && comm_ok,
          "%d entries, other thread %ld '%c', self '%c', comm %d", entries, other, other_state, self_state, comm_ok);
}

/* musl's sched_* policy wrappers return ENOSYS on purpose (they act on threads): the raw calls. */
static int get_policy(pid_t pid) {
    return (int)syscall(SYS_sched_getscheduler, pid);
}
static int set_policy(pid_t pid, int policy, const struct sched_param *p) {
    return (int)syscall(SYS_sched_setscheduler, pid, policy, p);
}
static int get_param(pid_t pid, struct sched_param *p) {
    return (int)syscall(SYS_sched_getparam, pid, p);
}
static int set_param(pid_t pid, const struct sched_param *p) {
    return (int)syscall(SYS_sched_setparam, pid, p);
}

/* Scheduling policy and priority: recorded, checked against the policy's range, inherited (unless
 * SCHED_RESET_ON_FORK), and refused to an unprivileged caller for a real-time policy. */
static void check_sched(void) {
    struct sched_param p10 = {.sched_priority = 10}, p0 = {.sched_priority = 0}, bad = {.sched_priority = 100};
    struct sched_param got = {0};
    int other = get_policy(0) == SCHED_OTHER;
    int fifo = set_policy(0, SCHED_FIFO, &p10) == 0 && get_policy(0) == SCHED_FIFO &&
               get_param(0, &got) == 0 && got.sched_priority == 10;
    int range = set_param(0, &bad) == -1 && errno == EINVAL &&
                set_policy(0, SCHED_OTHER, &p10) == -1 && errno == EINVAL;
    pid_t child = fork();
    if (child == 0) {
        struct sched_param c = {0};
        int inherited = get_policy(0) == SCHED_FIFO && get_param(0, &c) == 0 && c.sched_priority == 10;
        int lowered = set_param(getppid(), &(struct sched_param){.sched_priority = 5}) == 0;
        set_policy(0, SCHED_OTHER, &(struct sched_param){0});
        int refused = setuid(65534) == 0 && set_policy(0, SCHED_RR, &(struct sched_param){.sched_priority = 1}) == -1 &&
                      errno == EPERM;
        _exit(inherited | lowered << 1 | refused << 2);
    }
    int status = 0;
    waitpid(child, &status, 0);
    int by_child = get_param(0, &got) == 0 && got.sched_priority == 5;
    int reset = set_policy(0, SCHED_RR | SCHED_RESET_ON_FORK, &p10) == 0 &&
                get_policy(0) == (SCHED_RR | SCHED_RESET_ON_FORK);
    child = fork();
    if (child == 0)
        _exit(get_policy(0) == SCHED_OTHER ? 0 : 1);
    int rstatus = 0;
    waitpid(child, &rstatus, 0);
    int back = set_policy(0, SCHED_OTHER, &p0) == 0 && get_policy(0) == SCHED_OTHER;
    check("sched", other && fifo && range && WIFEXITED(status) && WEXITSTATUS(status) == 7 && by_child && reset &&
                       WIFEXITED(rstatus) && WEXITSTATUS(rstatus) == 0 && back,
          "other %d fifo %d range %d child %#x by-child %d reset %d reset-child %#x back %d", other, fifo, range,
          status, by_child, reset, rstatus, back);
}

/* I/O priority: set, read back, inherited; class and level checked; real-time refused to nobody. */
static void check_ioprio(void) {
    long be3 = 2 << 13 | 3;
    int set = syscall(SYS_ioprio_set, 1, 0, be3) == 0 && syscall(SYS_ioprio_get, 1, 0) == be3;
    int bad = syscall(SYS_ioprio_set, 1, 0, 5 << 13) == -1 && errno == EINVAL &&
              syscall(SYS_ioprio_get, 9, 0) == -1 && errno == EINVAL;
    pid_t child = fork();
    if (child == 0) {
        int inherited = syscall(SYS_ioprio_get, 1, 0) == be3;
        int refused = setuid(65534) == 0 && syscall(SYS_ioprio_set, 1, 0, 1 << 13) == -1 && errno == EPERM;
        _exit(inherited | refused << 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    check("ioprio", set && bad && WIFEXITED(status) && WEXITSTATUS(status) == 3, "set %d bad %d child %#x", set, bad,
          status);
}

/* pidfd: not readable while the child runs, readable once it has exited; waitid through it (EAGAIN while it
 * runs when the pidfd is non-blocking); pidfd_getfd copies one of a process's descriptors. */
static void check_pidfd(void) {
    int gate[2];
    if (pipe(gate) != 0) {
        check("pidfd", 0, "pipe errno %d", errno);
        return;
    }
    pid_t child = fork();
    if (child == 0) {
        char c;
        _exit(read(gate[0], &c, 1) == 1 ? 5 : 6);
    }
    int fd = (int)syscall(SYS_pidfd_open, child, O_NONBLOCK);
    struct pollfd p = {fd, POLLIN, 0};
    int running = fd >= 0 && poll(&p, 1, 0) == 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC);
    siginfo_t info;
    int again = waitid(3 /* P_PIDFD */, fd, &info, WEXITED) == -1 && errno == EAGAIN;
    int copy = (int)syscall(SYS_pidfd_getfd, fd, gate[1], 0); /* the write end, from the child's table */
    int copied = copy >= 0 && write(copy, "x", 1) == 1;
    int ready = poll(&p, 1, 5000) == 1 && p.revents == POLLIN;
    memset(&info, 0, sizeof info);
    int waited = waitid(3, fd, &info, WEXITED) == 0 && info.si_pid == child && info.si_status == 5;
    int bad = syscall(SYS_pidfd_open, child + 100000, 0) == -1 && errno == ESRCH &&
              syscall(SYS_pidfd_open, getpid(), 1) == -1 && errno == EINVAL;
    check("pidfd", running && again && copied && ready && waited && bad,
          "running %d again %d copied %d ready %d waited %d bad %d", running, again, copied, ready, waited, bad);
    close(fd);
    close(copy);
    close(gate[0]);
    close(gate[1]);
}

/* sendmmsg: two datagrams in one call, each one's length in its msg_len; a bad vector is EFAULT. */
static void check_sendmmsg(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) {
        check("sendmmsg", 0, "socketpair errno %d", errno);
        return;
    }
    struct iovec iov[2] = {{(void *)"one", 3}, {(void *)"second", 6}};
    struct mmsghdr msgs[2];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 2; i++) {
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int sent = sendmmsg(sv[0], msgs, 2, 0);
    char a[16] = {0}, b[16] = {0};
    ssize_t ra = recv(sv[1], a, sizeof a, 0), rb = recv(sv[1], b, sizeof b, 0);
    /* The raw call: musl copies the vector in user space first. */
    int fault = syscall(SYS_sendmmsg, sv[0], 8, 1, 0) == -1 && errno == EFAULT;
    check("sendmmsg",
          sent == 2 && msgs[0].msg_len == 3 && msgs[1].msg_len == 6 && ra == 3 && rb == 6 && !strcmp(a, "one") &&
              !strcmp(b, "second") && fault,
          "sent %d lens %u %u received %zd %zd fault %d", sent, msgs[0].msg_len, msgs[1].msg_len, ra, rb, fault);
    close(sv[0]);
    close(sv[1]);
}

/* preadv2/pwritev2: at an offset (the position stays), at the position with offset -1 (it moves); an unknown
 * flag is EOPNOTSUPP. */
static void check_rw2(void) {
    int fd = open("/rw2-file", O_RDWR | O_CREAT | O_TRUNC, 0600);
    struct iovec w = {(void *)"abcdef", 6};
    long wrote = syscall(SYS_pwritev2, fd, &w, 1L, 0L, 0L, 0L);
    off_t pos = lseek(fd, 0, SEEK_CUR);
    char buf[4] = {0};
    struct iovec r = {buf, 3};
    long at = syscall(SYS_preadv2, fd, &r, 1L, 2L, 0L, 0L); /* "cde", position stays 0 */
    int at_ok = at == 3 && !memcmp(buf, "cde", 3) && lseek(fd, 0, SEEK_CUR) == 0;
    long cur = syscall(SYS_preadv2, fd, &r, 1L, -1L, 0L, 0L); /* "abc" from the position, which moves */
    int cur_ok = cur == 3 && !memcmp(buf, "abc", 3) && lseek(fd, 0, SEEK_CUR) == 3;
    int bad = syscall(SYS_preadv2, fd, &r, 1L, 0L, 0L, 0x40000000L) == -1 && errno == EOPNOTSUPP;
    check("preadv2", wrote == 6 && pos == 0 && at_ok && cur_ok && bad, "wrote %ld pos %ld at %ld cur %ld bad %d", wrote,
          (long)pos, at, cur, bad);
    close(fd);
    unlink("/rw2-file");
}

/* ptrace: a child that asked to be traced stops at each signal; the parent's plain wait sees the stop, and
 * PTRACE_CONT delivers the signal it names (none, then SIGTERM). */
static void check_ptrace(void) {
    pid_t child = fork();
    if (child == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
            _exit(1);
        raise(SIGUSR1); /* would kill it: the tracer suppresses it */
        raise(SIGUSR2); /* the tracer delivers SIGTERM instead */
        _exit(2);
    }
    int s1 = 0, s2 = 0, s3 = 0;
    pid_t w1 = waitpid(child, &s1, 0);
    long c1 = ptrace(PTRACE_CONT, child, 0, 0);
    pid_t w2 = waitpid(child, &s2, 0);
    long c2 = ptrace(PTRACE_CONT, child, 0, (void *)(long)SIGTERM);
    pid_t w3 = waitpid(child, &s3, 0);
    errno = 0;
    int not_tracee = ptrace(PTRACE_CONT, getpid(), 0, 0) == -1 && errno == ESRCH;
    check("ptrace",
          w1 == child && WIFSTOPPED(s1) && WSTOPSIG(s1) == SIGUSR1 && c1 == 0 && w2 == child && WIFSTOPPED(s2) &&
              WSTOPSIG(s2) == SIGUSR2 && c2 == 0 && w3 == child && WIFSIGNALED(s3) && WTERMSIG(s3) == SIGTERM &&
              not_tracee,
          "stop %d %#x, cont %ld, stop %d %#x, cont %ld, end %d %#x, not tracee %d", (int)w1, s1, c1, (int)w2, s2, c2,
          (int)w3, s3, not_tracee);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) {
    (void)sig;
    alarms++;
}

/* alarm and ITIMER_REAL: re-arming keeps one timer (20,000 re-arms of a long alarm cost no memory: each once
 * left a kernel task with its stack waiting for the old deadline), the latest arming is the one that fires,
 * an interval timer repeats, and a disarmed one stays quiet. */
static void check_alarm(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct sysinfo before, after;
    sysinfo(&before);
    for (int i = 0; i < 20000; i++)
        alarm(3600);
    unsigned left = alarm(0);
    usleep(20000);
    sysinfo(&after);
    long lost_kib = ((long)before.freeram - (long)after.freeram) * (long)before.mem_unit / 1024;
    check("alarm-rearm-memory", left > 3590 && before.freeram > 0 && lost_kib < 4096, "left %u, free memory down %ld KiB", left,
          lost_kib);

    struct itimerval it = {{0, 0}, {10, 0}};
    setitimer(ITIMER_REAL, &it, NULL);
    it.it_value.tv_sec = 0;
    it.it_value.tv_usec = 30000;
    setitimer(ITIMER_REAL, &it, NULL);
    int64_t t0 = now_ns();
    while (alarms == 0 && now_ns() - t0 < 2000000000LL)
        usleep(1000);
    int64_t waited = now_ns() - t0;
    check("alarm-rearm-fires", alarms == 1 && waited < 1000000000LL, "%d alarms after %lld ms", (int)alarms,
          (long long)(waited / 1000000));

    alarms = 0;
    it.it_interval.tv_usec = 10000;
    it.it_value.tv_usec = 10000;
    setitimer(ITIMER_REAL, &it, NULL);
    t0 = now_ns();
    while (alarms < 3 && now_ns() - t0 < 2000000000LL)
        usleep(1000);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    int fired = alarms;
    usleep(50000);
    check("itimer-interval", fired >= 3 && alarms == fired, "%d alarms, then %d after disarming", fired,
          (int)alarms);
    signal(SIGALRM, SIG_DFL);
}

int main(void) {
    static const char line[] = "write to stdout\n";
    ssize_t n = write(1, line, sizeof line - 1);
    check("write", n == (ssize_t)sizeof line - 1, "returned %zd errno %d", n, errno);

    struct iovec iov[2] = {{(void *)"writev ", 7}, {(void *)"to stdout\n", 10}};
    n = writev(1, iov, 2);
    check("writev", n == 17, "returned %zd errno %d", n, errno);

    /* Raw brk: musl's sbrk() only reports the break. The break is restored afterwards for malloc's sake. */
    uintptr_t base = (uintptr_t)syscall(SYS_brk, 0);
    uintptr_t grown = (uintptr_t)syscall(SYS_brk, base + 65536);
    int brk_ok = base != 0 && grown == base + 65536;
    if (brk_ok) {
        volatile char *p = (volatile char *)base;
        p[0] = 1;
        p[65535] = 2;
        brk_ok = p[0] == 1 && p[65535] == 2;
    }
    check("brk", brk_ok, "break %#lx, asked %#lx, got %#lx", (unsigned long)base, (unsigned long)(base + 65536),
          (unsigned long)grown);
    if (grown > base)
        syscall(SYS_brk, base);

    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        check("mmap", 0, "errno %d", errno);
    } else {
        int zero = 1;
        for (int i = 0; i < 4096; i++)
            zero &= page[i] == 0;
        for (int i = 0; i < 4096; i++)
            page[i] = (unsigned char)i;
        int same = 1;
        for (int i = 0; i < 4096; i++)
            same &= page[i] == (unsigned char)i;
        check("mmap", zero && same, "zero-filled %d, read back %d", zero, same);
        int r = mprotect(page, 4096, PROT_READ);
        check("mprotect", r == 0 && page[100] == 100, "returned %d errno %d", r, errno);
        r = munmap(page, 4096);
        check("munmap", r == 0, "returned %d errno %d", r, errno);
    }

    /* mremap that has to move: a page mapped right after the old range blocks growing in place. */
    {
        unsigned char *a = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int ok = a != MAP_FAILED && munmap(a + 2 * 4096, 4096) == 0;
        unsigned char *block = ok ? mmap(a + 2 * 4096, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
                                  : MAP_FAILED;
        if (ok && block != MAP_FAILED) {
            a[0] = 1;
            a[4096] = 2;
            unsigned char *b = mremap(a, 2 * 4096, 8 * 4096, MREMAP_MAYMOVE);
            ok = b != MAP_FAILED && b != a && b[0] == 1 && b[4096] == 2 && b[5 * 4096] == 0;
            check("mremap", ok, "moved to %p from %p", (void *)b, (void *)a);
        } else {
            check("mremap", 0, "setup failed, errno %d", errno);
        }
    }

    struct utsname u;
    int r = uname(&u);
    check("uname", r == 0 && u.sysname[0] != '\0', "returned %d errno %d", r, errno);
    if (r == 0)
        say("sysname=%s release=%s machine=%s\n", u.sysname, u.release, u.machine);

    pid_t pid = getpid(), ppid = getppid();
    long tid = syscall(SYS_gettid);
    check("getpid", pid > 0, "pid %d", (int)pid);
    check("getppid", ppid >= 0 && ppid != pid, "ppid %d (pid %d)", (int)ppid, (int)pid);
    check("gettid", tid == pid, "tid %ld, pid %d", tid, (int)pid);

    int64_t t0 = now_ns(), t1 = now_ns();
    check("clock_gettime", t0 >= 0 && t1 >= t0, "monotonic %lld then %lld", (long long)t0, (long long)t1);

    /* libc reads the clocks through the vDSO when there is one: it must agree with the system call. */
    struct timespec vs, ks, ve, rv, rk;
    clock_gettime(CLOCK_MONOTONIC, &vs);
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ks);
    clock_gettime(CLOCK_MONOTONIC, &ve);
    clock_gettime(CLOCK_REALTIME, &rv);
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &rk);
    int64_t a = vs.tv_sec * 1000000000LL + vs.tv_nsec, b = ks.tv_sec * 1000000000LL + ks.tv_nsec,
            c = ve.tv_sec * 1000000000LL + ve.tv_nsec;
    int64_t wall_gap = (rk.tv_sec - rv.tv_sec) * 1000000000LL + (rk.tv_nsec - rv.tv_nsec);
    check("clock-consistent", a <= b && b <= c && wall_gap >= 0 && wall_gap < 1000000000LL && time(0) >= rv.tv_sec,
          "monotonic %lld <= %lld <= %lld, realtime gap %lld ns", (long long)a, (long long)b, (long long)c,
          (long long)wall_gap);

    struct timespec ten_ms = {0, 10000000};
    t0 = now_ns();
    r = nanosleep(&ten_ms, NULL);
    t1 = now_ns();
    check("nanosleep", r == 0 && t1 - t0 >= 10000000, "returned %d errno %d, slept %lld ns", r, errno,
          (long long)(t1 - t0));

    unsigned char rnd[16] = {0};
    n = getrandom(rnd, sizeof rnd, 0);
    int nonzero = 0;
    for (size_t i = 0; i < sizeof rnd; i++)
        nonzero |= rnd[i];
    check("getrandom", n == 16 && nonzero, "returned %zd errno %d", n, errno);

    /* Through a volatile, so the compiler cannot see (and warn about) the bad pointer. */
    const void *volatile bad = (const void *)1;
    errno = 0;
    n = write(1, bad, 10);
    check("efault", n == -1 && errno == EFAULT, "write(1, 1, 10) returned %zd errno %d", n, errno);

    errno = 0;
    long s = syscall(1000);
    check("enosys", s == -1 && errno == ENOSYS, "syscall(1000) returned %ld errno %d", s, errno);

    /* errno and this variable live in the TLS block that arch_prctl(ARCH_SET_FS) set up. */
    tls_value++;
    errno = 0;
    check("tls", tls_value == 43 && errno == 0, "tls_value %d", tls_value);

    /* Locks seen from another process: a record lock and a flock the parent holds block the child. */
    int fd = open("/syscalls-lock", O_RDWR | O_CREAT | O_TRUNC, 0600);
    struct flock wr = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    int set = fd >= 0 ? fcntl(fd, F_SETLK, &wr) : -1;
    int fl = fd >= 0 ? flock(fd, LOCK_EX) : -1;
    pid_t child = fork();
    if (child == 0) {
        int fd2 = open("/syscalls-lock", O_RDWR);
        struct flock probe = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1};
        int blocked = fcntl(fd2, F_SETLK, &probe) == -1 && errno == EAGAIN;
        int got = fcntl(fd2, F_GETLK, &probe) == 0 && probe.l_type == F_WRLCK && probe.l_pid == getppid();
        int fblocked = flock(fd2, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK;
        struct flock past = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 0};
        int free_past = fcntl(fd2, F_SETLK, &past) == 0;
        _exit(blocked | got << 1 | fblocked << 2 | free_past << 3);
    }
    int status = 0;
    waitpid(child, &status, 0);
    check("locks", fd >= 0 && set == 0 && fl == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 15,
          "open %d setlk %d flock %d child status %#x", fd, set, fl, status);
    close(fd);
    unlink("/syscalls-lock");

    /* A futex in shared memory wakes a waiter in another process. */
    volatile uint32_t *word = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    child = fork();
    if (child == 0) {
        while (*word == 0)
            syscall(SYS_futex, word, FUTEX_WAIT, 0, 0, 0, 0);
        _exit(*word == 2 ? 0 : 1);
    }
    struct timespec pause = {0, 20000000};
    nanosleep(&pause, 0); /* let the child wait (it checks the word first, so a lost race only spins once) */
    *word = 2;
    long woken = syscall(SYS_futex, word, FUTEX_WAKE, 1, 0, 0, 0);
    waitpid(child, &status, 0);
    /* A lost wake-up leaves the child waiting forever: the test's timeout is the failure. */
    check("futex-shared", WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "woken %ld, child status %#x", woken, status);

    /* Job control: a child stops itself, the parent sees the stop, continues it, sees that, then its exit. */
    child = fork();
    if (child == 0) {
        raise(SIGSTOP);
        struct timespec linger = {0, 100000000}; /* so the continue is reported before the exit (as on Linux) */
        nanosleep(&linger, 0);
        _exit(7);
    }
    int st1 = 0, st2 = 0, st3 = 0;
    pid_t w1 = waitpid(child, &st1, WUNTRACED);
    int cont = kill(child, SIGCONT);
    pid_t w2 = waitpid(child, &st2, WCONTINUED);
    pid_t w3 = waitpid(child, &st3, 0);
    check("job-control",
          w1 == child && WIFSTOPPED(st1) && WSTOPSIG(st1) == SIGSTOP && cont == 0 && w2 == child &&
              WIFCONTINUED(st2) && w3 == child && WIFEXITED(st3) && WEXITSTATUS(st3) == 7,
          "stop %d %#x, continue %d %#x, exit %d %#x", (int)w1, st1, (int)w2, st2, (int)w3, st3);

    /* Permissions: after setuid to nobody, a 0700 root directory cannot be searched, a 0600 root file cannot
     * be opened, and a file the child creates is its own. */
    mkdir("/perm-dir", 0700);
    mkdir("/perm-pub", 0777);
    chmod("/perm-pub", 0777); /* past the umask */
    int pf = open("/perm-file", O_RDWR | O_CREAT | O_TRUNC, 0600);
    close(pf);
    child = fork();
    if (child == 0) {
        if (setuid(65534) != 0)
            _exit(1);
        struct stat sb;
        int no_search = stat("/perm-dir/x", &sb) == -1 && errno == EACCES;
        int no_open = open("/perm-file", O_RDONLY) == -1 && errno == EACCES;
        int no_root_again = setuid(0) == -1 && errno == EPERM;
        int own = open("/perm-pub/own", O_RDWR | O_CREAT, 0600);
        int owned = own >= 0 && fstat(own, &sb) == 0 && sb.st_uid == 65534;
        unlink("/perm-pub/own");
        _exit(no_search | no_open << 1 | no_root_again << 2 | owned << 3);
    }
    waitpid(child, &status, 0);
    check("permissions", WIFEXITED(status) && WEXITSTATUS(status) == 15, "child status %#x", status);
    rmdir("/perm-dir");
    rmdir("/perm-pub");
    unlink("/perm-file");

    check_xattrs();
    check_proc_tasks();
    check_sched();
    check_ioprio();
    check_pidfd();
    check_sendmmsg();
    check_rw2();
    check_ptrace();
    check_alarm();

    say("syscalls: %d passed, %d failed\n", passed, failed);
    return failed;
}
