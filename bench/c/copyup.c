/* copyup FILE: open FILE read-write, write one byte 'X' at offset 0, close.
 * On a layered mount this forces the copy-up of a lower file (bench W5). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: copyup FILE\n");
        return 2;
    }
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
    return 0;
}
