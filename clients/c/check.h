/* check.h: what the self-checking clients share. CHECK counts a check and prints one line when it fails
 * ("FAIL name<check_where> (line N, errno E)"; a client sets check_where to say which round it is in),
 * summary() prints "NAME: N passed, M failed" and gives the exit status (M, at most 125), and read_all /
 * write_all move exactly n bytes unless the stream ends or fails first. */
#ifndef EMBER_CHECK_H
#define EMBER_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;
static const char *check_where = "";

#define CHECK(name, cond)                                                                                  \
    do {                                                                                                   \
        if (cond) {                                                                                        \
            passed++;                                                                                      \
        } else {                                                                                           \
            failed++;                                                                                      \
            printf("FAIL %s%s (line %d, errno %s)\n", name, check_where, __LINE__, strerror(errno));       \
        }                                                                                                  \
    } while (0)

/* Prints the summary line of client `name`; returns its exit status. */
static inline int summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, passed, failed);
    return failed > 125 ? 125 : failed;
}

/* Reads until `n` bytes or the end of the stream; the count read. */
static inline int read_all(int fd, char *buf, int n) {
    int got = 0;
    while (got < n) {
        int r = read(fd, buf + got, n - got);
        if (r <= 0)
            break;
        got += r;
    }
    return got;
}

/* Writes `n` bytes unless a write fails; the count written. */
static inline int write_all(int fd, const char *buf, int n) {
    int done = 0;
    while (done < n) {
        int w = write(fd, buf + done, n - done);
        if (w <= 0)
            return done;
        done += w;
    }
    return done;
}

#endif
