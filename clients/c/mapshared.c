/* mapshared DIR [DISK]: MAP_SHARED file mappings and the page cache, on the file system holding DIR.
 * Checks that a store through a mapping is seen by read(), that write() is seen through the mapping, that a
 * forked child's stores reach the parent's mapping and the file, msync's argument checks, a store after an
 * msync (which cleaned the page) dirtying it again, and SIGBUS past the end of the file (and after a
 * truncation). With DISK (the /proc/diskstats name of DIR's disk; DIR must be a mount point): a second msync
 * with nothing stored since writes nothing to the disk, and a writable shared mapping (its descriptor closed)
 * keeps a read-only remount refused with EBUSY. Leaves DIR/mapshared.dat (3 pages) with "mapshared-ok+again"
 * at offset 8192, written through a mapping and msync'd, for the host to read back.
 * Prints one line per check and "mapshared: N passed, M failed"; exits 0 when none failed. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
static int passed, failed;
static sigjmp_buf jump;
static volatile int got_signal;

static void check(int ok, const char *what) {
    printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    if (ok)
        passed++;
    else
        failed++;
}

static void on_signal(int sig) {
    got_signal = sig;
    siglongjmp(jump, 1);
}

/* The signal a read of *p raises (0: none). */
static int touch(volatile char *p) {
    got_signal = 0;
    if (sigsetjmp(jump, 1) == 0)
        (void)*p;
    return got_signal;
}

/* Write requests disk `name` completed, from /proc/diskstats (-1: not found). */
static long disk_writes(const char *name) {
    FILE *f = fopen("/proc/diskstats", "r");
    char line[256], dev[32];
    long writes = -1, w;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%*u %*u %31s %*u %*u %*u %*u %ld", dev, &w) == 2 && strcmp(dev, name) == 0)
            writes = w;
    if (f)
        fclose(f);
    return writes;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: mapshared DIR [DISK]\n");
        return 2;
    }
    const char *disk = argc == 3 ? argv[2] : NULL;
    char path[256];
    snprintf(path, sizeof path, "%s/mapshared.dat", argv[1]);
    unlink(path);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 3 * PAGE) != 0) {
        perror("mapshared: create");
        return 1;
    }
    char *m = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        perror("mapshared: mmap");
        return 1;
    }
    char buf[32] = {0};

    /* A store through the mapping is seen by read() at once. */
    memcpy(m + 100, "through-map", 11);
    check(pread(fd, buf, 11, 100) == 11 && memcmp(buf, "through-map", 11) == 0, "store seen by read");

    /* write() is seen through the mapping (and through a second mapping of the same page). */
    check(pwrite(fd, "by-write", 8, PAGE + 5) == 8 && memcmp(m + PAGE + 5, "by-write", 8) == 0,
          "write seen through the mapping");
    char *m2 = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, PAGE);
    check(m2 != MAP_FAILED && memcmp(m2 + 5, "by-write", 8) == 0, "second mapping sees the same page");

    /* A forked child's stores reach the parent's mapping and the file. */
    pid_t pid = fork();
    if (pid == 0) {
        memcpy(m + 2 * PAGE + 1, "from-child", 10);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    memset(buf, 0, sizeof buf);
    check(WIFEXITED(status) && memcmp(m + 2 * PAGE + 1, "from-child", 10) == 0 &&
              pread(fd, buf, 10, 2 * PAGE + 1) == 10 && memcmp(buf, "from-child", 10) == 0,
          "child's store seen by parent and read");

    /* msync: the data is on the file system; bad arguments refused. */
    memcpy(m + 2 * PAGE, "mapshared-ok", 12);
    check(msync(m, 3 * PAGE, MS_SYNC) == 0, "msync MS_SYNC");
    check(msync(m, PAGE, MS_ASYNC | MS_INVALIDATE) == 0, "msync MS_ASYNC|MS_INVALIDATE");
    check(msync(m + 1, PAGE, MS_SYNC) == -1 && errno == EINVAL, "msync unaligned: EINVAL");
    check(msync(m, PAGE, MS_SYNC | MS_ASYNC) == -1 && errno == EINVAL, "msync SYNC|ASYNC: EINVAL");
    check(fsync(fd) == 0, "fsync");

    /* The msync cleaned the page: a store after it must dirty it again, or it never reaches the file. */
    memcpy(m + 2 * PAGE + 12, "+again", 6);
    check(msync(m + 2 * PAGE, PAGE, MS_SYNC) == 0, "msync after a second store");
    if (disk) {
        long before = disk_writes(disk);
        check(before > 0 && msync(m, 3 * PAGE, MS_SYNC) == 0 && disk_writes(disk) == before,
              "msync with nothing stored since: no write reaches the disk");
    }

    /* A mapping past the end of the file: SIGBUS there, none before. */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    char small[64];
    snprintf(small, sizeof small, "%s/mapshared.small", argv[1]);
    int sfd = open(small, O_RDWR | O_CREAT | O_TRUNC, 0644);
    check(sfd >= 0 && write(sfd, "x", 1) == 1, "small file");
    char *s = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
    check(s != MAP_FAILED && touch(s + 10) == 0 && s[0] == 'x' && s[10] == 0, "inside the last page: no signal");
    check(touch(s + PAGE) == SIGBUS, "past the end of the file: SIGBUS");
    /* Truncated to nothing: the page not touched yet gives SIGBUS. */
    check(ftruncate(sfd, 0) == 0 && touch(s + 2 * PAGE) == SIGBUS, "after truncation: SIGBUS");
    /* A shared writable mapping needs a descriptor open for writing. */
    int rfd = open(small, O_RDONLY);
    check(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0) == MAP_FAILED && errno == EACCES,
          "shared writable mapping of a read-only descriptor: EACCES");
    close(rfd);
    munmap(s, 3 * PAGE);
    close(sfd);
    unlink(small);

    munmap(m2, PAGE);
    check(munmap(m, 3 * PAGE) == 0, "munmap");
    close(fd);
    /* Reopened: the file holds what went through the mappings. */
    fd = open(path, O_RDONLY);
    memset(buf, 0, sizeof buf);
    check(fd >= 0 && pread(fd, buf, 18, 2 * PAGE) == 18 && memcmp(buf, "mapshared-ok+again", 18) == 0,
          "reopened file holds the mapped stores");
    close(fd);

    if (disk) {
        /* A writable shared mapping writes the file system as an open file does, descriptor closed or not. */
        int hfd = open(path, O_RDWR);
        char *h = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, hfd, 0);
        close(hfd);
        check(h != MAP_FAILED && mount(NULL, argv[1], NULL, MS_REMOUNT | MS_RDONLY, NULL) == -1 && errno == EBUSY,
              "read-only remount with a writable shared mapping: EBUSY");
        munmap(h, PAGE);
        check(mount(NULL, argv[1], NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0, "read-only remount once unmapped");
        check(mount(NULL, argv[1], NULL, MS_REMOUNT, NULL) == 0, "writable again");
    }
    printf("mapshared: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
