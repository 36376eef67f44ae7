/* mmds_http.h: HTTP requests to Firecracker's microVM metadata service (MMDS) at 169.254.169.254 port 80, as
 * a guest agent makes them (the mmds and vsock-snap clients). mmds_http() sends one request on a new
 * connection and gives the status and body; mmds_token() and mmds_get() are MMDS version 2's two requests. */
#ifndef EMBER_MMDS_HTTP_H
#define EMBER_MMDS_HTTP_H

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
static inline int mmds_http_once(const char *request, char *body, int room) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    inet_pton(AF_INET, "169.254.169.254", &a.sin_addr);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        printf("mmds: connect: %s\n", strerror(errno));
        if (s >= 0)
            close(s);
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

/* `mmds_http_once`, tried again (up to 5 times) when no answer comes, saying so. */
static inline int mmds_http(const char *request, char *body, int room) {
    for (int i = 0; i < 5; i++) {
        int st = mmds_http_once(request, body, room);
        if (st != -2)
            return st;
        printf("mmds: no answer within 3 s; trying again\n");
    }
    return -2;
}

/* PUT /latest/api/token with a TTL of `ttl` seconds: the status; the token in `token`. */
static inline int mmds_token(int ttl, char *token, int room) {
    char request[256];
    snprintf(request, sizeof request,
             "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n"
             "X-metadata-token-ttl-seconds: %d\r\n\r\n",
             ttl);
    return mmds_http(request, token, room);
}

/* GET `path` with `token` (none when NULL): the status; the body in `body`. */
static inline int mmds_get(const char *path, const char *token, char *body, int room) {
    char request[2048];
    if (token)
        snprintf(request, sizeof request,
                 "GET %s HTTP/1.1\r\nHost: 169.254.169.254\r\nX-metadata-token: %s\r\n\r\n", path, token);
    else
        snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n", path);
    return mmds_http(request, body, room);
}

#endif
