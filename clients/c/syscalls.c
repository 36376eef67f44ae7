/* syscalls: self-checking tour of the basic system calls. One line per check ("ok NAME" or
 * "FAIL NAME: details"), then "syscalls: N passed, M failed"; the exit status is M. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

    say("syscalls: %d passed, %d failed\n", passed, failed);
    return failed;
}
