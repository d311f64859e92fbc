/* Unit tests of the container runtime (tools/run): real containers on a busybox rootfs.
 *
 * The whole test process first moves into a mount namespace of its own and mounts a
 * tmpfs over /tmp there: whatever happens, even a crash or a kill, nothing stays
 * mounted or written on the host. That tmpfs is a *shared* mount, as "/" is on most
 * hosts, so a runtime that forgot to make its mounts private would leak them to us,
 * and mounts_below() would see it. Needs root (namespaces, mounts). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime.h"
#include "testutil.h"

static const char scratch[] = "/tmp/shale-rt"; /* in our own /tmp */
static char rootfs[128]; /* a busybox rootfs in it */
static bool ready_to_run; /* false: not root, every test skips */

/* ---- fixture ---- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void read_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, size - 1, f);
	buf[n] = 0;
	fclose(f);
}

static void path_in(char *out, size_t size, const char *dir, const char *rel)
{
	if (snprintf(out, size, "%s/%s", dir, rel) >= (int)size)
		fail_msg("path too long: %s/%s", dir, rel);
}

/* make_busybox_rootfs of tests/integration/lib.sh, plus users for -u. */
static void make_rootfs(const char *dir)
{
	static const char *const dirs[] = {"", "bin", "etc", "tmp", "root", "proc", "dev", "sys"};
	char p[PATH_MAX];
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		path_in(p, sizeof p, dir, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
	}
	path_in(p, sizeof p, dir, "tmp");
	chmod(p, 01777);
	int in = open("/bin/busybox", O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	struct stat st;
	assert_int_equal(fstat(in, &st), 0);
	path_in(p, sizeof p, dir, "bin/busybox");
	int out = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
	assert_true(out >= 0);
	for (off_t off = 0; off < st.st_size;)
		assert_true(sendfile(out, in, &off, (size_t)(st.st_size - off)) > 0);
	close(in);
	close(out);
	FILE *list = popen("/bin/busybox --list", "r");
	assert_non_null(list);
	char applet[64];
	while (fgets(applet, sizeof applet, list)) {
		applet[strcspn(applet, "\n")] = 0;
		char link[PATH_MAX];
		snprintf(link, sizeof link, "%s/bin/%s", dir, applet);
		if (strcmp(applet, "busybox"))
			assert_int_equal(symlink("busybox", link), 0);
	}
	assert_int_equal(pclose(list), 0);
	path_in(p, sizeof p, dir, "etc/passwd");
	write_file(p, "root:x:0:0:root:/root:/bin/sh\n"
		      "app:x:1000:1000:app:/home/app:/bin/sh\n");
	path_in(p, sizeof p, dir, "etc/group");
	write_file(p, "root:x:0:\napp:x:1000:\nextra:x:2000:app\nother:x:3000:\n");
}

static int group_setup(void **state)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_runtime: not root, skipping (containers need root)\n");
		return 0;
	}
	/* A mount namespace of our own, slave to the host's: nothing we mount goes out. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		fprintf(stderr, "test_runtime: unshare: %s\n", strerror(errno));
		return -1;
	}
	if (mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777") < 0 ||
	    mount(NULL, "/tmp", NULL, MS_SHARED, NULL) < 0 || mkdir(scratch, 0755) < 0) {
		fprintf(stderr, "test_runtime: scratch tmpfs: %s\n", strerror(errno));
		return -1;
	}
	snprintf(rootfs, sizeof rootfs, "%s/root", scratch);
	make_rootfs(rootfs);
	ready_to_run = true;
	return 0;
}

static int group_teardown(void **state)
{
	if (ready_to_run)
		umount2("/tmp", MNT_DETACH); /* tidy: it would go with our namespace anyway */
	return 0;
}

static int test_setup(void **state)
{
	if (!ready_to_run)
		skip();
	alarm(120); /* a hung container fails the test instead of the whole run */
	return 0;
}

static int test_teardown(void **state)
{
	alarm(0);
	return 0;
}

/* Mounts at or below dir, as /proc/self/mountinfo shows them (field 5, octal-escaped
 * spaces do not occur in our paths). */
static int mounts_below(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	assert_non_null(f);
	char line[4096];
	size_t len = strlen(dir);
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		char mp[4096];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && !strncmp(mp, dir, len) &&
		    (mp[len] == 0 || mp[len] == '/'))
			n++;
	}
	fclose(f);
	return n;
}

/* ---- running ---- */

struct result {
	int rc, status;
	char msg[512]; /* runtime_run's err */
	char out[16384], err[4096];
	size_t outlen, errlen;
};

/* Something to do while the container runs, once `want` shows up in its output. */
struct during {
	const char *want;
	void (*act)(struct during *d);
	int value; /* act's argument or result */
	int fd;    /* run_pty: our pty's master */
	bool acted;
};

struct reader {
	int fds[2];   /* stdout (or the pty's master), stderr (or -1) */
	struct result *res;
	struct during *d;
};

/* Reads the container's output until every writer is gone; acts on the way. */
static void *reader_main(void *p)
{
	struct reader *rd = p;
	struct result *r = rd->res;
	bool open[2] = {rd->fds[0] >= 0, rd->fds[1] >= 0};
	while (open[0] || open[1]) {
		struct pollfd pf[2] = {{open[0] ? rd->fds[0] : -1, POLLIN, 0},
				       {open[1] ? rd->fds[1] : -1, POLLIN, 0}};
		if (poll(pf, 2, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (!pf[i].revents)
				continue;
			char *buf = i ? r->err : r->out;
			size_t *len = i ? &r->errlen : &r->outlen;
			size_t cap = i ? sizeof r->err : sizeof r->out;
			ssize_t n = read(rd->fds[i], buf + *len, cap - 1 - *len);
			if (n <= 0) { /* EOF, or EIO from a pty master */
				open[i] = false;
				continue;
			}
			*len += (size_t)n;
			buf[*len] = 0;
		}
		if (rd->d && !rd->d->acted && strstr(r->out, rd->d->want)) {
			rd->d->acted = true;
			rd->d->act(rd->d);
		}
	}
	return NULL;
}

/* Run spec with stdin fed from `input` (if interactive), stdout and stderr captured. */
static void run_pipes(struct run_spec *s, const char *input, struct during *d, struct result *r)
{
	memset(r, 0, sizeof *r);
	if (!s->rootfs)
		s->rootfs = rootfs;
	int in[2], out[2], err[2];
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	if (input)
		assert_int_equal(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
	close(in[1]);
	int stdio[3] = {in[0], out[1], err[1]};
	s->stdio = stdio;
	struct reader rd = {{out[0], err[0]}, r, d};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
	r->rc = runtime_run(s, &r->status, r->msg, sizeof r->msg);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	pthread_join(t, NULL);
	close(out[0]);
	close(err[0]);
	s->stdio = NULL;
	assert_int_equal(mounts_below(s->rootfs), 0);
}

/* Run spec with -t, its stdin and stdout a pty of ours of the given size; `input` is
 * typed first. Returns what the terminal showed in r->out. */
static void run_pty(struct run_spec *s, const char *input, unsigned short rows,
		    unsigned short cols, struct during *d, struct result *r,
		    struct termios *before, struct termios *after)
{
	memset(r, 0, sizeof *r);
	if (!s->rootfs)
		s->rootfs = rootfs;
	int master, slave;
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	assert_int_equal(openpty(&master, &slave, NULL, NULL, &ws), 0);
	fcntl(master, F_SETFD, FD_CLOEXEC);
	fcntl(slave, F_SETFD, FD_CLOEXEC);
	if (input)
		assert_int_equal(write(master, input, strlen(input)), (ssize_t)strlen(input));
	assert_int_equal(tcgetattr(slave, before), 0);
	int stdio[3] = {slave, slave, slave};
	s->stdio = stdio;
	s->tty = true;
	struct reader rd = {{master, -1}, r, d};
	if (d)
		d->fd = master;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
	r->rc = runtime_run(s, &r->status, r->msg, sizeof r->msg);
	assert_int_equal(tcgetattr(slave, after), 0);
	close(slave); /* the master reads EIO: the reader ends */
	pthread_join(t, NULL);
	close(master);
	s->stdio = NULL;
	assert_int_equal(mounts_below(s->rootfs), 0);
}

#define ARGV(...) ((char *const[]){__VA_ARGS__, NULL})

/* Run argv as root with default settings; returns its status, output in r. */
static int sh(struct result *r, char *const *argv)
{
	struct run_spec s = {.argv = argv};
	run_pipes(&s, NULL, NULL, r);
	if (r->rc != 0)
		fail_msg("runtime_run: %s", r->msg);
	return r->status;
}

/* ---- tests ---- */

static void test_exit_codes(void **state)
{
	struct result r;
	assert_int_equal(sh(&r, ARGV("true")), 0);
	assert_int_equal(sh(&r, ARGV("false")), 1);
	assert_int_equal(sh(&r, ARGV("sh", "-c", "exit 3")), 3);
	/* Not PID 1 (init is), so its own signals kill it: 128 + 9. */
	assert_int_equal(sh(&r, ARGV("sh", "-c", "kill -9 $$")), 137);
	assert_int_equal(sh(&r, ARGV("sh", "-c", "kill -TERM $$")), 143);
	/* A shell's own "not found" is an exit status like any other. */
	assert_int_equal(sh(&r, ARGV("sh", "-c", "nosuch-cmd")), 127);
}

static void test_stdio(void **state)
{
	struct result r;
	struct run_spec s = {.argv = ARGV("cat"), .interactive = true};
	run_pipes(&s, "hello\nworld\n", NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "hello\nworld\n");

	/* Without -i, stdin is /dev/null. */
	s.interactive = false;
	run_pipes(&s, "ignored\n", NULL, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	s.argv = ARGV("readlink", "/proc/self/fd/0");
	run_pipes(&s, NULL, NULL, &r);
	assert_string_equal(r.out, "/dev/null\n");

	assert_int_equal(sh(&r, ARGV("sh", "-c", "echo out; echo oops >&2; exit 4")), 4);
	assert_string_equal(r.out, "out\n");
	assert_string_equal(r.err, "oops\n");

	/* Only stdio gets through: the command starts with fds 0, 1, 2 alone. */
	int leak = open("/dev/null", O_RDONLY); /* not close-on-exec */
	assert_true(leak >= 0);
	assert_int_equal(sh(&r, ARGV("ls", "/proc/self/fd")), 0);
	close(leak);
	assert_string_equal(r.out, "0\n1\n2\n3\n"); /* 3: ls's own directory */
}

static void test_env_helpers(void **state)
{
	setenv("SHALE_RT_FROM_HOST", "hostval", 1);
	unsetenv("SHALE_RT_UNSET");
	char **e = runtime_env(ARGV("A=image", "PATH=/image/bin", "KEEP=1", "SHALE_RT_UNSET=x"),
			       ARGV("A=cli", "B=new", "SHALE_RT_FROM_HOST", "SHALE_RT_UNSET", "=bad"),
			       "host1", "/home/u", true);
	assert_non_null(e);
	const char *want[] = {"PATH=/image/bin", "HOSTNAME=host1", "TERM=xterm", "A=cli", "KEEP=1",
			      "B=new", "SHALE_RT_FROM_HOST=hostval", "HOME=/home/u", NULL};
	for (size_t i = 0; want[i] || e[i]; i++) {
		assert_non_null(want[i]);
		assert_non_null(e[i]);
		assert_string_equal(e[i], want[i]);
	}
	runtime_env_free(e);

	/* Defaults: Docker's PATH, no TERM without a tty, HOME only when given and unset. */
	e = runtime_env(NULL, ARGV("HOME=/mine"), NULL, "/root", false);
	assert_non_null(e);
	assert_string_equal(e[0], "PATH=" RUNTIME_DEFAULT_PATH);
	assert_string_equal(e[1], "HOME=/mine");
	assert_null(e[2]);
	runtime_env_free(e);

	char host[65];
	struct run_spec s = {0};
	runtime_hostname(&s, host, sizeof host);
	assert_string_equal(host, "shale");
	s.container_id = "0123456789abcdef0123";
	runtime_hostname(&s, host, sizeof host);
	assert_string_equal(host, "0123456789ab");
	s.hostname = "named";
	runtime_hostname(&s, host, sizeof host);
	assert_string_equal(host, "named");
}

static void test_env_run(void **state)
{
	char host[65];
	struct run_spec s = {.argv = ARGV("env"), .container_id = "fedcba9876543210"};
	runtime_hostname(&s, host, sizeof host);
	char **env = runtime_env(ARGV("FOO=image", "BAR=image"), ARGV("FOO=cli"), host, NULL, false);
	s.env = env;
	struct result r;
	run_pipes(&s, NULL, NULL, &r);
	runtime_env_free(env);
	assert_int_equal(r.rc, 0);
	/* busybox env prints in order; HOME comes from root's passwd entry. */
	assert_string_equal(r.out, "PATH=" RUNTIME_DEFAULT_PATH "\nHOSTNAME=fedcba987654\n"
				   "FOO=cli\nBAR=image\nHOME=/root\n");

	/* No env at all: the defaults. */
	s.env = NULL;
	s.tty = false;
	run_pipes(&s, NULL, NULL, &r);
	assert_string_equal(r.out, "PATH=" RUNTIME_DEFAULT_PATH "\nHOSTNAME=fedcba987654\n"
				   "HOME=/root\n");

	/* The command is searched in the container's PATH, not ours. */
	char p[PATH_MAX];
	path_in(p, sizeof p, rootfs, "opt");
	mkdir(p, 0755);
	path_in(p, sizeof p, rootfs, "opt/only-here");
	write_file(p, "#!/bin/sh\necho found me\n");
	chmod(p, 0755);
	s.argv = ARGV("only-here");
	s.env = ARGV("PATH=/opt");
	run_pipes(&s, NULL, NULL, &r);
	unlink(p);
	path_in(p, sizeof p, rootfs, "opt");
	rmdir(p);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "found me\n");
}

static void test_workdir(void **state)
{
	struct result r;
	struct run_spec s = {.argv = ARGV("pwd"), .cwd = "/tmp"};
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "/tmp\n");

	s.cwd = "/work/dir/deep";
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "/work/dir/deep\n");
	char p[PATH_MAX];
	struct stat st;
	path_in(p, sizeof p, rootfs, "work/dir/deep");
	assert_int_equal(stat(p, &st), 0); /* created in the rootfs */
	assert_true(S_ISDIR(st.st_mode));
	rmdir(p);
	path_in(p, sizeof p, rootfs, "work/dir");
	rmdir(p);
	path_in(p, sizeof p, rootfs, "work");
	rmdir(p);
}

static void test_user_resolve(void **state)
{
	if (!ready_to_run)
		skip();
	char err[256];
	struct run_user u;
	assert_int_equal(runtime_resolve_user(rootfs, NULL, &u, err, sizeof err), 0);
	assert_int_equal(u.uid, 0);
	assert_int_equal(u.gid, 0);
	assert_string_equal(u.home, "/root");
	assert_int_equal(u.ngroups, 0);
	runtime_user_free(&u);

	assert_int_equal(runtime_resolve_user(rootfs, "app", &u, err, sizeof err), 0);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1000);
	assert_string_equal(u.name, "app");
	assert_string_equal(u.home, "/home/app");
	assert_int_equal(u.ngroups, 1);
	assert_int_equal(u.groups[0], 2000);
	runtime_user_free(&u);

	assert_int_equal(runtime_resolve_user(rootfs, "1000", &u, err, sizeof err), 0);
	assert_string_equal(u.name, "app"); /* a uid in passwd gets its entry */
	assert_int_equal(u.gid, 1000);
	runtime_user_free(&u);

	/* Numbers need no entry; explicit groups replace the supplementary ones. */
	assert_int_equal(runtime_resolve_user(rootfs, "1234", &u, err, sizeof err), 0);
	assert_int_equal(u.uid, 1234);
	assert_int_equal(u.gid, 0);
	assert_null(u.name);
	assert_string_equal(u.home, "/");
	runtime_user_free(&u);
	assert_int_equal(runtime_resolve_user(rootfs, "1234:5678", &u, err, sizeof err), 0);
	assert_int_equal(u.uid, 1234);
	assert_int_equal(u.gid, 5678);
	runtime_user_free(&u);
	assert_int_equal(runtime_resolve_user(rootfs, "app:extra", &u, err, sizeof err), 0);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 2000);
	assert_int_equal(u.ngroups, 0);
	runtime_user_free(&u);
	assert_int_equal(runtime_resolve_user(rootfs, "app:", &u, err, sizeof err), 0);
	assert_int_equal(u.gid, 1000);
	assert_int_equal(u.ngroups, 1);
	runtime_user_free(&u);
	assert_int_equal(runtime_resolve_user(rootfs, "0:other", &u, err, sizeof err), 0);
	assert_int_equal(u.uid, 0);
	assert_int_equal(u.gid, 3000);
	runtime_user_free(&u);

	assert_int_equal(runtime_resolve_user(rootfs, "nosuch", &u, err, sizeof err), -1);
	assert_string_equal(err, "unable to find user nosuch: no matching entries in passwd file");
	assert_int_equal(runtime_resolve_user(rootfs, "app:nogroup", &u, err, sizeof err), -1);
	assert_string_equal(err, "unable to find group nogroup: no matching entries in group file");

	/* Symlinks resolve inside the rootfs: /etc/passwd -> /etc/real (absolute), and
	 * /etc/group -> ../../../../etc/group2, which only the rootfs has. */
	char dir[PATH_MAX], p[PATH_MAX];
	path_in(dir, sizeof dir, scratch, "links");
	assert_int_equal(mkdir(dir, 0755), 0);
	path_in(p, sizeof p, dir, "etc");
	assert_int_equal(mkdir(p, 0755), 0);
	path_in(p, sizeof p, dir, "etc/real");
	write_file(p, "zed:x:4242:4242:z:/z:/bin/sh\n");
	path_in(p, sizeof p, dir, "etc/group2");
	write_file(p, "zgroup:x:777:zed\n");
	path_in(p, sizeof p, dir, "etc/passwd");
	assert_int_equal(symlink("/etc/real", p), 0);
	path_in(p, sizeof p, dir, "etc/group");
	assert_int_equal(symlink("../../../../../../etc/group2", p), 0);
	assert_int_equal(runtime_resolve_user(dir, "zed", &u, err, sizeof err), 0);
	assert_int_equal(u.uid, 4242);
	assert_int_equal(u.ngroups, 1);
	assert_int_equal(u.groups[0], 777);
	runtime_user_free(&u);
	/* ...and so the host's root is not found through them. */
	assert_int_equal(runtime_resolve_user(dir, "root", &u, err, sizeof err), -1);
	/* No /etc/passwd at all: numbers still work. */
	path_in(p, sizeof p, dir, "etc/passwd");
	unlink(p);
	assert_int_equal(runtime_resolve_user(dir, "5:5", &u, err, sizeof err), 0);
	assert_int_equal(u.uid, 5);
	runtime_user_free(&u);
	rm_rf(dir);
}

static void test_user_run(void **state)
{
	struct result r;
	struct run_spec s = {.argv = ARGV("sh", "-c", "id; echo $HOME; grep CapEff /proc/self/status"),
			     .user = "app"};
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "uid=1000(app) gid=1000(app) groups=2000(extra)\n/home/app\n"
				   "CapEff:\t0000000000000000\n");

	s.argv = ARGV("id");
	s.user = "1234:5678";
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "uid=1234 gid=5678\n");

	s.user = "app:other";
	run_pipes(&s, NULL, NULL, &r);
	assert_string_equal(r.out, "uid=1000(app) gid=3000(other)\n");

	/* Root keeps Docker's default capabilities only. */
	s.user = NULL;
	s.argv = ARGV("grep", "-E", "^Cap(Eff|Bnd|Inh)", "/proc/self/status");
	run_pipes(&s, NULL, NULL, &r);
	assert_string_equal(r.out, "CapInh:\t0000000000000000\nCapEff:\t00000000a80425fb\n"
				   "CapBnd:\t00000000a80425fb\n");

	s.user = "nosuch";
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.status, RUNTIME_EXIT_SETUP);
	assert_string_equal(r.msg, "unable to find user nosuch: no matching entries in passwd file");
}

static void test_volumes(void **state)
{
	char rw[PATH_MAX], ro[PATH_MAX], p[PATH_MAX], text[256];
	path_in(rw, sizeof rw, scratch, "vol-rw");
	path_in(ro, sizeof ro, scratch, "vol-ro/nested/missing"); /* made, as docker -v */
	assert_int_equal(mkdir(rw, 0755), 0);
	struct run_volume vols[] = {{rw, "/data", false}, {ro, "/mnt/ro", true}};
	struct run_spec s = {
		.argv = ARGV("sh", "-c",
			     "echo written > /data/f && cat /mnt/ro/g && ! echo x > /mnt/ro/h"),
		.volumes = vols, .nvolumes = 2};
	struct result r;
	run_pipes(&s, NULL, NULL, &r); /* fails: ro has no g yet */
	assert_int_equal(r.rc, 0);
	assert_int_not_equal(r.status, 0);
	struct stat st;
	assert_int_equal(stat(ro, &st), 0);
	path_in(p, sizeof p, ro, "g");
	write_file(p, "from host\n");
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "from host\n");
	assert_non_null(strstr(r.err, "Read-only file system"));
	path_in(p, sizeof p, rw, "f");
	read_file(p, text, sizeof text);
	assert_string_equal(text, "written\n"); /* rw writes reach the host */
	path_in(p, sizeof p, ro, "h");
	assert_int_equal(access(p, F_OK), -1); /* ro ones do not */
	/* The mount points were made in the rootfs; nothing stays mounted there. */
	path_in(p, sizeof p, rootfs, "mnt/ro");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(mounts_below(rootfs), 0);
	path_in(p, sizeof p, rootfs, "data");
	rmdir(p);
	path_in(p, sizeof p, rootfs, "mnt/ro");
	rmdir(p);
	path_in(p, sizeof p, rootfs, "mnt");
	rmdir(p);

	/* A single file, read-only (how /etc/resolv.conf can be given). */
	char file[PATH_MAX];
	path_in(file, sizeof file, scratch, "resolv.conf");
	write_file(file, "nameserver 192.0.2.1\n");
	struct run_volume fv = {file, "/etc/resolv.conf", true};
	s = (struct run_spec){.argv = ARGV("sh", "-c", "cat /etc/resolv.conf; echo x >> /etc/resolv.conf"),
			      .volumes = &fv, .nvolumes = 1};
	run_pipes(&s, NULL, NULL, &r);
	assert_int_not_equal(r.status, 0);
	assert_string_equal(r.out, "nameserver 192.0.2.1\n");
	assert_non_null(strstr(r.err, "Read-only file system"));
	path_in(p, sizeof p, rootfs, "etc/resolv.conf");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 0); /* the mount point the runtime made */
	unlink(p);

	char arg[] = "/host/dir:/ctr:ro", bad[] = "relative:/ctr", bad2[] = "/a:/", bad3[] = "/a:/b:rx";
	struct run_volume v;
	char err[256];
	assert_int_equal(runtime_volume_parse(arg, &v, err, sizeof err), 0);
	assert_string_equal(v.host, "/host/dir");
	assert_string_equal(v.ctr, "/ctr");
	assert_true(v.ro);
	assert_int_equal(runtime_volume_parse(bad, &v, err, sizeof err), -1);
	assert_string_equal(err, "invalid volume \"relative:/ctr\": the host path must be absolute");
	assert_int_equal(runtime_volume_parse(bad2, &v, err, sizeof err), -1);
	assert_int_equal(runtime_volume_parse(bad3, &v, err, sizeof err), -1);
	assert_string_equal(err, "invalid volume \"/a:/b:rx\": mode must be ro or rw");
}

static void test_pid_namespace(void **state)
{
	struct result r;
	/* (": " keeps busybox sh from exec'ing ps in its place) */
	assert_int_equal(sh(&r, ARGV("sh", "-c", "echo $$; ps -o pid,comm; :")), 0);
	/* init is PID 1, the command PID 2, and ps sees nothing of the host. */
	assert_string_equal(r.out, "2\nPID   COMMAND\n    1 shale-init\n    2 sh\n    3 ps\n");
}

static void test_uts_namespace(void **state)
{
	char before[256], after[256];
	assert_int_equal(gethostname(before, sizeof before), 0);
	struct result r;
	struct run_spec s = {.argv = ARGV("hostname"), .hostname = "box-under-test"};
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "box-under-test\n");
	assert_int_equal(gethostname(after, sizeof after), 0);
	assert_string_equal(before, after);
	assert_string_not_equal(after, "box-under-test");
	s.hostname = NULL;
	s.container_id = "a1b2c3d4e5f6a7b8c9d0";
	run_pipes(&s, NULL, NULL, &r);
	assert_string_equal(r.out, "a1b2c3d4e5f6\n");
}

static void test_proc_dev_sys(void **state)
{
	struct result r;
	assert_int_equal(sh(&r, ARGV("ls", "/dev")), 0);
	assert_string_equal(r.out, "fd\nfull\nmqueue\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\n"
				   "stdout\ntty\nurandom\nzero\n");
	assert_int_equal(sh(&r, ARGV("sh", "-c",
				     "echo x > /dev/null && head -c 5 /dev/zero | wc -c && "
				     "head -c 4 /dev/urandom | wc -c && readlink /dev/ptmx && readlink /dev/fd && "
				     "echo shm > /dev/shm/f && cat /dev/shm/f && ls /dev/pts")),
			 0);
	assert_string_equal(r.out, "5\n4\npts/ptmx\n/proc/self/fd\nshm\nptmx\n");

	/* What is mounted where, seen from inside. */
	assert_int_equal(sh(&r, ARGV("cat", "/proc/self/mountinfo")), 0);
	static const char *const want[] = {" / /proc rw,nosuid,nodev,noexec",
					   " / /dev rw,nosuid - tmpfs",
					   " / /dev/pts rw,nosuid,noexec,relatime - devpts",
					   " / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs",
					   " / /sys ro,nosuid,nodev,noexec",
					   " /sys /proc/sys ro,"};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++)
		if (!strstr(r.out, want[i]))
			fail_msg("no \"%s\" in:\n%s", want[i], r.out);
	assert_int_not_equal(sh(&r, ARGV("touch", "/sys/x")), 0);
	assert_non_null(strstr(r.err, "Read-only file system"));
	assert_int_not_equal(sh(&r, ARGV("sh", "-c", "echo 1 > /proc/sys/kernel/ns_last_pid")), 0);
	/* /tmp is the image's own (no tmpfs, as Docker). */
	assert_int_equal(sh(&r, ARGV("sh", "-c", "echo t > /tmp/mine")), 0);
	char p[PATH_MAX];
	path_in(p, sizeof p, rootfs, "tmp/mine");
	assert_int_equal(unlink(p), 0);
	/* A proc of its own: only the container's processes (init, and sh exec'd as ls). */
	assert_int_equal(sh(&r, ARGV("sh", "-c", "ls -d /proc/[0-9]*")), 0);
	assert_string_equal(r.out, "/proc/1\n/proc/2\n");
}

struct leak_check {
	struct during d;
	char dir[PATH_MAX];
};

static void count_mounts(struct during *d)
{
	d->value = mounts_below(((struct leak_check *)d)->dir);
}

static void test_no_leak(void **state)
{
	/* While the container runs, the host (our namespace, where the scratch tmpfs is
	 * shared) sees nothing mounted in the rootfs; afterwards neither. */
	struct leak_check lc = {.d = {.want = "ready", .act = count_mounts, .value = -1}};
	snprintf(lc.dir, sizeof lc.dir, "%s", rootfs);
	char vol[PATH_MAX];
	path_in(vol, sizeof vol, scratch, "vol-leak");
	struct run_volume v = {vol, "/leak", false};
	struct run_spec s = {.argv = ARGV("sh", "-c", "echo ready; sleep 1"), .volumes = &v,
			     .nvolumes = 1, .interactive = true};
	struct result r;
	run_pipes(&s, "", &lc.d, &r);
	assert_int_equal(r.status, 0);
	assert_true(lc.d.acted);
	assert_int_equal(lc.d.value, 0);
	assert_int_equal(mounts_below(rootfs), 0);
	assert_int_equal(mounts_below(scratch), 0);
	char p[PATH_MAX];
	path_in(p, sizeof p, rootfs, "leak");
	rmdir(p);
}

static void test_exec_errors(void **state)
{
	struct result r;
	struct run_spec s = {.argv = ARGV("nosuch")};
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.status, 127);
	assert_string_equal(r.msg, "exec: \"nosuch\": executable file not found in $PATH");

	s.argv = ARGV("/no/such/file");
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.status, 127);
	assert_string_equal(r.msg, "exec: \"/no/such/file\": No such file or directory");

	s.argv = ARGV("/etc/passwd");
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.status, 126);
	assert_string_equal(r.msg, "exec: \"/etc/passwd\": Permission denied");

	s.argv = ARGV("/tmp");
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.status, 126);
}

static void test_setup_errors(void **state)
{
	struct result r;
	struct run_spec s = {.rootfs = "/nonexistent/rootfs", .argv = ARGV("true")};
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.status, RUNTIME_EXIT_SETUP);
	assert_string_equal(r.msg, "rootfs /nonexistent/rootfs: No such file or directory");

	/* Failing inside the container, after some mounts: reported, nothing left. */
	s = (struct run_spec){.argv = ARGV("true"), .cwd = "/bin/busybox/sub"};
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.status, RUNTIME_EXIT_SETUP);
	assert_string_equal(r.msg, "working directory /bin/busybox/sub: Not a directory");
	assert_int_equal(mounts_below(rootfs), 0);

	s = (struct run_spec){.argv = ARGV("true"), .cwd = "relative"};
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.msg, "the working directory \"relative\" is invalid: it must be absolute");

	s = (struct run_spec){.argv = ARGV(NULL)};
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.msg, "no command specified");

	/* -i -t wants a terminal on stdin. */
	s = (struct run_spec){.argv = ARGV("true"), .interactive = true, .tty = true};
	run_pipes(&s, NULL, NULL, &r);
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.msg, "the input device is not a TTY");

	/* A rootfs whose /proc is a symlink is refused. */
	char p[PATH_MAX];
	path_in(p, sizeof p, rootfs, "proc");
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(symlink("/tmp", p), 0);
	s = (struct run_spec){.argv = ARGV("true")};
	run_pipes(&s, NULL, NULL, &r);
	unlink(p);
	mkdir(p, 0755);
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.msg, "mount point /proc: not a directory in the image");
}

static void test_tty(void **state)
{
	struct result r;
	struct termios before, after;
	struct run_spec s = {.argv = ARGV("sh", "-c", "tty; stty size; echo $TERM")};
	s.env = runtime_env(NULL, NULL, "h", NULL, true);
	run_pty(&s, NULL, 40, 100, NULL, &r, &before, &after);
	runtime_env_free((char **)s.env);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.status, 0);
	/* The container's own devpts; its \r\n goes through our pty's ONLCR: \r\r\n. */
	assert_string_equal(r.out, "/dev/pts/0\r\r\n40 100\r\r\nxterm\r\r\n");
}

/* Typed on our terminal, which runtime_run has put in raw mode: a byte, not a signal. */
static void type_ctrl_c(struct during *d)
{
	d->value = write(d->fd, "\x03", 1) == 1;
}

/* The terminal is resized; its owner (the caller of runtime_run) gets SIGWINCH. */
static void resize_and_signal(struct during *d)
{
	struct winsize ws = {.ws_row = 50, .ws_col = 120};
	ioctl(d->fd, TIOCSWINSZ, &ws);
	kill(getpid(), SIGWINCH);
}

static void test_tty_interactive(void **state)
{
	struct result r;
	struct termios before, after;
	struct run_spec s = {.argv = ARGV("sh"), .interactive = true};
	run_pty(&s, "echo hi-$((1+2)); exit 5\n", 24, 80, NULL, &r, &before, &after);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.status, 5);
	assert_non_null(strstr(r.out, "\nhi-3\r"));
	/* Raw while it ran, restored after. */
	assert_int_equal(before.c_lflag, after.c_lflag);
	assert_int_equal(before.c_iflag, after.c_iflag);
	assert_int_equal(before.c_oflag, after.c_oflag);
	assert_true(before.c_lflag & ICANON);

	/* Ctrl-C typed on the terminal reaches the command as SIGINT through its pty. */
	struct during d = {.want = "ready", .act = type_ctrl_c};
	s.argv = ARGV("sh", "-c", "trap 'echo got-int; exit 9' INT; echo ready; "
				  "while :; do sleep 0.1; done");
	run_pty(&s, NULL, 24, 80, &d, &r, &before, &after);
	assert_true(d.acted);
	assert_int_equal(d.value, 1);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.status, 9);
	assert_non_null(strstr(r.out, "got-int"));
}

static void test_tty_winch(void **state)
{
	struct result r;
	struct termios before, after;
	struct during d = {.want = "ready", .act = resize_and_signal};
	struct run_spec s = {.argv = ARGV("sh", "-c", "trap 'stty size; exit 0' WINCH; stty size; "
						      "echo ready; while :; do sleep 0.1; done")};
	run_pty(&s, NULL, 24, 80, &d, &r, &before, &after);
	assert_true(d.acted);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "24 80\r\r\nready\r\r\n50 120\r\r\n");
}

static void send_term(struct during *d)
{
	kill(getpid(), d->value);
}

static void test_signals(void **state)
{
	/* Signals to the caller go to the command, which is not PID 1, so they act. */
	struct during d = {.want = "ready", .act = send_term, .value = SIGTERM};
	struct run_spec s = {.argv = ARGV("sh", "-c", "trap 'exit 7' TERM; echo ready; "
						      "while :; do sleep 0.1; done")};
	struct result r;
	run_pipes(&s, NULL, &d, &r);
	assert_true(d.acted);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.status, 7);

	d = (struct during){.want = "ready", .act = send_term, .value = SIGINT};
	s.argv = ARGV("sh", "-c", "echo ready; exec sleep 30");
	run_pipes(&s, NULL, &d, &r);
	assert_int_equal(r.status, 130);

	d = (struct during){.want = "ready", .act = send_term, .value = SIGUSR1};
	s.argv = ARGV("sh", "-c", "trap 'echo usr1; exit 0' USR1; echo ready; "
				  "while :; do sleep 0.1; done");
	run_pipes(&s, NULL, &d, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "ready\nusr1\n");

	/* Our handlers are gone afterwards. */
	struct sigaction sa;
	sigaction(SIGTERM, NULL, &sa);
	assert_true(sa.sa_handler == SIG_DFL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exit_codes, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_stdio, test_setup, test_teardown),
		cmocka_unit_test(test_env_helpers),
		cmocka_unit_test_setup_teardown(test_env_run, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_workdir, test_setup, test_teardown),
		cmocka_unit_test(test_user_resolve),
		cmocka_unit_test_setup_teardown(test_user_run, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_volumes, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_pid_namespace, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_uts_namespace, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_proc_dev_sys, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_no_leak, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_exec_errors, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_setup_errors, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_tty, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_tty_interactive, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_tty_winch, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_signals, test_setup, test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
