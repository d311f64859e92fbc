/* One progress bar per layer, as docker pull and push show them: redrawn in
 * place on a terminal (stderr); elsewhere one line per change of status on
 * stdout ("3f4ca61aafcd: Pull complete"). */
#ifndef SHALE_OCI_BARS_H
#define SHALE_OCI_BARS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bar {
	char id[16];
	char status[48];
	uint64_t cur, total;
	bool show_bytes;
};

struct bars {
	bool tty, quiet, lines; /* lines: status lines when not on a terminal */
	size_t n;
	struct bar *v;
	size_t drawn; /* lines on screen */
	double last;
	pthread_mutex_t mu; /* threads making blobs report too */
};

/* quiet: show nothing; lines: print status lines on stdout when stderr is
 * not a terminal (not for save, whose stdout may be the archive). */
void bars_init(struct bars *b, size_t n, bool quiet, bool lines);
void bars_free(struct bars *b);
void bars_id(struct bars *b, size_t i, const char *id);
/* A new status: always shown. */
void bars_status(struct bars *b, size_t i, const char *status);
/* Bytes done of total (0 = unknown): shown on a terminal, at most 10 times a second. */
void bars_bytes(struct bars *b, size_t i, uint64_t cur, uint64_t total);
/* Leave the final state on screen. */
void bars_finish(struct bars *b);

/* An oci_bytes_fn that feeds bar i. */
struct bar_ref {
	struct bars *b;
	size_t i;
};
void bars_bytes_cb(void *ctx, uint64_t done, uint64_t total);

#endif
