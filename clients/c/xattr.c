/* xattr DIR [ext4]: extended attributes of files in DIR, as root and as an unprivileged user.
 * Checks setxattr's XATTR_CREATE/XATTR_REPLACE (EEXIST, ENODATA), getxattr's size query and ERANGE,
 * listxattr (trusted.* hidden from unprivileged callers), the f- and l- variants, removexattr, a value large
 * enough to leave the inode (3000 bytes) and, with "ext4", one too large for a 4 KiB attribute block (ENOSPC)
 * and the attributes debugfs put on /preset before boot (user.preset, a 600-byte user.big, trusted.pre).
 * Leaves DIR/xf with user.keep = "kept-by-ember" and user.big3000 (byte i = i * 13 + 5) for the host to
 * read back with debugfs. Prints "xattr: N passed, M failed"; exits 0 when none failed. */
#include "check.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>

/* Whether the NUL-separated list `list` of `len` bytes holds `name`. */
static int listed(const char *list, ssize_t len, const char *name) {
    for (ssize_t i = 0; i < len; i += strlen(list + i) + 1)
        if (strcmp(list + i, name) == 0)
            return 1;
    return 0;
}

static void preset(void) {
    char buf[1024];
    ssize_t n = getxattr("/preset", "user.preset", buf, sizeof buf);
    CHECK("preset user.preset", n == 12 && memcmp(buf, "from debugfs", 12) == 0);
    n = getxattr("/preset", "user.big", buf, sizeof buf);
    int same = n == 600;
    for (int i = 0; same && i < 600; i++)
        same = (unsigned char)buf[i] == (unsigned char)(i * 7 + 3);
    CHECK("preset user.big (600 bytes, from the attribute block)", same);
    n = getxattr("/preset", "trusted.pre", buf, sizeof buf);
    CHECK("preset trusted.pre", n == 3 && memcmp(buf, "pre", 3) == 0);
    n = listxattr("/preset", buf, sizeof buf);
    CHECK("preset listed", n > 0 && listed(buf, n, "user.preset") && listed(buf, n, "user.big") &&
                               listed(buf, n, "trusted.pre"));
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: xattr DIR [ext4]\n");
        return 2;
    }
    const char *dir = argv[1];
    int ext4 = argc > 2 && strcmp(argv[2], "ext4") == 0;
    char buf[8192], file[512], link[512], sub[512];
    snprintf(file, sizeof file, "%s/xf", dir);
    snprintf(link, sizeof link, "%s/xl", dir);
    snprintf(sub, sizeof sub, "%s/xd", dir);
    int fd = open(file, O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK("create", fd >= 0);
    CHECK("symlink", symlink("xf", link) == 0);
    CHECK("mkdir", mkdir(sub, 0755) == 0);

    CHECK("empty list", listxattr(file, buf, sizeof buf) == 0);
    CHECK("set create", setxattr(file, "user.a", "1", 1, XATTR_CREATE) == 0);
    CHECK("create again: EEXIST", setxattr(file, "user.a", "2", 1, XATTR_CREATE) == -1 && errno == EEXIST);
    CHECK("replace missing: ENODATA",
          setxattr(file, "user.missing", "2", 1, XATTR_REPLACE) == -1 && errno == ENODATA);
    CHECK("replace", setxattr(file, "user.a", "value two", 9, XATTR_REPLACE) == 0);
    CHECK("size query", getxattr(file, "user.a", NULL, 0) == 9);
    CHECK("small buffer: ERANGE", getxattr(file, "user.a", buf, 4) == -1 && errno == ERANGE);
    CHECK("get", getxattr(file, "user.a", buf, sizeof buf) == 9 && memcmp(buf, "value two", 9) == 0);
    CHECK("get missing: ENODATA", getxattr(file, "user.none", buf, sizeof buf) == -1 && errno == ENODATA);
    CHECK("empty value", setxattr(file, "user.empty", "", 0, 0) == 0 && getxattr(file, "user.empty", buf, 8) == 0);
    CHECK("trusted", setxattr(file, "trusted.t", "tt", 2, 0) == 0);
    CHECK("security", setxattr(file, "security.s", "ss", 2, 0) == 0);
    CHECK("unknown namespace: EOPNOTSUPP", setxattr(file, "other.x", "1", 1, 0) == -1 && errno == EOPNOTSUPP);
    unsigned char big[3000];
    for (int i = 0; i < 3000; i++)
        big[i] = (unsigned char)(i * 13 + 5);
    CHECK("3000-byte value", setxattr(file, "user.big3000", big, sizeof big, XATTR_CREATE) == 0);
    CHECK("3000-byte value read",
          getxattr(file, "user.big3000", buf, sizeof buf) == 3000 && memcmp(buf, big, 3000) == 0);
    if (ext4) {
        static char huge[6000];
        CHECK("6000-byte value on a 4 KiB block: ENOSPC",
              setxattr(file, "user.huge", huge, sizeof huge, 0) == -1 && errno == ENOSPC);
    }
    ssize_t n = listxattr(file, NULL, 0);
    CHECK("list size", n > 0);
    CHECK("list small buffer: ERANGE", listxattr(file, buf, 3) == -1 && errno == ERANGE);
    CHECK("list", listxattr(file, buf, sizeof buf) == n && listed(buf, n, "user.a") && listed(buf, n, "trusted.t") &&
                      listed(buf, n, "security.s") && listed(buf, n, "user.big3000") && listed(buf, n, "user.empty"));

    /* By descriptor, and a symbolic link itself. */
    CHECK("fsetxattr", fsetxattr(fd, "user.f", "fd", 2, 0) == 0);
    CHECK("fgetxattr", fgetxattr(fd, "user.f", buf, sizeof buf) == 2 && memcmp(buf, "fd", 2) == 0);
    n = flistxattr(fd, buf, sizeof buf);
    CHECK("flistxattr", n > 0 && listed(buf, n, "user.f"));
    CHECK("through the link", getxattr(link, "user.f", buf, sizeof buf) == 2);
    CHECK("lsetxattr user.* on a link: EPERM", lsetxattr(link, "user.x", "1", 1, 0) == -1 && errno == EPERM);
    CHECK("lgetxattr on a link: ENODATA", lgetxattr(link, "user.f", buf, sizeof buf) == -1 && errno == ENODATA);
    CHECK("directory", setxattr(sub, "user.d", "dir", 3, 0) == 0 && getxattr(sub, "user.d", buf, 8) == 3);

    /* Removal. */
    CHECK("remove", removexattr(file, "user.a") == 0);
    CHECK("remove again: ENODATA", removexattr(file, "user.a") == -1 && errno == ENODATA);
    CHECK("fremovexattr", fremovexattr(fd, "user.f") == 0);
    CHECK("removed", getxattr(file, "user.a", buf, sizeof buf) == -1 && errno == ENODATA);
    CHECK("keep", setxattr(file, "user.keep", "kept-by-ember", 13, 0) == 0);
    CHECK("rmdir with attributes", removexattr(sub, "user.d") == 0 && setxattr(sub, "user.e", "e", 1, 0) == 0 &&
                                       rmdir(sub) == 0);

    /* An unprivileged user: trusted.* is hidden and unreadable, user.* needs permissions. */
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(1000) != 0 || setuid(1000) != 0)
            _exit(10);
        n = listxattr(file, buf, sizeof buf);
        if (n <= 0 || listed(buf, n, "trusted.t") || !listed(buf, n, "user.keep"))
            _exit(11);
        if (getxattr(file, "trusted.t", buf, sizeof buf) != -1 || errno != ENODATA)
            _exit(12);
        if (setxattr(file, "user.keep", "x", 1, 0) != -1 || errno != EACCES)
            _exit(13);
        if (getxattr(file, "security.s", buf, sizeof buf) != 2)
            _exit(14);
        _exit(0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK("unprivileged", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        printf("unprivileged child: status %#x\n", status);

    CHECK("cleanup", removexattr(file, "trusted.t") == 0 && removexattr(file, "security.s") == 0 &&
                         removexattr(file, "user.empty") == 0);
    n = listxattr(file, buf, sizeof buf);
    CHECK("what stays", n == (ssize_t)sizeof "user.big3000\0user.keep" || n == (ssize_t)sizeof "user.keep\0user.big3000");
    close(fd);
    if (ext4)
        preset();
    return summary("xattr");
}
