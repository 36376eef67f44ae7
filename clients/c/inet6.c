/* inet6: AF_INET6 sockets. Over ::1 (no network device needed): TCP connect/accept/echo with the names
 * both ends see, /proc/net/tcp6, UDP datagrams and their sender, v4-mapped addresses on a dual-stack
 * socket (an IPv4 client accepted as ::ffff:127.0.0.1, a connect to ::ffff:127.0.0.1), IPV6_V6ONLY (no
 * IPv4 datagrams, no mapped destinations, no mapped bind), raw ICMPv6 echo. With arguments
 * `TCP_PORT UDP_PORT`, also the host's echo servers at [fec0::2] (QEMU's user network, which forwards
 * them to the host's ::1) once router advertisements gave the guest a fec0:: address.
 * One line per failed check, then "inet6: N passed, M failed"; the exit status is M. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "check.h"

static struct sockaddr_in6 addr6(const char *ip, int port) {
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

static int is_addr(const struct sockaddr_in6 *a, const char *ip, int port) {
    struct sockaddr_in6 want = addr6(ip, port);
    return a->sin6_family == AF_INET6 && (port < 0 || a->sin6_port == want.sin6_port) &&
           memcmp(&a->sin6_addr, &want.sin6_addr, 16) == 0;
}

static int listener(const char *ip, int port, int v6only) {
    int l = socket(AF_INET6, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    struct sockaddr_in6 a = addr6(ip, port);
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0) {
        close(l);
        return -1;
    }
    return l;
}

static void test_tcp(void) {
    int l = listener("::1", 7101, 0);
    CHECK("tcp6 listen ::1", l >= 0);
    int c = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 to = addr6("::1", 7101);
    CHECK("tcp6 connect ::1", connect(c, (struct sockaddr *)&to, sizeof to) == 0);
    struct sockaddr_in6 peer, name, server_name;
    socklen_t len = sizeof peer;
    int s = accept(l, (struct sockaddr *)&peer, &len);
    CHECK("tcp6 accept", s >= 0 && len == sizeof peer);
    len = sizeof name;
    CHECK("tcp6 getsockname", getsockname(c, (struct sockaddr *)&name, &len) == 0 && is_addr(&name, "::1", -1));
    CHECK("tcp6 accept names the client", is_addr(&peer, "::1", ntohs(name.sin6_port)) && peer.sin6_scope_id == 0);
    len = sizeof server_name;
    CHECK("tcp6 getpeername", getpeername(c, (struct sockaddr *)&server_name, &len) == 0 &&
                                  is_addr(&server_name, "::1", 7101));
    char out[3000], back[3000];
    for (unsigned i = 0; i < sizeof out; i++)
        out[i] = (char)(i * 7);
    CHECK("tcp6 send", write_all(c, out, sizeof out) == sizeof out);
    CHECK("tcp6 receive", read_all(s, back, sizeof back) == sizeof back && memcmp(out, back, sizeof out) == 0);
    CHECK("tcp6 reply", write(s, "pong", 4) == 4 && read_all(c, back, 4) == 4 && memcmp(back, "pong", 4) == 0);
    int domain = 0;
    len = sizeof domain;
    CHECK("SO_DOMAIN AF_INET6", getsockopt(c, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_INET6);
    char table[4096] = {0};
    int fd = open("/proc/net/tcp6", O_RDONLY);
    CHECK("/proc/net/tcp6 lists the listener",
          fd >= 0 && read(fd, table, sizeof table - 1) > 0 &&
              strstr(table, "00000000000000000000000001000000:1BBD 00000000000000000000000000000000:0000 0A"));
    close(fd);
    close(c);
    close(s);
    close(l);
}

static void test_mapped(void) {
    int l = listener("::", 7102, 0);
    CHECK("dual-stack listen", l >= 0);
    int c4 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to4 = {.sin_family = AF_INET, .sin_port = htons(7102), .sin_addr.s_addr = htonl(0x7f000001)};
    CHECK("ipv4 client to a dual-stack listener", connect(c4, (struct sockaddr *)&to4, sizeof to4) == 0);
    struct sockaddr_in6 peer;
    socklen_t len = sizeof peer;
    int s = accept(l, (struct sockaddr *)&peer, &len);
    CHECK("accepted as ::ffff:127.0.0.1", s >= 0 && is_addr(&peer, "::ffff:127.0.0.1", -1));
    CHECK("mapped echo", write(c4, "four", 4) == 4 && read_all(s, (char[4]){0}, 4) == 4);
    close(s);
    close(c4);
    int c6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 to = addr6("::ffff:127.0.0.1", 7102), name;
    CHECK("connect to ::ffff:127.0.0.1", connect(c6, (struct sockaddr *)&to, sizeof to) == 0);
    len = sizeof name;
    CHECK("named ::ffff:127.0.0.1",
          getsockname(c6, (struct sockaddr *)&name, &len) == 0 && is_addr(&name, "::ffff:127.0.0.1", -1));
    s = accept(l, NULL, NULL);
    CHECK("accepted the mapped client", s >= 0);
    close(s);
    close(c6);
    close(l);
}

static void test_udp(void) {
    int a = socket(AF_INET6, SOCK_DGRAM, 0), b = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 at = addr6("::", 7104), bt = addr6("::1", 7105), from;
    CHECK("udp6 bind", bind(a, (struct sockaddr *)&at, sizeof at) == 0 &&
                           bind(b, (struct sockaddr *)&bt, sizeof bt) == 0);
    struct sockaddr_in6 to = addr6("::1", 7104);
    CHECK("udp6 sendto", sendto(b, "dgram", 5, 0, (struct sockaddr *)&to, sizeof to) == 5);
    char buf[16];
    socklen_t len = sizeof from;
    CHECK("udp6 recvfrom", recvfrom(a, buf, sizeof buf, 0, (struct sockaddr *)&from, &len) == 5 &&
                               memcmp(buf, "dgram", 5) == 0 && is_addr(&from, "::1", 7105));
    int v4 = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to4 = {.sin_family = AF_INET, .sin_port = htons(7104), .sin_addr.s_addr = htonl(0x7f000001)};
    CHECK("udp ipv4 to a dual-stack socket", sendto(v4, "four", 4, 0, (struct sockaddr *)&to4, sizeof to4) == 4);
    len = sizeof from;
    CHECK("udp from ::ffff:127.0.0.1", recvfrom(a, buf, sizeof buf, 0, (struct sockaddr *)&from, &len) == 4 &&
                                           is_addr(&from, "::ffff:127.0.0.1", -1));
    /* IPV6_V6ONLY: no IPv4 datagrams, no mapped destinations or bind. */
    int only = socket(AF_INET6, SOCK_DGRAM, 0), one = 1, got = 0;
    socklen_t olen = sizeof got;
    CHECK("IPV6_V6ONLY set", setsockopt(only, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0 &&
                                 getsockopt(only, IPPROTO_IPV6, IPV6_V6ONLY, &got, &olen) == 0 && got == 1);
    struct sockaddr_in6 mapped = addr6("::ffff:127.0.0.1", 7106);
    errno = 0;
    CHECK("v6only binds no mapped address", bind(only, (struct sockaddr *)&mapped, sizeof mapped) < 0 && errno == EINVAL);
    struct sockaddr_in6 ot = addr6("::", 7106);
    CHECK("v6only bind ::", bind(only, (struct sockaddr *)&ot, sizeof ot) == 0);
    errno = 0;
    CHECK("v6only sends to no mapped address",
          sendto(only, "x", 1, 0, (struct sockaddr *)&mapped, sizeof mapped) < 0 && errno == ENETUNREACH);
    to4.sin_port = htons(7106);
    sendto(v4, "four", 4, 0, (struct sockaddr *)&to4, sizeof to4);
    struct sockaddr_in6 to_only = addr6("::1", 7106);
    sendto(b, "six", 3, 0, (struct sockaddr *)&to_only, sizeof to_only);
    CHECK("v6only takes the IPv6 datagram only", recv(only, buf, sizeof buf, 0) == 3 && memcmp(buf, "six", 3) == 0 &&
                                                    recv(only, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN);
    close(only);
    close(v4);
    close(a);
    close(b);
}

static void test_ping(void) {
    int s = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    CHECK("raw icmpv6 socket", s >= 0);
    struct icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
    CHECK("ICMP6_FILTER", setsockopt(s, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) == 0);
    struct icmp6_hdr req = {.icmp6_type = ICMP6_ECHO_REQUEST};
    req.icmp6_id = htons(0x4242);
    req.icmp6_seq = htons(1);
    struct sockaddr_in6 to = addr6("::1", 0), from;
    CHECK("icmpv6 echo request", sendto(s, &req, sizeof req, 0, (struct sockaddr *)&to, sizeof to) == sizeof req);
    struct icmp6_hdr reply = {0};
    socklen_t len = sizeof from;
    CHECK("icmpv6 echo reply", recvfrom(s, &reply, sizeof reply, 0, (struct sockaddr *)&from, &len) == sizeof reply &&
                                   reply.icmp6_type == ICMP6_ECHO_REPLY && reply.icmp6_id == htons(0x4242) &&
                                   reply.icmp6_seq == htons(1) && is_addr(&from, "::1", -1));
    close(s);
}

/* Waits up to 15 s for a fec0:: address (router advertisements). */
static int wait_for_slaac(void) {
    for (int i = 0; i < 150; i++) {
        char table[2048] = {0};
        int fd = open("/proc/net/if_inet6", O_RDONLY);
        int n = fd >= 0 ? read(fd, table, sizeof table - 1) : -1;
        close(fd);
        if (n > 0 && strstr(table, "fec0"))
            return 1;
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    return 0;
}

static void test_host(int tcp_port, int udp_port) {
    CHECK("slaac address", wait_for_slaac());
    int c = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 to = addr6("fec0::2", tcp_port), name;
    CHECK("connect [fec0::2]", connect(c, (struct sockaddr *)&to, sizeof to) == 0);
    socklen_t len = sizeof name;
    CHECK("named fec0::", getsockname(c, (struct sockaddr *)&name, &len) == 0 && name.sin6_addr.s6_addr[0] == 0xfe &&
                              name.sin6_addr.s6_addr[1] == 0xc0);
    char out[2000], back[2000];
    for (unsigned i = 0; i < sizeof out; i++)
        out[i] = (char)(i * 13);
    CHECK("host tcp6 echo", write_all(c, out, sizeof out) == sizeof out &&
                                read_all(c, back, sizeof back) == sizeof back && memcmp(out, back, sizeof out) == 0);
    close(c);
    int u = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 uto = addr6("fec0::2", udp_port);
    char buf[32];
    struct timeval tv = {5, 0};
    setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK("host udp6 echo", sendto(u, "udp6", 4, 0, (struct sockaddr *)&uto, sizeof uto) == 4 &&
                                recv(u, buf, sizeof buf, 0) == 4 && memcmp(buf, "udp6", 4) == 0);
    close(u);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    test_tcp();
    test_mapped();
    test_udp();
    test_ping();
    if (argc >= 3)
        test_host(atoi(argv[1]), atoi(argv[2]));
    return summary("inet6");
}
