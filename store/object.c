/* Content objects: one file per chunk under objects/ab/<rest of digest>.
 *
 * Writes are staged: data goes to a temp file; a flush makes the whole batch
 * durable with one syncfs (instead of an fsync per file), renames the files into
 * place, syncs again so the renames are durable, and only then records the
 * objects in LMDB. An object file that exists under its final name is therefore
 * always complete; writing the same content twice is harmless (idempotent). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define FLUSH_BYTES (256u << 20)
#define FLUSH_COUNT 4096

struct pending {
	shale_id d;
	uint64_t size;
	char tmp[32];
};

struct objwriter {
	shale_store *s;
	struct pending *p;
	size_t n, cap;
	uint64_t pend_bytes, new_bytes;
	/* open-addressing set over pending digests (dedup within a batch) */
	uint32_t *set;
	size_t setcap;
	MDB_txn **txnp; /* a caller's open write txn to record objects in (LMDB has one writer) */
};

void objw_bind_txn(objwriter *w, MDB_txn **txnp)
{
	w->txnp = txnp;
}

void object_relpath(const shale_id *d, char out[40])
{
	char hex[SHALE_ID_HEX];
	shale_id_hex(d, hex);
	snprintf(out, 40, "%.2s/%s", hex, hex + 2);
}

char *shale_object_path(const shale_store *s, const shale_id *d)
{
	char rel[40];
	object_relpath(d, rel);
	return xasprintf("%s/%s", s->objdir, rel);
}

int shale_object_open(shale_store *s, const shale_id *d)
{
	char rel[40];
	object_relpath(d, rel);
	int fd = openat(s->objdir_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? shale_err(EIO, "object %s is missing", rel)
				       : shale_err(errno, "object %s: %s", rel, strerror(errno));
	return fd;
}

bool object_known(shale_store *s, MDB_txn *txn, const shale_id *d)
{
	MDB_val k = {SHALE_ID_LEN, (void *)d->b}, v;
	return mdb_get(txn, s->dbi[DB_OBJECTS], &k, &v) == 0;
}

objwriter *objw_new(shale_store *s)
{
	objwriter *w = xcalloc(1, sizeof *w);
	w->s = s;
	return w;
}

static void remove_pending(objwriter *w)
{
	for (size_t i = 0; i < w->n; i++)
		unlinkat(w->s->objdir_fd, w->p[i].tmp, 0);
	w->n = 0;
	w->pend_bytes = 0;
	if (w->set)
		memset(w->set, 0, w->setcap * sizeof *w->set);
}

void objw_free(objwriter *w)
{
	if (!w)
		return;
	remove_pending(w); /* not flushed = not part of any committed layer */
	free(w->p);
	free(w->set);
	free(w);
}

uint64_t objw_new_bytes(const objwriter *w)
{
	return w->new_bytes;
}

static size_t slot_of(const shale_id *d, size_t cap)
{
	uint64_t h;
	memcpy(&h, d->b, sizeof h);
	return (size_t)(h & (cap - 1));
}

/* Returns true if d is pending; else inserts index idx (1-based) when idx != 0. */
static bool pending_lookup(objwriter *w, const shale_id *d, uint32_t idx)
{
	if (w->setcap < 2 * (w->n + 1)) {
		size_t cap = w->setcap ? w->setcap * 2 : 1024;
		uint32_t *set = xcalloc(cap, sizeof *set);
		for (size_t i = 0; i < w->n; i++) {
			size_t j = slot_of(&w->p[i].d, cap);
			while (set[j])
				j = (j + 1) & (cap - 1);
			set[j] = (uint32_t)(i + 1);
		}
		free(w->set);
		w->set = set;
		w->setcap = cap;
	}
	size_t j = slot_of(d, w->setcap);
	while (w->set[j]) {
		if (memcmp(&w->p[w->set[j] - 1].d, d, sizeof *d) == 0)
			return true;
		j = (j + 1) & (w->setcap - 1);
	}
	if (idx)
		w->set[j] = idx;
	return false;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int objw_put(objwriter *w, const void *data, size_t len, shale_id *digest)
{
	shale_store *s = w->s;
	hash_buf(s, data, len, digest);
	if (pending_lookup(w, digest, 0))
		return 0;
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	bool known = object_known(s, txn, digest);
	rtxn_end(s, txn);
	if (known)
		return 0;

	if (w->n == w->cap)
		w->p = xrealloc(w->p, (w->cap = w->cap ? 2 * w->cap : 256) * sizeof *w->p);
	struct pending *p = &w->p[w->n];
	char hex[SHALE_ID_HEX];
	shale_id_hex(digest, hex);
	/* tmp files live in objects/ itself so the rename never crosses a directory
	 * that a concurrent prune could be sweeping; ".t-" never names an object. */
	snprintf(p->tmp, sizeof p->tmp, ".t-%.16s%04x", hex, (unsigned)(getpid() & 0xffff));
	int fd = openat(s->objdir_fd, p->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	if (fd < 0)
		return shale_err(errno, "create object: %s", strerror(errno));
	if (write_all(fd, data, len) < 0) {
		int e = errno;
		close(fd);
		unlinkat(s->objdir_fd, p->tmp, 0);
		return shale_err(e, "write object: %s", strerror(e));
	}
	close(fd);
	SHALE_CRASH_POINT("object written");
	p->d = *digest;
	p->size = len;
	w->n++;
	pending_lookup(w, digest, (uint32_t)w->n);
	w->pend_bytes += len;
	w->new_bytes += len;
	if (w->pend_bytes >= FLUSH_BYTES || w->n >= FLUSH_COUNT)
		return objw_flush(w);
	return 0;
}

int objw_flush(objwriter *w)
{
	shale_store *s = w->s;
	if (!w->n)
		return 0;
	if (syncfs(s->objdir_fd) < 0)
		return shale_err(errno, "sync objects: %s", strerror(errno));
	SHALE_CRASH_POINT("objects synced");
	for (size_t i = 0; i < w->n; i++) {
		char rel[40];
		object_relpath(&w->p[i].d, rel);
		rel[2] = 0;
		if (mkdirat(s->objdir_fd, rel, 0700) < 0 && errno != EEXIST)
			return shale_err(errno, "mkdir objects/%s: %s", rel, strerror(errno));
		rel[2] = '/';
		if (renameat(s->objdir_fd, w->p[i].tmp, s->objdir_fd, rel) < 0)
			return shale_err(errno, "store object %s: %s", rel, strerror(errno));
		w->p[i].tmp[0] = 0;
		SHALE_CRASH_POINT("object renamed");
	}
	if (syncfs(s->objdir_fd) < 0)
		return shale_err(errno, "sync objects: %s", strerror(errno));
	MDB_txn *txn = w->txnp ? *w->txnp : NULL;
	bool own = !txn;
	if (own && wtxn_begin(s, &txn) < 0)
		return -1;
	for (size_t i = 0; i < w->n; i++) {
		uint8_t sz[8];
		be64_put(sz, w->p[i].size);
		MDB_val k = {SHALE_ID_LEN, w->p[i].d.b}, v = {8, sz};
		int rc = mdb_put(txn, s->dbi[DB_OBJECTS], &k, &v, 0);
		if (rc) {
			if (own)
				mdb_txn_abort(txn);
			return mdb_fail(rc, "record object");
		}
	}
	if (own && wtxn_commit(txn) < 0)
		return -1;
	w->n = 0;
	w->pend_bytes = 0;
	memset(w->set, 0, w->setcap * sizeof *w->set);
	return 0;
}
