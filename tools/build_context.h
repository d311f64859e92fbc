/* The build context of `shale build`: a directory, less what .dockerignore
 * leaves out. Nothing outside it is ever read: sources resolve beneath it
 * (openat2 RESOLVE_BENEATH), symlinks inside copied directories are copied as
 * symlinks, never followed. */
#ifndef SHALE_BUILD_CONTEXT_H
#define SHALE_BUILD_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct dockerignore;

struct build_ctx {
	int fd;                  /* the context directory */
	char *dir;
	struct dockerignore *ig; /* NULL: nothing is left out */
};

/* Open a context; its .dockerignore (if any) is read. */
int bctx_open(struct build_ctx *b, const char *dir, char *err, size_t errlen);
void bctx_close(struct build_ctx *b);
/* What the context holds (what is not ignored): bytes of files, entries. */
void bctx_size(struct build_ctx *b, uint64_t *bytes, uint64_t *entries);

struct src_list {
	char **v; /* paths relative to the context ("" is its root) */
	size_t n;
};
void src_list_free(struct src_list *l);

/* The context paths a COPY/ADD source names (Go filepath.Match globs). Fails
 * when it leaves the context or matches nothing that is not ignored. */
int bctx_glob(struct build_ctx *b, const char *operand, struct src_list *out, char *err,
	      size_t errlen);

/* A sha256 of what the sources hold: relative names, types, modes, sizes,
 * contents, link targets; not times or owners (the cache key of COPY/ADD). */
int bctx_digest(struct build_ctx *b, const struct src_list *srcs, char hex[65], char *err,
		size_t errlen);

struct copy_opts {
	bool chown, chmod, extract; /* extract: ADD unpacks local tar archives */
	uint32_t uid, gid, mode;
};

/* Add the sources to a layer: a file lands at dest (dest_is_dir: in it, under
 * its own name), a directory's contents land in dest. */
int bctx_copy(struct build_ctx *b, shale_store *s, shale_layer_builder *lb,
	      const struct src_list *srcs, const char *dest, bool dest_is_dir,
	      const struct copy_opts *o, char *err, size_t errlen);

#endif
