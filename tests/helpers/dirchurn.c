/* dirchurn DIR: a listing that goes on while the directory changes. Reads the
 * first entries of DIR in small batches (getdents64), removes some of the
 * names already read, lists DIR once more through a second descriptor from
 * the start, then finishes the first listing. Every name still in DIR must
 * have come out of the first listing exactly once: a removal behind the
 * cursor, or another reader starting over, must not make it skip or repeat
 * a name (POSIX leaves only names added or removed meanwhile unspecified).
 * Exits 1 on a fault, printing it. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct names {
	char **v;
	size_t n;
};

static void add(struct names *s, const char *name)
{
	s->v = realloc(s->v, (s->n + 1) * sizeof *s->v);
	if (!s->v || !(s->v[s->n++] = strdup(name))) {
		perror("dirchurn");
		exit(2);
	}
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static size_t count(const struct names *s, const char *name)
{
	size_t c = 0;
	for (size_t i = 0; i < s->n; i++)
		c += !strcmp(s->v[i], name);
	return c;
}

/* One getdents64 call into a small buffer (a few entries); 0 at the end. */
static ssize_t batch(int fd, struct names *out)
{
	char buf[1024] __attribute__((aligned(8)));
	ssize_t got = getdents64(fd, buf, sizeof buf);
	for (ssize_t off = 0; off < got;) {
		struct dirent64 *d = (struct dirent64 *)(buf + off);
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
			add(out, d->d_name);
		off += d->d_reclen;
	}
	return got;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: dirchurn DIR\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	struct names first = {0}, removed = {0}, second = {0};
	while (first.n < 40 && batch(fd, &first) > 0)
		;
	/* remove every other name read so far */
	for (size_t i = 0; i < first.n; i += 2) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", argv[1], first.v[i]);
		if (unlink(path) < 0) {
			perror(path);
			return 1;
		}
		add(&removed, first.v[i]);
	}
	int fd2 = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (fd2 < 0) {
		perror(argv[1]);
		return 1;
	}
	while (batch(fd2, &second) > 0)
		;
	close(fd2);
	size_t before = first.n;
	while (batch(fd, &first) > 0)
		;
	close(fd);
	int bad = 0;
	for (size_t i = 0; i < second.n; i++) {
		size_t c = count(&first, second.v[i]);
		if (c != 1) {
			printf("FAULT: %s is in the directory but came out of the listing %zu times\n",
			       second.v[i], c);
			bad = 1;
		}
		if (count(&removed, second.v[i])) {
			printf("FAULT: %s was removed but is listed again\n", second.v[i]);
			bad = 1;
		}
	}
	printf("dirchurn: %zu names read, %zu removed, then %zu more read; %zu left\n", before,
	       removed.n, first.n - before, second.n);
	names_free(&first);
	names_free(&removed);
	names_free(&second);
	return bad;
}
