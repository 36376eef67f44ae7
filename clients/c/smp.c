/* smp: bounded stress of what several CPUs share, each part checked:
 *  - futex ping-pong between two threads pinned to different CPUs (sched_setaffinity, getcpu checked);
 *  - TLB shootdown: one thread maps a page, writes a value, and a reader pinned to another CPU reads it
 *    through its own TLB; the page is unmapped and a new one mapped (usually at the same address) with a new
 *    value: a stale translation on the reader's CPU would show the old value;
 *  - every CPU's thread maps, touches, checks and unmaps memory at once;
 *  - fork + exec from several threads at once, exit statuses checked.
 * Prints "smp: ok" and exits 0, or names the first failure and exits 1. Run as /init; re-execs itself. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_PRIVATE_FLAG 128

#define MAX_THREADS 32
#define PING_ROUNDS 500
#define TLB_ROUNDS 100
#define MAP_ROUNDS 200
#define MAP_PAGES 16
#define FORKS_PER_THREAD 8

static long cpus;

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}
static char *self_path;

static int fail(const char *what) {
    printf("smp: FAIL %s\n", what);
    fflush(stdout);
    exit(1);
}

/* Pins the calling thread to `cpu` (modulo the CPU count) and checks that it runs there. */
static int pin(int cpu) {
    cpu %= (int)cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        fail("sched_setaffinity");
    cpu_set_t got;
    CPU_ZERO(&got);
    if (sched_getaffinity(0, sizeof got, &got) != 0 || !CPU_EQUAL(&got, &set))
        fail("sched_getaffinity after setaffinity");
    if (sched_getcpu() != cpu) {
        printf("smp: pinned to CPU %d, runs on %d\n", cpu, sched_getcpu());
        fail("pinning");
    }
    return cpu;
}

/* Lets the calling thread run on every CPU again. */
static void unpin(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < cpus; i++)
        CPU_SET(i, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        fail("sched_setaffinity (unpin)");
}

/* Spin-waits yield when both sides share the only CPU. */
static void relax(void) {
    if (cpus == 1)
        sched_yield();
}

static long futex(atomic_int *addr, int op, int val) {
    return syscall(SYS_futex, addr, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

/* --- futex ping-pong --- */
static atomic_int turn;

static void *pong(void *arg) {
    int me = (int)(long)arg;
    pin(me);
    for (int i = 0; i < PING_ROUNDS; i++) {
        int v;
        while ((v = atomic_load(&turn)) != me)
            futex(&turn, FUTEX_WAIT, v);
        atomic_store(&turn, 1 - me);
        futex(&turn, FUTEX_WAKE, 1);
    }
    return NULL;
}

static void ping_pong(void) {
    pthread_t t[2];
    for (long i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, pong, (void *)i))
            fail("pthread_create (ping-pong)");
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("smp: futex ping-pong %d rounds\n", PING_ROUNDS);
}

/* --- TLB shootdown: a reader on another CPU must see each new page, never the unmapped one --- */
static volatile unsigned *_Atomic shared_page;
static atomic_int round_ready, round_seen;
static atomic_int reader_failed;

static void *reader(void *arg) {
    (void)arg;
    pin(1);
    for (int r = 1; r <= TLB_ROUNDS; r++) {
        while (atomic_load(&round_ready) != r)
            relax();
        volatile unsigned *p = atomic_load(&shared_page);
        for (int k = 0; k < 100; k++)
            if (p[k * 41] != (unsigned)r)
                atomic_store(&reader_failed, r);
        atomic_store(&round_seen, r);
    }
    return NULL;
}

static void tlb_shootdown(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, reader, NULL))
        fail("pthread_create (reader)");
    pin(0);
    int same = 0;
    void *last = NULL;
    for (int r = 1; r <= TLB_ROUNDS; r++) {
        unsigned *p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            fail("mmap (shootdown)");
        same += p == last;
        last = p;
        for (int k = 0; k < 4096; k++)
            p[k] = (unsigned)r;
        atomic_store(&shared_page, p);
        atomic_store(&round_ready, r);
        while (atomic_load(&round_seen) != r)
            relax();
        if (r % 3 == 0 && mprotect(p, 4 * 4096, PROT_READ) != 0)
            fail("mprotect");
        if (munmap(p, 4 * 4096) != 0)
            fail("munmap (shootdown)");
    }
    pthread_join(t, NULL);
    unpin();
    if (atomic_load(&reader_failed)) {
        printf("smp: the reader saw a stale page in round %d\n", atomic_load(&reader_failed));
        fail("TLB shootdown");
    }
    printf("smp: shootdown %d rounds (%d at a reused address)\n", TLB_ROUNDS, same);
}

/* --- every CPU maps, touches and unmaps at once --- */
static void *mapper(void *arg) {
    long me = (long)arg;
    pin((int)me);
    for (int r = 0; r < MAP_ROUNDS; r++) {
        size_t len = (size_t)MAP_PAGES * 4096;
        unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return (void *)1;
        for (size_t o = 0; o < len; o += 512)
            p[o] = (unsigned char)(me * 31 + r + o / 512);
        for (size_t o = 0; o < len; o += 512)
            if (p[o] != (unsigned char)(me * 31 + r + o / 512))
                return (void *)2;
        if (munmap(p, len) != 0)
            return (void *)3;
    }
    return NULL;
}

static void map_stress(void) {
    pthread_t t[MAX_THREADS];
    for (long i = 0; i < cpus; i++)
        if (pthread_create(&t[i], NULL, mapper, (void *)i))
            fail("pthread_create (mapper)");
    for (long i = 0; i < cpus; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        if (ret) {
            printf("smp: mapper %ld: %s\n", i, ret == (void *)1 ? "mmap failed" : ret == (void *)2 ? "wrong data" : "munmap failed");
            fail("map/touch/unmap");
        }
    }
    printf("smp: map stress %ld threads x %d rounds\n", cpus, MAP_ROUNDS);
}

/* --- fork + exec from several threads --- */
extern char **environ;

static void *forker(void *arg) {
    long me = (long)arg;
    for (int i = 0; i < FORKS_PER_THREAD; i++) {
        int code = (int)(me * FORKS_PER_THREAD + i) % 100 + 1;
        char num[16];
        snprintf(num, sizeof num, "%d", code);
        pid_t pid = fork();
        if (pid < 0)
            return (void *)1;
        if (pid == 0) {
            char *args[] = {self_path, "child", num, NULL};
            execve(self_path, args, environ);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != code)
            return (void *)2;
    }
    return NULL;
}

static void fork_exec(void) {
    pthread_t t[MAX_THREADS];
    long n = cpus < 4 ? 4 : cpus;
    if (n > MAX_THREADS)
        n = MAX_THREADS;
    for (long i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, forker, (void *)i))
            fail("pthread_create (forker)");
    for (long i = 0; i < n; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        if (ret) {
            printf("smp: forker %ld: %s\n", i, ret == (void *)1 ? "fork failed" : "wrong child status");
            fail("fork/exec/wait");
        }
    }
    printf("smp: fork+exec %ld threads x %d\n", n, FORKS_PER_THREAD);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0)
        return atoi(argv[2]);
    self_path = argv[0][0] == '/' ? argv[0] : "/init";
    cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1 || cpus > MAX_THREADS)
        fail("CPU count");
    printf("smp: cpus=%ld\n", cpus);
    long long t0;
    fflush(stdout);
    t0 = now_ms();
    ping_pong();
    printf("smp: (%lld ms)\n", now_ms() - t0);
    t0 = now_ms();
    tlb_shootdown();
    printf("smp: (%lld ms)\n", now_ms() - t0);
    t0 = now_ms();
    map_stress();
    printf("smp: (%lld ms)\n", now_ms() - t0);
    t0 = now_ms();
    fork_exec();
    printf("smp: (%lld ms)\n", now_ms() - t0);
    printf("smp: ok\n");
    return 0;
}
