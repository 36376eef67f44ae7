/* pair: one of two VMs on one Ethernet (the xtask's two-VM rig), run as `pair a|b PEER_IPV4 PEER_LINK_LOCAL`.
 * Each side serves TCP echo (port 7000, both families) and UDP echo (7001), then talks to the other's:
 * 64 KiB of its own pattern over TCP to the peer's IPv4 address and to its link-local IPv6 address (data
 * checked as it comes back, then an orderly close), UDP datagrams both ways (content and sender checked).
 * Then multicast, the sides in step over a control connection (port 7010, `a` listens): `b` joins 239.1.2.3
 * (port 7100), ff12::1234 and ff02::4242 (port 7102), leaves a socket on port 7101 out of every group, and
 * checks the option errors Linux gives; `a` sends to those groups, to 239.1.2.4:7101 (which `b` never
 * joined) and to 239.1.2.3 with IP_MULTICAST_TTL 0 (which stays on the host); `b` gets exactly the joined
 * groups' datagrams. `b` leaves 239.1.2.3 and ff12::1234, `a` sends again, `b` gets none. `a` also checks
 * IP_MULTICAST_LOOP on its own group 239.1.2.5: its datagrams come back while it is on, not when it is off.
 * One line per failed check, then "pair-a: N passed, M failed" (or pair-b); the exit status is M. */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "check.h"

#define ECHO_TCP 7000
#define ECHO_UDP 7001
#define CONTROL 7010
#define GROUP_PORT 7100
#define NEVER_PORT 7101
#define GROUP6_PORT 7102
#define LOOP_PORT 7103
#define STREAM_BYTES 65536
#define CHUNK 1024

static const char *peer4, *peer6;
static unsigned eth0;

static struct sockaddr_in in4(const char *ip, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct sockaddr_in6 in6(const char *ip, int port) {
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_scope_id = eth0};
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

static void timeout(int fd, int ms) {
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* A dual-stack socket of `type` bound to [::]:port. */
static int bound6(int type, int port, int v6only) {
    int s = socket(AF_INET6, type, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) {
        close(s);
        return -1;
    }
    return s;
}

static int bound4(int port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) {
        close(s);
        return -1;
    }
    return s;
}

/* The echo servers, in a child each, until killed. */
static pid_t tcp_echo_server(int l) {
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0)
            continue;
        char buf[4096];
        int n;
        while ((n = read(c, buf, sizeof buf)) > 0)
            if (write_all(c, buf, n) != n)
                break;
        close(c);
    }
}

static pid_t udp_echo_server(int s) {
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    for (;;) {
        char buf[2048];
        struct sockaddr_in6 from;
        socklen_t len = sizeof from;
        int n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n > 0)
            sendto(s, buf, n, 0, (struct sockaddr *)&from, len);
    }
}

/* Connects to `to`, retrying for up to a minute while the peer is not up yet. */
static int dial(const struct sockaddr *to, socklen_t len) {
    for (int i = 0; i < 600; i++) {
        int c = socket(to->sa_family, SOCK_STREAM, 0);
        if (connect(c, to, len) == 0)
            return c;
        close(c);
        usleep(100000);
    }
    return -1;
}

/* 64 KiB of this side's pattern through the peer's echo, a chunk at a time, each chunk checked. */
static void tcp_stream(const char *what, const struct sockaddr *to, socklen_t len, char role) {
    int c = dial(to, len);
    CHECK(what, c >= 0);
    if (c < 0)
        return;
    timeout(c, 10000);
    char out[CHUNK], back[CHUNK];
    int same = 1;
    for (int off = 0; off < STREAM_BYTES && same; off += CHUNK) {
        for (int i = 0; i < CHUNK; i++)
            out[i] = (char)((off + i) * 7 + role);
        same = write_all(c, out, CHUNK) == CHUNK && read_all(c, back, CHUNK) == CHUNK &&
               memcmp(out, back, CHUNK) == 0;
    }
    CHECK(what, same);
    CHECK(what, shutdown(c, SHUT_WR) == 0 && read(c, back, 1) == 0);
    close(c);
}

/* A datagram through the peer's UDP echo (retried: a first one may wait for ARP/NDP), content and sender
 * checked. */
static void udp_echo(const char *what, int family, const struct sockaddr *to, socklen_t len, char role) {
    int s = socket(family, SOCK_DGRAM, 0);
    timeout(s, 1000);
    char msg[64], back[64];
    int n = snprintf(msg, sizeof msg, "udp from %c over %s", role, what), got = -1;
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    for (int i = 0; i < 10 && got < 0; i++) {
        sendto(s, msg, n, 0, to, len);
        flen = sizeof from;
        got = recvfrom(s, back, sizeof back, 0, (struct sockaddr *)&from, &flen);
    }
    CHECK(what, got == n && memcmp(msg, back, n) == 0);
    int same_sender = family == AF_INET
                          ? ((struct sockaddr_in *)&from)->sin_addr.s_addr == ((struct sockaddr_in *)to)->sin_addr.s_addr
                          : memcmp(&((struct sockaddr_in6 *)&from)->sin6_addr, &((struct sockaddr_in6 *)to)->sin6_addr,
                                   16) == 0;
    CHECK(what, got < 0 || same_sender);
    close(s);
}

/* Control lines between the sides. */
static void say(int c, const char *word) {
    CHECK(word, write_all(c, word, strlen(word)) == (int)strlen(word));
}

static void expect(int c, const char *word) {
    char buf[16] = {0};
    int n = strlen(word);
    CHECK(word, read_all(c, buf, n) == n && memcmp(buf, word, n) == 0);
}

/* Datagrams waiting on `s` within `ms` (each counted once) whose text is `text`; all others in *other. */
static int drain(int s, int ms, const char *text, int *other) {
    int matched = 0;
    struct pollfd p = {.fd = s, .events = POLLIN};
    while (poll(&p, 1, ms) == 1) {
        char buf[256];
        int n = recv(s, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (n < 0)
            break;
        buf[n] = 0;
        if (strcmp(buf, text) == 0)
            matched++;
        else
            (*other)++;
        ms = 300;
    }
    return matched;
}

static void send_burst(int s, const struct sockaddr *to, socklen_t len, const char *text) {
    for (int i = 0; i < 3; i++) {
        sendto(s, text, strlen(text), 0, to, len);
        usleep(50000);
    }
}

/* By index: Linux finds no interface for a group without one when it has no route to it (no gateway here). */
static int join4(int s, const char *group, int opt) {
    struct ip_mreqn m = {.imr_ifindex = eth0};
    inet_pton(AF_INET, group, &m.imr_multiaddr);
    return setsockopt(s, IPPROTO_IP, opt, &m, sizeof m);
}

static int join6(int s, const char *group, int opt) {
    struct ipv6_mreq m = {.ipv6mr_interface = eth0};
    inet_pton(AF_INET6, group, &m.ipv6mr_multiaddr);
    return setsockopt(s, IPPROTO_IPV6, opt, &m, sizeof m);
}

static int int_opt(int s, int level, int name) {
    int v = -100;
    socklen_t len = sizeof v;
    return getsockopt(s, level, name, &v, &len) == 0 ? v : -100;
}

/* Side `b`: the receiver. */
static void receiver(int c) {
    int r4 = bound4(GROUP_PORT), never = bound4(NEVER_PORT), r6 = bound6(SOCK_DGRAM, GROUP6_PORT, 1);
    CHECK("receivers bound", r4 >= 0 && never >= 0 && r6 >= 0);
    CHECK("IP_ADD_MEMBERSHIP", join4(r4, "239.1.2.3", IP_ADD_MEMBERSHIP) == 0);
    errno = 0;
    CHECK("IP_ADD_MEMBERSHIP twice: EADDRINUSE", join4(r4, "239.1.2.3", IP_ADD_MEMBERSHIP) < 0 && errno == EADDRINUSE);
    errno = 0;
    CHECK("IP_ADD_MEMBERSHIP unicast: EINVAL", join4(r4, "10.0.3.9", IP_ADD_MEMBERSHIP) < 0 && errno == EINVAL);
    errno = 0;
    CHECK("IP_DROP_MEMBERSHIP not joined: EADDRNOTAVAIL",
          join4(never, "239.1.2.3", IP_DROP_MEMBERSHIP) < 0 && errno == EADDRNOTAVAIL);
    struct ip_mreq short_mreq;
    inet_pton(AF_INET, "239.1.2.6", &short_mreq.imr_multiaddr);
    short_mreq.imr_interface.s_addr = htonl(0x0a000302); /* our own address: eth0 */
    CHECK("ip_mreq by address", setsockopt(never, IPPROTO_IP, IP_ADD_MEMBERSHIP, &short_mreq, sizeof short_mreq) == 0 &&
                                    setsockopt(never, IPPROTO_IP, IP_DROP_MEMBERSHIP, &short_mreq, sizeof short_mreq) == 0);
    CHECK("IPV6_JOIN_GROUP ff12::1234", join6(r6, "ff12::1234", IPV6_JOIN_GROUP) == 0);
    CHECK("IPV6_JOIN_GROUP ff02::4242", join6(r6, "ff02::4242", IPV6_JOIN_GROUP) == 0);
    errno = 0;
    CHECK("IPV6_JOIN_GROUP unicast: EINVAL", join6(r6, "fe80::1", IPV6_JOIN_GROUP) < 0 && errno == EINVAL);
    CHECK("IP_MULTICAST_TTL default 1", int_opt(r4, IPPROTO_IP, IP_MULTICAST_TTL) == 1);
    CHECK("IP_MULTICAST_LOOP default on", int_opt(r4, IPPROTO_IP, IP_MULTICAST_LOOP) == 1);
    CHECK("IPV6_MULTICAST_HOPS default 1", int_opt(r6, IPPROTO_IPV6, IPV6_MULTICAST_HOPS) == 1);
    int bad = 2;
    errno = 0;
    CHECK("IPV6_MULTICAST_LOOP 2: EINVAL",
          setsockopt(r6, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &bad, sizeof bad) < 0 && errno == EINVAL);
    say(c, "joined\n");
    expect(c, "sent\n");
    int other = 0;
    CHECK("joined 239.1.2.3: received", drain(r4, 2000, "m4 joined", &other) == 3);
    CHECK("joined 239.1.2.3: nothing else (TTL 0 stayed home)", other == 0);
    other = 0;
    int m6 = drain(r6, 2000, "m6 joined", &other);
    CHECK("joined ff12::1234 and ff02::4242: received", m6 == 6 && other == 0);
    other = 0;
    CHECK("never joined 239.1.2.4: nothing", drain(never, 300, "", &other) == 0 && other == 0);
    CHECK("IP_DROP_MEMBERSHIP", join4(r4, "239.1.2.3", IP_DROP_MEMBERSHIP) == 0);
    CHECK("IPV6_LEAVE_GROUP", join6(r6, "ff12::1234", IPV6_LEAVE_GROUP) == 0);
    say(c, "left!!\n");
    expect(c, "sent\n");
    other = 0;
    CHECK("left 239.1.2.3: nothing", drain(r4, 1000, "", &other) == 0 && other == 0);
    other = 0;
    CHECK("left ff12::1234: nothing", drain(r6, 300, "", &other) == 0 && other == 0);
    close(r4);
    close(never);
    close(r6);
}

/* Side `a`: the sender. */
static void sender(int c) {
    int s4 = socket(AF_INET, SOCK_DGRAM, 0), s6 = socket(AF_INET6, SOCK_DGRAM, 0);
    int ttl = 4;
    CHECK("IP_MULTICAST_TTL", setsockopt(s4, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) == 0 &&
                                  int_opt(s4, IPPROTO_IP, IP_MULTICAST_TTL) == 4);
    struct in_addr own;
    inet_pton(AF_INET, "10.0.3.1", &own);
    struct in_addr got = {0};
    socklen_t len = sizeof got;
    CHECK("IP_MULTICAST_IF", setsockopt(s4, IPPROTO_IP, IP_MULTICAST_IF, &own, sizeof own) == 0 &&
                                 getsockopt(s4, IPPROTO_IP, IP_MULTICAST_IF, &got, &len) == 0 &&
                                 got.s_addr == own.s_addr);
    inet_pton(AF_INET, "10.9.9.9", &own);
    errno = 0;
    CHECK("IP_MULTICAST_IF not ours: EADDRNOTAVAIL",
          setsockopt(s4, IPPROTO_IP, IP_MULTICAST_IF, &own, sizeof own) < 0 && errno == EADDRNOTAVAIL);
    int idx = eth0, hops = 2;
    CHECK("IPV6_MULTICAST_IF", setsockopt(s6, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx) == 0 &&
                                   int_opt(s6, IPPROTO_IPV6, IPV6_MULTICAST_IF) == idx);
    CHECK("IPV6_MULTICAST_HOPS", setsockopt(s6, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) == 0 &&
                                     int_opt(s6, IPPROTO_IPV6, IPV6_MULTICAST_HOPS) == 2);
    struct sockaddr_in g4 = in4("239.1.2.3", GROUP_PORT), never = in4("239.1.2.4", NEVER_PORT);
    struct sockaddr_in6 g6 = in6("ff12::1234", GROUP6_PORT), ll6 = in6("ff02::4242", GROUP6_PORT);
    expect(c, "joined\n");
    send_burst(s4, (struct sockaddr *)&g4, sizeof g4, "m4 joined");
    send_burst(s4, (struct sockaddr *)&never, sizeof never, "m4 never joined");
    int zero = 0;
    CHECK("IP_MULTICAST_TTL 0", setsockopt(s4, IPPROTO_IP, IP_MULTICAST_TTL, &zero, sizeof zero) == 0);
    send_burst(s4, (struct sockaddr *)&g4, sizeof g4, "m4 TTL 0");
    send_burst(s6, (struct sockaddr *)&g6, sizeof g6, "m6 joined");
    send_burst(s6, (struct sockaddr *)&ll6, sizeof ll6, "m6 joined");
    say(c, "sent\n");
    expect(c, "left!!\n");
    ttl = 1;
    setsockopt(s4, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
    send_burst(s4, (struct sockaddr *)&g4, sizeof g4, "m4 after leaving");
    send_burst(s6, (struct sockaddr *)&g6, sizeof g6, "m6 after leaving");
    say(c, "sent\n");

    /* IP_MULTICAST_LOOP: a member's own datagrams come back to it through the host. */
    int l = bound4(LOOP_PORT);
    CHECK("loop: join 239.1.2.5", l >= 0 && join4(l, "239.1.2.5", IP_ADD_MEMBERSHIP) == 0);
    struct sockaddr_in g5 = in4("239.1.2.5", LOOP_PORT);
    int other = 0;
    sendto(l, "looped", 6, 0, (struct sockaddr *)&g5, sizeof g5);
    CHECK("IP_MULTICAST_LOOP on: own datagram back", drain(l, 2000, "looped", &other) == 1 && other == 0);
    int off = 0;
    CHECK("IP_MULTICAST_LOOP off", setsockopt(l, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof off) == 0 &&
                                       int_opt(l, IPPROTO_IP, IP_MULTICAST_LOOP) == 0);
    sendto(l, "not looped", 10, 0, (struct sockaddr *)&g5, sizeof g5);
    other = 0;
    CHECK("IP_MULTICAST_LOOP off: nothing back", drain(l, 500, "", &other) == 0 && other == 0);
    close(l);
    close(s4);
    close(s6);
}

int main(int argc, char **argv) {
    if (argc != 4 || (argv[1][0] != 'a' && argv[1][0] != 'b')) {
        fprintf(stderr, "usage: pair a|b PEER_IPV4 PEER_LINK_LOCAL\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char role = argv[1][0];
    peer4 = argv[2];
    peer6 = argv[3];
    eth0 = if_nametoindex("eth0");
    CHECK("if_nametoindex eth0", eth0 != 0);
    int tl = bound6(SOCK_STREAM, ECHO_TCP, 0), us = bound6(SOCK_DGRAM, ECHO_UDP, 0);
    CHECK("echo servers bound", tl >= 0 && us >= 0 && listen(tl, 4) == 0);
    pid_t tcp_pid = tcp_echo_server(tl), udp_pid = udp_echo_server(us);
    printf("pair-%c: serving\n", role);

    /* The control connection: once it is up, both sides serve. */
    int c;
    if (role == 'a') {
        int l = bound6(SOCK_STREAM, CONTROL, 0);
        CHECK("control listen", l >= 0 && listen(l, 1) == 0);
        c = accept(l, NULL, NULL);
        close(l);
    } else {
        struct sockaddr_in a = in4(peer4, CONTROL);
        c = dial((struct sockaddr *)&a, sizeof a);
    }
    CHECK("control connection", c >= 0);
    if (c < 0)
        return summary(role == 'a' ? "pair-a" : "pair-b");
    timeout(c, 30000);

    struct sockaddr_in t4 = in4(peer4, ECHO_TCP), u4 = in4(peer4, ECHO_UDP);
    struct sockaddr_in6 t6 = in6(peer6, ECHO_TCP), u6 = in6(peer6, ECHO_UDP);
    tcp_stream("tcp over IPv4", (struct sockaddr *)&t4, sizeof t4, role);
    tcp_stream("tcp over IPv6 link-local", (struct sockaddr *)&t6, sizeof t6, role);
    udp_echo("IPv4", AF_INET, (struct sockaddr *)&u4, sizeof u4, role);
    udp_echo("IPv6 link-local", AF_INET6, (struct sockaddr *)&u6, sizeof u6, role);
    say(c, "echoed\n");
    expect(c, "echoed\n");

    if (role == 'a')
        sender(c);
    else
        receiver(c);
    say(c, "done\n");
    expect(c, "done\n");
    close(c);
    kill(tcp_pid, SIGKILL);
    kill(udp_pid, SIGKILL);
    waitpid(tcp_pid, NULL, 0);
    waitpid(udp_pid, NULL, 0);
    return summary(role == 'a' ? "pair-a" : "pair-b");
}
