/* shale mount, umount, mounts, and the mount.fuse.shale entry point
 * (mount -t fuse.shale IMAGE DIR, and fstab lines). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "containers.h"
#include "fs.h"
#include "mounts.h"

/* Is the process alive? A zombie (killed, not yet reaped by whoever adopted
 * it) is not. */
bool pid_running(pid_t pid)
{
	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return false;
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* the name may hold spaces and parens */
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Wait (up to ms) for a process that is not our child to end. */
void wait_exit(pid_t pid, int ms)
{
	int pfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	if (pfd >= 0) {
		struct pollfd p = {pfd, POLLIN, 0};
		poll(&p, 1, ms); /* readable when it has exited */
		close(pfd);
	}
	for (int i = 0; i < ms / 10 && pid_running(pid); i++) { /* a zombie stays "alive" to pidfd */
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* ---- mount points ---- */

/* An absolute, normalised path that works even when the last component is a
 * dead FUSE mount (stat gives ENOTCONN there). */
int abs_mountpoint(const char *arg, char *out)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	if (realpath(arg, out))
		return 0;
	snprintf(tmp, sizeof tmp, "%s", arg);
	size_t n = strlen(tmp);
	while (n > 1 && tmp[n - 1] == '/')
		tmp[--n] = 0;
	char *base = strrchr(tmp, '/');
	const char *name = base ? base + 1 : tmp;
	if (base == tmp)
		snprintf(dir, sizeof dir, "/");
	else if (base) {
		*base = 0;
		if (!realpath(tmp, dir))
			return -1;
	} else if (!getcwd(dir, sizeof dir)) {
		return -1;
	}
	size_t dl = strlen(dir), nl = strlen(name);
	if (dl + nl + 2 > PATH_MAX)
		return -1;
	memcpy(out, dir, dl);
	if (strcmp(dir, "/"))
		out[dl++] = '/';
	memcpy(out + dl, name, nl + 1);
	return 0;
}

/* ---- shale mount ---- */

static const char mount_help[] =
	"Usage:  shale mount [OPTIONS] IMAGE|CONTAINER MOUNTPOINT\n\n"
	"Mount an image as a directory: the merged view of its layers. Writes go to a\n"
	"new container's upper layer (the image never changes); mounting a container\n"
	"again (by name or id) shows what was written before. Returns once the mount\n"
	"is ready; 'shale umount MOUNTPOINT' stops it.\n\n"
	"Options:\n"
	"      --name string    Name the new container\n"
	"      --upper DIR      Keep changes in DIR (work files go to DIR.work)\n"
	"  -o, --options list   Comma-separated: ro (no container: read-only), allow_other,\n"
	"                       nosuid, nodev, noexec, root=DIR (the store), debug\n"
	"  -f, --foreground     Serve in the foreground (until unmounted or interrupted)\n"
	"  -d, --debug          Log every FUSE request on stderr (implies --foreground)\n";


static int parse_mount_opts(struct mount_req *m, char *list, struct cli *c)
{
	static const char *const pass[] = {"nosuid", "suid", "nodev", "dev", "noexec", "exec",
					   "noatime", "atime", "relatime", "sync", "async",
					   "dirsync", NULL};
	static const char *const ignore[] = {"defaults", "auto", "noauto", "user", "nouser",
					     "users", "_netdev", "nofail", "rw", NULL};
	char *save;
	for (char *o = strtok_r(list, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		bool known = false;
		if (!strcmp(o, "ro")) {
			m->ro = known = true;
		} else if (!strcmp(o, "allow_other")) {
			m->allow_other = known = true;
		} else if (!strcmp(o, "debug")) {
			m->debug = m->foreground = known = true;
		} else if (!strncmp(o, "root=", 5)) {
			free(c->root);
			c->root = strdup(o + 5);
			known = true;
		} else if (!strncmp(o, "x-", 2) || !strncmp(o, "comment=", 8)) {
			known = true;
		}
		for (int i = 0; !known && pass[i]; i++) {
			if (!strcmp(o, pass[i])) {
				size_t l = strlen(m->kopts);
				snprintf(m->kopts + l, sizeof m->kopts - l, "%s%s", l ? "," : "", o);
				known = true;
			}
		}
		for (int i = 0; !known && ignore[i]; i++)
			known = !strcmp(o, ignore[i]);
		if (!known)
			return cli_usage_error("mount", "unknown mount option: %s", o);
	}
	return 0;
}

static void on_ready(void *arg, const char *error)
{
	struct mount_req *m = arg;
	if (!error) {
		char hex[SHALE_ID_HEX];
		shale_id_hex(&m->image, hex);
		json_t *rec = json_pack("{s:s, s:s, s:I, s:I, s:b}", "image", hex, "ref", m->image_ref,
					"pid", (json_int_t)getpid(), "started",
					(json_int_t)time(NULL), "ro", m->ro);
		json_object_set(rec, "upper", json_object_get(m->container, "upper") ?: json_null());
		json_object_set(rec, "container",
				json_object_get(m->container, "id") ?: json_null());
		json_object_set(rec, "name", json_object_get(m->container, "name") ?: json_null());
		if (m->control[0])
			json_object_set_new(rec, "control", json_string(m->control));
		if (shale_table_put(m->s, SHALE_T_MOUNTS, m->mountpoint, rec) < 0)
			error = shale_errmsg();
		json_decref(rec);
	}
	if (m->cli) /* served in the foreground: the record pins the image now */
		cli_release(m->cli);
	if (m->ready_fd >= 0) {
		char msg[1100];
		int n = snprintf(msg, sizeof msg, "%s\n", error ? error : "ok");
		if (write(m->ready_fd, msg, (size_t)n) < 0) {
			/* the parent is gone: nobody to tell */
		}
		close(m->ready_fd);
		m->ready_fd = -1;
	} else if (error) {
		fprintf(stderr, "shale: %s\n", error);
	}
	if (!error && !m->foreground) {
		/* a daemon now: no terminal, no inherited output */
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			if (!m->debug)
				dup2(fd, 2);
			close(fd);
		}
	}
}

static int serve(struct mount_req *m)
{
	m->s = shale_open(m->root);
	if (!m->s) {
		on_ready(m, shale_errmsg());
		return EXIT_ERR;
	}
	struct shale_fs_config cfg = {
		.source = m->image_ref,
		.image = m->image,
		.upper = m->ro ? NULL : container_str(m->container, "upper"),
		.work = m->ro ? NULL : container_str(m->container, "work"),
		.control = m->control[0] ? m->control : NULL,
		.allow_other = m->allow_other,
		.debug = m->debug,
		.mount_opts = m->kopts,
		.ready = on_ready,
		.ready_arg = m,
	};
	int r = shale_fs_serve(m->s, &cfg, m->mountpoint);
	/* drop our record, unless another daemon has taken the mount point since */
	json_t *rec = shale_table_get(m->s, SHALE_T_MOUNTS, m->mountpoint);
	if (rec && json_integer_value(json_object_get(rec, "pid")) == getpid())
		shale_table_delete(m->s, SHALE_T_MOUNTS, m->mountpoint);
	json_decref(rec);
	shale_close(m->s);
	return r < 0 ? EXIT_ERR : EXIT_OK;
}

int mount_start(struct cli *c, struct mount_req *m)
{
	shale_store *s = cli_store(c);
	if (!s)
		return EXIT_ERR;
	if (m->container)
		snprintf(m->control, sizeof m->control, "%s/tmp/ctl-%.24s.sock", shale_root(s),
			 container_str(m->container, "id"));
	/* LMDB environments do not survive fork: the daemon opens its own */
	shale_close(c->s);
	c->s = NULL; /* cli_store() opens it again for the caller */
	m->root = c->root;
	m->cli = c;
	fflush(NULL);
	if (m->foreground)
		return serve(m);

	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return cli_error("mount: pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		return cli_error("mount: fork: %s", strerror(errno));
	if (pid == 0) {
		close(pfd[0]);
		cli_release(c); /* our copy only: the parent holds it until we are ready */
		setsid();
		signal(SIGPIPE, SIG_IGN);
		m->ready_fd = pfd[1];
		_exit(serve(m));
	}
	close(pfd[1]);
	char msg[1200];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof msg - 1 && (n = read(pfd[0], msg + got, sizeof msg - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	close(pfd[0]);
	msg[got] = 0;
	if (got && msg[got - 1] == '\n')
		msg[got - 1] = 0;
	if (!strcmp(msg, "ok"))
		return EXIT_OK;
	waitpid(pid, NULL, 0);
	if (!got)
		return cli_error("mount: the mount daemon exited before the mount was ready");
	return cli_error("mount: %s", msg);
}

/* Root mounts by itself; anyone else through the setuid helper fusermount3
 * (libfuse runs it), which opens /dev/fuse as the caller: the device must be
 * open to them (Debian's default mode is 0666). */
static int fuse_usable(void)
{
	if (access("/dev/fuse", R_OK | W_OK) < 0) {
		int e = errno;
		struct stat st;
		if (geteuid() != 0 && e == EACCES && stat("/dev/fuse", &st) == 0)
			return cli_error("mount: /dev/fuse (mode %04o) is not open to uid %u: FUSE "
					 "without root needs it readable and writable (chmod 0666 "
					 "/dev/fuse, Debian's default)",
					 (unsigned)(st.st_mode & 07777), (unsigned)geteuid());
		return cli_error("mount: cannot open /dev/fuse: %s (is FUSE available here?)",
				 strerror(e));
	}
	if (geteuid() == 0)
		return 0;
	const char *dirs[] = {"/usr/bin", "/bin", "/usr/local/bin"};
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		char p[64];
		snprintf(p, sizeof p, "%s/fusermount3", dirs[i]);
		if (access(p, X_OK) == 0)
			return 0;
	}
	return cli_error("mount: not root, and no fusermount3 to mount with (install fuse3)");
}

static int mount_main(struct cli *c, int argc, char **argv, struct mount_req *mr);

int cmd_mount(struct cli *c, int argc, char **argv)
{
	struct mount_req m = {.ready_fd = -1};
	int r = mount_main(c, argc, argv, &m);
	json_decref(m.container);
	return r;
}

static int mount_main(struct cli *c, int argc, char **argv, struct mount_req *m)
{
	static const struct option lo[] = {{"options", required_argument, 0, 'o'},
					   {"foreground", no_argument, 0, 'f'},
					   {"debug", no_argument, 0, 'd'},
					   {"name", required_argument, 0, 'N'},
					   {"upper", required_argument, 0, 'U'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	const char *name = NULL, *upper = NULL;
	int o;
	while ((o = cli_getopt(argc, argv, "o:fdh", lo)) != -1) {
		switch (o) {
		case 'N': name = optarg; break;
		case 'U': upper = optarg; break;
		case 'o':
			if (parse_mount_opts(m, optarg, c))
				return EXIT_USAGE;
			break;
		case 'f': m->foreground = true; break;
		case 'd': m->debug = m->foreground = true; break;
		case 'h': return cli_help(mount_help);
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("mount", "\"shale mount\" requires exactly 2 arguments.");
	const char *image = argv[optind], *dir = argv[optind + 1];
	struct stat st, pst;
	if (stat(dir, &st) < 0)
		return cli_error("mount: mount point %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cli_error("mount: mount point %s is not a directory", dir);
	if (!realpath(dir, m->mountpoint))
		return cli_error("mount: %s: %s", dir, strerror(errno));
	char parent[PATH_MAX + 4];
	snprintf(parent, sizeof parent, "%s/..", m->mountpoint);
	if (shale_fs_mount_find(m->mountpoint, NULL, 0, NULL, NULL) ||
	    (stat(parent, &pst) == 0 && pst.st_dev != st.st_dev && strcmp(m->mountpoint, "/")))
		return cli_error("mount: %s is busy: something is already mounted there", m->mountpoint);
	if (fuse_usable() < 0)
		return EXIT_ERR;
	if (m->ro && (name || upper))
		return cli_usage_error("mount", "-o ro mounts have no container: no --name or --upper");
	shale_store *s = cli_store(c);
	/* Held until the container record or (read-only) the daemon's mount
	 * record pins the image: an rmi or prune meanwhile would delete it. */
	if (!s)
		return EXIT_ERR;
	if (cli_hold(c) < 0)
		return cli_fail();
	/* an existing container (by name or id), else an image and a new container */
	json_t *existing = !m->ro && !name && !upper ? container_find(s, image) : NULL;
	if (existing) {
		m->container = existing;
		if (shale_id_parse(container_str(existing, "image"), &m->image) < 0)
			return cli_fail();
		snprintf(m->image_ref, sizeof m->image_ref, "%s", container_str(existing, "image_ref"));
		if (container_mounted_at(s, container_str(existing, "id"), NULL) == 1)
			return cli_error("mount: container %s is already mounted", image);
	} else {
		if (shale_image_resolve(s, image, &m->image) < 0)
			return cli_fail();
		char norm[512];
		snprintf(m->image_ref, sizeof m->image_ref, "%s",
			 shale_ref_normalize(image, norm, sizeof norm) == 0 ? norm : image);
	}
	/* build the view index now, so errors show here and the daemon starts fast */
	shale_view *v = shale_view_open_image(s, &m->image);
	if (!v)
		return cli_fail();
	shale_view_close(v);
	if (!m->ro && !m->container) {
		m->container = upper ? container_by_upper(s, upper) : NULL;
		if (!m->container &&
		    !(m->container = container_create(s, &m->image, m->image_ref, name, upper)))
			return cli_fail();
	}
	if (m->container && container_ready(s, m->container) < 0)
		return cli_fail();
	return mount_start(c, m);
}


/* Is a container mounted now? 1 yes (its mount point in `at`), 0 no. */
struct mounted_ctx {
	const char *id;
	char *at;
	int found;
};

static int find_mounted(void *ctx, const char *key, json_t *val)
{
	struct mounted_ctx *m = ctx;
	const char *cid = json_string_value(json_object_get(val, "container"));
	if (cid && !strcmp(cid, m->id) && pid_running((pid_t)json_integer_value(json_object_get(val, "pid")))) {
		if (m->at)
			snprintf(m->at, PATH_MAX, "%s", key);
		m->found = 1;
		return 1;
	}
	return 0;
}

int container_mounted_at(shale_store *s, const char *id, char *at)
{
	struct mounted_ctx m = {id, at, 0};
	shale_table_foreach(s, SHALE_T_MOUNTS, find_mounted, &m);
	return m.found;
}

/* ---- shale umount ---- */

static const char umount_help[] =
	"Usage:  shale umount [OPTIONS] MOUNTPOINT [MOUNTPOINT...]\n\n"
	"Unmount images mounted with 'shale mount' and stop their daemons.\n\n"
	"Options:\n"
	"  -l, --lazy   Detach now, clean up when the mount is no longer busy\n";

int mount_stop(struct cli *c, const char *arg, bool lazy)
{
	char path[PATH_MAX], fstype[64] = "";
	if (abs_mountpoint(arg, path) < 0)
		return cli_error("umount: %s: %s", arg, strerror(errno));
	shale_store *s = cli_store(c);
	if (!s)
		return EXIT_ERR;
	json_t *rec = shale_table_get(s, SHALE_T_MOUNTS, path);
	pid_t pid = rec ? (pid_t)json_integer_value(json_object_get(rec, "pid")) : 0;
	bool mounted = shale_fs_mount_find(path, fstype, sizeof fstype, NULL, NULL);
	if (mounted && strcmp(fstype, "fuse.shale")) {
		json_decref(rec);
		return cli_error("umount: %s is not a shale mount (%s)", path, fstype);
	}
	if (!mounted && !rec)
		return cli_error("umount: %s: not mounted", path);
	if (mounted && umount2(path, lazy ? MNT_DETACH : 0) < 0) {
		int e = errno;
		if (e == EBUSY) {
			json_decref(rec);
			return cli_error("umount: %s: target is busy (use -l to detach it lazily)", path);
		}
		/* not root: the setuid helper may do it */
		char *argv[] = {"fusermount3", "-u", lazy ? "-z" : "-u", path, NULL};
		pid_t h = fork();
		if (h == 0) {
			execvp(argv[0], argv);
			_exit(127);
		}
		int st = 1;
		if (h < 0 || waitpid(h, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
			json_decref(rec);
			return cli_error("umount: %s: %s", path, strerror(e));
		}
	}
	/* the daemon exits once its session ends; a killed one left only the record */
	if (!lazy)
		wait_exit(pid, 5000);
	if (rec) {
		json_t *now = shale_table_get(s, SHALE_T_MOUNTS, path);
		if (now && json_integer_value(json_object_get(now, "pid")) == pid)
			shale_table_delete(s, SHALE_T_MOUNTS, path);
		json_decref(now);
	}
	json_decref(rec);
	return EXIT_OK;
}

int cmd_umount(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"lazy", no_argument, 0, 'l'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	bool lazy = false;
	int o;
	while ((o = cli_getopt(argc, argv, "lh", lo)) != -1) {
		switch (o) {
		case 'l': lazy = true; break;
		case 'h': return cli_help(umount_help);
		default: return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage_error("umount", "\"shale umount\" requires at least 1 argument.");
	int ret = EXIT_OK;
	for (int i = optind; i < argc; i++)
		if (mount_stop(c, argv[i], lazy) != EXIT_OK)
			ret = EXIT_ERR;
	return ret;
}

/* ---- shale mounts ---- */

struct mounts_ctx {
	struct table *t;
	json_t *rows;
	shale_store *s;
};

static int list_mount(void *ctx, const char *key, json_t *val)
{
	struct mounts_ctx *m = ctx;
	pid_t pid = (pid_t)json_integer_value(json_object_get(val, "pid"));
	bool alive = pid_running(pid);
	bool mounted = shale_fs_mount_find(key, NULL, 0, NULL, NULL);
	if (!alive && !mounted) { /* gone without cleaning up: forget it */
		shale_table_delete(m->s, SHALE_T_MOUNTS, key);
		return 0;
	}
	const char *status = alive ? (mounted ? "running" : "starting") : "dead (run shale umount)";
	const char *ref = json_string_value(json_object_get(val, "ref")) ?: "";
	const char *upper = json_string_value(json_object_get(val, "upper")) ?: "-";
	const char *container = json_string_value(json_object_get(val, "container")) ?: "-";
	char spid[32];
	snprintf(spid, sizeof spid, "%d", pid);
	table_row(m->t, ref, key, container, upper, spid, status);
	json_t *row = json_deep_copy(val);
	json_object_set_new(row, "mountpoint", json_string(key));
	json_object_set_new(row, "status", json_string(status));
	json_array_append_new(m->rows, row);
	return 0;
}

int cmd_mounts(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"format", required_argument, 0, 'f'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	bool json = false;
	int o;
	while ((o = cli_getopt(argc, argv, "h", lo)) != -1) {
		switch (o) {
		case 'f': json = !strcmp(optarg, "json"); break;
		case 'h':
			return cli_help("Usage:  shale mounts [--format table|json]\n\n"
					"List active mounts: image, mount point, container, upper, pid.\n");
		default: return EXIT_USAGE;
		}
	}
	shale_store *s = cli_store(c);
	if (!s)
		return EXIT_ERR;
	struct mounts_ctx m = {table_new(6, "IMAGE", "MOUNTPOINT", "CONTAINER", "UPPER", "PID", "STATUS"),
			       json_array(), s};
	if (shale_table_foreach(s, SHALE_T_MOUNTS, list_mount, &m) < 0)
		return cli_fail();
	if (json) {
		size_t i;
		json_t *r;
		json_array_foreach(m.rows, i, r) {
			char *out = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
			puts(out);
			free(out);
		}
		table_free(m.t);
	} else {
		table_print(m.t, stdout);
	}
	json_decref(m.rows);
	return EXIT_OK;
}

/* ---- mount(8) helper: mount.fuse.shale SOURCE DIR [-sfnv] [-o OPTS] ---- */

int mount_helper_main(int argc, char **argv)
{
	struct cli c = {.prog = "shale"};
	char *args[8] = {"mount"};
	int n = 1;
	const char *src = NULL, *dir = NULL, *opts = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			opts = argv[++i];
		else if (argv[i][0] == '-')
			continue; /* -s -f -n -v: sloppy, fake, no mtab, verbose */
		else if (!src)
			src = argv[i];
		else if (!dir)
			dir = argv[i];
	}
	if (!src || !dir) {
		fprintf(stderr, "usage: mount.fuse.shale IMAGE MOUNTPOINT [-o OPTIONS]\n");
		return EXIT_USAGE;
	}
	char *o = opts ? strdup(opts) : NULL;
	if (o) {
		args[n++] = "-o";
		args[n++] = o;
	}
	args[n++] = (char *)src;
	args[n++] = (char *)dir;
	args[n] = NULL;
	c.root = shale_default_root();
	optind = 0;
	int r = cmd_mount(&c, n, args);
	shale_close(c.s);
	free(c.root);
	free(o);
	return r;
}
