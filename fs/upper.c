/* The upper directory's conventions, shared with kernel overlayfs so that
 * `shale seal` reads uppers of either. An upper has one of two forms, chosen
 * when it is first used (docs/architecture.md, "The upper directory"):
 *   privileged     whiteout = a character device 0/0; markers trusted.*
 *   unprivileged   (a daemon without root: no mknod, no trusted.*) whiteout =
 *                  a zero-size file with user.overlay.whiteout in a directory
 *                  with user.overlay.opaque = "x" (Linux 6.7 xattr whiteouts);
 *                  markers user.* (overlayfs -o userxattr); the root carries
 *                  user.shale.owner = "UID:GID", the user the image's root is
 *                  mapped to (as rootless containers do).
 * Markers:
 *   opaque dir     overlay.opaque = "y"
 *   renamed dir    overlay.redirect = "/lower/path" (absolute)
 * and shale's own, on files it copied up:
 *   origin         shale.origin = u64 inode in the lower view (st_ino
 *                  stays the same after copy-up and across remounts)
 *   partial data   shale.copyup = which chunks are already in the upper
 *                  file; the others are read from the lower content. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "internal.h"

#define COPYUP_VERSION 1
#define COPYUP_HEADER 40 /* u8 version, u8 flags, u16 0, u32 nchunks, u64 size, u64 limit, 16 id */

void proc_path(int fd, char out[32])
{
	snprintf(out, 32, "/proc/self/fd/%d", fd);
}

void at_path(int dirfd, const char *name, char out[PROC_AT_MAX])
{
	snprintf(out, PROC_AT_MAX, "/proc/self/fd/%d/%s", dirfd, name);
}

ssize_t marker_get(const char *path, bool follow, const char *suffix, void *buf, size_t len)
{
	static const char *const ns[] = {"trusted.", "user."};
	ssize_t n = -1;
	for (int i = 0; i < 2; i++) {
		char name[64];
		snprintf(name, sizeof name, "%s%s", ns[i], suffix);
		n = follow ? getxattr(path, name, buf, len) : lgetxattr(path, name, buf, len);
		if (n >= 0 || (errno != ENODATA && errno != ENOTSUP && errno != EPERM))
			return n;
	}
	return n;
}

bool upper_is_whiteout(int dirfd, const char *name, const struct stat *st)
{
	if (S_ISCHR(st->st_mode))
		return st->st_rdev == makedev(0, 0);
	if (!S_ISREG(st->st_mode) || st->st_size != 0)
		return false;
	char p[PROC_AT_MAX];
	at_path(dirfd, name, p);
	return marker_get(p, false, X_WHITEOUT, NULL, 0) >= 0;
}

bool upper_has_xwhiteouts(int fd)
{
	char p[32], v[4];
	proc_path(fd, p);
	ssize_t n = marker_get(p, true, X_OPAQUE, v, sizeof v);
	if (n == 1)
		return v[0] == 'x';
	return marker_get(p, true, X_WHITEOUTS, NULL, 0) >= 0;
}

void work_name(struct fs *fs, char out[64])
{
	uint64_t n = __atomic_add_fetch(&fs->tmp_seq, 1, __ATOMIC_RELAXED);
	snprintf(out, 64, "#%d.%llu", (int)getpid(), (unsigned long long)n);
}

int marker_set(struct fs *fs, const char *path, bool follow, const char *name, const void *v,
	       size_t len)
{
	int (*set)(const char *, const char *, const void *, size_t, int) =
		follow ? setxattr : lsetxattr;
	if (set(path, name, v, len, 0) == 0)
		return 0;
	int e = errno;
	struct stat st;
	if (!fs->userx || e != EACCES || (follow ? stat(path, &st) : lstat(path, &st)) < 0 ||
	    st.st_uid != geteuid() || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
		return e;
	/* ours but read-only (a 0555 directory): writable for the moment */
	mode_t m = st.st_mode & 07777;
	if (chmod(path, m | S_IRUSR | S_IWUSR | (S_ISDIR(st.st_mode) ? S_IXUSR : 0)) < 0)
		return e;
	e = set(path, name, v, len, 0) < 0 ? errno : 0;
	chmod(path, m);
	return e;
}

int mark_xwhiteouts(struct fs *fs, int dirfd)
{
	char p[32], v[4];
	if (!fs->userx)
		return 0;
	proc_path(dirfd, p);
	ssize_t n = getxattr(p, XNAME(fs, X_OPAQUE), v, sizeof v);
	if (n == 1 && (v[0] == 'x' || v[0] == 'y'))
		return 0;
	return marker_set(fs, p, true, XNAME(fs, X_OPAQUE), "x", 1);
}

int whiteout_at(struct fs *fs, int dirfd, const char *name, int final)
{
	if (!fs->userx)
		return mknodat(dirfd, name, S_IFCHR | 0, makedev(0, 0)) < 0 ? errno : 0;
	int err = mark_xwhiteouts(fs, final);
	if (err)
		return err;
	/* readable and writable by us: user.* xattrs need that, even the owner */
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	if (fsetxattr(fd, XNAME(fs, X_WHITEOUT), "y", 1, 0) < 0) {
		err = errno;
		close(fd);
		unlinkat(dirfd, name, 0);
		return err;
	}
	close(fd);
	return 0;
}

int make_whiteout(struct fs *fs, int dirfd, const char *name)
{
	SHALE_CRASH_POINT("whiteout");
	/* a device is made in place; a file whiteout is made aside with its
	 * xattr, then renamed in: never a bare empty file under the name */
	if (!fs->userx) {
		int err = whiteout_at(fs, dirfd, name, dirfd);
		if (err != EEXIST)
			return err;
	}
	/* replace what is there atomically: a whiteout made aside, renamed over */
	char tmp[64];
	work_name(fs, tmp);
	int err = whiteout_at(fs, fs->work_fd, tmp, dirfd);
	if (err)
		return err;
	if (renameat(fs->work_fd, tmp, dirfd, name) < 0) {
		int e = errno;
		unlinkat(fs->work_fd, tmp, 0);
		return e;
	}
	return 0;
}

bool upper_owner_read(const char *path, uid_t *uid, gid_t *gid)
{
	char v[64];
	ssize_t n = getxattr(path, XATTR_OWNER, v, sizeof v - 1);
	if (n <= 0)
		return false;
	v[n] = 0;
	unsigned long u, g;
	if (sscanf(v, "%lu:%lu", &u, &g) != 2)
		return false;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return true;
}

int upper_owner_write(const char *path, uid_t uid, gid_t gid)
{
	char v[64];
	int n = snprintf(v, sizeof v, "%lu:%lu", (unsigned long)uid, (unsigned long)gid);
	if (setxattr(path, XATTR_OWNER, v, (size_t)n, 0) == 0)
		return 0;
	int e = errno;
	if (e == ENOTSUP || e == EOPNOTSUPP)
		return shale_err(e, "upper directory %s: its filesystem has no user extended "
				 "attributes, which a mount without root needs (whiteouts, opaque "
				 "directories, partial copy-up): use one on ext4, xfs, btrfs, or "
				 "tmpfs from Linux 6.6", path);
	return shale_err(e, "upper directory %s: %s", path, strerror(e));
}

int upper_form_init(struct fs *fs, const char *upper)
{
	char p[32];
	proc_path(fs->upper_fd, p);
	fs->userx = upper_owner_read(p, &fs->map_uid, &fs->map_gid);
	if (fs->userx || geteuid() == 0)
		return 0;
	/* no root: this upper takes the unprivileged form from now on */
	if (upper_owner_write(upper, geteuid(), getegid()) < 0)
		return -1;
	fs->userx = true;
	fs->map_uid = geteuid();
	fs->map_gid = getegid();
	return 0;
}

/* markers of a non-symlink through its fd: the magic link is followed to it */
static ssize_t xattr_read(int fd, const char *name, void *buf, size_t len)
{
	char p[32];
	proc_path(fd, p);
	return marker_get(p, true, name, buf, len);
}

bool upper_opaque(int fd)
{
	char v[4];
	ssize_t n = xattr_read(fd, X_OPAQUE, v, sizeof v);
	return n == 1 && v[0] == 'y';
}

bool upper_redirect(int fd, char out[PATH_MAX + 1])
{
	ssize_t n = xattr_read(fd, X_REDIRECT, out, PATH_MAX);
	if (n <= 0)
		return false;
	out[n] = 0;
	return true;
}

int store_error(void)
{
	return shale_errcode() ? shale_errcode() : EIO;
}

uint64_t upper_origin(int dirfd, const char *name)
{
	uint8_t v[8];
	char p[PROC_AT_MAX];
	at_path(dirfd, name, p); /* symlinks too: l* does not follow the last name */
	if (marker_get(p, false, X_ORIGIN, v, sizeof v) != 8)
		return 0;
	uint64_t o = 0;
	for (int i = 7; i >= 0; i--)
		o = o << 8 | v[i];
	return o;
}

void partial_free(struct partial *p)
{
	if (!p)
		return;
	free(p->bits);
	free(p->ch.digests);
	free(p);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int bytes_put(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *np = realloc(b->p, cap);
		if (!np)
			return ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int partial_load(shale_store *s, int fd, struct partial **out)
{
	uint8_t buf[65536];
	*out = NULL;
	ssize_t n = xattr_read(fd, X_COPYUP, buf, sizeof buf);
	if (n < 0)
		return errno == ENODATA ? 0 : errno;
	if (n < COPYUP_HEADER || buf[0] != COPYUP_VERSION)
		return EIO;
	struct partial *p = calloc(1, sizeof *p);
	if (!p)
		return ENOMEM;
	p->chunked = buf[1] & 1;
	p->nchunks = (uint32_t)(buf[4] | buf[5] << 8 | buf[6] << 16 | (uint32_t)buf[7] << 24);
	p->lower_size = get64(buf + 8);
	p->limit = get64(buf + 16);
	memcpy(p->content.b, buf + 24, SHALE_ID_LEN);
	size_t bl = (p->nchunks + 7) / 8;
	if ((size_t)n < COPYUP_HEADER + bl || p->limit > p->lower_size) {
		free(p);
		return EIO;
	}
	if (!(p->bits = calloc(bl ? bl : 1, 1))) {
		free(p);
		return ENOMEM;
	}
	memcpy(p->bits, buf + COPYUP_HEADER, bl);
	/* the lower chunk digests, as the layer stored them */
	shale_entry e = {.type = SHALE_REG, .size = p->lower_size, .content = p->content,
			 .flags = p->chunked ? SHALE_F_CHUNKED : 0};
	if (shale_content_chunks(s, &e, &p->ch) < 0) {
		partial_free(p);
		return store_error(); /* EIO: the lower content is gone */
	}
	*out = p;
	return 0;
}

int partial_store(struct fs *fs, int fd, const struct partial *p)
{
	size_t bl = (p->nchunks + 7) / 8;
	uint8_t *buf = calloc(1, 40 + bl);
	if (!buf)
		return ENOMEM;
	buf[0] = COPYUP_VERSION;
	buf[1] = p->chunked ? 1 : 0;
	for (int i = 0; i < 4; i++)
		buf[4 + i] = (uint8_t)(p->nchunks >> (8 * i));
	put64(buf + 8, p->lower_size);
	put64(buf + 16, p->limit);
	memcpy(buf + 24, p->content.b, SHALE_ID_LEN);
	memcpy(buf + 40, p->bits, bl);
	char path[32];
	proc_path(fd, path);
	int r = marker_set(fs, path, true, XNAME(fs, X_COPYUP), buf, 40 + bl);
	free(buf);
	return r;
}

int upper_clear_dir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return errno;
	}
	struct dirent *de;
	int err = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd, de->d_name, 0) < 0 && errno == EISDIR) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				err = err ? err : upper_clear_dir(sub);
				close(sub);
			}
			if (unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0 && !err)
				err = errno;
		}
	}
	closedir(d);
	return err;
}
