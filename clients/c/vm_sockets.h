/* vm_sockets.h: what the vsock clients share: <linux/vm_sockets.h>'s constants and struct sockaddr_vm
 * (musl's headers lack them), an address maker, and the byte pattern both ends of a transfer check. */
#ifndef EMBER_VM_SOCKETS_H
#define EMBER_VM_SOCKETS_H

#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#define VMADDR_CID_ANY 0xffffffffu
#define VMADDR_CID_HOST 2u
#define VMADDR_PORT_ANY 0xffffffffu
#define IOCTL_VM_SOCKETS_GET_LOCAL_CID 0x7b9

struct sockaddr_vm {
    unsigned short svm_family;
    unsigned short svm_reserved1;
    unsigned int svm_port;
    unsigned int svm_cid;
    unsigned char svm_flags;
    unsigned char svm_zero[3];
};

static inline struct sockaddr_vm vm_addr(unsigned cid, unsigned port) {
    struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_port = port, .svm_cid = cid};
    return a;
}

/* Byte `i` of a test transfer. */
static inline unsigned char pattern(unsigned long i) {
    return (unsigned char)(i * 7 + i / 251);
}

/* Reads up to `want` bytes of a transfer from `fd` (while `more(fd)` holds, when given), until the end of the
 * stream; sets how many came and their byte sum, and returns how many of them differ from the pattern. */
static inline unsigned long read_pattern(int fd, unsigned long want, int (*more)(int), unsigned long *total,
                                         unsigned long *sum) {
    static char buf[8192];
    unsigned long bad = 0;
    *total = *sum = 0;
    while (*total < want && (!more || more(fd))) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++, (*total)++) {
            *sum += (unsigned char)buf[i];
            bad += (unsigned char)buf[i] != pattern(*total);
        }
    }
    return bad;
}

#endif
