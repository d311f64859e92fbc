/* Helpers for verbs that list and describe images. */
#ifndef SHALE_TOOLS_IMAGES_H
#define SHALE_TOOLS_IMAGES_H

#include "store.h"

struct tagmap {
	char **refs;
	shale_id *ids;
	size_t n, cap;
};

int tagmap_load(shale_store *s, struct tagmap *m);
/* How many tags point at an image. */
size_t tagmap_count(const struct tagmap *m, const shale_id *id);
void tagmap_free(struct tagmap *m);

/* Apparent size of an image: the content of all its layers. */
uint64_t image_size(shale_store *s, json_t *img);

#endif
