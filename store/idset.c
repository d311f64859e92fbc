/* A set of ids (open addressing): what garbage collection and fsck mark. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static size_t idslot(const shale_id *id, size_t cap)
{
	uint64_t h;
	memcpy(&h, id->b + 4, sizeof h);
	return (size_t)(h & (cap - 1));
}

bool idset_has(const struct idset *s, const shale_id *id)
{
	if (!s->cap)
		return false;
	for (size_t j = idslot(id, s->cap); s->used[j]; j = (j + 1) & (s->cap - 1))
		if (!memcmp(&s->v[j], id, sizeof *id))
			return true;
	return false;
}

bool idset_add(struct idset *s, const shale_id *id)
{
	if (2 * (s->n + 1) > s->cap) {
		struct idset t = {.cap = s->cap ? 2 * s->cap : 1024};
		t.v = xmalloc(t.cap * sizeof *t.v);
		t.used = xcalloc(t.cap, 1);
		for (size_t i = 0; i < s->cap; i++)
			if (s->used[i])
				idset_add(&t, &s->v[i]);
		free(s->v);
		free(s->used);
		*s = t;
	}
	size_t j = idslot(id, s->cap);
	for (; s->used[j]; j = (j + 1) & (s->cap - 1))
		if (!memcmp(&s->v[j], id, sizeof *id))
			return false;
	s->v[j] = *id;
	s->used[j] = 1;
	s->n++;
	return true;
}

void idset_free(struct idset *s)
{
	free(s->v);
	free(s->used);
	memset(s, 0, sizeof *s);
}
