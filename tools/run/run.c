/* runtime_run: check and prepare in the caller, fork the container's monitor, then
 * supervise it: relay the tty, forward signals, collect the container's errors, wait. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime.h"

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
#define NSIGS (sizeof forwarded / sizeof *forwarded)

/* Signals reach the poll loop through a pipe: the handler may run on any of the
 * caller's threads. */
static int sig_wfd = -1;

static void on_signal(int sig)
{
	int e = errno;
	unsigned char c = (unsigned char)sig;
	if (write(sig_wfd, &c, 1) < 0) {
		/* full: the loop is behind and will catch up */
	}
	errno = e;
}

struct supervisor {
	pid_t pid;
	int pidfd, ctl, sigpipe[2];
	struct sigaction old[NSIGS];
	bool handlers;
	struct relay r;
	bool relaying, stdin_open;
	int error_code; /* from the container, 0 if none */
	char error[sizeof((struct ctl_msg *)0)->text];
};

static int check_spec(const struct run_spec *s, struct run_ctx *ctx, char *err, size_t errlen)
{
	if (!s->rootfs || !*s->rootfs) {
		run_err(err, errlen, "no root filesystem given");
		return -1;
	}
	if (!s->argv || !s->argv[0] || !*s->argv[0]) {
		run_err(err, errlen, "no command specified");
		return -1;
	}
	struct stat st;
	if (!realpath(s->rootfs, ctx->rootfs) || stat(ctx->rootfs, &st) < 0) {
		run_err(err, errlen, "rootfs %s: %s", s->rootfs, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		run_err(err, errlen, "rootfs %s: %s", s->rootfs, strerror(ENOTDIR));
		return -1;
	}
	const char *cwd = s->cwd && *s->cwd ? s->cwd : "/";
	if (cwd[0] != '/') {
		run_err(err, errlen, "the working directory \"%s\" is invalid: it must be absolute", cwd);
		return -1;
	}
	if (snprintf(ctx->cwd, sizeof ctx->cwd, "%s", cwd) >= (int)sizeof ctx->cwd) {
		run_err(err, errlen, "the working directory is too long");
		return -1;
	}
	for (size_t i = 0; i < s->nvolumes; i++) {
		const struct run_volume *v = &s->volumes[i];
		if (!v->host || v->host[0] != '/' || !v->ctr || v->ctr[0] != '/' ||
		    !v->ctr[strspn(v->ctr, "/")]) {
			run_err(err, errlen, "invalid volume %s:%s: both paths must be absolute, and not /",
				v->host ? v->host : "", v->ctr ? v->ctr : "");
			return -1;
		}
		/* docker -v makes a missing host directory. */
		if (stat(v->host, &st) < 0 && (errno != ENOENT || run_mkdir_p(v->host, 0755) < 0)) {
			run_err(err, errlen, "volume %s: %s", v->host, strerror(errno));
			return -1;
		}
	}
	runtime_hostname(s, ctx->hostname, sizeof ctx->hostname);
	if (s->hostname && strlen(s->hostname) >= sizeof ctx->hostname) {
		run_err(err, errlen, "hostname %s: longer than %zu characters", s->hostname,
			sizeof ctx->hostname - 1);
		return -1;
	}
	if (s->tty && s->interactive && !isatty(ctx->stdio[0])) {
		run_err(err, errlen, "the input device is not a TTY");
		return -1;
	}
	return 0;
}

/* spec->env as it is (or the defaults), with HOME from the user's passwd entry if
 * missing, as runc does. */
static int make_env(const struct run_spec *s, struct run_ctx *ctx, char *err, size_t errlen)
{
	if (!s->env) {
		ctx->env = runtime_env(NULL, NULL, ctx->hostname, ctx->user.home, s->tty);
		if (!ctx->env)
			goto oom;
		return 0;
	}
	size_t n = 0;
	bool home = false;
	for (; s->env[n]; n++)
		home |= !strncmp(s->env[n], "HOME=", 5);
	if (!(ctx->env = calloc(n + 2, sizeof *ctx->env)))
		goto oom;
	for (size_t i = 0; i < n; i++)
		if (!(ctx->env[i] = strdup(s->env[i])))
			goto oom;
	if (!home && asprintf(&ctx->env[n], "HOME=%s", ctx->user.home) < 0) {
		ctx->env[n] = NULL;
		goto oom;
	}
	return 0;
oom:
	run_err(err, errlen, "out of memory");
	return -1;
}

static void handle_ctl(struct supervisor *sv)
{
	struct ctl_msg m;
	int fd, r;
	while ((r = ctl_recv(sv->ctl, &m, &fd)) == 1) {
		if (m.kind == CTL_PTY && fd >= 0 && sv->r.master < 0) {
			sv->r.master = fd;
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
			sv->relaying = true;
			relay_winch(&sv->r); /* in case it changed since we looked */
			continue;
		}
		if (fd >= 0)
			close(fd);
		if (m.kind == CTL_ERROR && !sv->error_code) {
			sv->error_code = m.code;
			snprintf(sv->error, sizeof sv->error, "%s", m.text);
		}
	}
	if (r == 0) {
		close(sv->ctl);
		sv->ctl = -1;
	}
}

static void handle_signals(struct supervisor *sv)
{
	unsigned char sigs[64];
	ssize_t n;
	while ((n = read(sv->sigpipe[0], sigs, sizeof sigs)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (sigs[i] == SIGWINCH) {
				if (sv->relaying)
					relay_winch(&sv->r);
			} else {
				kill(sv->pid, sigs[i]); /* unreaped: the pid cannot be reused */
			}
		}
	}
}

/* Until the monitor exits. Returns its wait status. */
static int supervise(struct supervisor *sv)
{
	for (;;) {
		struct pollfd pf[5];
		int n = 0, ictl = -1, isig, ipid, iin = -1, imaster = -1;
		if (sv->ctl >= 0)
			pf[ictl = n++] = (struct pollfd){sv->ctl, POLLIN, 0};
		pf[isig = n++] = (struct pollfd){sv->sigpipe[0], POLLIN, 0};
		pf[ipid = n++] = (struct pollfd){sv->pidfd, POLLIN, 0};
		if (sv->relaying && sv->stdin_open && sv->r.len < sizeof sv->r.buf)
			pf[iin = n++] = (struct pollfd){sv->r.in, POLLIN, 0};
		if (sv->relaying)
			pf[imaster = n++] = (struct pollfd){sv->r.master, POLLIN | (sv->r.len ? POLLOUT : 0), 0};
		if (poll(pf, (nfds_t)n, -1) < 0)
			continue; /* EINTR */
		if (ictl >= 0 && pf[ictl].revents)
			handle_ctl(sv);
		if (pf[isig].revents)
			handle_signals(sv);
		if (imaster >= 0 && pf[imaster].revents & POLLOUT)
			relay_to_master(&sv->r);
		if (imaster >= 0 && pf[imaster].revents & (POLLIN | POLLHUP | POLLERR) &&
		    relay_from_master(&sv->r) < 0)
			sv->relaying = false; /* no slave left: the command is going */
		if (iin >= 0 && pf[iin].revents && relay_from_stdin(&sv->r) < 0)
			sv->stdin_open = false;
		if (pf[ipid].revents) {
			int st;
			while (waitpid(sv->pid, &st, 0) < 0 && errno == EINTR)
				;
			return st;
		}
	}
}

static int install_handlers(struct supervisor *sv, bool tty)
{
	if (pipe2(sv->sigpipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	sig_wfd = sv->sigpipe[1];
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < NSIGS; i++)
		if (forwarded[i] != SIGWINCH || tty)
			sigaction(forwarded[i], &sa, &sv->old[i]);
	sv->handlers = true;
	return 0;
}

static void restore_handlers(struct supervisor *sv, bool tty)
{
	if (sv->handlers)
		for (size_t i = 0; i < NSIGS; i++)
			if (forwarded[i] != SIGWINCH || tty)
				sigaction(forwarded[i], &sv->old[i], NULL);
	sv->handlers = false;
	sig_wfd = -1;
	for (int i = 0; i < 2; i++)
		if (sv->sigpipe[i] >= 0)
			close(sv->sigpipe[i]);
}

int runtime_run(const struct run_spec *spec, int *exit_status, char *err, size_t errlen)
{
	*exit_status = RUNTIME_EXIT_SETUP;
	struct run_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		run_err(err, errlen, "out of memory");
		return -1;
	}
	struct supervisor sv = {.pid = -1, .pidfd = -1, .ctl = -1, .sigpipe = {-1, -1}};
	sv.r = (struct relay){.in = -1, .master = -1, .raw_fd = -1};
	int socks[2] = {-1, -1}, rc = -1;
	ctx->spec = spec;
	for (int i = 0; i < 3; i++)
		ctx->stdio[i] = spec->stdio ? spec->stdio[i] : i;
	if (check_spec(spec, ctx, err, errlen) < 0 ||
	    runtime_resolve_user(ctx->rootfs, spec->user, &ctx->user, err, errlen) < 0)
		goto out;
	if (make_env(spec, ctx, err, errlen) < 0)
		goto out;
	if (spec->tty)
		ctx->have_ws = tty_winsize(ctx->stdio[1], &ctx->ws) == 0 ||
			       tty_winsize(ctx->stdio[0], &ctx->ws) == 0;
	ctx->caller = getpid();
	sigemptyset(&ctx->forward);
	for (size_t i = 0; i < NSIGS; i++)
		if (forwarded[i] != SIGWINCH)
			sigaddset(&ctx->forward, forwarded[i]);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, socks) < 0 ||
	    install_handlers(&sv, spec->tty) < 0) {
		run_err(err, errlen, "prepare the container: %s", strerror(errno));
		goto out;
	}
	/* Born with the forwarded signals and SIGCHLD blocked: the monitor and init wait
	 * for them with sigwaitinfo, and none may be lost or act before. */
	sigset_t block = ctx->forward, old;
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGWINCH);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	sv.pid = fork();
	if (sv.pid == 0) {
		close(socks[0]);
		close(sv.sigpipe[0]);
		close(sv.sigpipe[1]);
		ctx->ctl = socks[1];
		container_monitor(ctx);
	}
	int fork_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(socks[1]);
	socks[1] = -1;
	if (sv.pid < 0) {
		run_err(err, errlen, "fork: %s", strerror(fork_errno));
		goto out;
	}
	sv.ctl = socks[0];
	socks[0] = -1;
	if ((sv.pidfd = pidfd_open(sv.pid, 0)) < 0) {
		run_err(err, errlen, "pidfd_open: %s", strerror(errno));
		kill(sv.pid, SIGKILL);
		waitpid(sv.pid, NULL, 0);
		goto out;
	}
	if (spec->tty) {
		sv.r.out = ctx->stdio[1];
		if (spec->interactive) {
			sv.r.in = ctx->stdio[0];
			sv.stdin_open = true;
			tty_raw(&sv.r, sv.r.in); /* checked to be a terminal */
		}
	}
	int st = supervise(&sv);
	if (sv.r.master >= 0)
		relay_drain(&sv.r);
	if (sv.ctl >= 0)
		handle_ctl(&sv);
	if (sv.error_code) {
		*exit_status = sv.error_code;
		run_err(err, errlen, "%s", sv.error);
	} else {
		*exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		rc = 0;
	}
out:
	tty_restore(&sv.r);
	restore_handlers(&sv, spec->tty);
	for (int i = 0; i < 2; i++)
		if (socks[i] >= 0)
			close(socks[i]);
	if (sv.ctl >= 0)
		close(sv.ctl);
	if (sv.pidfd >= 0)
		close(sv.pidfd);
	if (sv.r.master >= 0)
		close(sv.r.master);
	runtime_env_free(ctx->env);
	runtime_user_free(&ctx->user);
	free(ctx);
	return rc;
}
