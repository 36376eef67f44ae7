/* vsock-host: the host's side of Firecracker's vsock device, for the nested test rig (runs in the rig's
 * Linux, next to Firecracker). Firecracker's host side is Unix sockets: a guest's connection to port P
 * arrives at `<uds_path>_P`; the host reaches the guest by connecting to `uds_path` and writing
 * `CONNECT <port>\n`, answered `OK <host port>\n` once the guest accepts.
 *
 *   vsock-host echo PATH COUNT     listens on PATH, echoes COUNT connections one after another
 *   vsock-host send UDS PORT BYTES connects to guest PORT (retrying while the guest is not listening yet),
 *                                  sends BYTES of the test pattern, reads the guest's answer line and checks
 *                                  it (without ending its side first: Firecracker would shut the guest's
 *                                  connection down both ways)
 *   vsock-host hold UDS PORT       connects to guest PORT (retrying), sends "hello\n", checks the answer
 *                                  "hi\n", then holds the connection until it ends (the snapshot test: it
 *                                  ends when the Firecracker that carried it is stopped)
 *
 * Every line starts with "fcrig: vsock-host: "; failures say FAIL. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vm_sockets.h"

#define SAY(...) (printf("fcrig: vsock-host: " __VA_ARGS__), fflush(stdout))

static struct sockaddr_un unix_addr(const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    return a;
}

static int echo(const char *path, int count) {
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = unix_addr(path);
    unlink(path);
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0) {
        SAY("FAIL listen on %s: %s\n", path, strerror(errno));
        return 1;
    }
    for (int i = 0; i < count; i++) {
        int c = accept(l, NULL, NULL);
        if (c < 0) {
            SAY("FAIL accept: %s\n", strerror(errno));
            return 1;
        }
        long total = 0;
        char buf[4096];
        for (;;) {
            int r = read(c, buf, sizeof buf);
            if (r <= 0)
                break;
            for (int done = 0; done < r;) {
                int w = write(c, buf + done, r - done);
                if (w <= 0)
                    break;
                done += w;
            }
            total += r;
        }
        SAY("echoed %ld bytes\n", total);
        close(c);
    }
    return 0;
}

/* Reads one line (up to `n` - 1 bytes) byte by byte, so nothing after it is taken. */
static int read_line(int fd, char *line, int n) {
    int i = 0;
    while (i < n - 1) {
        char ch;
        if (read(fd, &ch, 1) != 1)
            break;
        line[i++] = ch;
        if (ch == '\n')
            break;
    }
    line[i] = 0;
    return i;
}

/* Connects to guest `port` through Firecracker's socket `uds`, retrying every 100 ms for 30 s while the
 * guest is not listening yet (or Firecracker not there yet); -1 when it never answers. `line` gets the
 * "OK <host port>" answer. */
static int connect_guest(const char *uds, int port, char *line, int room) {
    int s = -1;
    for (int tries = 0;; tries++) {
        s = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = unix_addr(uds);
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
            dprintf(s, "CONNECT %d\n", port);
            if (read_line(s, line, room) > 0 && strncmp(line, "OK ", 3) == 0)
                return s;
        }
        close(s);
        if (tries == 300) {
            SAY("FAIL no connection to guest port %d\n", port);
            return -1;
        }
        usleep(100 * 1000);
    }
}

static int send_to_guest(const char *uds, int port, long bytes) {
    char line[128];
    int s = connect_guest(uds, port, line, sizeof line);
    if (s < 0)
        return 1;
    SAY("connected to guest port %d (%.*s)\n", port, (int)strcspn(line, "\n"), line);
    unsigned long sum = 0;
    char buf[4096];
    for (long done = 0; done < bytes;) {
        int n = bytes - done < (long)sizeof buf ? (int)(bytes - done) : (int)sizeof buf;
        for (int i = 0; i < n; i++) {
            buf[i] = pattern(done + i);
            sum += (unsigned char)buf[i];
        }
        for (int at = 0; at < n;) {
            int w = write(s, buf + at, n - at);
            if (w <= 0) {
                SAY("FAIL write after %ld bytes: %s\n", done + at, strerror(errno));
                return 1;
            }
            at += w;
        }
        done += n;
    }
    read_line(s, line, sizeof line);
    line[strcspn(line, "\n")] = 0;
    char expect[128];
    snprintf(expect, sizeof expect, "got %ld sum %lu", bytes, sum);
    if (strcmp(line, expect) != 0) {
        SAY("FAIL guest said \"%s\", expected \"%s\"\n", line, expect);
        return 1;
    }
    SAY("host->guest ok: guest said \"%s\"\n", line);
    close(s);
    return 0;
}

static int hold(const char *uds, int port) {
    char line[128];
    int s = connect_guest(uds, port, line, sizeof line);
    if (s < 0)
        return 1;
    if (write(s, "hello\n", 6) != 6 || read_line(s, line, sizeof line) <= 0 || strcmp(line, "hi\n") != 0) {
        SAY("FAIL no greeting from guest port %d\n", port);
        return 1;
    }
    SAY("holding a connection to guest port %d\n", port);
    char buf[256];
    long extra = 0;
    int r;
    while ((r = read(s, buf, sizeof buf)) > 0)
        extra += r;
    SAY("the held connection ended (%s) after %ld more bytes\n", r == 0 ? "end of stream" : strerror(errno),
        extra);
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "echo") == 0)
        return echo(argv[2], atoi(argv[3]));
    if (argc == 5 && strcmp(argv[1], "send") == 0)
        return send_to_guest(argv[2], atoi(argv[3]), atol(argv[4]));
    if (argc == 4 && strcmp(argv[1], "hold") == 0)
        return hold(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: vsock-host echo PATH COUNT | send UDS PORT BYTES | hold UDS PORT\n");
    return 2;
}
