/* hostile: system calls whose sizes user space picks, given absurd sizes (poll/select descriptor counts, readv
 * and sendmsg iovec counts, read/write/getdents/sendfile counts, control-message and address lengths, execve
 * argument and environment sizes, group lists, epoll event counts). Each must give an error code or a partial
 * result, never take the kernel down; the last checks show the kernel still works. One line per failed check,
 * then "hostile: N passed, M failed"; the exit status is M. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* A page of readable and writable memory followed by an inaccessible one: a buffer there faults right after
 * its page, whatever size a call is told. */
static char *edge_page(void) {
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    mprotect(p + 4096, 4096, PROT_NONE);
    return p;
}

/* A result that is a partial count within `room` bytes, or EFAULT. */
static int partial_or_efault(long r, long room) {
    return (r >= 0 && r <= room) || (r < 0 && errno == EFAULT);
}

static void test_poll_select(char *page) {
    errno = 0;
    CHECK("poll 2^30 fds EINVAL", poll((struct pollfd *)page, 1u << 30, 0) < 0 && errno == EINVAL);
    struct rlimit nofile;
    getrlimit(RLIMIT_NOFILE, &nofile);
    CHECK("poll past RLIMIT_NOFILE EINVAL", poll((struct pollfd *)page, nofile.rlim_cur + 1, 0) < 0 && errno == EINVAL);
    CHECK("poll -1 fds EINVAL", syscall(SYS_poll, page, -1L, 0) < 0 && errno == EINVAL);
    CHECK("poll 600 fds past the page EFAULT", poll((struct pollfd *)page, 600, 0) < 0 && errno == EFAULT);
    CHECK("poll 0 fds", poll(NULL, 0, 0) == 0);
    /* Linux looks at no more descriptors than the table holds. */
    CHECK("select 2^30 descriptors", select(1 << 30, (fd_set *)page, NULL, NULL, &(struct timeval){0}) == 0);
    CHECK("select -1 EINVAL", select(-1, NULL, NULL, NULL, &(struct timeval){0}) < 0 && errno == EINVAL);
    int ep = epoll_create1(0);
    CHECK("epoll_wait INT_MAX events EINVAL",
          epoll_wait(ep, (struct epoll_event *)page, 0x7fffffff, 0) < 0 && errno == EINVAL);
    CHECK("epoll_wait 0 events EINVAL", epoll_wait(ep, (struct epoll_event *)page, 0, 0) < 0 && errno == EINVAL);
    close(ep);
}

static void test_rw(char *page) {
    int zero = open("/dev/zero", O_RDONLY), null = open("/dev/null", O_WRONLY);
    CHECK("read SIZE_MAX from /dev/zero", partial_or_efault(syscall(SYS_read, zero, page, SIZE_MAX), 4096));
    CHECK("read 2^40 from /dev/zero", partial_or_efault(syscall(SYS_read, zero, page, 1ul << 40), 4096));
    CHECK("write SIZE_MAX to /dev/null", partial_or_efault(syscall(SYS_write, null, page, SIZE_MAX), 0x7ffff000));
    struct iovec iov[2] = {{page, 1ul << 40}, {page, 16}};
    CHECK("readv 1025 iovecs EINVAL", syscall(SYS_readv, zero, iov, 1025) < 0 && errno == EINVAL);
    CHECK("readv -1 iovecs EINVAL", syscall(SYS_readv, zero, iov, -1) < 0 && errno == EINVAL);
    CHECK("readv 2^40 bytes", partial_or_efault(readv(zero, iov, 2), 4096));
    struct iovec negative[1] = {{page, SIZE_MAX}};
    CHECK("readv negative length EINVAL", readv(zero, negative, 1) < 0 && errno == EINVAL);
    /* Linux cuts a total past 2 GiB short rather than refusing it. */
    struct iovec over[2] = {{page, SIZE_MAX / 2}, {page, SIZE_MAX / 2}};
    CHECK("readv total past SSIZE_MAX", partial_or_efault(readv(zero, over, 2), 4096));
    memset(page, 0, 4096);
    CHECK("writev 256 empty iovecs", writev(null, (struct iovec *)page, 256) == 0);
    int pipes[2];
    CHECK("pipe", pipe2(pipes, O_NONBLOCK) == 0);
    CHECK("pipe write 2^40", partial_or_efault(syscall(SYS_write, pipes[1], page, 1ul << 40), 1 << 20));
    close(pipes[0]);
    close(pipes[1]);
    int f = open("/tmp/hostile-file", O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK("write a file", write(f, "0123456789", 10) == 10);
    CHECK("pread SIZE_MAX", partial_or_efault(syscall(SYS_pread64, f, page, SIZE_MAX, 0), 4096));
    CHECK("pwrite at 2^62 fails or holds", pwrite(f, "x", 1, 1ll << 62) == 1 || errno == EFBIG ||
                                                errno == ENOSPC || errno == ENOMEM);
    CHECK("ftruncate 2^50 fails or holds", ftruncate(f, 1ll << 50) == 0 || errno == EFBIG || errno == ENOSPC ||
                                               errno == ENOMEM);
    CHECK("ftruncate back", ftruncate(f, 10) == 0);
    CHECK("sendfile 2^40 from a file", sendfile(null, f, &(off_t){0}, 1ul << 40) == 10);
    CHECK("sendfile negative count EINVAL", sendfile(null, f, &(off_t){0}, SIZE_MAX) < 0 && errno == EINVAL);
    CHECK("sendfile into a faulting offset EFAULT",
          sendfile(null, f, (off_t *)(page + 4096), 16) < 0 && errno == EFAULT);
    close(f);
    unlink("/tmp/hostile-file");
    close(zero);
    close(null);
    char small[64];
    CHECK("getrandom 2^40", partial_or_efault(syscall(SYS_getrandom, page, 1ul << 40, 0), 4096));
    CHECK("getcwd SIZE_MAX", syscall(SYS_getcwd, small, SIZE_MAX) > 0);
    CHECK("readlink SIZE_MAX", syscall(SYS_readlink, "/proc/self/exe", small, SIZE_MAX) > 0 || errno == EINVAL);
}

static void test_getdents(char *page) {
    int d = open("/", O_RDONLY | O_DIRECTORY);
    CHECK("getdents64 count 0 EINVAL", syscall(SYS_getdents64, d, page, 0) < 0 && errno == EINVAL);
    /* The count is an unsigned int: SIZE_MAX is a negative int, 2^40 is 0, neither fits an entry. */
    CHECK("getdents64 SIZE_MAX EINVAL", syscall(SYS_getdents64, d, page, SIZE_MAX) < 0 && errno == EINVAL);
    CHECK("getdents64 2^40 EINVAL", syscall(SYS_getdents64, d, page, 1ul << 40) < 0 && errno == EINVAL);
    CHECK("getdents64 2^31-1 past the page", partial_or_efault(syscall(SYS_getdents64, d, page + 4000, 0x7fffffff),
                                                                0x7fffffff));
    close(d);
    /* A directory of many entries, listed in small pieces. */
    mkdir("/tmp/many", 0755);
    char name[64];
    int made = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "/tmp/many/entry-with-a-longish-name-%04d", i);
        int f = open(name, O_CREAT | O_WRONLY, 0644);
        made += f >= 0;
        close(f);
    }
    CHECK("300 files", made == 300);
    d = open("/tmp/many", O_RDONLY | O_DIRECTORY);
    long n, total = 0, calls = 0;
    while ((n = syscall(SYS_getdents64, d, page, 256)) > 0) {
        for (long at = 0; at < n;) {
            total++;
            at += *(unsigned short *)(page + at + 16);
        }
        calls++;
    }
    CHECK("getdents64 lists them all", n == 0 && total == 302 && calls > 10);
    close(d);
}

/* The kernel's `struct msghdr`, with 64-bit lengths (musl's has 32-bit ones and padding). */
struct raw_msghdr {
    void *name;
    uint32_t namelen, pad;
    void *iov;
    uint64_t iovlen;
    void *control;
    uint64_t controllen;
    int flags;
};

/* A `cmsghdr` with a 64-bit length at `at`. */
static void raw_cmsg(char *at, uint64_t len, int level, int type) {
    memcpy(at, &len, 8);
    memcpy(at + 8, &level, 4);
    memcpy(at + 12, &type, 4);
}

static void test_sockets(char *page) {
    int sv[2];
    CHECK("socketpair", socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
    struct iovec iov = {"hi", 2};
    struct raw_msghdr m = {.iov = &iov, .iovlen = 1, .control = page, .controllen = 1ul << 40};
    CHECK("sendmsg control 2^40 ENOBUFS", syscall(SYS_sendmsg, sv[0], &m, 0) < 0 && errno == ENOBUFS);
    m.controllen = 0;
    m.iovlen = 1ul << 40;
    CHECK("sendmsg 2^40 iovecs EMSGSIZE", syscall(SYS_sendmsg, sv[0], &m, 0) < 0 && errno == EMSGSIZE);
    m.iovlen = 1;
    m.name = page;
    m.namelen = 0x7fffffff;
    CHECK("sendmsg name 2^31 EINVAL", syscall(SYS_sendmsg, sv[0], &m, 0) < 0 && errno == EINVAL);
    m.name = NULL;
    m.namelen = 0;
    /* A control message that claims more bytes than the buffer has. */
    raw_cmsg(page, 1ul << 40, SOL_SOCKET, SCM_RIGHTS);
    m.control = page;
    m.controllen = 64;
    CHECK("sendmsg lying cmsg_len EINVAL", syscall(SYS_sendmsg, sv[0], &m, 0) < 0 && errno == EINVAL);
    /* 300 descriptors: more than SCM_MAX_FD (253). */
    raw_cmsg(page, 16 + 300 * 4, SOL_SOCKET, SCM_RIGHTS);
    memset(page + 16, 0, 300 * 4);
    m.controllen = 16 + 300 * 4;
    CHECK("sendmsg 300 descriptors EINVAL", syscall(SYS_sendmsg, sv[0], &m, 0) < 0 && errno == EINVAL);
    struct iovec big = {page, 1ul << 40};
    struct raw_msghdr mb = {.iov = &big, .iovlen = 1};
    long r = syscall(SYS_sendmsg, sv[0], &mb, MSG_DONTWAIT);
    CHECK("sendmsg 2^40 bytes fails", r < 0 && (errno == EMSGSIZE || errno == EFAULT || errno == ENOBUFS));
    CHECK("setsockopt optlen 2^31", setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, page, 0x7fffffff) == 0 ||
                                        errno == EINVAL || errno == EFAULT);
    socklen_t len = 0x7fffffff;
    CHECK("getsockopt optlen 2^31", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, page, &len) == 0 || errno == EINVAL);
    CHECK("bind addrlen 2^31 EINVAL", bind(sv[0], (struct sockaddr *)page, 0x7fffffff) < 0 && errno == EINVAL);
    CHECK("still sends", send(sv[0], "ok", 2, 0) == 2);
    char buf[4];
    CHECK("still receives", recv(sv[1], buf, sizeof buf, 0) == 2);
    close(sv[0]);
    close(sv[1]);
}

static void test_exec_and_groups(char *page) {
    /* 300000 arguments: 3 MB of pointers and strings, past 2 MiB (and past ember's 65536 strings). */
    static char *many[300001];
    for (int i = 0; i < 300000; i++) {
        many[i] = "a";
    }
    char *env[] = {NULL};
    CHECK("execve 300000 arguments E2BIG", execve("/init", many, env) < 0 && errno == E2BIG);
    /* One argument of 200 KiB: past MAX_ARG_STRLEN (128 KiB). */
    char *huge = malloc(200 << 10);
    memset(huge, 'x', 200 << 10);
    huge[(200 << 10) - 1] = 0;
    char *one[] = {"/init", huge, NULL};
    CHECK("execve 200 KiB argument E2BIG", execve("/init", one, env) < 0 && errno == E2BIG);
    /* 24 arguments and 24 environment strings of 100 KiB: 4.7 MiB in all, past 2 MiB. */
    huge[(100 << 10) - 1] = 0;
    char *args[26] = {"/init"}, *envs[25] = {0};
    for (int i = 0; i < 24; i++) {
        args[i + 1] = huge;
        envs[i] = huge;
    }
    CHECK("execve 4.7 MiB of arguments E2BIG", execve("/init", args, envs) < 0 && errno == E2BIG);
    /* An argument that runs into an inaccessible page. */
    memset(page, 'y', 4096);
    char *edge[] = {"/init", page, NULL};
    CHECK("execve argument past the page EFAULT", execve("/init", edge, env) < 0 && errno == EFAULT);
    free(huge);
    CHECK("setgroups 2^20 EINVAL", syscall(SYS_setgroups, 1 << 20, page) < 0 && errno == EINVAL);
    CHECK("setgroups 65536 past the page EFAULT", syscall(SYS_setgroups, 65536, page) < 0 && errno == EFAULT);
    CHECK("getgroups -1 EINVAL", syscall(SYS_getgroups, -1, page) < 0 && errno == EINVAL);
    CHECK("sched_getaffinity 2^40", syscall(SYS_sched_getaffinity, 0, 1ul << 40, page) > 0 || errno == EFAULT ||
                                        errno == EINVAL);
}

int main(int argc, char **argv) {
    (void)argv;
    if (argc > 3) {
        printf("FAIL an execve with hostile sizes ran (argc %d)\n", argc);
        return 1;
    }
    mkdir("/tmp", 0777);
    char *page = edge_page();
    CHECK("edge page", page != NULL);
    if (!page) {
        return 1;
    }
    test_poll_select(page);
    test_rw(page);
    test_getdents(page);
    test_sockets(page);
    test_exec_and_groups(page);
    /* The kernel still works: a child runs and is waited for. */
    pid_t pid = fork();
    if (pid == 0) {
        _exit(42);
    }
    int status = 0;
    CHECK("fork and wait after all that", pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
                                               WEXITSTATUS(status) == 42);
    return summary("hostile");
}
