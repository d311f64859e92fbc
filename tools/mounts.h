/* Helpers about mount points, shared by the verbs that take one. */
#ifndef SHALE_TOOLS_MOUNTS_H
#define SHALE_TOOLS_MOUNTS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "store.h"

/* Absolute path of a mount point, even when it is a dead FUSE mount. */
int abs_mountpoint(const char *arg, char *out);
/* Is the process alive (not a zombie)? */
bool pid_running(pid_t pid);
/* Wait (up to ms milliseconds) for a process that is not our child to end. */
void wait_exit(pid_t pid, int ms);

/* A mount to start: an image read-only, or a container upper over its image. */
struct mount_req {
	char image_ref[512];
	shale_id image;
	json_t *container; /* NULL for read-only mounts */
	char control[PATH_MAX]; /* the daemon's control socket (writable mounts) */
	char mountpoint[PATH_MAX];
	bool ro, allow_other, debug, foreground;
	char kopts[512]; /* generic mount flags passed through */
	int ready_fd;
	shale_store *s; /* the one the daemon opens */
	char *root;
	struct cli *cli; /* the command: its hold on the store lock (cli_hold) */
};

struct cli;
/* Start a daemon serving the mount and return once it is live (EXIT_OK), or print
 * the reason (EXIT_ERR). The CLI store is closed around the fork (LMDB does not
 * survive it) and reopened by cli_store() when needed. */
int mount_start(struct cli *c, struct mount_req *m);
/* Unmount a shale mount and wait for its daemon to end (EXIT_OK, or EXIT_ERR
 * with the reason printed). */
int mount_stop(struct cli *c, const char *mountpoint, bool lazy);

/* Is the container mounted now (by a running daemon)? 1 yes, 0 no. */
int container_mounted_at(shale_store *s, const char *id, char *at);
/* argv[0] is mount.fuse.shale: behave as mount(8) expects of a helper. */
int mount_helper_main(int argc, char **argv);

#endif
