/* parallel: splits a sum over one thread per online CPU (sysconf, as programs size their thread pools) and
   checks it against a serial sum; checks that sched_getaffinity agrees and that getcpu names an online CPU,
   and that /proc/stat has a line per CPU, with time counted, and user time in the total after the sums.
   Prints both times (`cargo xtask bench` reports their ratio as the speedup). */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
/* Terms of the sum: 4M by default, argv[1] to change (the bench takes more, so that work dominates). */
static unsigned long N = 4000000UL;

struct slice {
    unsigned long from, to, sum;
    int cpu;
};

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void *work(void *arg) {
    struct slice *s = arg;
    unsigned long sum = 0; /* in a register, as the serial sum's: the slices share cache lines */
    for (unsigned long i = s->from; i < s->to; i++)
        sum += i * i % 1000003;
    s->sum = sum;
    s->cpu = sched_getcpu();
    return NULL;
}

/* /proc/stat: the `cpu` total with user ticks, then `cpu0`..`cpuN-1`, each with some time counted. */
static int check_proc_stat(long cpus) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) {
        printf("parallel: cannot open /proc/stat\n");
        return 1;
    }
    char line[256];
    long lines = 0;
    int ok = 1;
    while (fgets(line, sizeof line, f)) {
        unsigned long long user, nice, system, idle;
        int n;
        if (strncmp(line, "cpu ", 4) == 0 && sscanf(line + 4, "%llu %llu %llu %llu", &user, &nice, &system, &idle) == 4) {
            if (user == 0) {
                printf("parallel: /proc/stat counts no user time: %s", line);
                ok = 0;
            }
        } else if (sscanf(line, "cpu%d %llu %llu %llu %llu", &n, &user, &nice, &system, &idle) == 5) {
            if (n != lines || user + system + idle == 0) {
                printf("parallel: /proc/stat line %ld: %s", lines, line);
                ok = 0;
            }
            lines++;
        }
    }
    fclose(f);
    if (lines != cpus) {
        printf("parallel: /proc/stat has %ld CPU lines for %ld CPUs\n", lines, cpus);
        ok = 0;
    }
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 1 && strtoul(argv[1], NULL, 10) > 0)
        N = strtoul(argv[1], NULL, 10);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) != cpus) {
        printf("parallel: sysconf says %ld CPUs, sched_getaffinity %d\n", cpus, CPU_COUNT(&set));
        return 1;
    }
    if (cpus < 1 || cpus > MAX_THREADS) {
        printf("parallel: bad CPU count %ld\n", cpus);
        return 1;
    }
    printf("parallel: cpus=%ld\n", cpus);
    pthread_t t[MAX_THREADS];
    struct slice s[MAX_THREADS];
    long long t0 = now_us();
    for (long i = 0; i < cpus; i++) {
        s[i] = (struct slice){N * i / cpus, N * (i + 1) / cpus, 0, -1};
        if (pthread_create(&t[i], NULL, work, &s[i])) {
            printf("parallel: pthread_create failed\n");
            return 1;
        }
    }
    unsigned long sum = 0;
    for (long i = 0; i < cpus; i++) {
        pthread_join(t[i], NULL);
        if (s[i].cpu < 0 || s[i].cpu >= cpus) {
            printf("parallel: thread %ld ran on CPU %d\n", i, s[i].cpu);
            return 1;
        }
        sum += s[i].sum;
    }
    long long t1 = now_us();
    unsigned long expect = 0;
    for (unsigned long i = 0; i < N; i++)
        expect += i * i % 1000003;
    long long t2 = now_us();
    printf("parallel: threads_us=%lld serial_us=%lld\n", t1 - t0, t2 - t1);
    if (sum != expect) {
        printf("parallel: sum %lu, expected %lu\n", sum, expect);
        return 1;
    }
    if (check_proc_stat(cpus))
        return 1;
    printf("parallel: ok sum=%lu\n", sum);
    return 0;
}
