/* Per-layer progress bars (see bars.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bars.h"
#include "store.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bars_init(struct bars *b, size_t n, bool quiet, bool lines)
{
	memset(b, 0, sizeof *b);
	b->quiet = quiet;
	b->lines = lines;
	b->tty = !quiet && isatty(STDERR_FILENO);
	b->n = n;
	b->v = calloc(n ? n : 1, sizeof *b->v);
	pthread_mutex_init(&b->mu, NULL);
}

void bars_free(struct bars *b)
{
	if (b->v)
		pthread_mutex_destroy(&b->mu);
	free(b->v);
	memset(b, 0, sizeof *b);
}

void bars_id(struct bars *b, size_t i, const char *id)
{
	if (i >= b->n)
		return;
	pthread_mutex_lock(&b->mu);
	snprintf(b->v[i].id, sizeof b->v[i].id, "%s", id);
	pthread_mutex_unlock(&b->mu);
}

static void draw_line(const struct bar *r)
{
	fprintf(stderr, "\r\033[K%s: %s", r->id, r->status);
	if (r->show_bytes && r->total) {
		char cur[32], tot[32], bar[52];
		int w = (int)(50.0 * (double)r->cur / (double)r->total);
		if (w > 50)
			w = 50;
		memset(bar, ' ', 50);
		memset(bar, '=', (size_t)w);
		if (w < 50)
			bar[w] = '>';
		bar[50] = 0;
		shale_human_size(r->cur, cur, sizeof cur);
		shale_human_size(r->total, tot, sizeof tot);
		fprintf(stderr, " [%s] %s/%s", bar, cur, tot);
	} else if (r->show_bytes && r->cur) {
		char cur[32];
		shale_human_size(r->cur, cur, sizeof cur);
		fprintf(stderr, " %s", cur);
	}
	fputc('\n', stderr);
}

static void redraw(struct bars *b)
{
	if (b->drawn)
		fprintf(stderr, "\033[%zuA", b->drawn);
	for (size_t i = 0; i < b->n; i++)
		draw_line(&b->v[i]);
	b->drawn = b->n;
	fflush(stderr);
	b->last = now();
}

void bars_status(struct bars *b, size_t i, const char *status)
{
	if (i >= b->n || b->quiet)
		return;
	pthread_mutex_lock(&b->mu);
	struct bar *r = &b->v[i];
	snprintf(r->status, sizeof r->status, "%s", status);
	r->show_bytes = !strcmp(status, "Downloading") || !strcmp(status, "Pushing") ||
			!strcmp(status, "Extracting") || !strcmp(status, "Verifying") ||
			!strcmp(status, "Preparing") || !strcmp(status, "Exporting") ||
			!strcmp(status, "Loading");
	if (b->tty) {
		redraw(b);
	} else if (b->lines) {
		printf("%s: %s\n", r->id, r->status);
		fflush(stdout);
	}
	pthread_mutex_unlock(&b->mu);
}

void bars_bytes(struct bars *b, size_t i, uint64_t cur, uint64_t total)
{
	if (i >= b->n || !b->tty)
		return;
	pthread_mutex_lock(&b->mu);
	b->v[i].cur = cur;
	b->v[i].total = total;
	if (now() - b->last >= 0.1)
		redraw(b);
	pthread_mutex_unlock(&b->mu);
}

void bars_finish(struct bars *b)
{
	if (b->tty && b->n) {
		pthread_mutex_lock(&b->mu);
		redraw(b);
		pthread_mutex_unlock(&b->mu);
	}
}

void bars_bytes_cb(void *ctx, uint64_t done, uint64_t total)
{
	struct bar_ref *r = ctx;
	bars_bytes(r->b, r->i, done, total);
}
