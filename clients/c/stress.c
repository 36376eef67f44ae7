/* stress: seeded random system calls. `stress [SEED [COUNT]]` (defaults 1 and 2000) makes COUNT raw
 * syscall(nr, a1..a6) calls, nr drawn from 0..449 and each argument from a mix of small integers, -1, huge
 * values, random bits, NULL, (void *)1, a kernel address, a valid page-sized buffer, its end and an unmapped
 * page. The same seed makes the same calls. Results are ignored: the point is that the kernel survives and the
 * process reaches its last line, "stress: seed=S count=N done", printed on the original standard output, then
 * exits 0. A progress line comes every 500 calls.
 *
 * Before the first call it chdirs into a fresh directory from mkdtemp("/tmp/stress-XXXXXX") (and refuses to run
 * without one), points fds 0, 1 and 2 at /dev/null (keeping the real stdout at fd 900), ignores the signals
 * that stop or end a process by default and blocks every signal it can (all but SIGKILL and SIGSTOP). The page
 * it hands out as "a valid buffer" is refilled before each call (random bytes, or a short relative path such as
 * "a" or "d", or /dev/null), so no pointer a call wrote there survives into the next call's arguments. On a
 * host, run it as an unprivileged user in throwaway namespaces (see README.md); the skips below keep even a
 * root run away from the worst, but not from everything (random ioctls, sockets and so on).
 *
 * Never called (a skipped number is drawn again, so COUNT calls are really made), by group:
 * - It would end the process or replace it: exit 60, exit_group 231, rt_sigreturn 15 (a garbage frame),
 *   execve 59, execveat 322, seccomp 317 (a filter could kill us), timer_create 222 (a timer may deliver
 *   SIGKILL), rt_sigqueueinfo 129, rt_tgsigqueueinfo 297, pidfd_send_signal 424 (signals to anyone),
 *   uretprobe 335 and uprobe 336 (Linux ≥ 6.11 answers a call from outside its uprobe trampoline with SIGILL).
 * - New processes or threads running on random state: fork 57, vfork 58, clone 56, clone3 435.
 * - It would wreck our own memory or address space: brk 12, mprotect 10, munmap 11, mremap 25, madvise 28,
 *   remap_file_pages 216, pkey_mprotect 329, userfaultfd 323 (a registered page would block the kernel's own
 *   accesses), mlock 149, mlockall 151, mlock2 325, migrate_pages 256, move_pages 279, process_vm_writev 311,
 *   process_madvise 440, process_mrelease 448, ptrace 101, uselib 134 (maps a library at a fixed address).
 * - It would change the process in ways the run cannot undo: setrlimit 160, prlimit64 302 (limits of us or of
 *   anyone), prctl 157, arch_prctl 158 (clobbers FS, our TLS), set_tid_address 218, set_robust_list 273, rseq
 *   334, close_range 436 (would close the saved stdout), the setuid family (setuid 105, setgid 106, setreuid
 *   113, setregid 114, setgroups 116, setresuid 117, setresgid 119, setfsuid 122, setfsgid 123, capset 126),
 *   and scheduling that could hog a CPU or touch others: setpriority 141, sched_setparam 142,
 *   sched_setscheduler 144, sched_setattr 314, ioprio_set 251.
 * - It can block for good or for long: pause 34, rt_sigsuspend 130, rt_sigtimedwait 128, nanosleep 35,
 *   clock_nanosleep 230, wait4 61, waitid 247, select 23, poll 7, ppoll 271, pselect6 270, epoll_wait 232,
 *   epoll_pwait 281, epoll_pwait2 441, futex 202, futex_waitv 449, and the calls that make blocking file
 *   descriptors with no flag to say otherwise: accept 43, pipe 22, eventfd 284, signalfd 282, inotify_init 253.
 *   Asynchronous I/O, POSIX message queues and System V IPC (which also reach objects other processes own):
 *   io_setup..io_cancel 206-210, io_pgetevents 333, io_uring_setup/enter/register 425-427, mq_open..
 *   mq_getsetattr 240-245, shmget 29, shmat 30, shmctl 31, semget 64, semop 65, semctl 66, shmdt 67, msgget 68,
 *   msgsnd 69, msgrcv 70, msgctl 71, semtimedop 220.
 * - It could damage the machine it runs on (files, mounts, clocks, modules, devices, keys): unlink 87,
 *   unlinkat 263, rmdir 84, rename 82, renameat 264, renameat2 316, link 86, linkat 265, symlink 88, symlinkat
 *   266, chmod 90, fchmod 91, fchmodat 268, chown 92, fchown 93, lchown 94, fchownat 260, truncate 76,
 *   fallocate 285, creat 85, openat2 437 (its flags are in memory we cannot mask), open_by_handle_at 304, mknod
 *   133, mknodat 259, setxattr 188, lsetxattr 189, fsetxattr 190, removexattr 197, lremovexattr 198,
 *   fremovexattr 199, utime 132, utimes 235, futimesat 261, utimensat 280, mount 165, umount2 166, the mount
 *   API 428-433 and mount_setattr 442, swapon 167, swapoff 168, sethostname 170, setdomainname 171,
 *   settimeofday 164, clock_settime 227, adjtimex 159, clock_adjtime 305, init_module 175, delete_module 176,
 *   finit_module 313, kexec_load 246, kexec_file_load 320, acct 163, pivot_root 155, chroot 161,
 *   sync_file_range 277, quotactl 179, quotactl_fd 443, syslog 103, vhangup 153, iopl 172, ioperm 173,
 *   fanotify_init 300, fanotify_mark 301, perf_event_open 298, bpf 321, add_key 248, request_key 249, keyctl
 *   250, reboot 169.
 * Called with arguments forced:
 * - kill 62, tkill 200, tgkill 234: signal 0 (only checks that the target exists).
 * - rt_sigprocmask 14: SIG_BLOCK only, so nothing gets unblocked.
 * - open 2, openat 257: read-only, O_NONBLOCK | O_NOCTTY (no O_CREAT, O_TRUNC, O_TMPFILE or write access).
 * - mmap 9: no MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_POPULATE or MAP_LOCKED (never over our memory, never
 *   populating a huge mapping).
 * - New descriptors are non-blocking: pipe2 293, socket 41, socketpair 53, accept4 288, eventfd2 290,
 *   signalfd4 289, timerfd_create 283, inotify_init1 294; flock 73 gets LOCK_NB; splice 275, tee 276 and
 *   vmsplice 278 get SPLICE_F_NONBLOCK; getrandom 318 gets GRND_NONBLOCK.
 * - fcntl 72: no F_SETFL (could clear O_NONBLOCK), F_SETLKW, F_OFD_SETLKW (could deadlock on our own locks),
 *   F_SETOWN, F_SETOWN_EX or F_SETSIG (I/O signals to other processes): the call is drawn again.
 * - ioctl 16: no terminal ('T', 0x54xx: TIOCSTI could type on a host terminal, FIONBIO, FIOASYNC) or socket
 *   (0x89xx: interface and routing configuration, FIOSETOWN) requests: drawn again.
 * - sendfile 40, splice 275, tee 276, copy_file_range 326: at most 64 KiB, so /dev/zero to /dev/null is quick.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NR_MAX 450
#define PAGE 4096
#define SAVED_STDOUT 900
#define COPY_MAX 65536

/* x86-64 numbers never called; see the comment at the top. */
static const unsigned short skipped[] = {
    60, 231, 15, 59, 322, 317, 222, 129, 297, 424, 335, 336,                         /* end or replace us */
    57, 58, 56, 435,                                                                 /* new processes */
    12, 10, 11, 25, 28, 216, 329, 323, 149, 151, 325, 256, 279, 311, 440, 448, 101, 134, /* our memory */
    160, 302, 157, 158, 218, 273, 334, 436, 105, 106, 113, 114, 116, 117, 119, 122, 123, 126, 141, 142, 144, 314,
    251,                                                                             /* our process state */
    34, 130, 128, 35, 230, 61, 247, 23, 7, 271, 270, 232, 281, 441, 202, 449, 43, 22, 284, 282, 253, /* block */
    206, 207, 208, 209, 210, 333, 425, 426, 427, 240, 241, 242, 243, 244, 245, 29, 30, 31, 64, 65, 66, 67, 68,
    69, 70, 71, 220,                                                                 /* aio, mq, SysV IPC */
    87, 263, 84, 82, 264, 316, 86, 265, 88, 266, 90, 91, 268, 92, 93, 94, 260, 76, 285, 85, 437, 304, 133, 259,
    188, 189, 190, 197, 198, 199, 132, 235, 261, 280, 165, 166, 428, 429, 430, 431, 432, 433, 442, 167, 168, 170,
    171, 164, 227, 159, 305, 175, 176, 313, 246, 320, 163, 155, 161, 277, 179, 443, 103, 153, 172, 173, 300, 301,
    298, 321, 248, 249, 250, 169,                                                    /* the machine */
};

static uint64_t state;

/* xorshift64* */
static uint64_t next(void) {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
}

static uint64_t below(uint64_t n) { return next() % n; }

static int out_fd = 1;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 1)
        n = sizeof line - 1;
    for (int done = 0; n > 0 && done < n;) {
        ssize_t w = write(out_fd, line + done, (size_t)(n - done));
        if (w <= 0)
            break;
        done += (int)w;
    }
}

static unsigned char *buf;      /* one read-write page */
static unsigned char *unmapped; /* PROT_NONE pages on both sides of it */

static uint64_t arg(void) {
    static const uint64_t huge[] = {
        0x7fffffffULL, 0x80000000ULL, 0xffffffffULL, 0x100000000ULL, 0x7fffffffffffffffULL,
        0x8000000000000000ULL, 0xfffffffffffffffeULL, 0x0000800000000000ULL,
    };
    switch (below(12)) {
    case 0:
    case 1:
        return below(16);
    case 2:
        return below(64);
    case 3:
        return (uint64_t)-1;
    case 4:
        return huge[below(sizeof huge / sizeof huge[0])];
    case 5:
        return next() >> below(64);
    case 6:
        return 0;
    case 7:
        return 1;
    case 8:
        return 0xffff800000000000ULL + below(16) * PAGE;
    case 9:
        return (uint64_t)(uintptr_t)buf + (below(2) ? 0 : below(PAGE));
    case 10:
        return (uint64_t)(uintptr_t)(buf + PAGE);
    default:
        return (uint64_t)(uintptr_t)unmapped + below(PAGE);
    }
}

/* The buffer's contents for the next call: a path now and then, random bytes otherwise. */
static void refill(void) {
    static const char *const paths[] = {"a", "b", "d", "d/a", ".", "/dev/null", "/dev/zero"};
    for (int i = 0; i < PAGE; i += 8) {
        uint64_t r = next();
        memcpy(buf + i, &r, 8);
    }
    if (below(2)) {
        const char *p = paths[below(sizeof paths / sizeof paths[0])];
        memcpy(buf, p, strlen(p) + 1);
    }
}

static int is_skipped(uint64_t nr) {
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++)
        if (skipped[i] == nr)
            return 1;
    return 0;
}

static uint64_t at_most(uint64_t v, uint64_t max) { return v > max ? max : v; }

/* Forces the arguments of `nr` (see the top); 0 when this draw must be thrown away. */
static int tame(uint64_t nr, uint64_t a[6]) {
    const uint64_t open_keep = O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_PATH;
    for (int k = 0; k < 6; k++)
        if (a[k] == SAVED_STDOUT) /* never close, dup over or write to the real stdout */
            return 0;
    switch (nr) {
    case SYS_kill:
    case SYS_tkill:
        a[1] = 0;
        break;
    case SYS_tgkill:
        a[2] = 0;
        break;
    case SYS_rt_sigprocmask:
        a[0] = SIG_BLOCK;
        break;
    case SYS_open:
        a[1] = (a[1] & open_keep) | O_RDONLY | O_NONBLOCK | O_NOCTTY;
        break;
    case SYS_openat:
        a[2] = (a[2] & open_keep) | O_RDONLY | O_NONBLOCK | O_NOCTTY;
        break;
    case SYS_mmap:
        a[3] &= ~(uint64_t)(MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_POPULATE | MAP_LOCKED);
        break;
    case SYS_pipe2:
        a[1] |= O_NONBLOCK;
        break;
    case SYS_socket:
    case SYS_socketpair:
        a[1] |= SOCK_NONBLOCK;
        break;
    case SYS_accept4:
        a[3] |= SOCK_NONBLOCK;
        break;
    case SYS_eventfd2:
    case SYS_timerfd_create:
        a[1] |= O_NONBLOCK; /* EFD_NONBLOCK, TFD_NONBLOCK */
        break;
    case SYS_signalfd4:
        a[3] |= O_NONBLOCK; /* SFD_NONBLOCK */
        break;
    case SYS_inotify_init1:
        a[0] |= O_NONBLOCK; /* IN_NONBLOCK */
        break;
    case SYS_flock:
        a[1] |= LOCK_NB;
        break;
    case SYS_getrandom:
        a[2] |= 1; /* GRND_NONBLOCK */
        break;
    case SYS_splice:
        a[4] = at_most(a[4], COPY_MAX);
        a[5] |= SPLICE_F_NONBLOCK;
        break;
    case SYS_tee:
        a[2] = at_most(a[2], COPY_MAX);
        a[3] |= SPLICE_F_NONBLOCK;
        break;
    case SYS_vmsplice:
        a[3] |= SPLICE_F_NONBLOCK;
        break;
    case SYS_sendfile:
        a[3] = at_most(a[3], COPY_MAX);
        break;
    case SYS_copy_file_range:
        a[4] = at_most(a[4], COPY_MAX);
        break;
    case SYS_fcntl:
        switch ((int)a[1]) {
        case F_SETFL:
        case F_SETLKW:
        case F_OFD_SETLKW:
        case F_SETOWN:
        case F_SETOWN_EX:
        case F_SETSIG:
            return 0;
        }
        break;
    case SYS_ioctl: {
        unsigned type = ((unsigned)a[1] >> 8) & 0xff;
        if (type == 0x54 || type == 0x89)
            return 0;
        break;
    }
    }
    return 1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

int main(int argc, char **argv) {
    unsigned long long seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
    unsigned long long count = argc > 2 ? strtoull(argv[2], NULL, 0) : 2000;

    char dir[] = "/tmp/stress-XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0) {
        say("stress: no scratch directory (%s): refusing to run\n", strerror(errno));
        return 2;
    }

    /* The real stdout at fd SAVED_STDOUT; 0, 1 and 2 on /dev/null. */
    int saved = fcntl(1, F_DUPFD_CLOEXEC, SAVED_STDOUT);
    int null = open("/dev/null", O_RDWR);
    if (saved < 0 || null < 0) {
        say("stress: cannot set up descriptors (%s)\n", strerror(errno));
        return 2;
    }
    out_fd = saved;
    for (int fd = 0; fd < 3; fd++)
        if (fd != null)
            dup2(null, fd);
    if (null > 2)
        close(null);

    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_IGN);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);

    unsigned char *area = mmap(NULL, 3 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED || mprotect(area + PAGE, PAGE, PROT_READ | PROT_WRITE) != 0) {
        say("stress: cannot map the buffer (%s)\n", strerror(errno));
        return 2;
    }
    buf = area + PAGE;
    unmapped = area;

    /* splitmix64 of the seed: a nonzero state, and neighbouring seeds far apart. */
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    state = (z ^ (z >> 31)) | 1;

    unsigned long long ok = 0, failed = 0, redrawn = 0;
    for (unsigned long long i = 0; i < count; i++) {
        uint64_t nr, a[6];
        for (;;) {
            nr = below(NR_MAX);
            for (int k = 0; k < 6; k++)
                a[k] = arg();
            if (!is_skipped(nr) && tame(nr, a))
                break;
            redrawn++;
        }
        refill();
        long r = syscall((long)nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        if (r == -1)
            failed++;
        else
            ok++;
        if ((i + 1) % 500 == 0)
            say("stress: seed=%llu %llu/%llu calls\n", seed, i + 1, count);
    }

    /* Leave no scratch directory behind when we can help it (nftw needs descriptors: the calls may have used
     * them all). */
    for (int fd = 3; fd < SAVED_STDOUT; fd++)
        close(fd);
    if (chdir("/") == 0)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    say("stress: %llu succeeded, %llu failed, %llu draws skipped\n", ok, failed, redrawn);
    say("stress: seed=%llu count=%llu done\n", seed, count);
    return 0;
}
