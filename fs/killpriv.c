/* Clearing setuid and setgid bits on write, truncate and chown, done here
 * rather than by the kernel (FUSE_HANDLE_KILLPRIV_V2, Linux >= 5.11; devio.c
 * asks for it and notes each request's kill flag).
 *
 * Why: without it the kernel asks this daemon for security.capability before
 * every write() (file_remove_privs) and for the attributes before every chmod
 * that follows a chown: two of the fifteen requests a small file cost in a
 * tar extraction. With it, the superblock is SB_NOSEC: the kernel asks once
 * per inode, and the upper file system (written by root, who keeps the bits)
 * is told when the writer could not. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define CAP_FSETID_BIT 4 /* linux/capability.h */

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

/* Clear what the kernel would of st (fd's): 0 or errno. */
static int kill_bits(fuse_req_t req, int fd, const struct stat *st)
{
	mode_t m = st->st_mode & 07777;
	if (!S_ISREG(st->st_mode) || !(m & (S_ISUID | S_ISGID)))
		return 0;
	/* as the kernel (setattr_should_drop_suidgid): setuid always; setgid
	 * when group-executable, or when the caller is not in the file's group */
	mode_t kill = S_ISUID;
	if ((m & S_ISGID) && ((m & S_IXGRP) || !caller_in_group(req, st->st_gid)))
		kill |= S_ISGID;
	if (!(m & kill))
		return 0;
	char p[32];
	proc_path(fd, p);
	return chmod(p, m & ~kill) < 0 ? errno : 0;
}

int kill_suidgid(fuse_req_t req, int fd)
{
	struct stat st;
	return fstat(fd, &st) < 0 ? errno : kill_bits(req, fd, &st);
}

int kill_suidgid_unasked(struct fs *fs, fuse_req_t req, int fd)
{
	struct stat st;
	if (__atomic_load_n(&fs->killpriv, __ATOMIC_ACQUIRE) != KILLPRIV_ON)
		return 0; /* the kernel does it */
	if (fstat(fd, &st) < 0)
		return errno;
	/* the capabilities (a read of /proc) only for a file with the bits */
	if (!(st.st_mode & (S_ISUID | S_ISGID)) || caller_has_fsetid(req))
		return 0;
	return kill_bits(req, fd, &st);
}
