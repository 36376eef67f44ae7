/* udpwait ADDR PORT SECONDS: binds a UDP socket to IPv4 ADDR:PORT and prints the first datagram that arrives
 * within SECONDS ("udpwait: N bytes from A:P: TEXT"), for a peer that reaches the guest at one of its
 * addresses (busybox's nc has no UDP). Exit status 0 when one came, 1 otherwise. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: udpwait ADDR PORT SECONDS\n");
        return 2;
    }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    struct timeval tv = {.tv_sec = atoi(argv[3])};
    if (s < 0 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 ||
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        perror("udpwait: socket");
        return 1;
    }
    printf("udpwait: listening on %s:%s\n", argv[1], argv[2]);
    fflush(stdout);
    char buf[512];
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(s, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &len);
    if (n < 0) {
        perror("udpwait: recvfrom");
        return 1;
    }
    buf[n] = 0;
    printf("udpwait: %zd bytes from %s:%d: %s", n, inet_ntoa(from.sin_addr), ntohs(from.sin_port), buf);
    return 0;
}
