/* Tags of images, and the image summary the listing verbs share. */
#include <stdlib.h>
#include <string.h>

#include "images.h"

static int add_tag(void *ctx, const char *ref, const shale_id *id)
{
	struct tagmap *m = ctx;
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 16;
		m->refs = realloc(m->refs, m->cap * sizeof *m->refs);
		m->ids = realloc(m->ids, m->cap * sizeof *m->ids);
	}
	m->refs[m->n] = strdup(ref);
	m->ids[m->n] = *id;
	m->n++;
	return 0;
}

int tagmap_load(shale_store *s, struct tagmap *m)
{
	memset(m, 0, sizeof *m);
	return shale_tag_foreach(s, add_tag, m);
}

size_t tagmap_count(const struct tagmap *m, const shale_id *id)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		n += !shale_id_cmp(&m->ids[i], id);
	return n;
}

void tagmap_free(struct tagmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->refs[i]);
	free(m->refs);
	free(m->ids);
	memset(m, 0, sizeof *m);
}

uint64_t image_size(shale_store *s, json_t *img)
{
	shale_id *layers;
	size_t n;
	uint64_t total = 0;
	if (shale_image_layers(img, &layers, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		shale_layer_info li;
		if (shale_layer_get(s, &layers[i], &li) == 0)
			total += li.size;
	}
	free(layers);
	return total;
}
