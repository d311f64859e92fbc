/* The container's processes, below the caller of runtime_run:
 *
 * monitor  A forked child of the caller. It unshares the namespaces, so the caller's
 *          own never change (and the caller may be multithreaded, as a FUSE server is:
 *          unshare(CLONE_NEWNS) wants a single-threaded process). Unsharing a PID
 *          namespace only affects children, so it forks init, then waits for it and
 *          forwards signals to it.
 * init     PID 1 of the new namespace: it mounts, pivots into the rootfs, opens the
 *          pty, forks the command, then reaps zombies and forwards signals until the
 *          command exits, and exits with its status (which kills what is left).
 * command  PID 2: drops privileges and execs.
 *
 * Why a minimal init rather than the command as PID 1 (Docker's default, like
 * `docker run --init`): the kernel gives PID 1 no default signal actions, so a
 * command that installs no handlers would ignore SIGTERM and Ctrl-C (and even its own
 * `kill -9 $$`); and shells and scripts that never wait for their children would pile
 * up zombies. With init, the command behaves as it does on the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime.h"

extern char **environ;

/* Docker's status for a process: its code, or 128 + the signal that killed it. */
static int status_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Wait for child, forwarding ctx->forward to it; exit with its status. Every other
 * child is reaped too: as PID 1 that is init's job. Signals are blocked since fork. */
static _Noreturn void forward_and_wait(const struct run_ctx *ctx, pid_t child)
{
	sigset_t set = ctx->forward;
	sigaddset(&set, SIGCHLD);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		int st;
		pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			if (p == child)
				_exit(status_code(st));
	}
}

/* Make fd 0, 1, 2 the given fds, whatever their numbers are now. */
static int set_stdio(const int in[3])
{
	int tmp[3];
	for (int i = 0; i < 3; i++)
		if ((tmp[i] = fcntl(in[i], F_DUPFD_CLOEXEC, 3)) < 0)
			return -1;
	for (int i = 0; i < 3; i++)
		if (dup2(tmp[i], i) < 0)
			return -1;
	for (int i = 0; i < 3; i++)
		close(tmp[i]);
	return 0;
}

static _Noreturn void exec_command(const struct run_ctx *ctx, int slave)
{
	const struct run_spec *s = ctx->spec;
	char err[400];
	int fds[3] = {ctx->stdio[0], ctx->stdio[1], ctx->stdio[2]};
	setsid(); /* its own session: the caller's terminal signals come through us */
	if (slave >= 0) {
		if (ioctl(slave, TIOCSCTTY, 0) < 0) {
			ctl_error(ctx->ctl, RUNTIME_EXIT_SETUP, "controlling tty: %s", strerror(errno));
			_exit(RUNTIME_EXIT_SETUP);
		}
		fds[0] = fds[1] = fds[2] = slave;
	} else if (!s->interactive) {
		if ((fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
			ctl_error(ctx->ctl, RUNTIME_EXIT_SETUP, "/dev/null: %s", strerror(errno));
			_exit(RUNTIME_EXIT_SETUP);
		}
	}
	if (set_stdio(fds) < 0) {
		ctl_error(ctx->ctl, RUNTIME_EXIT_SETUP, "stdio: %s", strerror(errno));
		_exit(RUNTIME_EXIT_SETUP);
	}
	/* Nothing of the caller's (store, /dev/fuse, the control socket) survives exec. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (privs_drop(&ctx->user, err, sizeof err) < 0) {
		ctl_error(ctx->ctl, RUNTIME_EXIT_SETUP, "%s", err);
		_exit(RUNTIME_EXIT_SETUP);
	}
	/* As the user, so that a directory it may not enter is an error, as in Docker. */
	if (chdir(ctx->cwd) < 0) {
		ctl_error(ctx->ctl, RUNTIME_EXIT_SETUP, "chdir to working directory %s: %s", ctx->cwd,
			  strerror(errno));
		_exit(RUNTIME_EXIT_SETUP);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* execvpe searches the PATH of environ, which must be the container's. */
	environ = ctx->env;
	execvpe(s->argv[0], s->argv, ctx->env);
	int e = errno;
	const char *cmd = s->argv[0];
	if (e == ENOENT && !strchr(cmd, '/')) {
		ctl_error(ctx->ctl, RUNTIME_EXIT_NOT_FOUND,
			  "exec: \"%s\": executable file not found in $PATH", cmd);
		_exit(RUNTIME_EXIT_NOT_FOUND);
	}
	int code = e == ENOENT ? RUNTIME_EXIT_NOT_FOUND : RUNTIME_EXIT_CANNOT_EXEC;
	ctl_error(ctx->ctl, code, "exec: \"%s\": %s", cmd, strerror(e));
	_exit(code);
}

static _Noreturn void init_main(struct run_ctx *ctx)
{
	char err[400];
	struct mount_plan plan;
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* the monitor died: so do we, and all inside */
	prctl(PR_SET_NAME, "shale-init");
	umask(022);
	if (mounts_prepare(ctx, &plan, err, sizeof err) < 0 || mounts_pivot(err, sizeof err) < 0 ||
	    mounts_finish(ctx, &plan, err, sizeof err) < 0) {
		ctl_error(ctx->ctl, RUNTIME_EXIT_SETUP, "%s", err);
		_exit(RUNTIME_EXIT_SETUP);
	}
	mounts_close(&plan);
	if (sethostname(ctx->hostname, strlen(ctx->hostname)) < 0) {
		ctl_error(ctx->ctl, RUNTIME_EXIT_SETUP, "sethostname %s: %s", ctx->hostname,
			  strerror(errno));
		_exit(RUNTIME_EXIT_SETUP);
	}
	int master = -1, slave = -1;
	if (ctx->spec->tty) {
		/* Opened here, on the container's devpts, so the command sees /dev/pts/0;
		 * the master goes to the caller, which relays it. */
		if (openpty(&master, &slave, NULL, NULL, ctx->have_ws ? &ctx->ws : NULL) < 0) {
			ctl_error(ctx->ctl, RUNTIME_EXIT_SETUP, "open a pty: %s", strerror(errno));
			_exit(RUNTIME_EXIT_SETUP);
		}
		if (fchown(slave, ctx->user.uid, (gid_t)-1) < 0 ||
		    ctl_send_fd(ctx->ctl, CTL_PTY, master) < 0) {
			ctl_error(ctx->ctl, RUNTIME_EXIT_SETUP, "pty: %s", strerror(errno));
			_exit(RUNTIME_EXIT_SETUP);
		}
		close(master);
	}
	pid_t cmd = fork();
	if (cmd < 0) {
		ctl_error(ctx->ctl, RUNTIME_EXIT_SETUP, "fork: %s", strerror(errno));
		_exit(RUNTIME_EXIT_SETUP);
	}
	if (cmd == 0)
		exec_command(ctx, slave);
	close(ctx->ctl);
	if (slave >= 0)
		close(slave);
	forward_and_wait(ctx, cmd);
}

/* Close every fd but the control socket and stdio: the caller's files (its store, a
 * pipe another thread reads to its end) must not stay open for the container's life. */
static void close_others(const struct run_ctx *ctx)
{
	int keep[4] = {ctx->ctl, ctx->stdio[0], ctx->stdio[1], ctx->stdio[2]};
	for (int i = 1; i < 4; i++) /* sort the four */
		for (int j = i; j > 0 && keep[j] < keep[j - 1]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned from = 3;
	for (int i = 0; i < 4; i++) {
		if (keep[i] < (int)from)
			continue;
		if ((unsigned)keep[i] > from)
			close_range(from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

_Noreturn void container_monitor(struct run_ctx *ctx)
{
	/* Out of the caller's process group: the terminal's Ctrl-C reaches the caller
	 * alone, which forwards it once. */
	setsid();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != ctx->caller)
		_exit(RUNTIME_EXIT_SETUP); /* the caller is already gone */
	close_others(ctx);
	/* The caller's handlers (and ignored signals) are not the command's. The signals
	 * we forward stay blocked, for sigwaitinfo, until the command unblocks them. */
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID) < 0) {
		ctl_error(ctx->ctl, RUNTIME_EXIT_SETUP, "create namespaces: %s%s", strerror(errno),
			  errno == EPERM ? " (shale run needs root)" : "");
		_exit(RUNTIME_EXIT_SETUP);
	}
	pid_t init = fork();
	if (init < 0) {
		ctl_error(ctx->ctl, RUNTIME_EXIT_SETUP, "fork: %s", strerror(errno));
		_exit(RUNTIME_EXIT_SETUP);
	}
	if (init == 0)
		init_main(ctx);
	close(ctx->ctl);
	forward_and_wait(ctx, init);
}
