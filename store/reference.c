/* Image references (NAME[:TAG]) validated with Docker's grammar, and the tag table. */
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Docker's reference grammar (distribution/reference), as POSIX EREs. */
#define ALNUM "[a-z0-9]+"
#define SEP "([._]|__|-+)"
#define PATH_COMPONENT ALNUM "(" SEP ALNUM ")*"
#define DOMAIN_COMPONENT "([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
#define DOMAIN DOMAIN_COMPONENT "(\\." DOMAIN_COMPONENT ")*(:[0-9]+)?"
#define NAME "^(" DOMAIN "/)?" PATH_COMPONENT "(/" PATH_COMPONENT ")*$"
#define TAG "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"

static regex_t name_re, tag_re;
static pthread_once_t re_once = PTHREAD_ONCE_INIT;

static void re_init(void)
{
	if (regcomp(&name_re, NAME, REG_EXTENDED | REG_NOSUB) ||
	    regcomp(&tag_re, TAG, REG_EXTENDED | REG_NOSUB))
		abort();
}

int shale_ref_normalize(const char *ref, char *out, size_t outlen)
{
	char name[512];
	const char *tag = "latest";
	pthread_once(&re_once, re_init);
	if (!ref || !*ref)
		return shale_err(EINVAL, "invalid reference format: empty name");
	/* messages below show the reference: it must not break their line */
	for (size_t i = 0; ref[i]; i++)
		if ((unsigned char)ref[i] < 0x20 || ref[i] == 0x7f)
			return shale_err(EINVAL, "invalid reference format: control character at byte %zu",
					 i + 1);
	if (strchr(ref, '@'))
		return shale_err(EINVAL, "invalid reference format: digests are not supported here: %s",
				 ref);
	size_t n = strlen(ref);
	if (n >= sizeof name)
		return shale_err(EINVAL, "invalid reference format: too long: %.64s...", ref);
	memcpy(name, ref, n + 1);
	char *colon = strrchr(name, ':'), *slash = strrchr(name, '/');
	if (colon && (!slash || colon > slash)) {
		*colon = 0;
		tag = colon + 1;
		if (regexec(&tag_re, tag, 0, NULL, 0))
			return shale_err(EINVAL, "invalid reference format: bad tag '%s' in %s", tag, ref);
	}
	if (strlen(name) > 255)
		return shale_err(EINVAL, "invalid reference format: repository name must not be more "
					 "than 255 characters");
	if (regexec(&name_re, name, 0, NULL, 0)) {
		for (const char *p = name; *p; p++)
			if (*p >= 'A' && *p <= 'Z' && (!slash || p > slash))
				return shale_err(EINVAL,
						 "invalid reference format: repository name must be lowercase: %s",
						 ref);
		return shale_err(EINVAL, "invalid reference format: %s", ref);
	}
	if (strlen(name) == 64 && strspn(name, "0123456789abcdef") == 64)
		return shale_err(EINVAL, "invalid repository name (%s), cannot specify 64-byte "
					 "hexadecimal strings", name);
	if ((size_t)snprintf(out, outlen, "%s:%s", name, tag) >= outlen)
		return shale_err(EINVAL, "reference too long");
	return 0;
}

int shale_ref_split(const char *normalized, char *name, size_t nlen, char *tag, size_t tlen)
{
	const char *colon = strrchr(normalized, ':'), *slash = strrchr(normalized, '/');
	if (!colon || (slash && colon < slash))
		return shale_err(EINVAL, "not a normalized reference: %s", normalized);
	size_t n = (size_t)(colon - normalized);
	if (n >= nlen || strlen(colon + 1) >= tlen)
		return shale_err(EINVAL, "reference too long");
	memcpy(name, normalized, n);
	name[n] = 0;
	strcpy(tag, colon + 1);
	return 0;
}

int shale_tag_set(shale_store *s, const char *ref, const shale_id *image)
{
	char norm[512];
	if (shale_ref_normalize(ref, norm, sizeof norm) < 0)
		return -1;
	MDB_txn *txn;
	if (wtxn_begin(s, &txn) < 0)
		return -1;
	MDB_val ik = {SHALE_ID_LEN, (void *)image->b}, iv;
	if (mdb_get(txn, s->dbi[DB_IMAGES], &ik, &iv)) { /* never tag a missing image */
		mdb_txn_abort(txn);
		return shale_err(ENOENT, "no such image to tag");
	}
	MDB_val k = {strlen(norm), norm}, v = {SHALE_ID_LEN, (void *)image->b};
	int rc = mdb_put(txn, s->dbi[DB_TAGS], &k, &v, 0);
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_fail(rc, "tag");
	}
	return wtxn_commit(txn);
}

int shale_tag_get(shale_store *s, const char *ref, shale_id *image)
{
	char norm[512];
	if (shale_ref_normalize(ref, norm, sizeof norm) < 0)
		return -1;
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	MDB_val k = {strlen(norm), norm}, v;
	int rc = mdb_get(txn, s->dbi[DB_TAGS], &k, &v), ret = 0;
	if (rc == 0 && v.mv_size == SHALE_ID_LEN)
		memcpy(image->b, v.mv_data, SHALE_ID_LEN);
	else
		ret = rc == MDB_NOTFOUND ? shale_err(ENOENT, "no such image: %s", norm)
					 : mdb_fail(rc ? rc : MDB_CORRUPTED, "tag");
	rtxn_end(s, txn);
	return ret;
}

int shale_tag_delete(shale_store *s, const char *ref)
{
	char norm[512];
	if (shale_ref_normalize(ref, norm, sizeof norm) < 0)
		return -1;
	MDB_txn *txn;
	if (wtxn_begin(s, &txn) < 0)
		return -1;
	MDB_val k = {strlen(norm), norm};
	int rc = mdb_del(txn, s->dbi[DB_TAGS], &k, NULL);
	if (rc) {
		mdb_txn_abort(txn);
		return rc == MDB_NOTFOUND ? shale_err(ENOENT, "no such image: %s", norm)
					  : mdb_fail(rc, "untag");
	}
	return wtxn_commit(txn);
}

int shale_tag_foreach(shale_store *s, shale_tag_fn fn, void *ctx)
{
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0, cap = 0;
	struct item { char *ref; shale_id id; } *items = NULL;
	mdb_cursor_open(txn, s->dbi[DB_TAGS], &c);
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (v.mv_size != SHALE_ID_LEN)
			continue;
		if (n == cap)
			items = xrealloc(items, (cap = cap ? 2 * cap : 16) * sizeof *items);
		items[n].ref = strndup(k.mv_data, k.mv_size);
		memcpy(items[n].id.b, v.mv_data, SHALE_ID_LEN);
		n++;
	}
	mdb_cursor_close(c);
	rtxn_end(s, txn);
	int ret = 0;
	for (size_t i = 0; i < n; i++) {
		if (!ret)
			ret = fn(ctx, items[i].ref, &items[i].id);
		free(items[i].ref);
	}
	free(items);
	return ret;
}
