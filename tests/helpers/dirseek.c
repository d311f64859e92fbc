/* dirseek DIR: list a directory with readdir, then check that seekdir to every
 * position telldir gave returns the same entry again, that each name appears
 * once, and that "." and ".." are there. Prints the names; exits 1 on a fault. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: dirseek DIR\n");
		return 2;
	}
	DIR *d = opendir(argv[1]);
	if (!d) {
		perror(argv[1]);
		return 1;
	}
	size_t n = 0, cap = 1024;
	char **names = malloc(cap * sizeof *names);
	long *pos = malloc(cap * sizeof *pos);
	for (;;) {
		long p = telldir(d);
		struct dirent *e = readdir(d);
		if (!e)
			break;
		if (n == cap) {
			cap *= 2;
			names = realloc(names, cap * sizeof *names);
			pos = realloc(pos, cap * sizeof *pos);
		}
		names[n] = strdup(e->d_name);
		pos[n++] = p;
	}
	int bad = 0, dot = 0, dotdot = 0;
	for (size_t i = 0; i < n; i++) {
		dot += !strcmp(names[i], ".");
		dotdot += !strcmp(names[i], "..");
		for (size_t j = i + 1; j < n; j++)
			if (!strcmp(names[i], names[j])) {
				fprintf(stderr, "dirseek: '%s' listed twice\n", names[i]);
				bad = 1;
			}
	}
	if (dot != 1 || dotdot != 1) {
		fprintf(stderr, "dirseek: . listed %d times, .. %d times\n", dot, dotdot);
		bad = 1;
	}
	/* seek back to positions in a scattered order */
	for (size_t k = 0; k < n; k++) {
		size_t i = (k * 7919) % n;
		seekdir(d, pos[i]);
		struct dirent *e = readdir(d);
		if (!e || strcmp(e->d_name, names[i])) {
			fprintf(stderr, "dirseek: seekdir to entry %zu gave '%s', expected '%s'\n", i,
				e ? e->d_name : "(end)", names[i]);
			bad = 1;
			break;
		}
	}
	rewinddir(d);
	struct dirent *e = readdir(d);
	if (!e || strcmp(e->d_name, names[0])) {
		fprintf(stderr, "dirseek: rewinddir did not restart the listing\n");
		bad = 1;
	}
	for (size_t i = 0; i < n; i++) {
		puts(names[i]);
		free(names[i]);
	}
	free(names);
	free(pos);
	closedir(d);
	return bad;
}
