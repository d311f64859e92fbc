/* Opening a store: the directory layout, the LMDB environment, the secret, locks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "internal.h"

static const char *const db_names[DB_COUNT] = {
	[DB_META] = "meta",
	[DB_LAYERS] = "layers",
	[DB_ENTRIES] = "entries",
	[DB_OBJECTS] = "objects",
	[DB_CHUNKS] = "chunks",
	[DB_IMAGES] = "images",
	[DB_TAGS] = "tags",
	[DB_VNAMES] = "view_names",
	[DB_VINODES] = "view_inodes",
	[DB_CHAINS] = "chains",
	[DB_STAGING] = "staging",
	[DB_CONTAINERS] = "containers",
	[DB_MOUNTS] = "mounts",
	[DB_CACHE] = "build_cache",
	[DB_BLOBS] = "blobs",
};

int mdb_fail(int rc, const char *what)
{
	int code = rc == MDB_NOTFOUND ? ENOENT : rc == MDB_MAP_FULL ? ENOSPC : rc > 0 ? rc : EIO;
	return shale_err(code, "store database: %s: %s", what, mdb_strerror(rc));
}

char *shale_default_root(void)
{
	const char *e = getenv("SHALE_ROOT");
	if (e && *e)
		return xstrdup(e);
	if (geteuid() == 0)
		return xstrdup("/var/lib/shale");
	e = getenv("XDG_DATA_HOME");
	if (e && *e)
		return xasprintf("%s/shale", e);
	e = getenv("HOME");
	if (!e || !*e) {
		struct passwd *pw = getpwuid(geteuid());
		e = pw ? pw->pw_dir : "/tmp";
	}
	return xasprintf("%s/.local/share/shale", e);
}

const char *shale_root(const shale_store *s)
{
	return s->root;
}

struct rtxn_slot {
	MDB_txn *txn;
	int depth;
};

static void rtxn_destroy(void *p)
{
	struct rtxn_slot *slot = p;
	if (slot->txn)
		mdb_txn_abort(slot->txn);
	free(slot);
}

MDB_txn *rtxn_begin(shale_store *s)
{
	struct rtxn_slot *slot = pthread_getspecific(s->rtxn_key);
	if (!slot) {
		/* a FUSE worker's first read: out of memory is an error, not an abort */
		if (!(slot = calloc(1, sizeof *slot))) {
			shale_err(ENOMEM, "store database: begin read: out of memory");
			return NULL;
		}
		if (pthread_setspecific(s->rtxn_key, slot)) {
			free(slot);
			shale_err(ENOMEM, "store database: begin read: out of memory");
			return NULL;
		}
	}
	if (slot->depth++ > 0) /* nested calls share the snapshot */
		return slot->txn;
	int rc = slot->txn ? mdb_txn_renew(slot->txn)
			   : mdb_txn_begin(s->env, NULL, MDB_RDONLY, &slot->txn);
	if (rc) {
		if (slot->txn) {
			mdb_txn_abort(slot->txn);
			slot->txn = NULL;
		}
		slot->depth = 0;
		mdb_fail(rc, "begin read");
		return NULL;
	}
	return slot->txn;
}

void rtxn_end(shale_store *s, MDB_txn *txn)
{
	struct rtxn_slot *slot = pthread_getspecific(s->rtxn_key);
	if (!slot || !txn || slot->txn != txn)
		return;
	/* Reset, never hold: a long-lived reader pins old pages and the file grows. */
	if (--slot->depth == 0)
		mdb_txn_reset(txn);
}

int wtxn_begin(shale_store *s, MDB_txn **txn)
{
	int rc = mdb_txn_begin(s->env, NULL, 0, txn);
	return rc ? mdb_fail(rc, "begin write") : 0;
}

/* LMDB reports a short write, which is how a full filesystem shows, as EIO:
 * say ENOSPC when the database's filesystem has (almost) no room left. */
static int commit_errno(MDB_env *env, int rc)
{
	int fd;
	struct statvfs sv;
	if (rc == EIO && mdb_env_get_fd(env, &fd) == 0 && fstatvfs(fd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize < (1u << 20))
		return ENOSPC;
	return rc;
}

int wtxn_commit(MDB_txn *txn)
{
	MDB_env *env = mdb_txn_env(txn);
	SHALE_CRASH_POINT("before commit");
	int rc = mdb_txn_commit(txn);
	SHALE_CRASH_POINT("after commit");
	return rc ? mdb_fail(commit_errno(env, rc), "commit") : 0;
}

/* The map is address space, not memory: 1 TiB lets the database grow without
 * ever remapping. A process under RLIMIT_AS (ulimit -v) may not have that
 * much, so smaller maps are tried, down to STORE_MAP_MIN; LMDB never maps less
 * than the data file, and a write past this process's map fails with ENOSPC
 * ("MDB_MAP_FULL"). Other processes keep their own map sizes. */
static int open_env(shale_store *s, bool create)
{
	char *dbdir = xasprintf("%s/db", s->root);
	int rc;
	if (create && mkdir_p(dbdir, 0700) < 0)
		goto fail;
	for (size_t map = STORE_MAP_SIZE;; map /= 2) {
		if ((rc = mdb_env_create(&s->env)) ||
		    (rc = mdb_env_set_maxdbs(s->env, DB_COUNT + 4)) ||
		    (rc = mdb_env_set_maxreaders(s->env, 1022)) ||
		    (rc = mdb_env_set_mapsize(s->env, map))) {
			mdb_fail(rc, "create environment");
			goto fail;
		}
		/* NOTLS: read transactions are cached per thread by us, and FUSE worker
		 * threads come and go. Readahead stays on: a view's records are stored in
		 * tree order, so a cold walk reads neighbouring pages it is about to need. */
		rc = mdb_env_open(s->env, dbdir, MDB_NOTLS, 0600);
		if (rc != ENOMEM || map / 2 < STORE_MAP_MIN)
			break;
		/* a failed open leaves the handle unusable: start over, smaller */
		mdb_env_close(s->env);
		s->env = NULL;
	}
	if (rc) {
		if (rc == ENOENT)
			shale_err(ENOENT, "no shale store at %s (run 'shale init')", s->root);
		else if (rc == ENOMEM)
			shale_err(ENOMEM, "cannot open the store at %s: no room to map its database "
				  "(not even %llu MiB of address space; is ulimit -v too low?)",
				  s->root, (unsigned long long)(STORE_MAP_MIN >> 20));
		else
			shale_err(rc, "cannot open the store at %s: %s", s->root, mdb_strerror(rc));
		goto fail;
	}
	free(dbdir);
	return 0;
fail:
	free(dbdir);
	return -1;
}

static int open_dbs(shale_store *s, bool create)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, create ? 0 : MDB_RDONLY, &txn);
	if (rc)
		return mdb_fail(rc, "begin");
	for (int i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], create ? MDB_CREATE : 0, &s->dbi[i]);
		if (rc) {
			mdb_txn_abort(txn);
			if (rc == MDB_NOTFOUND)
				return shale_err(ENOENT, "no shale store at %s (run 'shale init')", s->root);
			return mdb_fail(rc, db_names[i]);
		}
	}
	if (create) {
		MDB_val k = {6, "secret"}, v;
		rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
		if (rc == MDB_NOTFOUND) {
			uint8_t secret[SECRET_LEN];
			if (getrandom(secret, sizeof secret, 0) != (ssize_t)sizeof secret) {
				mdb_txn_abort(txn);
				return shale_err(errno, "getrandom: %s", strerror(errno));
			}
			uint32_t ver = SHALE_FORMAT_VERSION;
			MDB_val sv = {sizeof secret, secret}, vk = {7, "version"}, vv = {4, &ver};
			if ((rc = mdb_put(txn, s->dbi[DB_META], &k, &sv, 0)) ||
			    (rc = mdb_put(txn, s->dbi[DB_META], &vk, &vv, 0))) {
				mdb_txn_abort(txn);
				return mdb_fail(rc, "init");
			}
		} else if (rc) {
			mdb_txn_abort(txn);
			return mdb_fail(rc, "read secret");
		}
	}
	MDB_val k = {6, "secret"}, v;
	rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (rc || v.mv_size != SECRET_LEN) {
		mdb_txn_abort(txn);
		return shale_err(EIO, "store at %s has no valid secret (corrupt meta database)", s->root);
	}
	memcpy(s->secret, v.mv_data, SECRET_LEN);
	MDB_val vk = {7, "version"}, vv;
	if (mdb_get(txn, s->dbi[DB_META], &vk, &vv) == 0 && vv.mv_size == 4) {
		uint32_t ver;
		memcpy(&ver, vv.mv_data, 4);
		if (ver != SHALE_FORMAT_VERSION) {
			mdb_txn_abort(txn);
			return shale_err(EINVAL, "store at %s has format %u, this shale reads %u", s->root,
					 ver, SHALE_FORMAT_VERSION);
		}
	}
	/* commit even a read-only txn: aborting it would close the new DBI handles */
	rc = mdb_txn_commit(txn);
	return rc ? mdb_fail(commit_errno(s->env, rc), "commit") : 0;
}

static shale_store *store_open(const char *root, bool create)
{
	shale_store *s = xcalloc(1, sizeof *s);
	char real[PATH_MAX];
	s->lock_fd = s->objdir_fd = -1;
	if (create && mkdir_p(root, 0711) < 0)
		goto fail;
	if (!realpath(root, real)) {
		shale_err(errno == ENOENT ? ENOENT : errno, "no shale store at %s (run 'shale init')",
			  root);
		goto fail;
	}
	s->root = xstrdup(real);
	s->objdir = xasprintf("%s/objects", s->root);
	s->tmpdir = xasprintf("%s/tmp", s->root);
	if (create) {
		char *c = xasprintf("%s/containers", s->root);
		int r = mkdir_p(s->objdir, 0700) | mkdir_p(s->tmpdir, 0700) | mkdir_p(c, 0700);
		free(c);
		if (r)
			goto fail;
	}
	if (open_env(s, create) < 0)
		goto fail;
	if (open_dbs(s, create) < 0) {
		/* a store made by an older shale lacks newer databases: add them */
		MDB_val k = {6, "secret"}, v;
		MDB_txn *t;
		bool initialised = !create && mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t) == 0;
		if (initialised) {
			MDB_dbi meta;
			initialised = mdb_dbi_open(t, "meta", 0, &meta) == 0 && mdb_get(t, meta, &k, &v) == 0;
			mdb_txn_abort(t);
		}
		if (!initialised || open_dbs(s, true) < 0)
			goto fail;
	}
	s->objdir_fd = open(s->objdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->objdir_fd < 0) {
		shale_err(errno, "open %s: %s", s->objdir, strerror(errno));
		goto fail;
	}
	char *lock = xasprintf("%s/lock", s->root);
	s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lock);
	if (s->lock_fd < 0) {
		shale_err(errno, "open lock in %s: %s", s->root, strerror(errno));
		goto fail;
	}
	if (pthread_key_create(&s->rtxn_key, rtxn_destroy)) {
		shale_err(ENOMEM, "pthread_key_create");
		goto fail;
	}
	return s;
fail:
	if (s->env)
		mdb_env_close(s->env);
	if (s->objdir_fd >= 0)
		close(s->objdir_fd);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->root);
	free(s->objdir);
	free(s->tmpdir);
	free(s);
	return NULL;
}

int shale_init(const char *root)
{
	shale_store *s = store_open(root, true);
	if (!s)
		return -1;
	shale_close(s);
	return 0;
}

shale_store *shale_open(const char *root)
{
	return store_open(root, false);
}

shale_store *shale_open_or_init(const char *root)
{
	struct stat st;
	char *db = xasprintf("%s/db/data.mdb", root);
	bool exists = stat(db, &st) == 0;
	free(db);
	return store_open(root, !exists);
}

void shale_close(shale_store *s)
{
	if (!s)
		return;
	struct rtxn_slot *slot = pthread_getspecific(s->rtxn_key);
	if (slot) {
		rtxn_destroy(slot);
		pthread_setspecific(s->rtxn_key, NULL);
	}
	pthread_key_delete(s->rtxn_key);
	mdb_env_close(s->env);
	close(s->objdir_fd);
	close(s->lock_fd);
	free(s->root);
	free(s->objdir);
	free(s->tmpdir);
	free(s);
}

/* Nested users (a build running several commits) share one flock: refs count them. */
int shale_lock_shared(shale_store *s)
{
	if (s->lock_state == 2 || s->lock_refs++ > 0)
		return 0;
	if (flock(s->lock_fd, LOCK_SH) < 0) {
		s->lock_refs = 0;
		return shale_err(errno, "lock store: %s", strerror(errno));
	}
	s->lock_state = 1;
	return 0;
}

int shale_lock_exclusive(shale_store *s, bool wait)
{
	if (s->lock_state == 2)
		return 0;
	if (flock(s->lock_fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EWOULDBLOCK)
			return shale_err(EBUSY, "the store is busy (an import, commit or build is running)");
		return shale_err(errno, "lock store: %s", strerror(errno));
	}
	s->lock_state = 2;
	return 0;
}

void shale_unlock(shale_store *s)
{
	if (s->lock_state == 1 && --s->lock_refs > 0)
		return;
	if (s->lock_state)
		flock(s->lock_fd, LOCK_UN);
	s->lock_state = 0;
	s->lock_refs = 0;
}

MDB_dbi table_dbi(shale_store *s, enum shale_table t)
{
	switch (t) {
	case SHALE_T_CONTAINERS: return s->dbi[DB_CONTAINERS];
	case SHALE_T_MOUNTS: return s->dbi[DB_MOUNTS];
	case SHALE_T_BLOBS: return s->dbi[DB_BLOBS];
	default: return s->dbi[DB_CACHE];
	}
}

/* Mount records describe running daemons: after a crash they are stale
 * anyway, so their commits skip the fsync (a mount costs no disk flush). */
static int commit_table(shale_store *s, enum shale_table t, MDB_txn *txn)
{
	if (t != SHALE_T_MOUNTS)
		return wtxn_commit(txn);
	mdb_env_set_flags(s->env, MDB_NOSYNC, 1);
	int r = wtxn_commit(txn);
	mdb_env_set_flags(s->env, MDB_NOSYNC, 0);
	return r;
}

int shale_table_put(shale_store *s, enum shale_table t, const char *key, json_t *val)
{
	char *js = json_dumps(val, JSON_COMPACT | JSON_SORT_KEYS);
	MDB_txn *txn;
	if (!js)
		return shale_err(EINVAL, "cannot encode record");
	if (wtxn_begin(s, &txn) < 0) {
		free(js);
		return -1;
	}
	MDB_val k = {strlen(key), (void *)key}, v = {strlen(js), js};
	int rc = mdb_put(txn, table_dbi(s, t), &k, &v, 0);
	free(js);
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_fail(rc, "put record");
	}
	return commit_table(s, t, txn);
}

json_t *shale_table_get(shale_store *s, enum shale_table t, const char *key)
{
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return NULL;
	MDB_val k = {strlen(key), (void *)key}, v;
	json_t *j = NULL;
	int rc = mdb_get(txn, table_dbi(s, t), &k, &v);
	if (rc == 0)
		j = json_loadb(v.mv_data, v.mv_size, 0, NULL);
	else
		mdb_fail(rc, key);
	rtxn_end(s, txn);
	return j;
}

int shale_table_delete(shale_store *s, enum shale_table t, const char *key)
{
	MDB_txn *txn;
	if (wtxn_begin(s, &txn) < 0)
		return -1;
	MDB_val k = {strlen(key), (void *)key};
	int rc = mdb_del(txn, table_dbi(s, t), &k, NULL);
	if (rc && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return mdb_fail(rc, "delete record");
	}
	return commit_table(s, t, txn);
}

int shale_table_foreach(shale_store *s, enum shale_table t, shale_table_fn fn, void *ctx)
{
	/* Collect first: callbacks may write to the store. */
	MDB_txn *txn = rtxn_begin(s);
	if (!txn)
		return -1;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0, cap = 0;
	struct kv { char *key; json_t *val; } *items = NULL;
	mdb_cursor_open(txn, table_dbi(s, t), &c);
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (n == cap)
			items = xrealloc(items, (cap = cap ? 2 * cap : 16) * sizeof *items);
		items[n].key = strndup(k.mv_data, k.mv_size);
		items[n].val = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		n++;
	}
	mdb_cursor_close(c);
	rtxn_end(s, txn);
	int ret = 0;
	for (size_t i = 0; i < n; i++) {
		if (!ret && items[i].val)
			ret = fn(ctx, items[i].key, items[i].val);
		free(items[i].key);
		json_decref(items[i].val);
	}
	free(items);
	return ret;
}
