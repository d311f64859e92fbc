/* The mount itself: session setup, capabilities, statfs, and the serve loop. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "internal.h"

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;
	/* reads are copied through a buffer (file.c: reply_pieces), not spliced:
	 * libfuse gives splicing up for good at the first page not in memory.
	 * (With SPLICE_MOVE the kernel took spliced pages into the mount's page
	 * cache, and warm reads of them came out a third slower.) */
	conn->want &= ~(FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* directories need no open state (readdir.c) */
	fs->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
	/* no remote locks: the kernel keeps flock and fcntl locks for this mount,
	 * and as close has nothing to tell us, there is no flush handler (the
	 * kernel stops sending FUSE_FLUSH after its first ENOSYS) */
	conn->want &= ~(FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_POSIX_LOCKS);
	conn->max_readahead = conn->max_readahead > (1u << 20) ? (1u << 20) : conn->max_readahead;
	conn->time_gran = 1;
}

void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct statvfs sv;
	/* the space that matters is where writes go: the upper, else the store */
	int fd = fs->upper_fd >= 0 ? fs->upper_fd : -1;
	int r = fd >= 0 ? fstatvfs(fd, &sv) : statvfs(shale_root(fs->s), &sv);
	if (r < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops shale_fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.fsync = op_fsync,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.statfs = op_statfs,
	/* writable mounts (a read-only mount answers EROFS) */
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.create = op_create,
	.write = op_write,
	.fallocate = op_fallocate,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
	.fsyncdir = op_fsyncdir,
};

/* Open the upper and work directories; the root gets its upper presence. */
static int open_upper(struct fs *fs, const struct shale_fs_config *cfg)
{
	fs->upper_fd = open(cfg->upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs->upper_fd < 0)
		return shale_err(errno, "upper directory %s: %s", cfg->upper, strerror(errno));
	fs->work_fd = open(cfg->work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->work_fd < 0)
		return shale_err(errno, "work directory %s: %s", cfg->work, strerror(errno));
	struct stat a, b;
	if (fstat(fs->upper_fd, &a) < 0 || fstat(fs->work_fd, &b) < 0 || a.st_dev != b.st_dev)
		return shale_err(EXDEV, "the work directory %s must be on the upper's filesystem",
				 cfg->work);
	if (upper_form_init(fs, cfg->upper) < 0)
		return -1;
	/* leftovers of a crash in the middle of a copy-up or a rmdir */
	upper_clear_dir(fs->work_fd);
	int fd = dup(fs->upper_fd);
	fs->root->opaque = upper_opaque(fd);
	__atomic_store_n(&fs->root->ufd, fd, __ATOMIC_RELEASE);
	return 0;
}

int shale_fs_prepare_upper(shale_store *s, const shale_id *image, const char *upper)
{
	shale_view *v = shale_view_open_image(s, image);
	if (!v)
		return -1;
	shale_entry e;
	void *buf = NULL;
	int ret = shale_view_entry(v, SHALE_ROOT_INO, &e, &buf);
	shale_view_close(v);
	if (ret < 0)
		return -1;
	/* without root: the unprivileged form, the image's root mapped to us */
	struct fs map = {.userx = geteuid() != 0, .map_uid = geteuid(), .map_gid = getegid()};
	if (map.userx && upper_owner_write(upper, map.map_uid, map.map_gid) < 0)
		ret = -1;
	else if (lchown(upper, map_uid(&map, e.uid), map_gid(&map, e.gid)) < 0 ||
		 chmod(upper, e.mode & 07777) < 0)
		ret = errno == EPERM && map.userx
			      ? shale_err(EPERM, "%s: the image's root directory belongs to uid %u, "
					  "which only root can give it", upper, (unsigned)e.uid)
			      : shale_err(errno, "%s: %s", upper, strerror(errno));
	uint32_t pos = 0, nl, vl;
	const char *xn;
	const uint8_t *xv;
	while (ret == 0 && shale_xattr_next(e.xattrs, e.xattrs_len, &pos, &xn, &nl, &xv, &vl)) {
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)nl, xn);
		lsetxattr(upper, name, xv, vl, 0);
	}
	struct timespec ts[2] = {e.mtime, e.mtime};
	if (ret == 0 && utimensat(AT_FDCWD, upper, ts, AT_SYMLINK_NOFOLLOW) < 0)
		ret = shale_err(errno, "%s: %s", upper, strerror(errno));
	free(buf);
	return ret;
}

/* The kernel reads a FUSE file ahead by 128 KiB at most (its INIT offer; the
 * reply can only lower it), where the disk under the store reads ahead by
 * megabytes: a cold sequential read then waits on one small request at a time.
 * So the mount reads ahead as far as that disk does, up to two of its largest
 * requests (2 MiB): further, more workers read chunk objects at once, which
 * the disk here served worse (a cold 1 GiB read from a fresh mount: 0.96 s at
 * 128 KiB, 0.76 s at 2 MiB, 0.93 s at 8 MiB). Set where the kernel keeps it
 * (root only; /sys/class/bdi).
 * Done once the kernel has taken the INIT reply (which would reset it), from
 * mountinfo: a stat of the mount point would ask this daemon. `where`: the
 * canonical mount point. */
#define READAHEAD_MAX_KB 2048

static unsigned disk_readahead_kb(dev_t dev)
{
	unsigned kb = 0;
	const char *const rel[] = {"", "/.."}; /* a disk, or the disk of a partition */
	for (int i = 0; i < 2 && !kb; i++) {
		char path[96];
		snprintf(path, sizeof path, "/sys/dev/block/%u:%u%s/queue/read_ahead_kb",
			 major(dev), minor(dev), rel[i]);
		FILE *f = fopen(path, "re");
		if (f && fscanf(f, "%u", &kb) != 1)
			kb = 0;
		if (f)
			fclose(f);
	}
	return kb;
}

static void raise_readahead(bool root, const char *where, const char *store)
{
	struct stat st;
	unsigned kb, maj = 0, min = 0;
	if (!root || stat(store, &st) < 0 || (kb = disk_readahead_kb(st.st_dev)) <= 128)
		return;
	if (kb > READAHEAD_MAX_KB)
		kb = READAHEAD_MAX_KB;
	char path[96];
	if (!shale_fs_mount_find(where, NULL, 0, &maj, &min) || (!maj && !min))
		return;
	snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	FILE *w = fopen(path, "we");
	if (w) {
		fprintf(w, "%u\n", kb);
		fclose(w);
	}
}

void mount_after_init(struct fs *fs)
{
	if (fs->where)
		raise_readahead(fs->as_root, fs->where, shale_root(fs->s));
}

/* Every inode the kernel holds keeps an O_PATH fd on its upper object (as
 * libfuse's passthrough_ll and virtiofsd do): take what the system allows (root
 * may raise the hard limit up to fs.nr_open); reclaim.c keeps within it. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	unsigned long long max = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	if (f) {
		if (fscanf(f, "%llu", &max) != 1)
			max = 0;
		fclose(f);
	}
	if (max > rl.rlim_max) {
		struct rlimit want = {.rlim_cur = (rlim_t)max, .rlim_max = (rlim_t)max};
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void ready(const struct shale_fs_config *cfg, const char *error)
{
	if (cfg->ready)
		cfg->ready(cfg->ready_arg, error);
}

int shale_fs_serve(shale_store *s, const struct shale_fs_config *cfg, const char *mountpoint)
{
	struct fs fs = {.s = s, .cfg = cfg, .ro = !cfg->upper, .upper_fd = -1, .work_fd = -1,
			.control_fd = -1, .as_root = geteuid() == 0};
	int ret = -1;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	/* a daemon lives long: blocks of 128 KiB and more (copy-up chunks, large
	 * readdirs and xattr lists) go back to the system when freed, where glibc's
	 * adaptive threshold would keep up to 2 MiB in each arena a worker used */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	fs.view = shale_view_open_image(s, &cfg->image);
	if (!fs.view) {
		ready(cfg, shale_errmsg());
		return -1;
	}
	node_table_init(&fs);
	pthread_rwlock_init(&fs.tree_lock, NULL);
	fs.root = node_find_or_add(&fs, SHALE_ROOT_INO, SHALE_ROOT_INO, SHALE_DIR, NULL, "", true);
	if (!fs.root) {
		ready(cfg, "out of memory");
		goto out;
	}
	umask(0); /* modes arrive masked by the caller's umask already */
	if (cfg->upper && (open_upper(&fs, cfg) < 0 ||
			   (cfg->control && control_start(&fs, cfg->control) < 0))) {
		ready(cfg, shale_errmsg());
		goto out;
	}

	char opts[1024];
	/* as overlayfs: device nodes and setuid programs of the image work (root
	 * only; libfuse would add nodev,nosuid; -o nodev,nosuid still apply) */
	snprintf(opts, sizeof opts, "fsname=%s,subtype=shale,default_permissions%s%s%s%s%s",
		 cfg->source && !strpbrk(cfg->source, ",\\") ? cfg->source : "shale",
		 geteuid() == 0 ? ",dev,suid" : "",
		 fs.ro ? ",ro" : "", cfg->allow_other ? ",allow_other" : "",
		 cfg->mount_opts && *cfg->mount_opts ? "," : "",
		 cfg->mount_opts ? cfg->mount_opts : "");
	fuse_opt_add_arg(&args, "shale");
	fuse_opt_add_arg(&args, "-o");
	fuse_opt_add_arg(&args, opts);
	if (cfg->debug)
		fuse_opt_add_arg(&args, "-d");
	fs.se = fuse_session_new(&args, &shale_fs_ops, sizeof shale_fs_ops, &fs);
	if (!fs.se) {
		shale_err(EINVAL, "cannot start the FUSE session");
		ready(cfg, shale_errmsg());
		goto out;
	}
	if (fuse_set_signal_handlers(fs.se) != 0) {
		shale_err(EIO, "cannot install signal handlers");
		ready(cfg, shale_errmsg());
		goto out;
	}
	/* before the mount: once mounted, resolving it would ask this daemon */
	fs.where = realpath(mountpoint, NULL);
	if (fuse_session_mount(fs.se, mountpoint) != 0) {
		shale_err(EIO, "cannot mount at %s (see the message above)", mountpoint);
		ready(cfg, shale_errmsg());
		fuse_remove_signal_handlers(fs.se);
		goto out;
	}
	/* setuid bits: cleared here by a root daemon writing a privileged upper;
	 * without root its own writes clear them, and read-only nothing is written */
	devio_setup(&fs, !fs.ro && fs.as_root && !fs.userx);
	raise_nofile();
	if (!fs.ro)
		reclaim_start(&fs);
	ready(cfg, NULL);
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(lc, 1);
	unsigned max_threads = cfg->max_threads ? cfg->max_threads : 16;
	fuse_loop_cfg_set_max_threads(lc, max_threads);
	/* workers stay once made: libfuse ends the whole session when a new
	 * worker cannot get its read buffer (out of memory), and retiring idle
	 * ones only to make them again costs a thread per burst of requests */
	fuse_loop_cfg_set_idle_threads(lc, max_threads);
	ret = fuse_session_loop_mt(fs.se, lc) == 0 ? 0 : -1;
	if (ret < 0)
		shale_err(EIO, "the FUSE session ended with an error");
	fuse_loop_cfg_destroy(lc);
	reclaim_stop(&fs);
	int ferr = fs.ro ? 0 : partial_flush_all(&fs);
	if (ferr)
		fprintf(stderr,
			"shale: cannot write the copy-up markers in the upper %s (%s): data "
			"written since the last fsync into files copied up in part may read "
			"as the image's again\n",
			cfg->upper, strerror(ferr));
	fuse_session_unmount(fs.se);
	fuse_remove_signal_handlers(fs.se);
out:
	if (cfg->control)
		control_stop(&fs, cfg->control);
	if (fs.se)
		fuse_session_destroy(fs.se);
	fuse_opt_free_args(&args);
	node_table_free(&fs);
	if (fs.root) {
		if (fs.root->ufd >= 0)
			close(fs.root->ufd);
		listing_drop(fs.root);
		free(fs.root->name);
		pthread_mutex_destroy(&fs.root->mu);
		free(fs.root);
	}
	if (fs.upper_fd >= 0)
		close(fs.upper_fd);
	if (fs.work_fd >= 0)
		close(fs.work_fd);
	pthread_rwlock_destroy(&fs.tree_lock);
	shale_view_close(fs.view);
	free(fs.where);
	return ret;
}
