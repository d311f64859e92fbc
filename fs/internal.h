/* Private to the FUSE driver: the mount's state, nodes, open files.
 *
 * Files follow the kernel's fs/overlayfs split: super.c (mount, init, statfs),
 * inode.c (node table, attributes), namei.c (lookup), readdir.c, file.c (open,
 * read, write), xattr.c, and for writable mounts dir.c (create, remove, rename,
 * link) and copy_up.c. */
#ifndef SHALE_FS_INTERNAL_H
#define SHALE_FS_INTERNAL_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs.h"

/* Layers never change and every write goes through this daemon, so the kernel
 * may cache names and attributes for as long as it likes. */
#define CACHE_TIMEOUT 86400.0

/* One inode of the merged view. The FUSE node id is the node's address. */
struct node {
	uint64_t ino;          /* st_ino: the view's inode, or an upper-only number */
	uint64_t lower;        /* inode in the lower view, 0 if none */
	uint8_t type;          /* SHALE_REG, SHALE_DIR, ... of what is visible */
	int ufd;               /* O_PATH fd of the upper object, -1 if not in the upper */
	bool opaque;           /* the upper directory hides the lower one */
	uint64_t nlookup;      /* the kernel's references (FUSE lookup count) */
	uint64_t refs;         /* children and open files holding the node */
	struct node *parent;   /* one parent (directories have exactly one) */
	char *name;            /* the name in that parent */
	struct node *hnext;    /* hash chain of the node table */
	pthread_mutex_t mu;    /* serialises changes of the upper state (copy-up) */
};

struct fs {
	shale_store *s;
	shale_view *view;
	struct fuse_session *se;
	const struct shale_fs_config *cfg;
	bool ro;
	int upper_fd, work_fd; /* -1 when read-only */
	struct node *root;
	/* node table: ino -> node; one short lock, never held across I/O */
	pthread_mutex_t table_mu;
	struct node **table;
	size_t table_cap, table_n;
	uint64_t store_dev;    /* for statfs */
};

/* ---- inode.c ---- */
struct node *node_get(struct fs *fs, fuse_ino_t nodeid);
/* Find the node of `ino` or make one; takes one kernel reference when
 * `lookup` is set (replying an entry), else one internal reference. */
struct node *node_find_or_add(struct fs *fs, uint64_t ino, uint64_t lower, uint8_t type,
			      struct node *parent, const char *name, bool lookup);
void node_unref(struct fs *fs, struct node *n);
void node_forget(struct fs *fs, struct node *n, uint64_t nlookup);
void node_table_init(struct fs *fs);
void node_table_free(struct fs *fs);
/* Attributes of a node (upper or lower). Returns 0 or an errno. */
int node_stat(struct fs *fs, struct node *n, struct stat *st);
void vattr_to_stat(const shale_vattr *a, uint64_t ino, struct stat *st);
fuse_ino_t node_id(struct fs *fs, struct node *n);

/* ---- namei.c ---- */
/* Look a name up in a directory node; fills e (with a kernel reference taken).
 * Returns 0 or an errno (ENOENT when absent or whited out). */
int do_lookup(struct fs *fs, struct node *dir, const char *name, struct fuse_entry_param *e);

/* ---- the operations ---- */
extern const struct fuse_lowlevel_ops shale_fs_ops;
void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_readlink(fuse_req_t req, fuse_ino_t ino);
void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void op_statfs(fuse_req_t req, fuse_ino_t ino);

/* Names of internal xattrs that are never shown (overlay markers, shale state). */
int xattr_is_internal(const char *name);

#endif
