/* Import a directory or a tar stream as a layer, through libarchive.
 *
 * Tars may be plain or compressed (gzip, xz, zstd, bzip2: libarchive detects the
 * filter). OCI whiteouts in tars (.wh.NAME, .wh..wh..opq) become whiteout and
 * opaque entries; a directory source is recorded as it is. Entries stream
 * through the layer builder, so memory does not grow with the tree. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "internal.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* (dev, ino) -> first path, for hardlinks in a directory source. */
struct inomap {
	struct ino_slot { uint64_t dev, ino; char *path; } *slots;
	size_t n, cap;
};

static char *inomap_find_or_add(struct inomap *m, uint64_t dev, uint64_t ino, const char *path)
{
	if (2 * (m->n + 1) > m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 256;
		struct ino_slot *s = xcalloc(cap, sizeof *s);
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->slots[i].path)
				continue;
			size_t j = (m->slots[i].ino * 31 + m->slots[i].dev) & (cap - 1);
			while (s[j].path)
				j = (j + 1) & (cap - 1);
			s[j] = m->slots[i];
		}
		free(m->slots);
		m->slots = s;
		m->cap = cap;
	}
	size_t j = (ino * 31 + dev) & (m->cap - 1);
	while (m->slots[j].path) {
		if (m->slots[j].dev == dev && m->slots[j].ino == ino)
			return m->slots[j].path;
		j = (j + 1) & (m->cap - 1);
	}
	m->slots[j] = (struct ino_slot){dev, ino, xstrdup(path)};
	m->n++;
	return NULL;
}

static void inomap_free(struct inomap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].path);
	free(m->slots);
}

struct xa {
	const char *name;
	const void *value;
	size_t size;
};

static int xa_cmp(const void *a, const void *b)
{
	return strcmp(((const struct xa *)a)->name, ((const struct xa *)b)->name);
}

/* Encode an entry's xattrs, sorted by name (canonical). */
static void encode_xattrs(struct archive_entry *ae, sbuf *out)
{
	out->len = 0;
	int n = archive_entry_xattr_reset(ae);
	if (n <= 0)
		return;
	struct xa *v = xcalloc((size_t)n, sizeof *v);
	int i = 0;
	while (i < n && archive_entry_xattr_next(ae, &v[i].name, &v[i].value, &v[i].size) ==
				ARCHIVE_OK)
		i++;
	qsort(v, (size_t)i, sizeof *v, xa_cmp);
	for (int j = 0; j < i; j++) {
		size_t nl = strlen(v[j].name);
		if (nl > 255 || v[j].size > 65536)
			continue; /* beyond what Linux allows anyway */
		sbuf_u16(out, (uint16_t)nl);
		sbuf_put(out, v[j].name, nl);
		sbuf_u32(out, (uint32_t)v[j].size);
		sbuf_put(out, v[j].value, v[j].size);
	}
	free(v);
}

static int entry_type(struct archive_entry *ae, uint8_t *type)
{
	switch (archive_entry_filetype(ae)) {
	case AE_IFREG: *type = SHALE_REG; return 0;
	case AE_IFDIR: *type = SHALE_DIR; return 0;
	case AE_IFLNK: *type = SHALE_LNK; return 0;
	case AE_IFCHR: *type = SHALE_CHR; return 0;
	case AE_IFBLK: *type = SHALE_BLK; return 0;
	case AE_IFIFO: *type = SHALE_FIFO; return 0;
	case AE_IFSOCK: *type = SHALE_SOCK; return 0;
	default: return -1;
	}
}

struct importer {
	shale_store *s;
	struct archive *a;
	shale_layer_builder *lb;
	bool disk, tar;
	const char *prefix; /* where the archive's root lands ("" for a whole layer) */
	size_t strip; /* directory source: prefix to strip from pathnames */
	struct inomap links;
	sbuf xattrs;
	shale_progress prog;
	shale_progress_fn progress;
	void *pctx;
	uint64_t last_report;
};

static int arch_err(struct importer *im, const char *what)
{
	const char *m = archive_error_string(im->a);
	int e = archive_errno(im->a);
	return shale_err(e == ENOMEM ? ENOMEM : EINVAL, "%s: %s", what, m ? m : "archive error");
}

static void report(struct importer *im, bool force)
{
	if (!im->progress)
		return;
	if (im->tar)
		im->prog.bytes = (uint64_t)archive_filter_bytes(im->a, -1);
	if (!force && im->prog.entries - im->last_report < 256)
		return;
	im->last_report = im->prog.entries;
	im->progress(im->pctx, &im->prog);
}

static int read_content(struct importer *im, struct archive_entry *ae, shale_entry *e,
			const char *path)
{
	shale_content_writer *cw = shale_lb_content(im->lb);
	la_int64_t size = archive_entry_size(ae);
	if (size < 0)
		size = 0;
	if (shale_cw_begin(cw, (uint64_t)size) < 0)
		return shale_err_prefix("%s", path);
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(im->a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return arch_err(im, path);
		if (len && shale_cw_write(cw, (uint64_t)off, buf, len) < 0)
			return shale_err_prefix("%s", path);
		if (!im->tar)
			im->prog.bytes += len;
	}
	return shale_cw_end(cw, e) < 0 ? shale_err_prefix("%s", path) : 0;
}

static int import_entry(struct importer *im, struct archive_entry *ae)
{
	const char *raw = archive_entry_pathname(ae);
	char path[PATH_MAX], tmp[PATH_MAX];
	if (!raw)
		return shale_err(EINVAL, "archive member without a name");
	if (im->disk) {
		size_t n = strlen(raw);
		raw = n <= im->strip ? "" : raw + im->strip;
		while (*raw == '/')
			raw++;
	}
	if (strlen(raw) >= PATH_MAX)
		return shale_err(ENAMETOOLONG, "member name longer than %d bytes", PATH_MAX - 1);
	if (path_normalize(raw, path, true) < 0)
		return -1;

	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	if (*im->prefix) { /* extracted under a directory: prefix/path */
		size_t pl = strlen(im->prefix), l = strlen(path);
		if (pl + 1 + l >= PATH_MAX)
			return shale_err(ENAMETOOLONG, "'%s': path too long under %s", path, im->prefix);
		memmove(path + pl + (l ? 1 : 0), path, l + 1);
		memcpy(path, im->prefix, pl);
		if (l)
			path[pl] = '/';
		slash = strrchr(path, '/');
		base = slash ? slash + 1 : path;
	}
	if (im->tar && strncmp(base, WH_PREFIX, 4) == 0) {
		size_t dl = slash ? (size_t)(slash - path) : 0;
		memcpy(tmp, path, dl);
		tmp[dl] = 0;
		if (strcmp(base, WH_OPAQUE) == 0)
			return shale_lb_set_opaque(im->lb, tmp);
		if (strncmp(base, ".wh..wh.", 8) == 0)
			return 0; /* reserved (aufs hardlink dirs): nothing to record */
		if (!base[4])
			return shale_err(EINVAL, "'%s': empty whiteout name", path);
		snprintf(tmp + dl, sizeof tmp - dl, "%s%s", dl ? "/" : "", base + 4);
		return shale_lb_add_whiteout(im->lb, tmp);
	}

	const char *hl = archive_entry_hardlink(ae);
	if (hl) {
		char target[PATH_MAX];
		if (path_normalize(hl, tmp, true) < 0)
			return shale_err_prefix("hardlink %s", path);
		if ((size_t)snprintf(target, sizeof target, "%s%s%s", im->prefix, *im->prefix ? "/" : "",
				     tmp) >= sizeof target)
			return shale_err(ENAMETOOLONG, "hardlink %s: target path too long", path);
		return shale_lb_add_hardlink(im->lb, path, target);
	}
	if (im->disk && archive_entry_nlink(ae) > 1 && archive_entry_filetype(ae) != AE_IFDIR) {
		const char *first = inomap_find_or_add(&im->links, (uint64_t)archive_entry_dev(ae),
						       (uint64_t)archive_entry_ino64(ae), path);
		if (first)
			return shale_lb_add_hardlink(im->lb, path, first);
	}

	shale_entry e = {0};
	if (entry_type(ae, &e.type) < 0)
		return shale_err(EINVAL, "'%s': unsupported file type", path);
	if (!*path && e.type != SHALE_DIR)
		return shale_err(EINVAL, "the root of the archive is not a directory");
	e.mode = archive_entry_perm(ae) & 07777;
	e.uid = (uint32_t)archive_entry_uid(ae);
	e.gid = (uint32_t)archive_entry_gid(ae);
	e.mtime.tv_sec = archive_entry_mtime(ae);
	e.mtime.tv_nsec = archive_entry_mtime_nsec(ae);
	if (archive_entry_ctime_is_set(ae)) {
		e.ctime.tv_sec = archive_entry_ctime(ae);
		e.ctime.tv_nsec = archive_entry_ctime_nsec(ae);
	} else {
		e.ctime = e.mtime;
	}
	if (e.type == SHALE_CHR || e.type == SHALE_BLK)
		e.rdev = makedev(archive_entry_rdevmajor(ae), archive_entry_rdevminor(ae));
	if (e.type == SHALE_LNK) {
		const char *t = archive_entry_symlink(ae);
		if (!t || !*t)
			return shale_err(EINVAL, "'%s': symlink without a target", path);
		size_t tl = strlen(t);
		if (tl >= PATH_MAX)
			return shale_err(ENAMETOOLONG, "'%s': symlink target too long", path);
		e.target = t; /* recorded, never followed on the host */
		e.target_len = (uint32_t)tl;
		e.size = tl;
	}
	encode_xattrs(ae, &im->xattrs);
	e.xattrs = im->xattrs.p;
	e.xattrs_len = (uint32_t)im->xattrs.len;
	if (e.type == SHALE_REG && read_content(im, ae, &e, path) < 0)
		return -1;
	return shale_lb_add(im->lb, path, &e);
}

/* Read every member of `source` (a directory, a tar, "-") into im->lb. */
static int import_into(struct importer *im, const char *source)
{
	struct stat st;
	char src[PATH_MAX];
	bool is_stdin = strcmp(source, "-") == 0;
	if (!is_stdin && stat(source, &st) < 0)
		return shale_err(ENOENT, "%s: %s", source, strerror(errno));
	if (!is_stdin && S_ISDIR(st.st_mode)) {
		size_t n = strlen(source);
		while (n > 1 && source[n - 1] == '/')
			n--;
		if (n >= sizeof src)
			return shale_err(ENAMETOOLONG, "%s: path too long", source);
		memcpy(src, source, n);
		src[n] = 0;
		im->disk = true;
		im->strip = n;
		im->a = archive_read_disk_new();
		archive_read_disk_set_symlink_physical(im->a);
		archive_read_disk_set_behavior(im->a, ARCHIVE_READDISK_NO_ACL |
							      ARCHIVE_READDISK_NO_FFLAGS |
							      ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
		if (archive_read_disk_open(im->a, src) != ARCHIVE_OK)
			return arch_err(im, source);
	} else {
		im->tar = true;
		if (!is_stdin)
			im->prog.total_bytes = (uint64_t)st.st_size;
		im->a = archive_read_new();
		archive_read_support_filter_all(im->a);
		archive_read_support_format_tar(im->a);
		if (archive_read_open_filename(im->a, is_stdin ? NULL : source, 1 << 20) != ARCHIVE_OK)
			return arch_err(im, source);
	}
	struct archive_entry *ae = archive_entry_new();
	int ret = 0;
	for (;;) {
		int r = archive_read_next_header2(im->a, ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			ret = arch_err(im, source);
			break;
		}
		if (import_entry(im, ae) < 0) {
			ret = shale_err_prefix("import %s", source);
			break;
		}
		SHALE_CRASH_POINT("entry imported");
		if (im->disk && archive_entry_filetype(ae) == AE_IFDIR)
			archive_read_disk_descend(im->a);
		im->prog.entries++;
		report(im, false);
	}
	archive_entry_free(ae);
	if (!ret && im->tar && im->prog.entries == 0)
		ret = shale_err(EINVAL, "import %s: not a tar archive, or an empty one", source);
	if (!ret)
		report(im, true);
	return ret;
}

static void importer_free(struct importer *im)
{
	if (im->a)
		archive_read_free(im->a);
	inomap_free(&im->links);
	sbuf_free(&im->xattrs);
}

int shale_import_layer(shale_store *s, const char *source, shale_id *layer_id,
		       shale_progress_fn progress, void *progress_ctx)
{
	struct importer im = {.s = s, .progress = progress, .pctx = progress_ctx, .prefix = ""};
	int ret = -1;
	im.lb = shale_lb_new(s);
	if (im.lb && import_into(&im, source) == 0) {
		ret = shale_lb_finish(im.lb, layer_id);
		if (ret < 0)
			shale_err_prefix("import %s", source);
	}
	shale_lb_free(im.lb);
	importer_free(&im);
	return ret;
}

int shale_lb_import(shale_layer_builder *lb, shale_store *s, const char *source, const char *prefix)
{
	char norm[PATH_MAX];
	if (path_normalize(prefix, norm, true) < 0)
		return -1;
	struct importer im = {.s = s, .lb = lb, .prefix = norm};
	int ret = import_into(&im, source);
	importer_free(&im);
	return ret;
}

bool shale_archive_detect(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	bool ok = archive_read_open_filename(a, path, 1 << 16) == ARCHIVE_OK &&
		  archive_read_next_header(a, &ae) == ARCHIVE_OK;
	archive_read_free(a);
	return ok;
}
