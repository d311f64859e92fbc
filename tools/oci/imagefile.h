/* Image archives: what save writes and load reads, in the two formats
 * (OCI image layout: layout.c; docker-archive: docker_archive.c). */
#ifndef SHALE_OCI_IMAGEFILE_H
#define SHALE_OCI_IMAGEFILE_H

#include "imagedoc.h"
#include "ingest.h"
#include "outtar.h"
#include "source.h"

/* One image to save, with its layers' blobs ready as files. */
struct save_item {
	shale_id id;
	json_t *image;
	char **refs; /* normalized name:tag to record */
	size_t nrefs;
	size_t n;
	shale_id *layers;
	struct blob_info *blobs;
	char **paths;
	struct oci_docs docs;
};

int layout_write(struct outtar *o, struct save_item *items, size_t n);
int docker_write(struct outtar *o, struct save_item *items, size_t n);

/* One image to load: its ingest (config parsed, layer blobs open) and names. */
struct load_item {
	struct ingest ig;
	char key[OCI_DIGEST_LEN]; /* manifest or config digest: one item per image */
	char **names;
	size_t nnames;
	shale_id image; /* once committed */
};

struct load_plan {
	size_t n;
	struct load_item *v;
};

/* Read the archive's index (checking every digest of index, manifests and
 * configs) and open every layer blob; layers are verified afterwards. */
int layout_plan(shale_store *s, struct oci_source *src, struct load_plan *plan);
int docker_plan(shale_store *s, struct oci_source *src, struct load_plan *plan);
void load_plan_free(struct load_plan *plan);
/* The item for a key, added if new. */
struct load_item *load_plan_item(struct load_plan *plan, const char *key, bool *is_new);
void load_item_name(struct load_item *it, const char *name);

#endif
