/* The container runtime: run a command inside a root filesystem directory, isolated in
 * its own mount, PID, UTS and IPC namespaces, and return its exit status. Used by
 * `shale run` and by the RUN step of `shale build`. Linux, as root.
 *
 * Processes (why: container.c):
 *   caller (runtime_run)  relays the tty, forwards signals, waits
 *   └ monitor             unshares the namespaces, forwards signals, waits
 *     └ init (PID 1)      mounts, pivot_root, opens the pty; then reaps zombies and
 *       │                 forwards signals until the command exits
 *       └ command (PID 2) drops privileges and execs
 */
#ifndef SHALE_RUNTIME_H
#define SHALE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Docker's default PATH, used when neither the image nor -e sets one. */
#define RUNTIME_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Exit statuses when the command could not be run, as Docker's. */
enum {
	RUNTIME_EXIT_SETUP = 125,      /* the container could not be set up */
	RUNTIME_EXIT_CANNOT_EXEC = 126, /* the command is not executable */
	RUNTIME_EXIT_NOT_FOUND = 127,   /* the command was not found */
};

/* -v HOST:CTR[:ro] */
struct run_volume {
	const char *host; /* absolute host path; created when missing, as docker -v does */
	const char *ctr;  /* absolute path in the container; created when missing */
	bool ro;
};

struct run_spec {
	const char *rootfs;       /* the container's root directory (a shale mount) */
	char *const *argv;        /* the command; argv[0] is searched in the env's PATH */
	char *const *env;         /* the whole environment, see runtime_env(); HOME is added
	                           * from the user's passwd entry when missing. NULL: the
	                           * defaults of runtime_env(NULL, NULL, ...) */
	const char *cwd;          /* -w, created when missing; NULL: "/" */
	const char *user;         /* -u: "name", "uid", "uid:gid", "name:group"; NULL: root */
	const struct run_volume *volumes;
	size_t nvolumes;
	bool interactive;         /* -i: stdin attached, else the command reads /dev/null */
	bool tty;                 /* -t: a pseudo-terminal, relayed to stdio[0] and stdio[1] */
	const char *hostname;     /* NULL: see runtime_hostname() */
	const char *container_id; /* gives the default hostname; may be NULL */
	const int *stdio;         /* three fds for stdin, stdout, stderr; NULL: 0, 1, 2 */
};

/* Run spec->argv in spec->rootfs and wait for it. Returns 0 when the command ran:
 * *exit_status is its exit code, or 128+N if signal N killed it. Returns -1 when it
 * could not be run: err has one line saying why (print it as "shale: <err>") and
 * *exit_status is RUNTIME_EXIT_SETUP, _CANNOT_EXEC or _NOT_FOUND. While it runs,
 * SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to the caller are
 * forwarded to the command (and SIGWINCH resizes its tty). Nothing it mounts is
 * visible outside the container, and all of it is gone when it returns.
 * One run at a time per process: the signal handlers are process-wide. */
int runtime_run(const struct run_spec *spec, int *exit_status, char *err, size_t errlen);

/* A user resolved against the rootfs's /etc/passwd and /etc/group, with Docker's
 * rules: a numeric uid or gid need not be listed; a name must be; without an explicit
 * group, the groups that list the user's name are its supplementary groups. */
struct run_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary groups */
	size_t ngroups;
	char *name;    /* NULL if the uid is not in /etc/passwd */
	char *home;    /* from /etc/passwd, else "/" */
};

/* Resolve USER ("name", "uid", "uid:gid", "name:group", "uid:group", "name:gid"; NULL or
 * "" is root). The files are read inside rootfs: symlinks resolve as if rootfs were
 * "/", never out of it. Returns 0, or -1 with err set. Free with runtime_user_free(). */
int runtime_resolve_user(const char *rootfs, const char *user, struct run_user *out, char *err,
			 size_t errlen);
void runtime_user_free(struct run_user *u);

/* The container's environment, in Docker's order: PATH (RUNTIME_DEFAULT_PATH),
 * HOSTNAME, TERM=xterm when tty, then image_env, then overrides (-e): "K=V" sets K;
 * "K" alone takes the caller's value of K, or removes K when the caller has none;
 * then HOME=home when home is not NULL and nothing set HOME. Later values replace
 * earlier ones in place. Either list may be NULL. Returns a NULL-terminated array to
 * free with runtime_env_free(), or NULL when out of memory. */
char **runtime_env(char *const *image_env, char *const *overrides, const char *hostname,
		   const char *home, bool tty);
void runtime_env_free(char **env);

/* The hostname a spec gets: spec->hostname, else the first 12 characters of
 * spec->container_id, else "shale". */
void runtime_hostname(const struct run_spec *spec, char *out, size_t outlen);

/* Parse -v's argument "HOST:CTR[:ro|:rw]" in place (arg is cut at the colons; v points
 * into it). Both paths must be absolute and CTR not "/". Returns 0 or -1 with err set. */
int runtime_volume_parse(char *arg, struct run_volume *v, char *err, size_t errlen);

/* ---- Internals shared by the files of tools/run (SHALE_RUN_INTERNAL) ---- */
#ifdef SHALE_RUN_INTERNAL
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>

/* What the container's processes need, copied into them by fork. */
struct run_ctx {
	const struct run_spec *spec;
	char rootfs[4096];       /* spec->rootfs, absolute and without symlinks */
	struct run_user user;
	char **env;              /* the final environment */
	char hostname[65];
	char cwd[4096];
	int ctl;                 /* the container's end of the control socket */
	int stdio[3];
	bool have_ws;
	struct winsize ws;       /* the caller's terminal size, for the pty */
	pid_t caller;
	sigset_t forward;        /* the signals forwarded down the chain */
};

/* container.c: the monitor process; never returns. */
_Noreturn void container_monitor(struct run_ctx *ctx);

/* mounts.c: in the init process, in its new mount namespace. */
struct mount_plan {
	int dev[6];   /* detached clones of the host's device nodes (see mounts.c) */
	int *vol;     /* detached clones of the volumes, read-only ones already so */
	size_t nvol;
};
/* Before pivot_root: make propagation private, clone what comes from the host, make
 * the rootfs a mount point and chdir into it. */
int mounts_prepare(const struct run_ctx *ctx, struct mount_plan *p, char *err, size_t errlen);
/* pivot_root into the current directory (chroot if pivot_root is impossible). */
int mounts_pivot(char *err, size_t errlen);
/* After pivot_root: /proc, /sys, /dev, the volumes, the working directory. */
int mounts_finish(const struct run_ctx *ctx, struct mount_plan *p, char *err, size_t errlen);
void mounts_close(struct mount_plan *p);
/* mkdir -p; fails with ENOTDIR if path ends up being something else. */
int run_mkdir_p(const char *path, mode_t mode);

/* privs.c: drop to Docker's default capabilities and become the user. */
int privs_drop(const struct run_user *u, char *err, size_t errlen);

/* ctl.c: the control socket (SOCK_SEQPACKET) from the container to the caller. */
enum { CTL_ERROR = 1, CTL_PTY = 2 };
struct ctl_msg {
	int kind;
	int code;        /* CTL_ERROR: the exit status */
	char text[500];  /* CTL_ERROR: the message */
};
void ctl_error(int fd, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ctl_send_fd(int fd, int kind, int passfd);
/* Never blocks. Returns 1 with a message (and *passfd >= 0 if an fd came with it), 0
 * when the socket is closed, -1 when nothing (valid) is waiting. */
int ctl_recv(int fd, struct ctl_msg *m, int *passfd);

/* tty.c: the caller's side of -t. */
struct relay {
	int in, out, master;  /* host stdin (-1 if not -i), host stdout, the pty's master */
	char buf[4096];       /* stdin bytes not yet taken by the master */
	size_t len;
	int raw_fd;           /* the host terminal put in raw mode, or -1 */
	struct termios *saved; /* its settings before */
};
int tty_winsize(int fd, struct winsize *ws);
int tty_raw(struct relay *r, int fd);
void tty_restore(struct relay *r);
/* One step of copying; relay_from_* return -1 when their source is closed. */
int relay_from_master(struct relay *r);
int relay_from_stdin(struct relay *r);
int relay_to_master(struct relay *r);
/* Copy what is left in the master once every writer is gone. */
void relay_drain(struct relay *r);
void relay_winch(struct relay *r);

/* errors: one line into err. */
void run_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif

#endif
