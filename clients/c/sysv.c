/* sysv: System V IPC across fork and capabilities, with results checked. Semaphores: a child blocked in semop
 * is woken by the parent's post (GETNCNT counts it), by IPC_RMID (EIDRM) and by a signal (EINTR); SEM_UNDO is
 * applied when a child exits; IPC_NOWAIT and semtimedop's timeout give EAGAIN; keys with IPC_CREAT/IPC_EXCL.
 * Shared memory: a segment a child attaches itself and one inherited through fork both show the child's writes
 * to the parent; shm_nattch follows attach, fork, exit and shmdt; after IPC_RMID the key is free and the pages
 * live until the last detach. Message queues: types (0, > 0, < 0, MSG_EXCEPT), E2BIG and MSG_NOERROR, ENOMSG
 * with IPC_NOWAIT, a blocked msgrcv woken by a send from another process and by IPC_RMID. Capabilities: root
 * that drops CAP_DAC_OVERRIDE (and then CAP_DAC_READ_SEARCH) cannot open another user's 0600 file, /proc shows
 * the sets, setuid from root clears them unless PR_SET_KEEPCAPS, the bounding set drops. Runs as init (root).
 * One line per failed check, then "sysv: N passed, M failed"; the exit status is M. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* The exit status of child `pid`, or -1. */
static int child_status(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* Waits up to 2 s for `cond` on semaphore `num` of `id` (GETNCNT/GETZCNT) to reach `want`. */
static int wait_count(int id, int num, int cmd, int want) {
    for (int i = 0; i < 200; i++) {
        if (semctl(id, num, cmd) == want)
            return 1;
        sleep_ms(10);
    }
    return 0;
}

static void on_usr1(int sig) { (void)sig; }

static void semaphores(void) {
    int id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    CHECK("semget", id >= 0);
    CHECK("setval", semctl(id, 0, SETVAL, (union semun){.val = 0}) == 0);

    /* A child waits for sem 0; the parent posts it. */
    pid_t pid = fork();
    if (pid == 0) {
        struct sembuf down = {0, -1, 0};
        _exit(semop(id, &down, 1) == 0 ? 0 : 10);
    }
    CHECK("ncnt counts the waiter", wait_count(id, 0, GETNCNT, 1));
    struct sembuf up = {0, 1, 0};
    CHECK("post", semop(id, &up, 1) == 0);
    CHECK("waiter woken by post", child_status(pid) == 0);
    CHECK("value taken", semctl(id, 0, GETVAL) == 0);
    CHECK("getpid is the child's", semctl(id, 0, GETPID) == pid);

    /* SEM_UNDO: a child adds 3 and exits; the exit takes them back. */
    pid = fork();
    if (pid == 0) {
        struct sembuf add = {1, 3, SEM_UNDO};
        _exit(semop(id, &add, 1) == 0 && semctl(id, 1, GETVAL) == 3 ? 0 : 11);
    }
    CHECK("undo child", child_status(pid) == 0);
    CHECK("undo applied at exit", semctl(id, 1, GETVAL) == 0);

    /* IPC_NOWAIT, timeout, all-or-nothing. */
    struct sembuf nowait = {0, -1, IPC_NOWAIT};
    CHECK("IPC_NOWAIT", semop(id, &nowait, 1) == -1 && errno == EAGAIN);
    struct timespec ts = {0, 50000000};
    struct sembuf down = {0, -1, 0};
    CHECK("semtimedop timeout", syscall(SYS_semtimedop, id, &down, 1, &ts) == -1 && errno == EAGAIN);
    struct sembuf two[2] = {{1, 5, 0}, {0, -1, IPC_NOWAIT}};
    CHECK("atomic failure", semop(id, two, 2) == -1 && errno == EAGAIN && semctl(id, 1, GETVAL) == 0);
    unsigned short all[2] = {4, 7}, got[2] = {0, 0};
    CHECK("setall/getall", semctl(id, 0, SETALL, (union semun){.array = all}) == 0 &&
                               semctl(id, 0, GETALL, (union semun){.array = got}) == 0 && got[0] == 4 &&
                               got[1] == 7);
    struct semid_ds ds;
    CHECK("ipc_stat", semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}) == 0 && ds.sem_nsems == 2 &&
                          (ds.sem_perm.mode & 0777) == 0600);
    struct sembuf bad = {2, 1, 0};
    CHECK("EFBIG", semop(id, &bad, 1) == -1 && errno == EFBIG);

    /* A signal interrupts a waiter (EINTR, even with SA_RESTART). */
    CHECK("setall zero", semctl(id, 0, SETALL, (union semun){.array = (unsigned short[]){0, 0}}) == 0);
    pid = fork();
    if (pid == 0) {
        struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
        sigaction(SIGUSR1, &sa, NULL);
        struct sembuf d = {0, -1, 0};
        _exit(semop(id, &d, 1) == -1 && errno == EINTR ? 0 : 12);
    }
    CHECK("waiter counted", wait_count(id, 0, GETNCNT, 1));
    kill(pid, SIGUSR1);
    CHECK("EINTR", child_status(pid) == 0);

    /* IPC_RMID wakes a waiter for zero with EIDRM. */
    CHECK("setval 1", semctl(id, 1, SETVAL, (union semun){.val = 1}) == 0);
    pid = fork();
    if (pid == 0) {
        struct sembuf z = {1, 0, 0};
        _exit(semop(id, &z, 1) == -1 && errno == EIDRM ? 0 : 13);
    }
    CHECK("zcnt counts the waiter", wait_count(id, 1, GETZCNT, 1));
    CHECK("rmid", semctl(id, 0, IPC_RMID) == 0);
    CHECK("EIDRM", child_status(pid) == 0);
    CHECK("removed id", semctl(id, 0, GETVAL) == -1 && errno == EINVAL);

    /* Keys. */
    key_t key = 0x5e5e;
    int a = semget(key, 1, IPC_CREAT | IPC_EXCL | 0600);
    CHECK("key create", a >= 0);
    CHECK("EEXIST", semget(key, 1, IPC_CREAT | IPC_EXCL | 0600) == -1 && errno == EEXIST);
    CHECK("same key same id", semget(key, 0, 0) == a);
    CHECK("nsems too big", semget(key, 2, 0) == -1 && errno == EINVAL);
    CHECK("ENOENT", semget(0x5e5f, 1, 0) == -1 && errno == ENOENT);
    semctl(a, 0, IPC_RMID);
}

static int nattch(int id) {
    struct shmid_ds ds;
    return shmctl(id, IPC_STAT, &ds) == 0 ? (int)ds.shm_nattch : -1;
}

static int proc_has(const char *path, const char *text) {
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return 0;
    buf[n] = 0;
    return strstr(buf, text) != NULL;
}

static void shared_memory(void) {
    key_t key = 0x51a9;
    int id = shmget(key, 10000, IPC_CREAT | IPC_EXCL | 0600);
    CHECK("shmget", id >= 0);
    CHECK("size check", shmget(key, 20000, 0) == -1 && errno == EINVAL);
    char *p = shmat(id, NULL, 0);
    CHECK("shmat", p != (char *)-1);
    CHECK("zero-filled", p[0] == 0 && p[9999] == 0);
    CHECK("nattch 1", nattch(id) == 1);

    /* Inherited through fork, and attached again by the child itself. */
    pid_t pid = fork();
    if (pid == 0) {
        char *q = shmat(id, NULL, SHM_RDONLY);
        if (q == (char *)-1 || nattch(id) != 3)
            _exit(20);
        strcpy(p + 8000, "from the child");
        _exit(strcmp(q + 8000, "from the child") == 0 ? 0 : 21);
    }
    CHECK("shm child", child_status(pid) == 0);
    CHECK("child's write seen", strcmp(p + 8000, "from the child") == 0);
    CHECK("nattch back to 1", nattch(id) == 1);
    char line[32];
    snprintf(line, sizeof line, "%d", key);
    CHECK("/proc/sysvipc/shm", proc_has("/proc/sysvipc/shm", line));
    CHECK("/proc/sys/kernel/shmmni", proc_has("/proc/sys/kernel/shmmni", "4096"));

    /* Removed while attached: the key is free, the pages stay until shmdt. */
    CHECK("rmid attached", shmctl(id, IPC_RMID, NULL) == 0);
    CHECK("key free", shmget(key, 10, 0) == -1 && errno == ENOENT);
    CHECK("still mapped", strcmp(p + 8000, "from the child") == 0);
    CHECK("shmdt", shmdt(p) == 0);
    CHECK("gone after detach", nattch(id) == -1 && errno == EINVAL);
    CHECK("shmdt of nothing", shmdt(p) == -1 && errno == EINVAL);
    CHECK("SHMMIN", shmget(IPC_PRIVATE, 0, 0600) == -1 && errno == EINVAL);
}

struct message {
    long type;
    char text[64];
};

static int send_text(int q, long type, const char *text) {
    struct message m = {.type = type};
    strcpy(m.text, text);
    return msgsnd(q, &m, strlen(text) + 1, 0);
}

static void messages(void) {
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    CHECK("msgget", q >= 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(send_text(q, 3, "three") || send_text(q, 1, "one") || send_text(q, 2, "two") || send_text(q, 1, "uno") ? 30 : 0);
    CHECK("sender", child_status(pid) == 0);
    struct msqid_ds ds;
    CHECK("qnum", msgctl(q, IPC_STAT, &ds) == 0 && ds.msg_qnum == 4 && ds.msg_lspid == pid);
    struct message m;
    CHECK("by type", msgrcv(q, &m, sizeof m.text, 2, 0) == 4 && m.type == 2 && !strcmp(m.text, "two"));
    CHECK("lowest type <= 3", msgrcv(q, &m, sizeof m.text, -3, 0) == 4 && !strcmp(m.text, "one"));
    CHECK("MSG_EXCEPT", msgrcv(q, &m, sizeof m.text, 1, MSG_EXCEPT) == 6 && !strcmp(m.text, "three"));
    CHECK("E2BIG", msgrcv(q, &m, 2, 0, 0) == -1 && errno == E2BIG);
    CHECK("MSG_NOERROR", msgrcv(q, &m, 2, 0, MSG_NOERROR) == 2 && m.type == 1 && !memcmp(m.text, "un", 2));
    CHECK("ENOMSG", msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT) == -1 && errno == ENOMSG);
    CHECK("type 0 refused", send_text(q, 0, "x") == -1 && errno == EINVAL);

    /* A blocked receiver, woken by another process's send, then one woken by IPC_RMID. */
    pid = fork();
    if (pid == 0) {
        struct message r;
        ssize_t n = msgrcv(q, &r, sizeof r.text, 7, 0);
        if (n != 5 || strcmp(r.text, "late"))
            _exit(31);
        _exit(msgrcv(q, &r, sizeof r.text, 0, 0) == -1 && errno == EIDRM ? 0 : 32);
    }
    sleep_ms(100);
    CHECK("late send", send_text(q, 7, "late") == 0);
    sleep_ms(100);
    CHECK("msg rmid", msgctl(q, IPC_RMID, NULL) == 0);
    CHECK("receiver", child_status(pid) == 0);
}

struct cap_header {
    uint32_t version;
    int pid;
};
struct cap_data {
    uint32_t effective, permitted, inheritable;
};
#define CAP_V3 0x20080522
#define CAP_DAC_OVERRIDE 1
#define CAP_DAC_READ_SEARCH 2
#define CAP_SETUID 7

static int capget2(struct cap_data d[2]) {
    struct cap_header h = {CAP_V3, 0};
    return syscall(SYS_capget, &h, d);
}

static int drop_effective(int cap) {
    struct cap_data d[2];
    if (capget2(d))
        return -1;
    d[0].effective &= ~(1u << cap);
    struct cap_header h = {CAP_V3, 0};
    return syscall(SYS_capset, &h, d);
}

static void capabilities(void) {
    const char *path = "/tmp/sysv-secret";
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    CHECK("make file", fd >= 0 && write(fd, "secret", 6) == 6 && fchown(fd, 1000, 1000) == 0);
    close(fd);

    pid_t pid = fork();
    if (pid == 0) {
        int ok = 1;
        int f = open(path, O_RDWR);
        ok &= f >= 0;
        close(f);
        ok &= drop_effective(CAP_DAC_OVERRIDE) == 0;
        ok &= proc_has("/proc/self/status", "CapEff:\t000001fffffffffd");
        errno = 0;
        ok &= open(path, O_RDWR) == -1 && errno == EACCES;
        f = open(path, O_RDONLY); /* CAP_DAC_READ_SEARCH still reads */
        ok &= f >= 0;
        close(f);
        ok &= drop_effective(CAP_DAC_READ_SEARCH) == 0;
        ok &= open(path, O_RDONLY) == -1 && errno == EACCES;
        _exit(ok ? 0 : 40);
    }
    CHECK("dropped DAC capabilities refuse the file", child_status(pid) == 0);

    /* A bad version is answered with the preferred one. */
    struct cap_header h = {0x1234, 0};
    CHECK("version negotiation", syscall(SYS_capget, &h, NULL) == 0 && h.version == CAP_V3);

    pid = fork();
    if (pid == 0) {
        struct cap_data d[2];
        int ok = prctl(PR_CAPBSET_READ, CAP_SETUID) == 1;
        ok &= prctl(PR_CAPBSET_DROP, CAP_SETUID) == 0 && prctl(PR_CAPBSET_READ, CAP_SETUID) == 0;
        ok &= prctl(PR_SET_KEEPCAPS, 1) == 0 && setuid(1000) == 0;
        ok &= capget2(d) == 0 && d[0].effective == 0 && d[0].permitted != 0;
        /* Permitted but not effective: setuid(0) is refused until capset makes CAP_SETUID effective. */
        ok &= setuid(0) == -1 && errno == EPERM;
        struct cap_header h = {CAP_V3, 0};
        d[0].effective = 1u << CAP_SETUID;
        ok &= syscall(SYS_capset, &h, d) == 0 && setuid(0) == 0 && getuid() == 0;
        _exit(ok ? 0 : 41);
    }
    CHECK("keepcaps across setuid", child_status(pid) == 0);

    pid = fork();
    if (pid == 0) {
        struct cap_data d[2];
        int ok = setuid(1000) == 0 && capget2(d) == 0 && d[0].effective == 0 && d[0].permitted == 0 &&
                 d[1].permitted == 0;
        ok &= kill(1, 0) == -1 && errno == EPERM;
        _exit(ok ? 0 : 42);
    }
    CHECK("setuid drops capabilities", child_status(pid) == 0);
    unlink(path);
}

int main(void) {
    semaphores();
    shared_memory();
    messages();
    capabilities();
    return summary("sysv");
}
