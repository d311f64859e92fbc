/* The mount itself: session setup, capabilities, statfs, and the serve loop. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "internal.h"

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;
	/* reads: splice from object files; readahead as large as a request */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* no remote locks: the kernel keeps flock and fcntl locks for this mount */
	conn->want &= ~(FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_POSIX_LOCKS);
	conn->max_readahead = conn->max_readahead > (1u << 20) ? (1u << 20) : conn->max_readahead;
	conn->time_gran = 1;
	(void)fs;
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
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.flush = op_flush,
	.fsync = op_fsync,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.statfs = op_statfs,
};

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
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
	struct fs fs = {.s = s, .cfg = cfg, .ro = !cfg->upper, .upper_fd = -1, .work_fd = -1};
	int ret = -1;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	fs.view = shale_view_open_image(s, &cfg->image);
	if (!fs.view) {
		ready(cfg, shale_errmsg());
		return -1;
	}
	node_table_init(&fs);
	fs.root = node_find_or_add(&fs, SHALE_ROOT_INO, SHALE_ROOT_INO, SHALE_DIR, NULL, "", true);

	char opts[1024];
	snprintf(opts, sizeof opts, "fsname=%s,subtype=shale,default_permissions%s%s%s%s",
		 cfg->source && !strpbrk(cfg->source, ",\\") ? cfg->source : "shale",
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
	if (fuse_session_mount(fs.se, mountpoint) != 0) {
		shale_err(EIO, "cannot mount at %s (see the message above)", mountpoint);
		ready(cfg, shale_errmsg());
		fuse_remove_signal_handlers(fs.se);
		goto out;
	}
	raise_nofile();
	ready(cfg, NULL);
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(lc, 1);
	fuse_loop_cfg_set_max_threads(lc, cfg->max_threads ? cfg->max_threads : 16);
	fuse_loop_cfg_set_idle_threads(lc, 4);
	ret = fuse_session_loop_mt(fs.se, lc) == 0 ? 0 : -1;
	if (ret < 0)
		shale_err(EIO, "the FUSE session ended with an error");
	fuse_loop_cfg_destroy(lc);
	fuse_session_unmount(fs.se);
	fuse_remove_signal_handlers(fs.se);
out:
	if (fs.se)
		fuse_session_destroy(fs.se);
	fuse_opt_free_args(&args);
	node_table_free(&fs);
	free(fs.root->name);
	pthread_mutex_destroy(&fs.root->mu);
	free(fs.root);
	shale_view_close(fs.view);
	return ret;
}
