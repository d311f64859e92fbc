/* preads FILE REFERENCE COUNT SEED: COUNT reads at random odd offsets and sizes
 * from FILE, each compared with the same range of REFERENCE. Exits 1 on a
 * mismatch. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: preads FILE REFERENCE COUNT SEED\n");
		return 2;
	}
	int a = open(argv[1], O_RDONLY), b = open(argv[2], O_RDONLY);
	struct stat st;
	if (a < 0 || b < 0 || fstat(b, &st) < 0) {
		perror("open");
		return 1;
	}
	long count = atol(argv[3]);
	srandom((unsigned)atol(argv[4]));
	size_t max = 3u << 20;
	char *x = malloc(max), *y = malloc(max);
	for (long i = 0; i < count; i++) {
		off_t off = (off_t)(((uint64_t)random() << 20 ^ (uint64_t)random()) % (uint64_t)(st.st_size + 100));
		size_t len = (size_t)random() % (i % 10 == 0 ? max : 5000) + 1;
		ssize_t ra = pread(a, x, len, off), rb = pread(b, y, len, off);
		if (ra != rb || (ra > 0 && memcmp(x, y, (size_t)ra))) {
			fprintf(stderr, "preads: mismatch at offset %lld length %zu (%zd vs %zd bytes)\n",
				(long long)off, len, ra, rb);
			return 1;
		}
	}
	free(x);
	free(y);
	return 0;
}
