/* The tar that save writes: fixed times and owners so that saving the same
 * images twice gives the same bytes. Written to a temp file renamed into place
 * on success, so an interrupted save never leaves a half archive under FILE. */
#ifndef SHALE_OCI_OUTTAR_H
#define SHALE_OCI_OUTTAR_H

#include <stdbool.h>
#include <stddef.h>

#include "layer_tar.h"

struct outtar;

/* path NULL: standard output. */
struct outtar *outtar_open(const char *path);
int outtar_dir(struct outtar *o, const char *name);
int outtar_mem(struct outtar *o, const char *name, const void *buf, size_t len);
int outtar_file(struct outtar *o, const char *name, const char *path, oci_bytes_fn progress,
		void *ctx);
/* Finish (commit) or abandon the archive; frees o. */
int outtar_close(struct outtar *o, bool commit);

#endif
