/* The container's mounts, made by its init process inside its own mount namespace, so
 * that they vanish with it and are never seen on the host.
 *
 * What comes from the host (device nodes, volumes) is cloned with open_tree() before
 * pivot_root, as detached mounts held by fds. Everything is attached after pivot_root,
 * when "/" is the container's: an image's symlinks then resolve inside the image and
 * cannot redirect a mount onto the host. Read-only mounts are made so with
 * mount_setattr() on the detached clone, recursively and before anyone can see them
 * writable (the bind-then-remount of the old API does neither). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime.h"

/* Bound from the host's /dev, as Docker does in a user namespace (no mknod needed). */
static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
_Static_assert(sizeof devices / sizeof *devices == sizeof((struct mount_plan *)0)->dev / sizeof(int),
	       "one fd per device");

/* Docker's masked and read-only paths: what root in a container must not read or write
 * on the host through /proc and /sys (core_pattern, sysrq-trigger, kcore...). */
static const char *const masked[] = {
	"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap"};
static const char *const readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
				       "/proc/sysrq-trigger"};

static int fail(char *err, size_t errlen, const char *what, const char *path)
{
	run_err(err, errlen, "%s %s: %s", what, path, strerror(errno));
	return -1;
}

/* A detached clone of path, made read-only when asked. */
static int clone_tree(const char *path, bool ro)
{
	int fd = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (fd < 0 || !ro)
		return fd;
	struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
	if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int attach(int tree, const char *target)
{
	return move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
}

int run_mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1;; p++) {
		if (*p && *p != '/')
			continue;
		char c = *p;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		*p = c;
		if (!c)
			break;
	}
	struct stat st;
	if (stat(buf, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* A mount point for a file: an empty file, its directory created when missing. */
static int make_file(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (run_mkdir_p(dir, 0755) < 0)
			return -1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_NOCTTY | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EISDIR ? 0 : -1; /* the mount will say if a directory won't do */
	close(fd);
	return 0;
}

/* The image's own /proc, /sys and /dev must be real directories: mounting a procfs
 * where an image symlink points is how runc's CVE-2019-19921 began. */
static int image_dir(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT && mkdir(path, 0755) == 0)
			return 0;
		return fail(err, errlen, "mount point", path);
	}
	if (!S_ISDIR(st.st_mode)) {
		run_err(err, errlen, "mount point %s: not a directory in the image", path);
		return -1;
	}
	return 0;
}

void mounts_close(struct mount_plan *p)
{
	for (size_t i = 0; i < sizeof p->dev / sizeof *p->dev; i++)
		if (p->dev[i] >= 0)
			close(p->dev[i]);
	for (size_t i = 0; i < p->nvol; i++)
		if (p->vol[i] >= 0)
			close(p->vol[i]);
	free(p->vol);
	p->vol = NULL;
	p->nvol = 0;
}

int mounts_prepare(const struct run_ctx *ctx, struct mount_plan *p, char *err, size_t errlen)
{
	const struct run_spec *s = ctx->spec;
	for (size_t i = 0; i < sizeof p->dev / sizeof *p->dev; i++)
		p->dev[i] = -1;
	p->nvol = 0;
	p->vol = calloc(s->nvolumes ? s->nvolumes : 1, sizeof *p->vol);
	if (!p->vol) {
		run_err(err, errlen, "out of memory");
		return -1;
	}
	/* Private: nothing mounted from now on propagates to the host (where "/" is
	 * usually shared), and the host's later mounts do not show up inside. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		run_err(err, errlen, "make mounts private: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) {
		char path[32];
		snprintf(path, sizeof path, "/dev/%s", devices[i]);
		if ((p->dev[i] = clone_tree(path, false)) < 0)
			return fail(err, errlen, "bind", path);
	}
	for (; p->nvol < s->nvolumes; p->nvol++) {
		const struct run_volume *v = &s->volumes[p->nvol];
		if ((p->vol[p->nvol] = clone_tree(v->host, v->ro)) < 0)
			return fail(err, errlen, "volume", v->host);
	}
	/* pivot_root wants the new root to be a mount point. */
	if (mount(ctx->rootfs, ctx->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return fail(err, errlen, "bind rootfs", ctx->rootfs);
	if (chdir(ctx->rootfs) < 0)
		return fail(err, errlen, "rootfs", ctx->rootfs);
	return 0;
}

int mounts_pivot(char *err, size_t errlen)
{
	/* pivot_root(".", ".") stacks the old root on top of the new one; detaching it
	 * leaves the container's root alone, with no way back to the host's tree. */
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			return fail(err, errlen, "detach", "the host's root");
	} else if (errno == EINVAL) {
		/* "/" cannot be pivoted away when it is the initramfs: move the rootfs
		 * over it and chroot, as runc's --no-pivot. */
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0) {
			run_err(err, errlen, "chroot into the rootfs: %s", strerror(errno));
			return -1;
		}
	} else {
		run_err(err, errlen, "pivot_root into the rootfs: %s", strerror(errno));
		return -1;
	}
	if (chdir("/") < 0)
		return fail(err, errlen, "chdir", "/");
	return 0;
}

static int mount_dev(struct mount_plan *p, char *err, size_t errlen)
{
	if (image_dir("/dev", err, errlen) < 0)
		return -1;
	if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0)
		return fail(err, errlen, "mount", "/dev");
	for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) {
		char path[32];
		snprintf(path, sizeof path, "/dev/%s", devices[i]);
		if (make_file(path) < 0 || attach(p->dev[i], path) < 0)
			return fail(err, errlen, "bind", path);
		close(p->dev[i]);
		p->dev[i] = -1;
	}
	/* A devpts of its own: the container's ptys are /dev/pts/0... and it cannot see
	 * the host's. gid 5 is "tty" by convention, as Docker. */
	if (mkdir("/dev/pts", 0755) < 0 ||
	    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
		return fail(err, errlen, "mount", "/dev/pts");
	if (mkdir("/dev/shm", 01777) < 0 ||
	    mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=1777,size=65536k") < 0)
		return fail(err, errlen, "mount", "/dev/shm");
	/* POSIX message queues of the container's IPC namespace. */
	if (mkdir("/dev/mqueue", 0755) < 0 ||
	    mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return fail(err, errlen, "mount", "/dev/mqueue");
	static const char *const links[][2] = {
		{"pts/ptmx", "/dev/ptmx"},          {"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"}};
	for (size_t i = 0; i < sizeof links / sizeof *links; i++)
		if (symlink(links[i][0], links[i][1]) < 0)
			return fail(err, errlen, "symlink", links[i][1]);
	return 0;
}

static int mount_proc_sys(char *err, size_t errlen)
{
	if (image_dir("/proc", err, errlen) < 0)
		return -1;
	/* Mounted by the namespace's PID 1, it shows the container's processes only. */
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return fail(err, errlen, "mount", "/proc");
	if (image_dir("/sys", err, errlen) < 0)
		return -1;
	if (mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return fail(err, errlen, "mount", "/sys");
	for (size_t i = 0; i < sizeof readonly / sizeof *readonly; i++) {
		int fd = clone_tree(readonly[i], true);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0 || attach(fd, readonly[i]) < 0) {
			if (fd >= 0)
				close(fd);
			return fail(err, errlen, "make read-only", readonly[i]);
		}
		close(fd);
	}
	for (size_t i = 0; i < sizeof masked / sizeof *masked; i++) {
		struct stat st;
		if (lstat(masked[i], &st) < 0)
			continue;
		int r = S_ISDIR(st.st_mode)
				? mount("tmpfs", masked[i], "tmpfs", MS_RDONLY, "size=0")
				: mount("/dev/null", masked[i], NULL, MS_BIND, NULL);
		if (r < 0)
			return fail(err, errlen, "mask", masked[i]);
	}
	return 0;
}

int mounts_finish(const struct run_ctx *ctx, struct mount_plan *p, char *err, size_t errlen)
{
	const struct run_spec *s = ctx->spec;
	if (mount_dev(p, err, errlen) < 0)
		return -1;
	/* Volumes before /proc and /sys: a volume path that an image symlink sends into
	 * /proc lands in the image's empty directory, under the procfs mounted next. */
	for (size_t i = 0; i < p->nvol; i++) {
		const struct run_volume *v = &s->volumes[i];
		struct stat st;
		if (fstat(p->vol[i], &st) < 0)
			return fail(err, errlen, "volume", v->host);
		int r = S_ISDIR(st.st_mode) ? run_mkdir_p(v->ctr, 0755) : make_file(v->ctr);
		if (r < 0)
			return fail(err, errlen, "volume mount point", v->ctr);
		if (attach(p->vol[i], v->ctr) < 0)
			return fail(err, errlen, "mount volume on", v->ctr);
		close(p->vol[i]);
		p->vol[i] = -1;
	}
	if (mount_proc_sys(err, errlen) < 0)
		return -1;
	/* Docker creates a missing -w directory (owned by root). */
	if (run_mkdir_p(ctx->cwd, 0755) < 0)
		return fail(err, errlen, "working directory", ctx->cwd);
	return 0;
}
