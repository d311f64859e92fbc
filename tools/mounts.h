/* Helpers about mount points, shared by the verbs that take one. */
#ifndef SHALE_TOOLS_MOUNTS_H
#define SHALE_TOOLS_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Is `path` a mount point? Its filesystem type (e.g. "fuse.shale") into fstype. */
bool mountinfo_find(const char *path, char *fstype, size_t len);
/* Absolute path of a mount point, even when it is a dead FUSE mount. */
int abs_mountpoint(const char *arg, char *out);
/* Is the process alive (not a zombie)? */
bool pid_running(pid_t pid);
/* Is the container mounted now (by a running daemon)? 1 yes, 0 no. */
struct shale_store;
int container_mounted_at(struct shale_store *s, const char *id, char *at);
/* argv[0] is mount.fuse.shale: behave as mount(8) expects of a helper. */
int mount_helper_main(int argc, char **argv);

#endif
