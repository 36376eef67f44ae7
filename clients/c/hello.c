/* hello: the smallest client. Prints who it is, its arguments and EMBER_TEST, then exits with status 7. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef EMBER_LIBC
#define EMBER_LIBC "unknown"
#endif

int main(int argc, char **argv) {
    printf("hello from %s pid=%d argc=%d\n", EMBER_LIBC, (int)getpid(), argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    const char *test = getenv("EMBER_TEST");
    if (test)
        printf("EMBER_TEST=%s\n", test);
    return 7;
}
