/* Blob files kept under the store root while a command needs them:
 *   ROOT/tmp/blobs/sha256/HEX           a complete blob whose digest was verified
 *   ROOT/tmp/blobs/sha256/HEX.partial   a download in progress (resumed with Range)
 *   ROOT/tmp/blobs/sha256/.new-*        a blob being generated (digest not yet known)
 * A finished command removes the blobs it used; an interrupted one leaves them for
 * the next run. Anything there can be deleted safely when no shale runs. */
#ifndef SHALE_OCI_BLOBDIR_H
#define SHALE_OCI_BLOBDIR_H

#include <stdbool.h>

#include "store.h"

/* Create the directory if needed; returns its path (malloc'd) or NULL. */
char *blobdir(shale_store *s);
/* Paths of a blob and of its partial download (malloc'd). */
char *blobdir_path(shale_store *s, const char *digest);
char *blobdir_partial(shale_store *s, const char *digest);
/* A new temp file in the directory: fd, *path malloc'd. */
int blobdir_tmpfile(shale_store *s, char **path);
bool blobdir_has(shale_store *s, const char *digest);
void blobdir_remove(shale_store *s, const char *digest);

#endif
