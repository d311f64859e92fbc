/* Shared by the `shale` command's verbs: store access, errors, tables, progress. */
#ifndef SHALE_CLI_H
#define SHALE_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "store.h"

/* Exit codes, as Docker's CLI: 0 success, 1 a user-facing error, 2 usage. */
enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

struct cli {
	const char *prog;
	char *root;       /* --root, else SHALE_ROOT or the default */
	shale_store *s;   /* opened on demand by cli_store() */
	bool held;        /* hold_fd: ROOT/lock held shared (cli_hold) */
	int hold_fd;
};

struct verb {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
	const char *summary;
};

/* Open the store (creating it on first use). Prints the error and returns NULL. */
shale_store *cli_store(struct cli *c);

/* Hold the store lock shared on a descriptor of the command's own, until
 * cli_release() or exit: it keeps prune and rmi (which take it exclusive) from
 * deleting what the command resolved or wrote but has not yet recorded (an
 * image it builds on, a layer before its image, an image before its tag,
 * container or mount record). It survives shale_close() of c->s (a build
 * closes its store around each RUN mount) and fork: a forked child that lives
 * on calls cli_release(), which closes its copy only (no LOCK_UN), and the
 * parent keeps the lock. Never take the store lock exclusive while holding
 * this: that waits for ourselves. Opens the store if needed; -1 with the
 * store error set (cli_fail prints it). */
int cli_hold(struct cli *c);
void cli_release(struct cli *c);

/* Print "shale: <message>" for the current store error; returns EXIT_ERR. */
int cli_fail(void);
/* Print "shale: <formatted>"; returns EXIT_ERR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message, then "See 'shale VERB --help'."; returns EXIT_USAGE. */
int cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a verb's usage text to stdout; returns EXIT_OK. */
int cli_help(const char *text);

/* Parse options with getopt_long from argv[0] = the verb. Returns the option, -1 at
 * the end. Unknown options print a usage error: callers return EXIT_USAGE on '?'. */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

/* Column tables in Docker's style (3 spaces between columns). */
struct table;
struct table *table_new(int ncols, ...);
void table_row(struct table *t, ...);
void table_print(struct table *t, FILE *out); /* prints and frees */
void table_free(struct table *t);

/* A one-line progress display on stderr when it is a terminal. */
struct progress {
	bool tty;
	const char *what;
	double last;
};
void progress_init(struct progress *p, const char *what);
void progress_update(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void progress_done(struct progress *p);
void import_progress(void *ctx, const shale_progress *pr);

/* Short (12 hex digits) and full ids. */
void id_short(const shale_id *id, char out[13]);

/* Verbs. */
int cmd_init(struct cli *c, int argc, char **argv);
int cmd_import(struct cli *c, int argc, char **argv);
int cmd_images(struct cli *c, int argc, char **argv);
int cmd_history(struct cli *c, int argc, char **argv);
int cmd_inspect(struct cli *c, int argc, char **argv);
int cmd_tag(struct cli *c, int argc, char **argv);
int cmd_rmi(struct cli *c, int argc, char **argv);
int cmd_prune(struct cli *c, int argc, char **argv);
int cmd_du(struct cli *c, int argc, char **argv);
int cmd_fsck(struct cli *c, int argc, char **argv);
int cmd_ls(struct cli *c, int argc, char **argv);
int cmd_cat(struct cli *c, int argc, char **argv);
int cmd_save(struct cli *c, int argc, char **argv);
int cmd_load(struct cli *c, int argc, char **argv);
int cmd_push(struct cli *c, int argc, char **argv);
int cmd_pull(struct cli *c, int argc, char **argv);
int cmd_login(struct cli *c, int argc, char **argv);
int cmd_logout(struct cli *c, int argc, char **argv);
int cmd_mount(struct cli *c, int argc, char **argv);
int cmd_umount(struct cli *c, int argc, char **argv);
int cmd_mounts(struct cli *c, int argc, char **argv);
int cmd_seal(struct cli *c, int argc, char **argv);
int cmd_commit(struct cli *c, int argc, char **argv);
int cmd_diff(struct cli *c, int argc, char **argv);
int cmd_run(struct cli *c, int argc, char **argv);
int cmd_build(struct cli *c, int argc, char **argv);
int cmd_builder(struct cli *c, int argc, char **argv);
int cmd_ps(struct cli *c, int argc, char **argv);
int cmd_rm(struct cli *c, int argc, char **argv);

#endif
