/* Clearing setuid and setgid bits on write, truncate and chown, done here
 * rather than by the kernel (FUSE_HANDLE_KILLPRIV_V2, Linux >= 5.11).
 *
 * Why: without it the kernel asks this daemon for security.capability before
 * every write() (file_remove_privs) and for the attributes before every chmod
 * that follows a chown: two of the fifteen requests a small file cost in a
 * tar extraction. With it, the superblock is SB_NOSEC: the kernel asks once
 * per inode, and the upper file system (written by root, who keeps the bits)
 * is told when the writer could not (the kill flags below).
 *
 * libfuse 3.14 predates it, so the session's device I/O is ours (a custom
 * io, plain read/writev/splice): the INIT reply gets the flag when the kernel
 * offers it, and each request's kill flag, which libfuse drops, is noted for
 * the worker thread that reads it (a worker handles what it reads). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

/* From Linux's uapi fuse.h; bookworm's libfuse headers are older. */
enum {
	OP_OPEN = 14,
	OP_WRITE = 16,
	OP_INIT = 26,
	OP_CREATE = 35,
};
#define INIT_HANDLE_KILLPRIV_V2 (1u << 28)
#define WRITE_KILL_SUIDGID (1u << 2)  /* fuse_write_in.write_flags */
#define OPEN_KILL_SUIDGID (1u << 0)   /* fuse_open_in / fuse_create_in.open_flags */
#define CAP_FSETID_BIT 4               /* linux/capability.h */
#define IN_HEADER 40                  /* sizeof(struct fuse_in_header) */
#define OUT_HEADER 16                 /* sizeof(struct fuse_out_header) */
#define INIT_IN_FLAGS (IN_HEADER + 12) /* fuse_init_in.flags */
#define INIT_OUT_FLAGS 12             /* fuse_init_out.flags */
#define OPEN_IN_OPEN_FLAGS (IN_HEADER + 4)
#define CREATE_IN_OPEN_FLAGS (IN_HEADER + 12)
#define WRITE_IN_WRITE_FLAGS (IN_HEADER + 20)

static _Thread_local bool req_kill; /* the request this thread read says so */

static uint32_t get32(const void *buf, size_t off)
{
	uint32_t v;
	memcpy(&v, (const char *)buf + off, 4);
	return v;
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	struct fs *fs = userdata;
	ssize_t r = read(fd, buf, len);
	req_kill = false;
	if (r < IN_HEADER)
		return r;
	size_t n = (size_t)r;
	switch (get32(buf, 4)) {
	case OP_WRITE:
		req_kill = n >= WRITE_IN_WRITE_FLAGS + 4 &&
			   (get32(buf, WRITE_IN_WRITE_FLAGS) & WRITE_KILL_SUIDGID);
		break;
	case OP_OPEN:
		req_kill = n >= OPEN_IN_OPEN_FLAGS + 4 &&
			   (get32(buf, OPEN_IN_OPEN_FLAGS) & OPEN_KILL_SUIDGID);
		break;
	case OP_CREATE:
		req_kill = n >= CREATE_IN_OPEN_FLAGS + 4 &&
			   (get32(buf, CREATE_IN_OPEN_FLAGS) & OPEN_KILL_SUIDGID);
		break;
	case OP_INIT:
		if (n >= INIT_IN_FLAGS + 4 &&
		    (get32(buf, INIT_IN_FLAGS) & INIT_HANDLE_KILLPRIV_V2)) {
			memcpy(&fs->init_unique, (char *)buf + 8, 8);
			__atomic_store_n(&fs->killpriv, KILLPRIV_OFFERED, __ATOMIC_RELEASE);
		}
		break;
	}
	return r;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fs *fs = userdata;
	if (__atomic_load_n(&fs->killpriv, __ATOMIC_ACQUIRE) == KILLPRIV_OFFERED && count >= 2 &&
	    iov[0].iov_len == OUT_HEADER && iov[1].iov_len >= INIT_OUT_FLAGS + 4) {
		uint64_t unique;
		int32_t error;
		memcpy(&error, (char *)iov[0].iov_base + 4, 4);
		memcpy(&unique, (char *)iov[0].iov_base + 8, 8);
		if (unique == fs->init_unique) {
			uint32_t flags = get32(iov[1].iov_base, INIT_OUT_FLAGS) | INIT_HANDLE_KILLPRIV_V2;
			if (error == 0)
				memcpy((char *)iov[1].iov_base + INIT_OUT_FLAGS, &flags, 4);
			__atomic_store_n(&fs->killpriv, error == 0 ? KILLPRIV_ON : KILLPRIV_OFF,
					 __ATOMIC_RELEASE);
		}
	}
	return writev(fd, iov, count);
}

static ssize_t io_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			      unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

int killpriv_setup(struct fs *fs)
{
	/* no splice_receive: requests must pass through io_read (libfuse then
	 * reads them into memory, as it does for us anyway) */
	static const struct fuse_custom_io io = {
		.read = io_read,
		.writev = io_writev,
		.splice_send = io_splice_send,
	};
	fs->killpriv = KILLPRIV_OFF;
	/* without root, the daemon's own writes clear the bits (it lacks
	 * CAP_FSETID) and owners are mapped: the kernel keeps the job */
	if (geteuid() != 0 || fs->userx)
		return 0;
	int r = fuse_session_custom_io(fs->se, &io, fuse_session_fd(fs->se));
	if (r == 0)
		fs->killpriv = KILLPRIV_WAIT;
	return r;
}

bool req_kill_suidgid(void)
{
	return req_kill;
}

/* Has the caller CAP_FSETID (its effective set in /proc; without the file,
 * as the kernel's default: root has it)? */
static bool caller_has_fsetid(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)c->pid);
	FILE *f = fopen(path, "re");
	bool has = c->uid == 0;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long long eff;
		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			has = eff & (1ull << CAP_FSETID_BIT);
			break;
		}
	}
	if (f)
		fclose(f);
	return has;
}

int kill_suidgid_unasked(struct fs *fs, fuse_req_t req, int fd)
{
	struct stat st;
	if (__atomic_load_n(&fs->killpriv, __ATOMIC_ACQUIRE) != KILLPRIV_ON)
		return 0; /* the kernel does it */
	if (fstat(fd, &st) < 0)
		return errno;
	if (!S_ISREG(st.st_mode) || !(st.st_mode & (S_ISUID | S_ISGID)) || caller_has_fsetid(req))
		return 0;
	return kill_suidgid(req, fd);
}

/* Is the caller in group g (its fsgid or a supplementary group)? */
static bool caller_in_group(fuse_req_t req, gid_t g)
{
	if (fuse_req_ctx(req)->gid == g)
		return true;
	gid_t small[64], *v = small;
	int n = fuse_req_getgroups(req, 64, small);
	if (n > 64 && (v = malloc((size_t)n * sizeof *v)) != NULL)
		n = fuse_req_getgroups(req, n, v);
	bool in = false;
	for (int i = 0; i < n && !in && v; i++)
		in = v[i] == g;
	if (v != small)
		free(v);
	return in;
}

int kill_suidgid(fuse_req_t req, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return errno;
	mode_t m = st.st_mode & 07777;
	if (!S_ISREG(st.st_mode) || !(m & (S_ISUID | S_ISGID)))
		return 0;
	/* as the kernel (setattr_should_drop_suidgid): setuid always; setgid
	 * when group-executable, or when the caller is not in the file's group */
	mode_t kill = S_ISUID;
	if ((m & S_ISGID) && ((m & S_IXGRP) || !caller_in_group(req, st.st_gid)))
		kill |= S_ISGID;
	if (!(m & kill))
		return 0;
	char p[32];
	proc_path(fd, p);
	return chmod(p, m & ~kill) < 0 ? errno : 0;
}
