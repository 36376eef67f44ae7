/* mmds: reads Firecracker's microVM metadata service (MMDS) version 2 over the network device, as a guest
 * agent does: `PUT /latest/api/token` for a session token, then `GET PATH` with it, from 169.254.169.254
 * port 80. Prints "mmds: token N bytes" and "mmds: PATH = VALUE"; the exit status is 0 when both worked
 * and a GET without the token was refused (401). Usage: mmds [PATH] (default /ember/greeting) */
#include <stdio.h>
#include <string.h>

#include "mmds_http.h"

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *path = argc > 1 ? argv[1] : "/ember/greeting";
    static char token[256], value[1024];
    int st = mmds_token(60, token, sizeof token);
    if (st != 200 || !token[0]) {
        printf("mmds: token request answered %d\n", st);
        return 1;
    }
    printf("mmds: token %d bytes\n", (int)strlen(token));
    st = mmds_get(path, NULL, value, sizeof value);
    printf("mmds: without the token: %d\n", st);
    int refused = st == 401;
    st = mmds_get(path, token, value, sizeof value);
    if (st != 200) {
        printf("mmds: GET %s answered %d\n", path, st);
        return 1;
    }
    printf("mmds: %s = %s\n", path, value);
    return refused ? 0 : 1;
}
