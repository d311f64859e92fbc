/* A layer blob fed to the store's importer through a pipe: decompressed in a
 * thread (so decompression and import overlap), hashed on the way, compressed
 * and not (the digests the caller checks are those of the bytes imported, even
 * if the file changed or was damaged after an earlier check), and ended
 * with tar padding and an end-of-archive marker.
 *
 * Why the ending: Go's archive/tar takes end of input where a member's padding
 * should start as the end of the archive, and some image tools (umoci 0.4.7's
 * insert) write layers that stop there; libarchive needs the trailer. Zero
 * blocks after a complete tar change nothing. */
#ifndef SHALE_OCI_FEED_H
#define SHALE_OCI_FEED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "digest.h"

struct feed {
	pthread_t thread;
	bool started;
	int blob_fd;     /* read by the thread */
	int pipe[2];
	char path[64];   /* /proc/self/fd/N of the read end: for shale_import_layer */
	char digest[OCI_DIGEST_LEN]; /* of the blob as read */
	char diff_id[OCI_DIGEST_LEN];
	int err;
	char errmsg[256];
};

int feed_start(struct feed *f, int blob_fd);
/* Stop (if the importer gave up early) and collect: 0 when the whole blob was
 * fed, with f->diff_id set. */
int feed_finish(struct feed *f);

#endif
