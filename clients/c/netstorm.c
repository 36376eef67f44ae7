/* netstorm: a TCP echo server on guest port 8080 for the host's abuse: connections that reset mid-stream or
 * close at once, one after another. A connection that sends "mark" records MemFree; one that sends "quit"
 * ends the run: "netstorm: N connections, MemFree at mark M KiB, at quit Q KiB". The exit status is 0 when
 * the second round cost less than 1 MiB more than the first (no leak per connection). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static long memfree_kib(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemFree: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

int main(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(8080), .sin_addr.s_addr = INADDR_ANY};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 8) != 0) {
        printf("netstorm: cannot listen: %s\n", strerror(errno));
        return 100;
    }
    printf("netstorm: listening on 8080, MemFree %ld KiB\n", memfree_kib());
    fflush(stdout);
    long mark = -1, end = -1;
    int conns = 0;
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) {
            printf("netstorm: accept: %s\n", strerror(errno));
            return 101;
        }
        conns++;
        struct timeval tv = {.tv_sec = 5};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[4096];
        int n, quit = 0;
        while ((n = read(c, buf, sizeof buf)) > 0) {
            if (n >= 4 && memcmp(buf, "mark", 4) == 0)
                mark = memfree_kib();
            quit = n >= 4 && memcmp(buf, "quit", 4) == 0;
            if (send(c, buf, n, MSG_NOSIGNAL) != n || quit)
                break;
        }
        close(c);
        if (quit)
            break;
    }
    /* Closed connections finish their close in the stack: give them a moment. */
    sleep(1);
    end = memfree_kib();
    printf("netstorm: %d connections, MemFree at mark %ld KiB, at quit %ld KiB\n", conns, mark, end);
    return mark > 0 && end > 0 && mark - end < 1024 ? 0 : 1;
}
