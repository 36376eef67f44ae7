/* ext4bench: `cargo xtask bench ext4`'s file-system benchmark, run as /init on ember and on Linux from the same
 * initramfs, with the same ext4 image (made by the host with `mke2fs -d`) as the first virtio-blk disk. It loads
 * the kernel modules in /modules (listed in /modules/order; Linux's virtio drivers, which Debian builds as
 * modules; ember has no modules and answers ENOSYS, which is fine), mounts /dev/vda on /mnt itself and times,
 * with clock_gettime(CLOCK_MONOTONIC) (virtual nanoseconds under QEMU's -icount):
 *
 *   ext4: op=walk_cold ns=<n> count=<entries>      opendir/readdir/lstat of /mnt/tree, right after the mount
 *   ext4: op=walk_warm ns=<n> count=<entries>      the same walk again
 *   ext4: op=write_64m ns=<n> bytes=<b>            /mnt/big written in 1 MiB writes, then fsync
 *   ext4: op=read_cold ns=<n> bytes=<b>            read back after umount and mount
 *   ext4: op=read_warm ns=<n> bytes=<b>            read again
 *   ext4: op=small_files ns=<n> count=<files>      create, write 100 bytes, close, unlink, per file
 *   ext4: done
 *
 * then unmounts and powers off. A failure prints `ext4: error ...` and powers off. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BIG_BYTES (64 << 20)
#define CHUNK (1 << 20)
#define SMALL_FILES 1000

static void finish(void) {
    fflush(stdout);
    sync();
    reboot(RB_POWER_OFF);
    _exit(0);
}

static void fail(const char *what) {
    printf("ext4: error %s: %s\n", what, strerror(errno));
    finish();
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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

static void do_mount(void) {
    /* The disk appears while its driver probes; give it a moment. */
    for (int i = 0; mount("/dev/vda", "/mnt", "ext4", 0, NULL) != 0; i++) {
        if (i == 200)
            fail("mount /dev/vda");
        usleep(10000);
    }
}

static void remount(void) {
    if (umount("/mnt") != 0)
        fail("umount /mnt");
    do_mount();
}

/* Entries under `dir`, each lstat'ed, recursively. */
static long walk(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        fail(dir);
    long count = 0;
    char path[512];
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            fail(path);
        count++;
        if (S_ISDIR(st.st_mode))
            count += walk(path);
    }
    closedir(d);
    return count;
}

static void timed_walk(const char *op) {
    int64_t t0 = now_ns();
    long n = walk("/mnt/tree");
    printf("ext4: op=%s ns=%lld count=%ld\n", op, (long long)(now_ns() - t0), n);
}

static char chunk[CHUNK];

static void timed_read(const char *op) {
    int64_t t0 = now_ns();
    int fd = open("/mnt/big", O_RDONLY);
    if (fd < 0)
        fail("open /mnt/big");
    long total = 0;
    ssize_t n;
    while ((n = read(fd, chunk, CHUNK)) > 0)
        total += n;
    if (n < 0)
        fail("read /mnt/big");
    close(fd);
    int64_t ns = now_ns() - t0;
    if (total != BIG_BYTES) {
        errno = EIO;
        fail("short read of /mnt/big");
    }
    printf("ext4: op=%s ns=%lld bytes=%ld\n", op, (long long)ns, total);
}

int main(void) {
    mkdir("/proc", 0755);
    mkdir("/dev", 0755);
    mkdir("/mnt", 0755);
    mount("proc", "/proc", "proc", 0, NULL);
    /* Linux makes no device nodes on an initramfs root without it; ember's /dev already has them. */
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    load_modules();
    do_mount();

    timed_walk("walk_cold");
    timed_walk("walk_warm");

    for (int i = 0; i < CHUNK; i++)
        chunk[i] = (char)(i * 7 + 1);
    int64_t t0 = now_ns();
    int fd = open("/mnt/big", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0)
        fail("create /mnt/big");
    for (int i = 0; i < BIG_BYTES / CHUNK; i++)
        if (write(fd, chunk, CHUNK) != CHUNK)
            fail("write /mnt/big");
    if (fsync(fd) != 0)
        fail("fsync /mnt/big");
    close(fd);
    printf("ext4: op=write_64m ns=%lld bytes=%d\n", (long long)(now_ns() - t0), BIG_BYTES);

    remount();
    timed_read("read_cold");
    timed_read("read_warm");

    if (mkdir("/mnt/small", 0755) != 0)
        fail("mkdir /mnt/small");
    char name[64], text[100];
    memset(text, 'x', sizeof text);
    t0 = now_ns();
    for (int i = 0; i < SMALL_FILES; i++) {
        snprintf(name, sizeof name, "/mnt/small/f%d", i);
        fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0)
            fail("create a small file");
        if (write(fd, text, sizeof text) != (ssize_t)sizeof text)
            fail("write a small file");
        close(fd);
        if (unlink(name) != 0)
            fail("unlink a small file");
    }
    printf("ext4: op=small_files ns=%lld count=%d\n", (long long)(now_ns() - t0), SMALL_FILES);

    if (umount("/mnt") != 0)
        fail("umount /mnt");
    printf("ext4: done\n");
    finish();
}
