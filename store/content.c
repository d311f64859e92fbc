/* File content: inline bytes, one object, or a list of fixed-size chunks.
 *
 * Files up to SHALE_INLINE_MAX bytes live in their entry. Larger files are cut
 * into SHALE_CHUNK_SIZE chunks, each an object; an all-zero chunk is a hole and
 * stores nothing. A file of one chunk refers to its object directly; longer
 * files refer to a chunk list (DB_CHUNKS) whose id is the keyed digest of the
 * file size and the chunk digests. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Refuse absurd sizes before allocating anything for them (a tar header can
 * claim 2^63 bytes): 1 TiB is a million chunks. */
#define MAX_FILE_SIZE (1ull << 40)

struct shale_content_writer {
	shale_store *s;
	objwriter *w;
	uint64_t size;
	uint64_t cur;    /* chunk index being filled, UINT64_MAX if none */
	size_t fill;     /* bytes of data in buf (logical end of written data) */
	bool dirty;      /* buf holds data for chunk cur */
	uint8_t *buf;
	shale_id *digests;
	uint64_t count;
	sbuf lists;      /* pending chunk lists: id | u64 size | u64 count | digests */
};

shale_content_writer *shale_cw_new(shale_store *s)
{
	shale_content_writer *cw = xcalloc(1, sizeof *cw);
	cw->s = s;
	cw->w = objw_new(s);
	cw->buf = xmalloc(SHALE_CHUNK_SIZE);
	return cw;
}

void shale_cw_free(shale_content_writer *cw)
{
	if (!cw)
		return;
	objw_free(cw->w);
	free(cw->buf);
	free(cw->digests);
	sbuf_free(&cw->lists);
	free(cw);
}

objwriter *cw_objwriter(shale_content_writer *cw)
{
	return cw->w;
}

int shale_cw_begin(shale_content_writer *cw, uint64_t size)
{
	if (size > MAX_FILE_SIZE)
		return shale_err(EFBIG, "file of %llu bytes is larger than the 1 TiB shale stores",
				 (unsigned long long)size);
	cw->size = size;
	cw->count = (size + SHALE_CHUNK_SIZE - 1) / SHALE_CHUNK_SIZE;
	free(cw->digests);
	cw->digests = xcalloc(cw->count ? cw->count : 1, sizeof *cw->digests);
	cw->cur = UINT64_MAX;
	cw->fill = 0;
	cw->dirty = false;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static size_t chunk_len(const shale_content_writer *cw, uint64_t idx)
{
	uint64_t start = idx * SHALE_CHUNK_SIZE;
	uint64_t left = cw->size - start;
	return left < SHALE_CHUNK_SIZE ? (size_t)left : SHALE_CHUNK_SIZE;
}

static int finish_chunk(shale_content_writer *cw)
{
	if (!cw->dirty)
		return 0;
	size_t len = chunk_len(cw, cw->cur);
	if (cw->fill < len)
		memset(cw->buf + cw->fill, 0, len - cw->fill);
	cw->dirty = false;
	if (cw->size <= SHALE_INLINE_MAX)
		return 0; /* inlined at end */
	if (all_zero(cw->buf, len)) {
		memset(&cw->digests[cw->cur], 0, sizeof(shale_id));
		return 0;
	}
	return objw_put(cw->w, cw->buf, len, &cw->digests[cw->cur]);
}

int shale_cw_write(shale_content_writer *cw, uint64_t offset, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	if (offset + len > cw->size || offset + len < offset)
		return shale_err(EINVAL, "content longer than the size announced (%llu bytes)",
				 (unsigned long long)cw->size);
	while (len) {
		uint64_t idx = offset / SHALE_CHUNK_SIZE;
		size_t in = (size_t)(offset % SHALE_CHUNK_SIZE);
		if (idx != cw->cur) {
			if (cw->cur != UINT64_MAX && idx < cw->cur)
				return shale_err(EINVAL, "content written out of order");
			if (finish_chunk(cw) < 0)
				return -1;
			cw->cur = idx;
			cw->fill = 0;
		}
		if (in < cw->fill)
			return shale_err(EINVAL, "content written out of order");
		if (in > cw->fill)
			memset(cw->buf + cw->fill, 0, in - cw->fill); /* a hole inside the chunk */
		size_t n = SHALE_CHUNK_SIZE - in;
		if (n > len)
			n = len;
		memcpy(cw->buf + in, p, n);
		cw->fill = in + n;
		cw->dirty = true;
		p += n;
		len -= n;
		offset += n;
	}
	return 0;
}

int shale_cw_put_chunk(shale_content_writer *cw, uint64_t index, const shale_id *digest)
{
	if (index >= cw->count)
		return shale_err(EINVAL, "chunk %llu beyond the end of the file",
				 (unsigned long long)index);
	if (cw->cur != UINT64_MAX && index <= cw->cur && cw->dirty)
		return shale_err(EINVAL, "chunk written out of order");
	if (finish_chunk(cw) < 0)
		return -1;
	cw->digests[index] = *digest;
	return 0;
}

static void list_id(shale_content_writer *cw, shale_id *id)
{
	hash_state *h = hash_new(cw->s);
	uint8_t hdr[9] = {'C'};
	for (int i = 0; i < 8; i++)
		hdr[1 + i] = (uint8_t)(cw->size >> (8 * i));
	hash_update(h, hdr, sizeof hdr);
	hash_update(h, cw->digests, cw->count * sizeof(shale_id));
	hash_final(h, id);
	hash_free(h);
}

int shale_cw_end(shale_content_writer *cw, shale_entry *e)
{
	e->size = cw->size;
	e->flags &= (uint8_t) ~(SHALE_F_INLINE | SHALE_F_CHUNKED);
	memset(&e->content, 0, sizeof e->content);
	e->data = NULL;
	e->data_len = 0;
	if (cw->size <= SHALE_INLINE_MAX) {
		if (cw->cur != 0 || !cw->dirty) { /* nothing written: zeros */
			memset(cw->buf, 0, cw->size);
		} else if (cw->fill < cw->size) {
			memset(cw->buf + cw->fill, 0, cw->size - cw->fill);
		}
		if (cw->count && !shale_id_is_zero(&cw->digests[0])) {
			/* a reused chunk of a small file: read it back to inline it */
			int fd = shale_object_open(cw->s, &cw->digests[0]);
			if (fd < 0)
				return -1;
			ssize_t n = pread(fd, cw->buf, cw->size, 0);
			close(fd);
			if (n != (ssize_t)cw->size)
				return shale_err(EIO, "short object read");
		}
		cw->dirty = false;
		if (cw->size) {
			e->flags |= SHALE_F_INLINE;
			e->data = cw->buf;
			e->data_len = (uint32_t)cw->size;
		}
		return 0;
	}
	if (finish_chunk(cw) < 0)
		return -1;
	if (cw->count == 1) {
		e->content = cw->digests[0];
		return 0;
	}
	list_id(cw, &e->content);
	e->flags |= SHALE_F_CHUNKED;
	sbuf_put(&cw->lists, e->content.b, SHALE_ID_LEN);
	sbuf_u64(&cw->lists, cw->size);
	sbuf_u64(&cw->lists, cw->count);
	sbuf_put(&cw->lists, cw->digests, cw->count * sizeof(shale_id));
	return 0;
}

int cw_store_pending(shale_content_writer *cw, MDB_txn *txn)
{
	rbuf r = {.p = cw->lists.p, .len = cw->lists.len};
	while (r.pos < r.len) {
		const uint8_t *id = rb_bytes(&r, SHALE_ID_LEN);
		size_t start = r.pos;
		rb_u64(&r);
		uint64_t count = rb_u64(&r);
		rb_bytes(&r, count * sizeof(shale_id));
		if (r.bad)
			return shale_err(EIO, "internal: bad chunk list buffer");
		MDB_val k = {SHALE_ID_LEN, (void *)id}, v = {r.pos - start, (void *)(r.p + start)};
		int rc = mdb_put(txn, cw->s->dbi[DB_CHUNKS], &k, &v, 0);
		if (rc)
			return mdb_fail(rc, "store chunk list");
	}
	cw->lists.len = 0;
	return 0;
}

int chunks_get(shale_store *s, MDB_txn *txn, const shale_id *id, shale_chunks *out)
{
	MDB_val k = {SHALE_ID_LEN, (void *)id->b}, v;
	int rc = mdb_get(txn, s->dbi[DB_CHUNKS], &k, &v);
	if (rc)
		return rc == MDB_NOTFOUND ? shale_err(EIO, "chunk list missing from the store")
					  : mdb_fail(rc, "chunk list");
	rbuf r = {.p = v.mv_data, .len = v.mv_size};
	out->size = rb_u64(&r);
	out->count = rb_u64(&r);
	const uint8_t *d = rb_bytes(&r, out->count * sizeof(shale_id));
	if (r.bad || !d)
		return shale_err(EIO, "corrupt chunk list");
	/* read on FUSE requests (a file opened, a partial file loaded) */
	out->digests = malloc(out->count ? out->count * sizeof(shale_id) : 1);
	if (!out->digests)
		return shale_err(ENOMEM, "out of memory (a chunk list of %llu chunks)",
				 (unsigned long long)out->count);
	memcpy(out->digests, d, out->count * sizeof(shale_id));
	return 0;
}

int shale_content_chunks(shale_store *s, const shale_entry *e, shale_chunks *out)
{
	memset(out, 0, sizeof *out);
	out->size = e->size;
	if (e->type != SHALE_REG || (e->flags & SHALE_F_INLINE) || e->size == 0)
		return 0;
	if (!(e->flags & SHALE_F_CHUNKED)) {
		out->count = 1;
		if (!(out->digests = malloc(sizeof(shale_id))))
			return shale_err(ENOMEM, "out of memory");
		out->digests[0] = e->content;
		return 0;
	}
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	int r = chunks_get(s, txn, &e->content, out);
	rtxn_end(s, txn);
	return r;
}

int shale_content_read(shale_store *s, const shale_entry *e, uint64_t offset, void *buf,
		       size_t len, size_t *got)
{
	*got = 0;
	if (offset >= e->size)
		return 0;
	if (len > e->size - offset)
		len = (size_t)(e->size - offset);
	if (e->flags & SHALE_F_INLINE) {
		memcpy(buf, e->data + offset, len);
		*got = len;
		return 0;
	}
	shale_chunks ch;
	if (shale_content_chunks(s, e, &ch) < 0)
		return -1;
	uint8_t *out = buf;
	int ret = 0;
	while (len) {
		uint64_t idx = offset / SHALE_CHUNK_SIZE, in = offset % SHALE_CHUNK_SIZE;
		size_t n = SHALE_CHUNK_SIZE - in;
		if (n > len)
			n = len;
		if (idx >= ch.count || shale_id_is_zero(&ch.digests[idx])) {
			memset(out, 0, n);
		} else {
			int fd = shale_object_open(s, &ch.digests[idx]);
			if (fd < 0) {
				ret = -1;
				break;
			}
			ssize_t r = pread(fd, out, n, (off_t)in);
			close(fd);
			if (r != (ssize_t)n) {
				ret = shale_err(EIO, "object shorter than its chunk");
				break;
			}
		}
		out += n;
		offset += n;
		len -= n;
		*got += n;
	}
	free(ch.digests);
	return ret;
}

uint64_t shale_entry_blocks(const shale_entry *e, const shale_store *s)
{
	(void)s;
	if (e->type == SHALE_LNK || e->type == SHALE_DIR)
		return 8;
	if (e->type != SHALE_REG || e->size == 0)
		return 0;
	if (!(e->flags & SHALE_F_CHUNKED) && !(e->flags & SHALE_F_INLINE) &&
	    shale_id_is_zero(&e->content))
		return 0; /* a single all-zero chunk: a hole */
	/* Holes of chunked files are not counted here (that needs the chunk list);
	 * the view computes exact blocks when it builds its index. */
	return ((e->size + 4095) / 4096) * 8;
}
