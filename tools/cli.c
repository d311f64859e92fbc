/* Helpers shared by the verbs: errors, usage, tables, progress. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

shale_store *cli_store(struct cli *c)
{
	if (c->s)
		return c->s;
	c->s = shale_open_or_init(c->root);
	if (!c->s)
		cli_fail();
	return c->s;
}

int cli_hold(struct cli *c)
{
	shale_store *s = cli_store(c);
	if (!s)
		return -1;
	if (c->held)
		return 0;
	char *path = NULL;
	if (asprintf(&path, "%s/lock", shale_root(s)) < 0)
		return shale_err(ENOMEM, "out of memory");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_SH) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		shale_err(e, "lock store: %s: %s", path, strerror(e));
		free(path);
		return -1;
	}
	free(path);
	c->hold_fd = fd;
	c->held = true;
	return 0;
}

void cli_release(struct cli *c)
{
	if (c->held)
		close(c->hold_fd); /* not LOCK_UN: a forked child's copy would unlock ours */
	c->held = false;
}

int cli_fail(void)
{
	fprintf(stderr, "shale: %s\n", shale_errmsg());
	return EXIT_ERR;
}

int cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("shale: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_ERR;
}

int cli_usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;
	fputs("shale: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nSee 'shale %s --help'.\n", verb);
	return EXIT_USAGE;
}

int cli_help(const char *text)
{
	fputs(text, stdout);
	return EXIT_OK;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	opterr = 0;
	int o = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (o == '?') {
		if (optopt)
			cli_usage_error(argv[0], "unknown shorthand flag: '%c' in -%c", optopt, optopt);
		else
			cli_usage_error(argv[0], "unknown flag: %s", argv[optind - 1]);
	} else if (o == ':') {
		cli_usage_error(argv[0], "flag needs an argument: %s", argv[optind - 1]);
		o = '?';
	}
	return o;
}

/* ---- tables ---- */
struct table {
	int ncols;
	size_t nrows, cap;
	char **cells;
	size_t *width;
};

struct table *table_new(int ncols, ...)
{
	struct table *t = calloc(1, sizeof *t);
	t->ncols = ncols;
	t->width = calloc((size_t)ncols, sizeof *t->width);
	va_list ap;
	va_start(ap, ncols);
	char **row = malloc((size_t)ncols * sizeof *row);
	for (int i = 0; i < ncols; i++)
		row[i] = va_arg(ap, char *);
	va_end(ap);
	t->cells = NULL;
	/* the header is row 0 */
	t->cap = 16;
	t->cells = malloc(t->cap * (size_t)ncols * sizeof *t->cells);
	for (int i = 0; i < ncols; i++) {
		t->cells[i] = strdup(row[i]);
		t->width[i] = strlen(row[i]);
	}
	t->nrows = 1;
	free(row);
	return t;
}

/* Display width: count UTF-8 code points, not bytes. */
static size_t dwidth(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

void table_row(struct table *t, ...)
{
	if (t->nrows == t->cap) {
		t->cap *= 2;
		t->cells = realloc(t->cells, t->cap * (size_t)t->ncols * sizeof *t->cells);
	}
	va_list ap;
	va_start(ap, t);
	for (int i = 0; i < t->ncols; i++) {
		const char *v = va_arg(ap, const char *);
		char *cell = strdup(v ? v : "");
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = cell;
		size_t w = dwidth(cell);
		if (w > t->width[i])
			t->width[i] = w;
	}
	va_end(ap);
	t->nrows++;
}

void table_print(struct table *t, FILE *out)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++) {
			char *cell = t->cells[r * (size_t)t->ncols + (size_t)i];
			if (i == t->ncols - 1)
				fprintf(out, "%s\n", cell);
			else
				fprintf(out, "%s%*s", cell, (int)(t->width[i] - dwidth(cell) + 3), "");
		}
	}
	table_free(t);
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t);
}

/* ---- progress ---- */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_init(struct progress *p, const char *what)
{
	p->tty = isatty(STDERR_FILENO);
	p->what = what;
	p->last = 0;
}

void progress_update(struct progress *p, const char *fmt, ...)
{
	if (!p->tty)
		return;
	double t = now_s();
	if (t - p->last < 0.1)
		return;
	p->last = t;
	va_list ap;
	fprintf(stderr, "\r\033[K%s: ", p->what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

void progress_done(struct progress *p)
{
	if (p->tty && p->last > 0) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

void import_progress(void *ctx, const shale_progress *pr)
{
	struct progress *p = ctx;
	char b[32];
	shale_human_size(pr->bytes, b, sizeof b);
	if (pr->total_bytes)
		progress_update(p, "%llu files, %s read (%d%%)", (unsigned long long)pr->entries, b,
				(int)(100.0 * (double)pr->bytes / (double)pr->total_bytes));
	else
		progress_update(p, "%llu files, %s", (unsigned long long)pr->entries, b);
}

void id_short(const shale_id *id, char out[13])
{
	char hex[SHALE_ID_HEX];
	shale_id_hex(id, hex);
	memcpy(out, hex, 12);
	out[12] = 0;
}
