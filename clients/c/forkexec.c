/* forkexec: fork; the child writes "ping" into a pipe and execs /hello (or argv[1]) with "hello a b";
 * the parent reads the pipe, waits, and expects exit status 7. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    char *path = argc > 1 ? argv[1] : "/hello";
    int fds[2];
    if (pipe(fds) != 0) {
        printf("forkexec: pipe: %s\n", strerror(errno));
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        printf("forkexec: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        close(fds[0]);
        if (write(fds[1], "ping", 4) != 4)
            _exit(101);
        close(fds[1]);
        char *args[] = {"hello", "a", "b", NULL};
        execve(path, args, environ);
        printf("forkexec: execve %s: %s\n", path, strerror(errno));
        fflush(stdout);
        _exit(100);
    }
    close(fds[1]);
    char buf[16];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fds[0]);
    printf("parent read \"%s\" from child %d\n", buf, (int)pid);
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        printf("forkexec: waitpid: %s\n", strerror(errno));
        return 1;
    }
    if (!WIFEXITED(status)) {
        printf("child did not exit (wait status %#x)\n", status);
        return 1;
    }
    printf("child exited with status %d\n", WEXITSTATUS(status));
    return WEXITSTATUS(status) == 7 && strcmp(buf, "ping") == 0 ? 0 : 1;
}
