/* threads: 4 pthreads each add 100000 to a mutex-protected counter. */
#include <pthread.h>
#include <stdio.h>

#define THREADS 4
#define ADDS 100000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *work(void *arg) {
    (void)arg;
    for (int i = 0; i < ADDS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        int e = pthread_create(&t[i], NULL, work, NULL);
        if (e) {
            printf("threads: pthread_create failed: %d\n", e);
            return 1;
        }
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("threads: counter=%ld\n", counter);
    return counter == (long)THREADS * ADDS ? 0 : 1;
}
