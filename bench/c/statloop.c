/* statloop same COUNT PATH   stat() PATH COUNT times
 * statloop list COUNT DIR    stat() DIR/f00000 .. DIR/f<COUNT-1>, once each
 * Prints the mean nanoseconds per stat() from its own monotonic clock (process start
 * and exit are outside the measurement). Exits 1 if any stat() fails. (bench W7) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "same") != 0 && strcmp(argv[1], "list") != 0)) {
        fprintf(stderr, "usage: statloop same COUNT PATH | statloop list COUNT DIR\n");
        return 2;
    }
    long count = strtol(argv[2], NULL, 10);
    if (count <= 0 || count > 100000000) {
        fprintf(stderr, "statloop: bad count %s\n", argv[2]);
        return 2;
    }
    int list = strcmp(argv[1], "list") == 0;
    char **paths = NULL;
    if (list) {
        if (count > 100000) {
            fprintf(stderr, "statloop: list count at most 100000\n");
            return 2;
        }
        paths = calloc((size_t)count, sizeof *paths);
        size_t len = strlen(argv[3]) + 16;
        for (long i = 0; i < count; i++) {
            paths[i] = malloc(len);
            if (!paths[i])
                return 1;
            snprintf(paths[i], len, "%s/f%05ld", argv[3], i);
        }
    }
    struct stat st;
    long failed = 0;
    long long t0 = now_ns();
    for (long i = 0; i < count; i++)
        if (stat(list ? paths[i] : argv[3], &st) != 0)
            failed++;
    long long t1 = now_ns();
    if (failed) {
        fprintf(stderr, "statloop: %ld of %ld stat() calls failed (%s)\n", failed, count, strerror(errno));
        return 1;
    }
    printf("%.0f\n", (double)(t1 - t0) / (double)count);
    return 0;
}
