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
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs.h"

/* Layers never change and every write goes through this daemon, so the kernel
 * may cache names and attributes for as long as it likes. */
#define CACHE_TIMEOUT 86400.0

/* Copy-up state of an upper file whose data is partly still in the lower
 * layers (docs/architecture.md, "partial files"). */
struct partial {
	uint64_t lower_size; /* bytes of the lower content */
	uint64_t limit;      /* lower data is valid below this offset */
	shale_id content;    /* the lower content: an object or a chunk list */
	bool chunked;
	uint32_t nchunks;    /* chunks below limit: bits in `bits` */
	uint8_t *bits;       /* 1 = the chunk is in the upper file */
	shale_chunks ch;     /* the lower chunk digests */
};

/* st_ino of files that exist only in the upper: its inode number, above the
 * view's numbers. */
#define UPPER_INO(x) ((1ull << 32) | (uint64_t)(x))

/* One inode of the merged view. The FUSE node id is the node's address. */
struct node {
	uint64_t ino;          /* st_ino: the view's inode, or an upper-only number */
	uint64_t lower;        /* inode in the lower view, 0 if none */
	uint8_t type;          /* SHALE_REG, SHALE_DIR, ... of what is visible */
	int ufd;               /* O_PATH fd of the upper object, -1 if not in the upper */
	bool opaque;           /* the upper directory hides the lower one */
	struct partial *part;  /* upper file with data still below (NULL: all in the upper) */
	bool part_dirty;       /* part has chunks the marker does not list yet (copy_up.c) */
	uint64_t nlookup;      /* the kernel's references (FUSE lookup count) */
	uint64_t refs;         /* children and open files holding the node */
	struct node *parent;   /* one parent (directories have exactly one) */
	char *name;            /* the name in that parent */
	struct node *hnext;    /* hash chain of the node table */
	pthread_mutex_t mu;    /* serialises changes of the upper state (copy-up) */
	struct listing *listing; /* readdir.c: the listing being read (under mu) */
};

struct fs {
	shale_store *s;
	shale_view *view;
	struct fuse_session *se;
	const struct shale_fs_config *cfg;
	bool ro;
	bool as_root;          /* the daemon runs as root */
	bool no_opendir;       /* the kernel opens directories itself (super.c) */
	int upper_fd, work_fd; /* -1 when read-only */
	/* Renames take it exclusively (they change node parents and names); other
	 * changes of the tree take it shared. Lookups and I/O never take it. */
	pthread_rwlock_t tree_lock;
	uint64_t tmp_seq;      /* names of temp files in the work directory */
	/* control.c: a committer's freeze (modifications take it shared) */
	int control_fd, control_stop[2];
	pthread_t control_tid;
	pthread_rwlock_t freeze_lock;
	struct node *root;
	/* node table: ino -> node; one short lock, never held across I/O */
	pthread_mutex_t table_mu;
	struct node **table;
	size_t table_cap, table_n;
	/* reclaim.c: keeps the nodes' fds under reclaim_high (table_mu guards) */
	pthread_t reclaim_tid;
	pthread_cond_t reclaim_cv;
	size_t reclaim_high, reclaim_low, reclaim_trigger, reclaim_cursor;
	bool reclaim_on, reclaim_quit;
	uint64_t store_dev;    /* for statfs */
	/* The upper's form (upper.c): user.* markers and xattr whiteouts, for a
	 * daemon without privileges; then the image's root (uid 0, gid 0) is
	 * shown as, and copied up to, map_uid:map_gid, the upper's owner. */
	bool userx;
	uid_t map_uid;
	gid_t map_gid;
	/* devio.c */
	int killpriv;          /* does this daemon clear setuid bits? (enum killpriv) */
	uint64_t init_unique;  /* the INIT request */
	bool init_pending;     /* its reply not written yet */
	char *where;           /* the canonical mount point (super.c) */
};

/* ---- devio.c: the session's device I/O ---- */
enum killpriv { KILLPRIV_OFF, KILLPRIV_WANT, KILLPRIV_OFFERED, KILLPRIV_ON };
/* After fuse_session_mount: take the session's device I/O; ask for
 * HANDLE_KILLPRIV_V2 if `killpriv`. Returns 0 or -errno (then libfuse's own
 * I/O: the kernel clears setuid bits, no mount_after_init). */
int devio_setup(struct fs *fs, bool killpriv);
/* Does the request this thread handles ask to clear setuid bits (a write,
 * truncate or O_TRUNC open by a caller without CAP_FSETID)? */
bool req_kill_suidgid(void);
/* super.c: settings made once the kernel has processed the INIT reply. */
void mount_after_init(struct fs *fs);

/* ---- killpriv.c: setuid and setgid bits cleared here, not by the kernel ---- */
/* Clear setuid, and setgid where group-executable or not the caller's group,
 * of a regular upper file (an O_PATH fd). Returns 0 or errno. */
int kill_suidgid(fuse_req_t req, int fd);
/* The same where the kernel sends no flag (fallocate): when this daemon clears
 * the bits and the caller lacks CAP_FSETID. */
int kill_suidgid_unasked(struct fs *fs, fuse_req_t req, int fd);

/* ---- inode.c ---- */
struct node *node_get(struct fs *fs, fuse_ino_t nodeid);
/* Find the node of `ino` or make one; takes one kernel reference when
 * `lookup` is set (replying an entry), else one internal reference. NULL when
 * out of memory (reply ENOMEM). */
struct node *node_find_or_add(struct fs *fs, uint64_t ino, uint64_t lower, uint8_t type,
			      struct node *parent, const char *name, bool lookup);
/* The same with a node made beforehand (node_new), used if none is found and
 * freed otherwise: cannot fail once the table exists. For a name made in the
 * upper, where out of memory must come before the change. */
struct node *node_new(const char *name);
void node_discard(struct node *n);
struct node *node_find_or_insert(struct fs *fs, struct node *spare, uint64_t ino,
				 uint64_t lower, uint8_t type, struct node *parent,
				 const char *name, bool lookup);
void node_ref(struct fs *fs, struct node *n);
void node_unref(struct fs *fs, struct node *n);
void node_forget(struct fs *fs, struct node *n, uint64_t nlookup);
void node_table_init(struct fs *fs);
void node_table_free(struct fs *fs);
/* Attributes of a node (upper or lower). Returns 0 or an errno. */
int node_stat(struct fs *fs, struct node *n, struct stat *st);
void vattr_to_stat(const struct fs *fs, const shale_vattr *a, uint64_t ino, struct stat *st);
fuse_ino_t node_id(struct fs *fs, struct node *n);

/* ---- reclaim.c: bounding the fds that nodes hold ---- */
void reclaim_start(struct fs *fs);
void reclaim_stop(struct fs *fs);

/* ---- upper.c: the upper directory's conventions ---- */
/* Marker names without their namespace: a privileged upper uses trusted.*, an
 * unprivileged one user.* (as overlayfs -o userxattr). Readers accept both. */
#define X_OPAQUE "overlay.opaque"     /* "y": opaque; "x": holds xattr whiteouts */
#define X_REDIRECT "overlay.redirect"
#define X_WHITEOUT "overlay.whiteout" /* on a zero-size file: a whiteout */
#define X_WHITEOUTS "overlay.whiteouts" /* Linux 6.7-rc form of opaque "x" */
#define X_ORIGIN "shale.origin"
#define X_COPYUP "shale.copyup"
#define XATTR_OWNER "user.shale.owner" /* on an unprivileged upper's root: "UID:GID" */
/* The full name of a marker in a mount's namespace (suffix: a literal). */
#define XNAME(fs, suffix) ((fs)->userx ? "user." suffix : "trusted." suffix)
/* A marker of either namespace (trusted first); follow: through a proc fd path. */
ssize_t marker_get(const char *path, bool follow, const char *suffix, void *buf, size_t len);
/* /proc/self/fd/N for an O_PATH fd: chmod, times, reopening, and the xattrs
 * of anything but a symlink (following calls go through the magic link). */
void proc_path(int fd, char out[32]);
/* /proc/self/fd/DIRFD/NAME: with l* calls, the object itself, symlinks too. */
#define PROC_AT_MAX (32 + NAME_MAX + 1)
void at_path(int dirfd, const char *name, char out[PROC_AT_MAX]);
/* Is dirfd/name (stat in st) a whiteout: a 0/0 character device, or a
 * zero-size regular file with an overlay.whiteout xattr? */
bool upper_is_whiteout(int dirfd, const char *name, const struct stat *st);
/* May the directory hold xattr whiteouts (opaque "x", or whiteouts)? Listings
 * check regular files only there (as overlayfs). An opaque directory never
 * needs whiteouts: nothing below shows anyway. */
bool upper_has_xwhiteouts(int fd);
/* Set a marker (a full name); without root, on an object of ours that is
 * read-only (user xattrs need write permission), too. Returns 0 or errno. */
int marker_set(struct fs *fs, const char *path, bool follow, const char *name, const void *v,
	       size_t len);
/* A directory about to hold an xattr whiteout says so (opaque "x"), unless it
 * is opaque already; no-op when privileged. */
int mark_xwhiteouts(struct fs *fs, int dirfd);
/* Make a whiteout at dirfd/name (replacing what is there). Returns 0 or errno. */
int make_whiteout(struct fs *fs, int dirfd, const char *name);
/* A whiteout made at dirfd/name (nothing there yet) in the mount's form, the
 * directory it will end up in being `final` (marked for xattr whiteouts). */
int whiteout_at(struct fs *fs, int dirfd, const char *name, int final);
/* A fresh name for a temp file in the work directory. */
void work_name(struct fs *fs, char out[64]);
bool upper_opaque(int fd);
/* The lower path an upper directory was renamed from, if any (into out). */
bool upper_redirect(int fd, char out[PATH_MAX + 1]);
/* The errno of a store call that failed (ENOMEM, ENOENT...; EIO if it set none). */
int store_error(void);
/* The owner map of an unprivileged upper (its root's user.shale.owner). */
bool upper_owner_read(const char *path, uid_t *uid, gid_t *gid);
int upper_owner_write(const char *path, uid_t uid, gid_t gid);
/* Decide the form of the upper open at fs->upper_fd (see struct fs). */
int upper_form_init(struct fs *fs, const char *upper);
/* The owner a lower object gets in this mount (its image owner, mapped). */
static inline uid_t map_uid(const struct fs *fs, uid_t u)
{
	return fs->userx && u == 0 ? fs->map_uid : u;
}
static inline gid_t map_gid(const struct fs *fs, gid_t g)
{
	return fs->userx && g == 0 ? fs->map_gid : g;
}
uint64_t upper_origin(int dirfd, const char *name);
/* Load / store a file's partial copy-up state (shale.copyup). */
int partial_load(shale_store *s, int fd, struct partial **out);
int partial_store(struct fs *fs, int fd, const struct partial *p);
void partial_free(struct partial *p);
/* A growable byte buffer. */
struct bytes {
	uint8_t *p;
	size_t len, cap;
};
int bytes_put(struct bytes *b, const void *p, size_t n); /* 0 or ENOMEM */
/* Remove everything in an upper directory (its whiteouts, after rmdir). */
int upper_clear_dir(int dirfd);

/* ---- control.c ---- */
int control_start(struct fs *fs, const char *path);
void control_stop(struct fs *fs, const char *path);
/* Around every operation that changes the upper. */
void freeze_enter(struct fs *fs);
void freeze_leave(struct fs *fs);

/* ---- copy_up.c ---- */
/* Give a node an upper presence: metadata only for files (data comes later,
 * chunk by chunk), parents first. Returns 0 or errno. */
int copy_up(struct fs *fs, struct node *n);
/* Make chunks of [off, off+len) of an upper file present (copied from below).
 * Node lock held. */
int fill_range(struct fs *fs, struct node *n, uint64_t off, uint64_t len);
/* Make the chunks copied up since the last flush durable, then list them in
 * the marker (fd: the upper file open, or -1). fill_range leaves this to the
 * file's release or fsync, a freeze, or the unmount: a small write into a big
 * file waits for no disk. Node lock held. Returns 0 or errno. */
int partial_flush(struct fs *fs, struct node *n, int fd);
/* The same for every node (a freeze, the unmount). Returns 0 or an errno. */
int partial_flush_all(struct fs *fs);
/* Truncate an upper file, keeping the partial state right. Node lock held. */
int truncate_upper(struct fs *fs, struct node *n, int fd, uint64_t size);

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
/* A node's listing goes with it. */
void listing_drop(struct node *n);
void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void op_statfs(fuse_req_t req, fuse_ino_t ino);
/* writable mounts */
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi);
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags);
void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	      struct fuse_file_info *fi);
void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		  struct fuse_file_info *fi);
void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		 size_t size, int flags);
void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
/* Open an upper node for I/O with the given flags (via /proc/self/fd). */
int node_reopen(struct node *n, int flags);
/* The node of a name (with an internal reference), or NULL with *err set. */
struct node *child_node(struct fs *fs, struct node *dir, const char *name, int *err);
/* Does the lower view have `name` in dir (and is it visible through dir)?
 * 0 yes (a filled if not NULL), ENOENT no, or another errno (ENOMEM). */
int lower_find(struct fs *fs, struct node *dir, const char *name, shale_vattr *a);

/* Names of internal xattrs that are never shown (overlay markers, shale state). */
int xattr_is_internal(const char *name);

#endif
