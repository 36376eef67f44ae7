/* netbench: the guest half of `cargo xtask bench net`, run as /init on ember and on Linux from the same
 * initramfs on QEMU's user-mode network. It loads the kernel modules in /modules (listed in /modules/order;
 * Linux's virtio and virtio-net drivers, which Debian builds as modules; ember answers ENOSYS and already drives
 * the device), configures eth0 as 10.0.2.15/24 with the interface ioctls (what busybox `ifconfig` does), and
 * then runs each test against the xtask's server at 10.0.2.2:PORT (PORT is init's first argument):
 *
 *   control connection: "tx BYTES\n"  then BYTES bytes guest -> host; the host answers "k" once it has them all
 *                       "rx BYTES\n"  the host sends BYTES bytes; the guest answers "k" once it has them all
 *                       "rr COUNT\n"  COUNT one-byte request/response round trips
 *                       "cc COUNT\n"  then COUNT new connections, each: connect, send 1 byte, read 1 byte, close;
 *                                     the host answers "k" on the control connection after the last one
 *
 * The host times every test itself (wall clock), so both kernels are measured by the same clock. Before the
 * first test and after each one the program executes the marker instruction `xchg %bx,%bx`, at which the
 * xtask's QEMU plugin (tools/insn-marks) notes how many instructions the guest has executed: the CPU work
 * each test cost, independent of the host's load and of the peer's speed. The guest prints `netbench: done`
 * (or `netbench: error WHAT: ERRNO`) and powers off. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STREAM_BYTES (32 << 20)
#define ROUND_TRIPS 2000
#define CONNECTIONS 300
#define CHUNK 65536

static void finish(void) {
    fflush(stdout);
    reboot(RB_POWER_OFF);
    _exit(0);
}

static void fail(const char *what) {
    printf("netbench: error %s: %s\n", what, strerror(errno));
    finish();
}

/* The `virtio_mmio.device=` words of the kernel command line, as the module's parameters (what modprobe does). */
static void mmio_params(char *out, size_t size) {
    out[0] = 0;
    char line[4096];
    int fd = open("/proc/cmdline", O_RDONLY);
    if (fd < 0)
        return;
    ssize_t n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n <= 0)
        return;
    line[n] = 0;
    for (char *w = strtok(line, " \n"); w; w = strtok(NULL, " \n")) {
        if (strncmp(w, "virtio_mmio.", 12) == 0 && strlen(out) + strlen(w) + 2 < size) {
            strcat(out, w + 12);
            strcat(out, " ");
        }
    }
}

/* Loads /modules/NAME.ko for each NAME in /modules/order; ENOSYS (ember) ends the loop, EEXIST is fine. */
static void load_modules(void) {
    FILE *order = fopen("/modules/order", "r");
    if (!order)
        return;
    char name[64], path[128], params[4096];
    mmio_params(params, sizeof params);
    while (fscanf(order, "%63s", name) == 1) {
        snprintf(path, sizeof path, "/modules/%s.ko", name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            fail(path);
        const char *p = strcmp(name, "virtio_mmio") == 0 ? params : "";
        if (syscall(SYS_finit_module, fd, p, 0) != 0) {
            if (errno == ENOSYS)
                break;
            if (errno != EEXIST)
                fail(path);
        }
        close(fd);
    }
    fclose(order);
}

/* eth0 up as 10.0.2.15/24 (the device appears while its driver probes: retried for up to 2 s). */
static void configure(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0)
        fail("socket for ioctls");
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "eth0");
    struct sockaddr_in *a = (struct sockaddr_in *)&r.ifr_addr;
    a->sin_family = AF_INET;
    inet_pton(AF_INET, "10.0.2.15", &a->sin_addr);
    for (int i = 0; ioctl(s, SIOCSIFADDR, &r) != 0; i++) {
        if (i == 200)
            fail("SIOCSIFADDR eth0");
        usleep(10000);
    }
    inet_pton(AF_INET, "255.255.255.0", &a->sin_addr);
    if (ioctl(s, SIOCSIFNETMASK, &r) != 0)
        fail("SIOCSIFNETMASK eth0");
    if (ioctl(s, SIOCGIFFLAGS, &r) != 0)
        fail("SIOCGIFFLAGS eth0");
    r.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &r) != 0)
        fail("SIOCSIFFLAGS eth0");
    close(s);
}

static struct sockaddr_in host;

static int dial(void) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0)
        fail("socket");
    if (connect(c, (struct sockaddr *)&host, sizeof host) != 0)
        fail("connect");
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return c;
}

static void put(int c, const void *buf, size_t n, const char *what) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(c, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            fail(what);
        p += w;
        n -= w;
    }
}

static void get(int c, void *buf, size_t n, const char *what) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = recv(c, p, n, 0);
        if (r <= 0) {
            if (r == 0)
                errno = ECONNRESET;
            fail(what);
        }
        p += r;
        n -= r;
    }
}

/* The marker instruction (see above): a no-op for the CPU. */
static void mark(void) { __asm__ volatile("xchg %%bx, %%bx" ::: "memory"); }

static void command(int c, const char *verb, long n) {
    char line[64];
    int len = snprintf(line, sizeof line, "%s %ld\n", verb, n);
    put(c, line, len, verb);
}

int main(int argc, char **argv) {
    static char buf[CHUNK];
    load_modules();
    configure();
    host.sin_family = AF_INET;
    host.sin_port = htons(argc > 1 ? atoi(argv[1]) : 0);
    inet_pton(AF_INET, "10.0.2.2", &host.sin_addr);
    /* The first connection may race the interface coming up (Linux's ARP, QEMU's slirp): retried. */
    int c = -1;
    for (int i = 0; c < 0; i++) {
        c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&host, sizeof host) != 0) {
            if (i == 100)
                fail("first connect");
            close(c);
            c = -1;
            usleep(50000);
        }
    }
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    printf("netbench: connected\n");
    fflush(stdout);
    char k;

    memset(buf, 0x5a, sizeof buf);
    mark();
    command(c, "tx", STREAM_BYTES);
    for (long left = STREAM_BYTES; left > 0; left -= CHUNK)
        put(c, buf, left < CHUNK ? left : CHUNK, "tx");
    get(c, &k, 1, "tx ack");
    mark();

    command(c, "rx", STREAM_BYTES);
    for (long left = STREAM_BYTES; left > 0;) {
        ssize_t r = recv(c, buf, left < CHUNK ? left : CHUNK, 0);
        if (r <= 0)
            fail("rx");
        left -= r;
    }
    put(c, "k", 1, "rx ack");
    mark();

    command(c, "rr", ROUND_TRIPS);
    for (int i = 0; i < ROUND_TRIPS; i++) {
        put(c, "r", 1, "rr send");
        get(c, &k, 1, "rr recv");
    }
    mark();

    command(c, "cc", CONNECTIONS);
    for (int i = 0; i < CONNECTIONS; i++) {
        int d = dial();
        put(d, "c", 1, "cc send");
        get(d, &k, 1, "cc recv");
        close(d);
    }
    get(c, &k, 1, "cc ack");
    mark();
    close(c);
    printf("netbench: done\n");
    finish();
}
