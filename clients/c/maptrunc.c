/* maptrunc DIR: file mappings and truncation, private mappings sharing the page cache, and a read-only
 * remount refused while a file is open for writing, on the file system mounted at DIR.
 * - A truncation unmaps the pages past the new end from every mapping (shared, private copied or not, in
 *   this process and in a forked one that mapped them before): touching them gives SIGBUS; the file grown
 *   again reads zeros there, and the tail of the last page past the end reads zeros.
 * - A private mapping's page not yet written shows a later write() to the file; once written (copied) it
 *   does not, and the file never sees the private store.
 * - mount(MS_REMOUNT | MS_RDONLY) of DIR fails with EBUSY while a file there is open for writing and works
 *   once it is closed (DIR is then remounted read-write).
 * Prints "maptrunc: N passed, M failed" (check.h); exits 0 when none failed. */
#include "check.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>

#define PAGE 4096
static sigjmp_buf jump;
static volatile int got_signal;

static void on_signal(int sig) {
    got_signal = sig;
    siglongjmp(jump, 1);
}

/* The signal a read of *p raises (0: none); the byte read in *out. */
static int touch(volatile char *p, char *out) {
    got_signal = 0;
    if (sigsetjmp(jump, 1) == 0)
        *out = *p;
    return got_signal;
}

/* The signal a read of *p raises (0: none). */
static int sig_of(volatile char *p) {
    char c;
    return touch(p, &c);
}

/* Whether n bytes at p read as zeros without a signal. */
static int zeros(volatile char *p, int n) {
    for (int i = 0; i < n; i++) {
        char c = 1;
        if (touch(p + i, &c) != 0 || c != 0)
            return 0;
    }
    return 1;
}

/* A new file of `pages` pages, each filled with 'a' + its index. */
static int make(const char *path, int pages) {
    unlink(path);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char page[PAGE];
    for (int i = 0; fd >= 0 && i < pages; i++) {
        memset(page, 'a' + i, PAGE);
        if (write(fd, page, PAGE) != PAGE)
            return -1;
    }
    return fd;
}

/* Truncation of a mapped file: `flags` is MAP_SHARED or MAP_PRIVATE. */
static void truncation(const char *path, int flags) {
    check_where = flags == MAP_SHARED ? " (shared)" : " (private)";
    int fd = make(path, 4);
    CHECK("file", fd >= 0);
    char *m = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, flags, fd, 0);
    CHECK("mmap", m != MAP_FAILED);
    if (m == MAP_FAILED)
        return;
    /* Every page mapped before the truncation; page 3 written (a private mapping's copy). */
    char c = 0;
    for (int i = 0; i < 4; i++)
        CHECK("touch before truncation", touch(m + i * PAGE, &c) == 0 && c == 'a' + i);
    m[3 * PAGE + 7] = 'W';
    /* A forked child that mapped the pages too sees the truncation. */
    int go[2], done[2];
    CHECK("pipes", pipe(go) == 0 && pipe(done) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        char x;
        int ok = touch(m + 2 * PAGE, &x) == 0 && x == 'c';
        ok &= write(done[1], "r", 1) == 1 && read(go[0], &x, 1) == 1;
        ok &= sig_of(m + 2 * PAGE) == SIGBUS && sig_of(m + 3 * PAGE) == SIGBUS;
        ok &= touch(m, &x) == 0 && x == 'a';
        _exit(ok ? 0 : 1);
    }
    char x;
    CHECK("child mapped", read(done[0], &x, 1) == 1);
    /* 1.5 pages left: pages 2 and 3 (mapped, one written) give SIGBUS; the rest of page 1 reads zeros. */
    CHECK("ftruncate shrink", ftruncate(fd, PAGE + PAGE / 2) == 0);
    CHECK("wake child", write(go[1], "g", 1) == 1);
    CHECK("past the new end: SIGBUS", sig_of(m + 2 * PAGE) == SIGBUS);
    CHECK("written page past the new end: SIGBUS", sig_of(m + 3 * PAGE + 7) == SIGBUS);
    CHECK("before the new end: kept", touch(m + PAGE, &c) == 0 && c == 'b');
    if (flags == MAP_SHARED)
        CHECK("last page's tail reads zeros", zeros(m + PAGE + PAGE / 2, PAGE / 2));
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK("forked mapping sees the truncation", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Grown again: the pages come back as zeros, in this mapping and in a new one. */
    CHECK("ftruncate grow", ftruncate(fd, 4 * PAGE) == 0);
    CHECK("grown: zeros", zeros(m + 2 * PAGE, 16) && zeros(m + 3 * PAGE, 16));
    CHECK("grown: tail zeros", zeros(m + PAGE + PAGE / 2, 16));
    char buf[16];
    CHECK("grown: read zeros", pread(fd, buf, 16, 3 * PAGE) == 16 && zeros(buf, 16));
    munmap(m, 4 * PAGE);
    close(fd);
    close(go[0]), close(go[1]), close(done[0]), close(done[1]);
    check_where = "";
}

/* A private mapping shares the file's pages until it writes one. */
static void private_sharing(const char *path) {
    int fd = make(path, 2);
    char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK("private mmap", fd >= 0 && m != MAP_FAILED);
    if (m == MAP_FAILED)
        return;
    CHECK("private read", m[10] == 'a' && m[PAGE + 10] == 'b');
    CHECK("write() seen through a page not written yet",
          pwrite(fd, "new", 3, 10) == 3 && memcmp(m + 10, "new", 3) == 0);
    m[PAGE + 10] = 'P';
    char buf[4] = {0};
    CHECK("private store not in the file", pread(fd, buf, 1, PAGE + 10) == 1 && buf[0] == 'b');
    CHECK("write() not seen through a written page",
          pwrite(fd, "late", 4, PAGE + 20) == 4 && m[PAGE + 10] == 'P' && m[PAGE + 20] == 'b');
    /* A forked child's private store is its own too. */
    pid_t pid = fork();
    if (pid == 0) {
        m[20] = 'C';
        _exit(m[20] == 'C' ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK("child's private store stays its own", WIFEXITED(status) && WEXITSTATUS(status) == 0 && m[20] == 'a' &&
                                                     pread(fd, buf, 1, 20) == 1 && buf[0] == 'a');
    /* Past the end of the file: SIGBUS, as for a shared mapping. */
    char *big = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    CHECK("private past the end: SIGBUS", big != MAP_FAILED && sig_of(big + 3 * PAGE) == SIGBUS);
    munmap(big, 4 * PAGE);
    munmap(m, 2 * PAGE);
    close(fd);
}

/* A read-only remount is refused while a file is open for writing. */
static void remount(const char *dir, const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    CHECK("open for writing", fd >= 0);
    CHECK("remount ro with a writer: EBUSY", mount("none", dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) == -1 &&
                                                 errno == EBUSY);
    CHECK("still writable", write(fd, "w", 1) == 1);
    close(fd);
    int rfd = open(path, O_RDONLY);
    CHECK("remount ro with a reader only", mount("none", dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0);
    CHECK("read-only now", open(path, O_WRONLY) == -1 && errno == EROFS);
    CHECK("remount rw", mount("none", dir, NULL, MS_REMOUNT, NULL) == 0);
    close(rfd);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: maptrunc DIR\n");
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/maptrunc.dat", argv[1]);
    truncation(path, MAP_SHARED);
    truncation(path, MAP_PRIVATE);
    private_sharing(path);
    remount(argv[1], path);
    unlink(path);
    return summary("maptrunc");
}
