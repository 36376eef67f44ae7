/* bench: `cargo xtask bench`'s user-space micro-benchmarks, run as /init on ember and on Linux from the same
 * initramfs. Times with rdtsc; the TSC frequency is calibrated against clock_gettime(CLOCK_MONOTONIC) over
 * CALIBRATE_NS on both kernels (QEMU's TCG CPUID has no frequency leaves). Each operation is timed in REPS
 * batches of BATCH iterations; the line gives the median batch divided by BATCH:
 *
 *   bench: start tsc=<n>                  (first thing main does)
 *   bench: tsc_hz=<n> method=clock_gettime
 *   bench: op=<name> reps=<n> batch=<n> cycles=<c> ns=<ns>
 *   bench: done
 *
 * then powers off (reboot(RB_POWER_OFF)). A failed operation prints `bench: error op=<name> ...` and powers off.
 * `bench true` exits 0 at once: the static `true` the fork+execve line runs. `bench only NAME` runs the
 * operation NAME alone (`none`: only the setup), for profiling, with a 1 ms calibration (the kernels pass command-line words to init). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CALIBRATE_NS 100000000LL
#define MAX_REPS 64
#define FILE_PATH "/bench.tmp"
#define BIG (1 << 20)
/* <linux/futex.h> is not in musl-gcc's include path. */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_PRIVATE_FLAG 128

extern char **environ;

static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static void finish(void) {
    fflush(stdout);
    sync();
    reboot(RB_POWER_OFF);
    /* Not reached on either kernel; if it were, init exiting ends the VM too. */
    _exit(0);
}

static void fail(const char *op, const char *what) {
    printf("bench: error op=%s %s: %s\n", op, what, strerror(errno));
    finish();
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double tsc_hz;

/* TSC ticks per second, measured against CLOCK_MONOTONIC over `interval` ns. */
static double calibrate(int64_t interval) {
    int64_t t0 = now_ns(), t1;
    uint64_t c0 = rdtsc();
    while ((t1 = now_ns()) - t0 < interval) {
    }
    uint64_t c1 = rdtsc();
    return (double)(c1 - c0) * 1e9 / (double)(t1 - t0);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One operation: `setup` (untimed, optional) before each batch, `op` BATCH times inside it. */
struct bench {
    const char *name;
    int reps, batch;
    void (*setup)(void);
    void (*op)(void);
};

static void run(const struct bench *b) {
    uint64_t t[MAX_REPS];
    for (int r = 0; r < b->reps; r++) {
        if (b->setup)
            b->setup();
        uint64_t c0 = rdtsc();
        for (int i = 0; i < b->batch; i++)
            b->op();
        t[r] = rdtsc() - c0;
    }
    qsort(t, (size_t)b->reps, sizeof t[0], cmp_u64);
    double cycles = (double)t[b->reps / 2] / b->batch;
    printf("bench: op=%s reps=%d batch=%d cycles=%.1f ns=%.1f\n", b->name, b->reps, b->batch, cycles,
           cycles * 1e9 / tsc_hz);
    fflush(stdout);
}

/* --- the operations --- */

static const char *current;
static int zero_fd, null_fd, file_fd;
static char *big;

static void op_getpid(void) { syscall(SYS_getpid); }

static void op_read_zero(void) {
    char c;
    if (read(zero_fd, &c, 1) != 1)
        fail(current, "read /dev/zero");
}

static void op_write_null(void) {
    if (write(null_fd, "x", 1) != 1)
        fail(current, "write /dev/null");
}

static int ping[2], pong[2];

static void op_pipe(void) {
    char c = 'p';
    if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
        fail(current, "pipe round trip");
}

static void op_fork(void) {
    pid_t pid = fork();
    if (pid < 0)
        fail(current, "fork");
    if (pid == 0)
        _exit(0);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail(current, "waitpid");
}

static char self_path[64] = "/init";

static void op_fork_exec(void) {
    pid_t pid = fork();
    if (pid < 0)
        fail(current, "fork");
    if (pid == 0) {
        char *args[] = {"bench", "true", NULL};
        execve(self_path, args, environ);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail(current, "execve or waitpid");
}

static void *thread_nothing(void *arg) { return arg; }

static void op_thread(void) {
    pthread_t t;
    errno = pthread_create(&t, NULL, thread_nothing, NULL);
    if (errno)
        fail(current, "pthread_create");
    errno = pthread_join(t, NULL);
    if (errno)
        fail(current, "pthread_join");
}

/* futex ping-pong: the main thread sets turn to 1 and wakes the partner, which sets it to 2 and wakes back. */
static int turn;
static volatile int futex_stop;

static long futex(int *uaddr, int op, int val) {
    return syscall(SYS_futex, uaddr, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

static void *futex_partner(void *arg) {
    for (;;) {
        int v;
        while ((v = __atomic_load_n(&turn, __ATOMIC_ACQUIRE)) != 1) {
            if (futex_stop)
                return arg;
            futex(&turn, FUTEX_WAIT, v);
        }
        __atomic_store_n(&turn, 2, __ATOMIC_RELEASE);
        futex(&turn, FUTEX_WAKE, 1);
    }
}

static void op_futex(void) {
    int v;
    __atomic_store_n(&turn, 1, __ATOMIC_RELEASE);
    futex(&turn, FUTEX_WAKE, 1);
    while ((v = __atomic_load_n(&turn, __ATOMIC_ACQUIRE)) != 2)
        futex(&turn, FUTEX_WAIT, v);
}

/* First touch: each batch maps TOUCH_PAGES fresh pages (untimed) and writes one byte to each. */
#define TOUCH_PAGES 64
static char *touch_area;
static int touch_next;

static void setup_touch(void) {
    if (touch_area)
        munmap(touch_area, TOUCH_PAGES * 4096);
    touch_area = mmap(NULL, TOUCH_PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (touch_area == MAP_FAILED)
        fail(current, "mmap");
    touch_next = 0;
}

static void op_touch(void) { ((volatile char *)touch_area)[(touch_next++) * 4096] = 1; }

static void op_mmap(void) {
    void *p = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || munmap(p, BIG) != 0)
        fail(current, "mmap or munmap");
}

static void op_open_close(void) {
    int fd = open(FILE_PATH, O_RDONLY);
    if (fd < 0 || close(fd) != 0)
        fail(current, "open or close");
}

static void op_stat(void) {
    struct stat st;
    if (stat(FILE_PATH, &st) != 0)
        fail(current, "stat");
}

static void setup_file(void) {
    if (ftruncate(file_fd, 0) != 0)
        fail(current, "ftruncate");
}

static void op_file(void) {
    if (pwrite(file_fd, big, BIG, 0) != BIG || pread(file_fd, big, BIG, 0) != BIG)
        fail(current, "pwrite or pread");
}

static void op_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
}

static volatile int caught;
static pid_t self;

static void on_signal(int sig) { caught += sig == SIGUSR1; }

static void op_signal(void) {
    int before = caught;
    if (syscall(SYS_kill, self, SIGUSR1) != 0 || caught != before + 1)
        fail(current, "kill or handler");
}

static void op_yield(void) { sched_yield(); }

static const struct bench BENCHES[] = {
    {"getpid", 51, 64, NULL, op_getpid},
    {"read_dev_zero_1b", 51, 64, NULL, op_read_zero},
    {"write_dev_null_1b", 51, 64, NULL, op_write_null},
    {"pipe_round_trip", 31, 32, NULL, op_pipe},
    {"fork_exit_wait", 31, 1, NULL, op_fork},
    {"fork_execve_wait", 31, 1, NULL, op_fork_exec},
    {"pthread_create_join", 31, 4, NULL, op_thread},
    {"futex_round_trip", 31, 32, NULL, op_futex},
    {"page_first_touch_4k", 31, TOUCH_PAGES, setup_touch, op_touch},
    {"mmap_munmap_1m", 31, 16, NULL, op_mmap},
    {"open_close_tmpfs", 51, 32, NULL, op_open_close},
    {"stat_tmpfs", 51, 32, NULL, op_stat},
    {"file_write_read_1m", 11, 1, setup_file, op_file},
    {"clock_gettime_monotonic", 51, 64, NULL, op_clock},
    {"signal_self_handled", 31, 32, NULL, op_signal},
    {"sched_yield", 51, 64, NULL, op_yield},
};

/* The pipe partner: echoes every byte back until the ping pipe closes. */
static void pipe_partner(void) {
    char c;
    close(ping[1]);
    close(pong[0]);
    while (read(ping[0], &c, 1) == 1)
        if (write(pong[1], &c, 1) != 1)
            _exit(1);
    _exit(0);
}

int main(int argc, char **argv) {
    uint64_t start = rdtsc();
    if (argc > 1 && strcmp(argv[1], "true") == 0)
        return 0;
    printf("bench: start tsc=%llu\n", (unsigned long long)start);
    fflush(stdout);
    if (argc > 0 && argv[0][0] == '/' && strlen(argv[0]) < sizeof self_path)
        strcpy(self_path, argv[0]);
    const char *only = argc > 2 && strcmp(argv[1], "only") == 0 ? argv[2] : NULL;
    current = "setup";
    /* A profile wants few instructions outside the operation. */
    tsc_hz = calibrate(only ? CALIBRATE_NS / 100 : CALIBRATE_NS);
    printf("bench: tsc_hz=%.0f method=clock_gettime\n", tsc_hz);
    self = getpid();

    if ((zero_fd = open("/dev/zero", O_RDONLY)) < 0)
        fail(current, "open /dev/zero");
    if ((null_fd = open("/dev/null", O_WRONLY)) < 0)
        fail(current, "open /dev/null");
    if ((file_fd = open(FILE_PATH, O_RDWR | O_CREAT | O_TRUNC, 0644)) < 0)
        fail(current, "create " FILE_PATH);
    if (!(big = malloc(BIG)))
        fail(current, "malloc");
    memset(big, 'b', BIG);
    if (pipe(ping) != 0 || pipe(pong) != 0)
        fail(current, "pipe");
    fflush(stdout);
    pid_t partner = fork();
    if (partner < 0)
        fail(current, "fork");
    if (partner == 0)
        pipe_partner();
    close(ping[0]);
    close(pong[1]);
    pthread_t futex_thread;
    if ((errno = pthread_create(&futex_thread, NULL, futex_partner, NULL)))
        fail(current, "pthread_create");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        fail(current, "sigaction");

    for (size_t i = 0; i < sizeof BENCHES / sizeof BENCHES[0]; i++) {
        current = BENCHES[i].name;
        if (only && strcmp(only, current) != 0)
            continue;
        run(&BENCHES[i]);
    }

    current = "teardown";
    close(ping[1]);
    waitpid(partner, NULL, 0);
    futex_stop = 1;
    __atomic_store_n(&turn, 3, __ATOMIC_RELEASE);
    futex(&turn, FUTEX_WAKE, 1);
    pthread_join(futex_thread, NULL);
    printf("bench: done\n");
    finish();
    return 0;
}
