/* copyup FILE: open FILE read-write, write one byte 'X' at offset 0, close.
 * On a layered mount this forces the copy-up of a lower file (bench W5).
 * Prints the seconds from open to the end of close: the copy-up latency as the
 * program sees it, without the fork and exec the harness's clock also counts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: copyup FILE\n");
        return 2;
    }
    double t0 = now();
    int fd = open(argv[1], O_RDWR);
    if (fd < 0) {
        fprintf(stderr, "copyup: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    if (pwrite(fd, "X", 1, 0) != 1) {
        fprintf(stderr, "copyup: pwrite %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    if (close(fd) != 0) {
        fprintf(stderr, "copyup: close %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    printf("%.6f\n", now() - t0);
    return 0;
}
