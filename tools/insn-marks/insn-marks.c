/* insn-marks: a QEMU TCG plugin that counts the instructions the guest executes (user and kernel mode alike)
 * and, each time the guest executes the marker instruction `xchg %bx,%bx` (66 87 db: a no-op that neither
 * kernel nor libc emits), appends the count so far to the file named by its `out=PATH` argument, one decimal
 * number a line. A halted vCPU executes nothing, so the difference between two marks is the CPU work done
 * between them, whatever the host's load or the peer's speed. `cargo xtask bench net` builds it with the
 * host's C compiler and loads it with `-plugin insn-marks.so,out=PATH`.
 *
 * QEMU (Debian's 7.2) does not install its plugin header, so the few declarations used are written out here;
 * they follow the stable plugin ABI of QEMU_PLUGIN_VERSION 1. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* Instructions executed so far (a translation block adds its length when it starts; one vCPU). */
static uint64_t executed;
static FILE *out;

static void mark(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    fprintf(out, "%llu\n", (unsigned long long)executed);
    fflush(out);
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed, n);
    static const unsigned char marker[3] = {0x66, 0x87, 0xdb};
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if (qemu_plugin_insn_size(insn) == sizeof marker &&
            memcmp(qemu_plugin_insn_data(insn), marker, sizeof marker) == 0)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "out=", 4) == 0)
            out = fopen(argv[i] + 4, "w");
    if (!out) {
        fprintf(stderr, "insn-marks: needs a writable out=PATH argument\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
    return 0;
}
