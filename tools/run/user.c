/* USER resolution against the container's /etc/passwd and /etc/group. The files are
 * opened with openat2(RESOLVE_IN_ROOT) so that their symlinks resolve inside the rootfs
 * (an image's /etc/passwd -> /etc/shadow-like tricks cannot read the host's), and parsed
 * with fgetpwent_r/fgetgrent_r: getpwnam() would read the host's files. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime.h"

/* Open rootfs/path for reading, resolving it as if rootfs were "/". Only regular files:
 * a FIFO would block, a device could be endless. NULL with errno set. */
static FILE *open_in_root(const char *rootfs, const char *path)
{
	int dir = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return NULL;
	struct open_how how = {.flags = O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int fd, tries = 0;
	do /* EAGAIN: a rename or mount elsewhere raced with resolving ".." */
		fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof how);
	while (fd < 0 && errno == EAGAIN && ++tries < 1000);
	int e = errno;
	close(dir);
	errno = e;
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	FILE *f = fdopen(fd, "r");
	if (!f)
		close(fd);
	return f;
}

/* A uid or gid written as a number (Docker: a number is always an id, never a name). */
static bool parse_id(const char *s, uint32_t *out)
{
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
		return false;
	unsigned long long v = strtoull(s, NULL, 10);
	if (v >= UINT32_MAX) /* (uid_t)-1 means "unchanged" to setuid */
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Iterate over a file's entries with a buffer that grows on ERANGE (the _r functions
 * rewind to the entry then). */
struct reader {
	FILE *f;
	char *buf;
	size_t size;
};

static struct passwd *next_pw(struct reader *r, struct passwd *pw)
{
	struct passwd *res;
	for (;;) {
		int e = fgetpwent_r(r->f, pw, r->buf, r->size, &res);
		if (e != ERANGE)
			return e ? NULL : res;
		char *b = realloc(r->buf, r->size *= 2);
		if (!b)
			return NULL;
		r->buf = b;
	}
}

static struct group *next_gr(struct reader *r, struct group *gr)
{
	struct group *res;
	for (;;) {
		int e = fgetgrent_r(r->f, gr, r->buf, r->size, &res);
		if (e != ERANGE)
			return e ? NULL : res;
		char *b = realloc(r->buf, r->size *= 2);
		if (!b)
			return NULL;
		r->buf = b;
	}
}

/* Open one of the files; a missing file is an empty one. */
static int reader_open(struct reader *r, const char *rootfs, const char *path, char *err,
		       size_t errlen)
{
	*r = (struct reader){0};
	r->f = open_in_root(rootfs, path);
	if (!r->f && errno != ENOENT) {
		run_err(err, errlen, "%s in %s: %s", path, rootfs, strerror(errno));
		return -1;
	}
	r->buf = malloc(r->size = 4096);
	if (!r->buf) {
		if (r->f)
			fclose(r->f);
		run_err(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void reader_close(struct reader *r)
{
	if (r->f)
		fclose(r->f);
	free(r->buf);
}

void runtime_user_free(struct run_user *u)
{
	free(u->groups);
	free(u->name);
	free(u->home);
	*u = (struct run_user){0};
}

int runtime_resolve_user(const char *rootfs, const char *user, struct run_user *u, char *err,
			 size_t errlen)
{
	*u = (struct run_user){0};
	char *spec = strdup(user ? user : "");
	if (!spec) {
		run_err(err, errlen, "out of memory");
		return -1;
	}
	char *uname = spec, *gname = strchr(spec, ':');
	if (gname)
		*gname++ = 0;
	if (gname && !*gname)
		gname = NULL; /* "user:" is just "user" */
	uint32_t uid_arg = 0, gid_arg = 0;
	bool uid_num = parse_id(uname, &uid_arg), gid_num = gname && parse_id(gname, &gid_arg);
	int rc = -1;
	struct reader r = {0};

	/* The user: by uid when numeric (or root when empty), else by name. */
	if (reader_open(&r, rootfs, "/etc/passwd", err, errlen) < 0)
		goto out;
	bool found = false;
	struct passwd pw;
	while (r.f && next_pw(&r, &pw)) {
		if (*uname && !uid_num ? !strcmp(pw.pw_name, uname) : pw.pw_uid == uid_arg) {
			u->uid = pw.pw_uid;
			u->gid = pw.pw_gid;
			u->name = strdup(pw.pw_name);
			u->home = strdup(pw.pw_dir && *pw.pw_dir ? pw.pw_dir : "/");
			found = true;
			break;
		}
	}
	reader_close(&r);
	if (!found) {
		if (*uname && !uid_num) {
			run_err(err, errlen, "unable to find user %s: no matching entries in passwd file",
				uname);
			goto out;
		}
		u->uid = uid_arg; /* a uid needs no entry; its group is then root's */
		u->gid = 0;
		u->home = strdup("/");
	}

	/* The group, or the supplementary groups that list the user by name. */
	if (gname || u->name) {
		if (reader_open(&r, rootfs, "/etc/group", err, errlen) < 0)
			goto out;
		bool gfound = false;
		struct group gr;
		while (r.f && next_gr(&r, &gr)) {
			if (gname) {
				if (gid_num ? gr.gr_gid == gid_arg : !strcmp(gr.gr_name, gname)) {
					u->gid = gr.gr_gid;
					gfound = true;
					break;
				}
				continue;
			}
			for (char **m = gr.gr_mem; m && *m; m++) {
				if (strcmp(*m, u->name))
					continue;
				gid_t *g = realloc(u->groups, (u->ngroups + 1) * sizeof *g);
				if (!g)
					break;
				u->groups = g;
				u->groups[u->ngroups++] = gr.gr_gid;
				break;
			}
		}
		reader_close(&r);
		if (gname && !gfound) {
			if (!gid_num) {
				run_err(err, errlen,
					"unable to find group %s: no matching entries in group file", gname);
				goto out;
			}
			u->gid = gid_arg;
		}
	}
	if (!u->home || (found && !u->name)) {
		run_err(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		runtime_user_free(u);
	free(spec);
	return rc;
}
