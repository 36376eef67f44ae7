/* mmds: reads Firecracker's microVM metadata service (MMDS) version 2 over the network device, as a guest
 * agent does: `PUT /latest/api/token` for a session token, then `GET PATH` with it, from 169.254.169.254
 * port 80. Prints "mmds: token N bytes" and "mmds: PATH = VALUE"; the exit status is 0 when both worked
 * and a GET without the token was refused (401). Usage: mmds [PATH] (default /ember/greeting) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Sends `request` to MMDS and reads the whole answer (MMDS closes nothing: read until the body's
 * Content-Length is in). Returns the HTTP status, the body in `body`; -2 when no answer came within 3 s. */
static int http_once(const char *request, char *body, int room) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    inet_pton(AF_INET, "169.254.169.254", &a.sin_addr);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        printf("mmds: connect: %s\n", strerror(errno));
        return -1;
    }
    if (write(s, request, strlen(request)) != (int)strlen(request)) {
        printf("mmds: write: %s\n", strerror(errno));
        close(s);
        return -1;
    }
    static char buf[8192];
    int got = 0, status = -1;
    for (;;) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, 3000) != 1) {
            close(s);
            return -2;
        }
        int r = read(s, buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            break;
        got += r;
        buf[got] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        int len = 0;
        char *cl = strcasestr(buf, "Content-Length:");
        if (cl && cl < end)
            sscanf(cl + 15, "%d", &len);
        if (got - (end + 4 - buf) >= len) {
            sscanf(buf, "HTTP/1.%*d %d", &status);
            snprintf(body, room, "%.*s", len, end + 4);
            break;
        }
    }
    close(s);
    return status;
}

/* `http_once`, tried again (up to 5 times) when no answer comes, saying so. */
static int http(const char *request, char *body, int room) {
    for (int i = 0; i < 5; i++) {
        int st = http_once(request, body, room);
        if (st != -2)
            return st;
        printf("mmds: no answer within 3 s; trying again\n");
    }
    return -2;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *path = argc > 1 ? argv[1] : "/ember/greeting";
    static char token[256], value[1024], request[2048];
    int st = http("PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n"
                  "X-metadata-token-ttl-seconds: 60\r\n\r\n",
                  token, sizeof token);
    if (st != 200 || !token[0]) {
        printf("mmds: token request answered %d\n", st);
        return 1;
    }
    printf("mmds: token %d bytes\n", (int)strlen(token));
    snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n", path);
    st = http(request, value, sizeof value);
    printf("mmds: without the token: %d\n", st);
    int refused = st == 401;
    snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 169.254.169.254\r\nX-metadata-token: %s\r\n\r\n",
             path, token);
    st = http(request, value, sizeof value);
    if (st != 200) {
        printf("mmds: GET %s answered %d\n", path, st);
        return 1;
    }
    printf("mmds: %s = %s\n", path, value);
    return refused ? 0 : 1;
}
