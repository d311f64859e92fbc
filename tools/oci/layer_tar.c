/* Export a stored layer as an OCI tar changeset (see layer_tar.h).
 *
 * libarchive writes the tar (pax, restricted to what each member needs) into a
 * callback that hashes it (the diff_id) and hands it to a second libarchive
 * writer in raw format with the gzip or zstd filter, whose output is hashed
 * again (the blob digest) on its way to the file. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobdir.h"
#include "layer_tar.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define BLOCK (64 * 1024)

struct exporter {
	shale_store *s;
	struct archive *tar, *comp; /* comp: NULL when not compressing */
	oci_hasher *diff, *blob;
	uint64_t tar_size, blob_size;
	int fd;
	int werr;             /* errno of a failed write to fd */
	char **group_path;    /* hardlink group -> first path */
	size_t ngroups;
	uint64_t sockets;     /* skipped: tar cannot hold them */
	uint64_t done, total; /* content bytes, for progress */
	oci_bytes_fn progress;
	void *pctx;
	uint8_t *buf;
};

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static la_ssize_t comp_out(struct archive *a, void *ctx, const void *buf, size_t n)
{
	struct exporter *x = ctx;
	(void)a;
	oci_hasher_update(x->blob, buf, n);
	x->blob_size += n;
	if (write_all(x->fd, buf, n) < 0) {
		x->werr = errno;
		return -1;
	}
	return (la_ssize_t)n;
}

static la_ssize_t tar_out(struct archive *a, void *ctx, const void *buf, size_t n)
{
	struct exporter *x = ctx;
	(void)a;
	oci_hasher_update(x->diff, buf, n);
	x->tar_size += n;
	if (!x->comp)
		return comp_out(a, ctx, buf, n);
	la_ssize_t w = archive_write_data(x->comp, buf, n);
	return w == (la_ssize_t)n ? w : -1;
}

static int arch_fail(struct exporter *x, struct archive *a, const char *what)
{
	if (x->werr)
		return shale_err(x->werr, "%s: write: %s", what, strerror(x->werr));
	const char *m = archive_error_string(a);
	if (a == x->tar && x->comp && archive_error_string(x->comp))
		m = archive_error_string(x->comp);
	return shale_err(EIO, "%s: %s", what, m ? m : "archive error");
}

static void add_xattrs(struct archive_entry *ae, const shale_entry *e)
{
	uint32_t pos = 0, nl, vl;
	const char *name;
	const uint8_t *val;
	while (shale_xattr_next(e->xattrs, e->xattrs_len, &pos, &name, &nl, &val, &vl)) {
		char n[256];
		snprintf(n, sizeof n, "%.*s", (int)nl, name);
		archive_entry_xattr_add_entry(ae, n, val, vl);
	}
}

/* Write a file's content; chunks that are holes become a sparse map, which
 * libarchive writes as a pax GNU.sparse 1.0 member (holes are then skipped). */
static int write_content(struct exporter *x, struct archive_entry *ae, const shale_entry *e,
			 const char *path)
{
	shale_chunks ch = {0};
	bool sparse = false;
	if ((e->flags & SHALE_F_INLINE) == 0 && e->size) {
		if (shale_content_chunks(x->s, e, &ch) < 0)
			return shale_err_prefix("%s", path);
		for (uint64_t i = 0; i < ch.count; i++)
			sparse |= shale_id_is_zero(&ch.digests[i]);
	}
	if (sparse) {
		bool any = false;
		for (uint64_t i = 0; i < ch.count;) {
			if (shale_id_is_zero(&ch.digests[i])) {
				i++;
				continue;
			}
			uint64_t j = i;
			while (j < ch.count && !shale_id_is_zero(&ch.digests[j]))
				j++;
			uint64_t off = i * SHALE_CHUNK_SIZE, end = j * SHALE_CHUNK_SIZE;
			if (end > e->size)
				end = e->size;
			archive_entry_sparse_add_entry(ae, (la_int64_t)off, (la_int64_t)(end - off));
			any = true;
			i = j;
		}
		if (!any) /* all holes: GNU tar's convention, an empty block at the end */
			archive_entry_sparse_add_entry(ae, (la_int64_t)e->size, 0);
	}
	int r = archive_write_header(x->tar, ae);
	if (r < ARCHIVE_WARN) {
		free(ch.digests);
		return arch_fail(x, x->tar, path);
	}
	if (e->flags & SHALE_F_INLINE) {
		free(ch.digests);
		if (e->size && archive_write_data(x->tar, e->data, e->size) != (la_ssize_t)e->size)
			return arch_fail(x, x->tar, path);
		x->done += e->size;
		return 0;
	}
	int ret = 0;
	for (uint64_t i = 0; i < ch.count && ret == 0; i++) {
		uint64_t off = i * SHALE_CHUNK_SIZE;
		size_t n = e->size - off < SHALE_CHUNK_SIZE ? (size_t)(e->size - off) : SHALE_CHUNK_SIZE;
		if (shale_id_is_zero(&ch.digests[i])) {
			memset(x->buf, 0, n);
		} else {
			int fd = shale_object_open(x->s, &ch.digests[i]);
			if (fd < 0) {
				ret = shale_err_prefix("%s", path);
				break;
			}
			size_t got = 0;
			while (got < n) {
				ssize_t rd = pread(fd, x->buf + got, n - got, (off_t)got);
				if (rd < 0 && errno == EINTR)
					continue;
				if (rd <= 0)
					break;
				got += (size_t)rd;
			}
			close(fd);
			if (got != n) {
				ret = shale_err(EIO, "%s: object shorter than its chunk", path);
				break;
			}
		}
		if (archive_write_data(x->tar, x->buf, n) != (la_ssize_t)n)
			ret = arch_fail(x, x->tar, path);
		x->done += n;
		if (x->progress)
			x->progress(x->pctx, x->done, x->total);
	}
	free(ch.digests);
	return ret;
}

static int add_marker(struct exporter *x, const char *name)
{
	struct archive_entry *ae = archive_entry_new();
	archive_entry_set_pathname(ae, name);
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0);
	archive_entry_set_size(ae, 0);
	archive_entry_set_mtime(ae, 0, 0);
	int r = archive_write_header(x->tar, ae);
	archive_entry_free(ae);
	return r < ARCHIVE_WARN ? arch_fail(x, x->tar, name) : 0;
}

static int export_entry(void *ctx, const char *path, const shale_entry *e)
{
	struct exporter *x = ctx;
	char name[PATH_MAX + 16];
	const char *slash = strrchr(path, '/');
	if (e->type == SHALE_WHITEOUT) {
		snprintf(name, sizeof name, "%.*s%s%s", slash ? (int)(slash - path + 1) : 0, path,
			 WH_PREFIX, slash ? slash + 1 : path);
		return add_marker(x, name);
	}
	if (e->type == SHALE_SOCK) {
		x->sockets++;
		return 0;
	}
	if (e->type == SHALE_DIR && (e->flags & SHALE_F_IMPLICIT)) {
		/* Not in the source tar: leave it implicit again (its opaque marker stays). */
		if (e->flags & SHALE_F_OPAQUE) {
			snprintf(name, sizeof name, "%s%s" WH_OPAQUE, path, *path ? "/" : "");
			return add_marker(x, name);
		}
		return 0;
	}
	snprintf(name, sizeof name, "%s", *path ? path : ".");
	struct archive_entry *ae = archive_entry_new();
	archive_entry_set_pathname(ae, name);
	archive_entry_set_perm(ae, e->mode & 07777);
	archive_entry_set_uid(ae, e->uid);
	archive_entry_set_gid(ae, e->gid);
	archive_entry_set_mtime(ae, e->mtime.tv_sec, e->mtime.tv_nsec);
	/* The store keeps ctime; carry it only when it says something mtime does not. */
	if (e->ctime.tv_sec != e->mtime.tv_sec || e->ctime.tv_nsec != e->mtime.tv_nsec)
		archive_entry_set_ctime(ae, e->ctime.tv_sec, e->ctime.tv_nsec);
	add_xattrs(ae, e);
	int ret = 0, r = ARCHIVE_OK;
	char target[PATH_MAX + 1];

	if (e->link_group) {
		if (e->link_group > x->ngroups) {
			size_t n = e->link_group + 64;
			x->group_path = realloc(x->group_path, n * sizeof *x->group_path);
			memset(x->group_path + x->ngroups, 0, (n - x->ngroups) * sizeof *x->group_path);
			x->ngroups = n;
		}
		char **first = &x->group_path[e->link_group - 1];
		if (*first) {
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, *first);
			archive_entry_set_size(ae, 0);
			r = archive_write_header(x->tar, ae);
			goto done;
		}
		*first = strdup(name);
	}
	switch (e->type) {
	case SHALE_REG:
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_size(ae, (la_int64_t)e->size);
		ret = write_content(x, ae, e, path);
		break;
	case SHALE_DIR:
		archive_entry_set_filetype(ae, AE_IFDIR);
		r = archive_write_header(x->tar, ae);
		if (r >= ARCHIVE_WARN && (e->flags & SHALE_F_OPAQUE)) {
			snprintf(name, sizeof name, "%s%s" WH_OPAQUE, path, *path ? "/" : "");
			ret = add_marker(x, name);
		}
		break;
	case SHALE_LNK:
		archive_entry_set_filetype(ae, AE_IFLNK);
		snprintf(target, sizeof target, "%.*s", (int)e->target_len, e->target);
		archive_entry_set_symlink(ae, target);
		r = archive_write_header(x->tar, ae);
		break;
	case SHALE_CHR:
	case SHALE_BLK:
		archive_entry_set_filetype(ae, e->type == SHALE_CHR ? AE_IFCHR : AE_IFBLK);
		archive_entry_set_rdev(ae, (dev_t)e->rdev);
		r = archive_write_header(x->tar, ae);
		break;
	case SHALE_FIFO:
		archive_entry_set_filetype(ae, AE_IFIFO);
		r = archive_write_header(x->tar, ae);
		break;
	default:
		ret = shale_err(EINVAL, "%s: unknown entry type %u", path, e->type);
	}
done:
	if (ret == 0 && r < ARCHIVE_WARN)
		ret = arch_fail(x, x->tar, path);
	archive_entry_free(ae);
	return ret < 0 ? -1 : 0;
}

static struct archive *new_compressor(struct exporter *x, enum oci_compression c)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_raw(a);
	int r = c == OCI_COMP_GZIP ? archive_write_add_filter_gzip(a) : archive_write_add_filter_zstd(a);
	/* Fixed levels and no timestamp: the same tar always compresses the same. */
	const char *opts = c == OCI_COMP_GZIP ? "gzip:compression-level=6,gzip:!timestamp"
					     : "zstd:compression-level=3";
	if (r != ARCHIVE_OK || archive_write_set_options(a, opts) != ARCHIVE_OK) {
		shale_err(EIO, "compressor: %s", archive_error_string(a));
		archive_write_free(a);
		return NULL;
	}
	archive_write_set_bytes_per_block(a, BLOCK);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open2(a, x, NULL, comp_out, NULL, NULL) != ARCHIVE_OK) {
		shale_err(EIO, "compressor: %s", archive_error_string(a));
		archive_write_free(a);
		return NULL;
	}
	struct archive_entry *ae = archive_entry_new();
	archive_entry_set_pathname(ae, "layer.tar");
	archive_entry_set_filetype(ae, AE_IFREG);
	r = archive_write_header(a, ae);
	archive_entry_free(ae);
	if (r != ARCHIVE_OK) {
		shale_err(EIO, "compressor: %s", archive_error_string(a));
		archive_write_free(a);
		return NULL;
	}
	return a;
}

int oci_layer_write(shale_store *s, const shale_id *layer, enum oci_compression c, int fd,
		    struct blob_info *out, uint64_t *tar_size, oci_bytes_fn progress, void *ctx)
{
	struct exporter x = {.s = s, .fd = fd, .progress = progress, .pctx = ctx};
	shale_layer_info li;
	char hex[SHALE_ID_HEX];
	shale_id_hex(layer, hex);
	if (shale_layer_get(s, layer, &li) < 0)
		return -1;
	x.total = li.size;
	x.diff = oci_hasher_new();
	x.blob = oci_hasher_new();
	x.buf = malloc(SHALE_CHUNK_SIZE);
	x.tar = archive_write_new();
	int ret = -1;
	if (!x.diff || !x.blob || !x.buf || !x.tar) {
		shale_err(ENOMEM, "out of memory");
		goto out;
	}
	if (c != OCI_COMP_NONE && !(x.comp = new_compressor(&x, c)))
		goto out;
	archive_write_set_format_pax(x.tar);
	/* SCHILY.xattr only: what Go's archive/tar and GNU tar read. */
	if (archive_write_set_options(x.tar, "xattrheader=SCHILY") != ARCHIVE_OK) {
		shale_err(EIO, "tar writer: %s", archive_error_string(x.tar));
		goto out;
	}
	archive_write_set_bytes_per_block(x.tar, BLOCK);
	archive_write_set_bytes_in_last_block(x.tar, 1);
	if (archive_write_open2(x.tar, &x, NULL, tar_out, NULL, NULL) != ARCHIVE_OK) {
		arch_fail(&x, x.tar, "tar writer");
		goto out;
	}
	/* libarchive converts names from the locale's charset to UTF-8 for pax
	 * headers: in the C locale, whatever the caller set, names that are not
	 * ASCII are always written the same way (raw bytes, hdrcharset=BINARY). */
	locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0), old_locale = NULL;
	if (c_locale)
		old_locale = uselocale(c_locale);
	int walked = shale_layer_walk(s, layer, "", export_entry, &x);
	if (c_locale) {
		uselocale(old_locale);
		freelocale(c_locale);
	}
	if (walked < 0) {
		shale_err_prefix("export layer %.12s", hex);
		goto out;
	}
	if (archive_write_close(x.tar) != ARCHIVE_OK) {
		arch_fail(&x, x.tar, "tar writer");
		goto out;
	}
	if (x.comp && archive_write_close(x.comp) != ARCHIVE_OK) {
		arch_fail(&x, x.comp, "compressor");
		goto out;
	}
	memset(out, 0, sizeof *out);
	oci_hasher_final(x.diff, out->diff_id);
	oci_hasher_final(x.blob, out->digest);
	out->size = (int64_t)x.blob_size;
	snprintf(out->media_type, sizeof out->media_type, "%s", oci_layer_media_type(c));
	if (tar_size)
		*tar_size = x.tar_size;
	if (x.sockets)
		fprintf(stderr, "shale: warning: layer %.12s: %llu socket(s) left out (tar cannot hold "
				"sockets)\n",
			hex, (unsigned long long)x.sockets);
	ret = 0;
out:
	if (x.tar)
		archive_write_free(x.tar);
	if (x.comp)
		archive_write_free(x.comp);
	oci_hasher_free(x.diff);
	oci_hasher_free(x.blob);
	for (size_t i = 0; i < x.ngroups; i++)
		free(x.group_path[i]);
	free(x.group_path);
	free(x.buf);
	return ret;
}

int oci_layer_blob(shale_store *s, const shale_id *layer, enum oci_compression c,
		   struct blob_info *out, char **path, oci_bytes_fn progress, void *ctx)
{
	*path = NULL;
	if (blobcache_export_get(s, layer, c, out) == 1 && blobdir_has(s, out->digest)) {
		/* left by an interrupted command: use it if it is still what its name says */
		char *p = blobdir_path(s, out->digest), got[OCI_DIGEST_LEN];
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		uint64_t size = 0;
		bool ok = fd >= 0 && oci_sha256_fd(fd, got, &size) == 0 && !strcmp(got, out->digest) &&
			  size == (uint64_t)out->size;
		if (fd >= 0)
			close(fd);
		if (ok) {
			*path = p;
			return 0;
		}
		unlink(p);
		free(p);
	}
	char *tmp = NULL;
	int fd = blobdir_tmpfile(s, &tmp);
	if (fd < 0)
		return -1;
	uint64_t tar_size = 0;
	/* No fsync: the file is scratch, checked against its name before any reuse. */
	int r = oci_layer_write(s, layer, c, fd, out, &tar_size, progress, ctx);
	close(fd);
	char *final = r == 0 ? blobdir_path(s, out->digest) : NULL;
	if (r == 0 && rename(tmp, final) < 0)
		r = shale_err(errno, "%s: %s", final, strerror(errno));
	if (r == 0)
		r = blobcache_export_put(s, layer, c, out, tar_size);
	if (r < 0) {
		unlink(tmp);
		free(final);
		final = NULL;
	}
	free(tmp);
	*path = final;
	return r;
}

int oci_layer_digests(shale_store *s, const shale_id *layer, enum oci_compression c,
		      struct blob_info *out, oci_bytes_fn progress, void *ctx)
{
	if (blobcache_export_get(s, layer, c, out) == 1)
		return 0;
	char *path;
	if (oci_layer_blob(s, layer, c, out, &path, progress, ctx) < 0)
		return -1;
	free(path);
	return 0;
}
