/* fc-api: one request to Firecracker's API server, HTTP/1.1 over its Unix socket (the test rig has no
 * curl). Waits up to 10 s for the socket to accept (Firecracker creates it as it starts), sends
 * METHOD PATH with the JSON body, if any, and reads the answer: the status line, then the body by its
 * Content-Length (Firecracker keeps the connection open). Prints one line,
 * "fcrig: fc-api: METHOD PATH: STATUS BODY"; the exit status is 0 for a 2xx answer, 1 otherwise.
 *
 *   fc-api SOCKET METHOD PATH [JSON]   e.g. fc-api api.sock PATCH /vm '{"state":"Paused"}' */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SAY(...) (printf("fcrig: fc-api: " __VA_ARGS__), fflush(stdout))

/* How long an answer may take: a full snapshot of a nested guest's memory is written before it comes. */
#define ANSWER_MS 60000

/* Connects to the Unix socket at `path`, trying every 50 ms for 10 s; -1 when it never accepts. */
static int connect_api(const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return -1;
    strcpy(a.sun_path, path);
    for (int tries = 0; tries < 200; tries++) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0)
            return s;
        if (s >= 0)
            close(s);
        usleep(50 * 1000);
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: fc-api SOCKET METHOD PATH [JSON]\n");
        return 2;
    }
    const char *method = argv[2], *path = argv[3], *body = argc == 5 ? argv[4] : "";
    int s = connect_api(argv[1]);
    if (s < 0) {
        SAY("%s %s: cannot connect to %s: %s\n", method, path, argv[1], strerror(errno));
        return 1;
    }
    static char req[8192];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, strlen(body), body);
    if (n >= (int)sizeof req) {
        SAY("%s %s: the request is too long\n", method, path);
        return 1;
    }
    for (int done = 0; done < n;) {
        int w = write(s, req + done, n - done);
        if (w <= 0) {
            SAY("%s %s: write: %s\n", method, path, strerror(errno));
            return 1;
        }
        done += w;
    }
    static char ans[16384];
    int got = 0, status = -1;
    for (;;) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, ANSWER_MS) != 1) {
            SAY("%s %s: no answer within %d ms\n", method, path, ANSWER_MS);
            return 1;
        }
        int r = read(s, ans + got, sizeof ans - 1 - got);
        if (r <= 0)
            break;
        got += r;
        ans[got] = 0;
        char *end = strstr(ans, "\r\n\r\n");
        if (!end)
            continue;
        int len = 0;
        char *cl = strcasestr(ans, "Content-Length:");
        if (cl && cl < end)
            len = atoi(cl + 15);
        if (got - (end + 4 - ans) >= len || got == (int)sizeof ans - 1)
            break;
    }
    if (sscanf(ans, "HTTP/1.%*d %d", &status) != 1) {
        SAY("%s %s: no HTTP answer (%d bytes)\n", method, path, got);
        return 1;
    }
    char *start = strstr(ans, "\r\n\r\n");
    start = start ? start + 4 : ans + got;
    start[strcspn(start, "\r\n")] = 0;
    SAY("%s %s: %d %s\n", method, path, status, start);
    close(s);
    return status >= 200 && status < 300 ? 0 : 1;
}
