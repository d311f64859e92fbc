/* Containers: an image plus an upper directory of changes, recorded in the
 * store (table `containers`, key = id). Used by mount, commit, diff, run, ps, rm. */
#ifndef SHALE_TOOLS_CONTAINERS_H
#define SHALE_TOOLS_CONTAINERS_H

#include "store.h"

/* A new container of `image` (ref is how the user named it). name NULL: a
 * generated one. upper NULL: ROOT/containers/ID/upper (with its work dir);
 * else the given directory, its work dir beside it (DIR.work). The record:
 * {"id", "name", "image", "image_ref", "upper", "work", "created"}. */
json_t *container_create(shale_store *s, const shale_id *image, const char *ref,
			 const char *name, const char *upper);
/* Make sure the upper and work directories are there (a fresh upper gets the
 * image's root attributes). */
int container_ready(shale_store *s, json_t *c);
/* By name, id, or unique id prefix (>= 4 hex digits). NULL with ENOENT if none. */
json_t *container_find(shale_store *s, const char *name_or_id);
/* The container whose upper is this directory, if any. */
json_t *container_by_upper(shale_store *s, const char *upper);
const char *container_str(json_t *c, const char *key);
int container_update(shale_store *s, json_t *c);
/* After a run: drop the empty mount points (/dev, /proc, /sys, volume targets
 * and the parents made for them) the image does not have from the upper. */
void container_drop_mount_points(shale_store *s, const shale_id *image, const char *upper,
				 const char *const *volumes, size_t nvol);
/* Remove the record and the upper directory (if under the store root). */
int container_remove(shale_store *s, json_t *c);

#endif
