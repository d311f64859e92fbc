/* Entry records and their keys: the binary format docs/architecture.md describes. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define ENTRY_VERSION 1

void entry_encode(sbuf *b, const shale_entry *e)
{
	sbuf_u8(b, ENTRY_VERSION);
	sbuf_u8(b, e->type);
	sbuf_u8(b, e->flags);
	sbuf_u8(b, 0);
	sbuf_u32(b, e->mode);
	sbuf_u32(b, e->uid);
	sbuf_u32(b, e->gid);
	sbuf_u32(b, e->nlink);
	sbuf_u64(b, e->size);
	sbuf_u64(b, e->rdev);
	sbuf_u64(b, e->link_group);
	sbuf_u64(b, (uint64_t)e->mtime.tv_sec);
	sbuf_u32(b, (uint32_t)e->mtime.tv_nsec);
	sbuf_u64(b, (uint64_t)e->ctime.tv_sec);
	sbuf_u32(b, (uint32_t)e->ctime.tv_nsec);
	if (e->type == SHALE_REG && !(e->flags & SHALE_F_INLINE) && e->size > 0)
		sbuf_put(b, e->content.b, SHALE_ID_LEN);
	if (e->flags & SHALE_F_INLINE) {
		sbuf_u32(b, e->data_len);
		sbuf_put(b, e->data, e->data_len);
	}
	if (e->type == SHALE_LNK) {
		sbuf_u32(b, e->target_len);
		sbuf_put(b, e->target, e->target_len);
	}
	sbuf_u32(b, e->xattrs_len);
	sbuf_put(b, e->xattrs, e->xattrs_len);
}

int entry_decode(const void *buf, size_t len, shale_entry *e)
{
	rbuf r = {.p = buf, .len = len};
	memset(e, 0, sizeof *e);
	if (rb_u8(&r) != ENTRY_VERSION)
		return shale_err(EIO, "corrupt entry record (unknown version)");
	e->type = rb_u8(&r);
	e->flags = rb_u8(&r);
	rb_u8(&r);
	e->mode = rb_u32(&r);
	e->uid = rb_u32(&r);
	e->gid = rb_u32(&r);
	e->nlink = rb_u32(&r);
	e->size = rb_u64(&r);
	e->rdev = rb_u64(&r);
	e->link_group = rb_u64(&r);
	e->mtime.tv_sec = (time_t)rb_u64(&r);
	e->mtime.tv_nsec = rb_u32(&r);
	e->ctime.tv_sec = (time_t)rb_u64(&r);
	e->ctime.tv_nsec = rb_u32(&r);
	if (e->type == SHALE_REG && !(e->flags & SHALE_F_INLINE) && e->size > 0) {
		const uint8_t *p = rb_bytes(&r, SHALE_ID_LEN);
		if (p)
			memcpy(e->content.b, p, SHALE_ID_LEN);
	}
	if (e->flags & SHALE_F_INLINE) {
		e->data_len = rb_u32(&r);
		e->data = rb_bytes(&r, e->data_len);
	}
	if (e->type == SHALE_LNK) {
		e->target_len = rb_u32(&r);
		e->target = (const char *)rb_bytes(&r, e->target_len);
	}
	e->xattrs_len = rb_u32(&r);
	e->xattrs = rb_bytes(&r, e->xattrs_len);
	if (r.bad || e->type < SHALE_REG || e->type > SHALE_WHITEOUT)
		return shale_err(EIO, "corrupt entry record");
	return 0;
}

int entry_copy(const shale_entry *src, shale_entry *dst, void **buf)
{
	size_t n = src->data_len + src->target_len + src->xattrs_len;
	uint8_t *p = malloc(n + 1);
	if (!p)
		return shale_err(ENOMEM, "out of memory (an entry of %zu bytes)", n);
	*dst = *src;
	*buf = p;
	if (src->data_len) {
		memcpy(p, src->data, src->data_len);
		dst->data = p;
		p += src->data_len;
	}
	if (src->target_len) {
		memcpy(p, src->target, src->target_len);
		dst->target = (const char *)p;
		p += src->target_len;
	}
	if (src->xattrs_len) {
		memcpy(p, src->xattrs, src->xattrs_len);
		dst->xattrs = p;
	}
	return 0;
}

bool shale_xattr_next(const uint8_t *buf, uint32_t len, uint32_t *pos, const char **name,
		      uint32_t *name_len, const uint8_t **value, uint32_t *value_len)
{
	rbuf r = {.p = buf, .len = len, .pos = *pos};
	if (r.pos >= len)
		return false;
	*name_len = rb_u16(&r);
	*name = (const char *)rb_bytes(&r, *name_len);
	*value_len = rb_u32(&r);
	*value = rb_bytes(&r, *value_len);
	if (r.bad)
		return false;
	*pos = (uint32_t)r.pos;
	return true;
}

bool shale_xattr_get(const shale_entry *e, const char *name, const uint8_t **value,
		     uint32_t *value_len)
{
	uint32_t pos = 0, nl;
	const char *n;
	size_t want = strlen(name);
	while (shale_xattr_next(e->xattrs, e->xattrs_len, &pos, &n, &nl, value, value_len))
		if (nl == want && memcmp(n, name, nl) == 0)
			return true;
	return false;
}

char shale_type_char(uint8_t type)
{
	switch (type) {
	case SHALE_DIR: return 'd';
	case SHALE_LNK: return 'l';
	case SHALE_CHR: return 'c';
	case SHALE_BLK: return 'b';
	case SHALE_FIFO: return 'p';
	case SHALE_SOCK: return 's';
	case SHALE_WHITEOUT: return 'w';
	default: return '-';
	}
}

mode_t shale_entry_st_mode(const shale_entry *e)
{
	mode_t t;
	switch (e->type) {
	case SHALE_DIR: t = S_IFDIR; break;
	case SHALE_LNK: t = S_IFLNK; break;
	case SHALE_CHR: t = S_IFCHR; break;
	case SHALE_BLK: t = S_IFBLK; break;
	case SHALE_FIFO: t = S_IFIFO; break;
	case SHALE_SOCK: t = S_IFSOCK; break;
	case SHALE_WHITEOUT: t = S_IFCHR; break; /* as overlayfs shows it in an upper */
	default: t = S_IFREG; break;
	}
	return t | (e->mode & 07777);
}

size_t entry_dir_prefix(const shale_store *s, const shale_id *layer, const char *dirpath,
			size_t dirlen, uint8_t *key)
{
	shale_id h;
	memcpy(key, layer->b, SHALE_ID_LEN);
	dirhash(s, dirpath, dirlen, &h);
	memcpy(key + SHALE_ID_LEN, h.b, SHALE_ID_LEN);
	return 2 * SHALE_ID_LEN;
}

size_t entry_key(const shale_store *s, const shale_id *layer, const char *path, uint8_t *key)
{
	if (!*path) { /* the root: zero parent hash, empty name */
		memcpy(key, layer->b, SHALE_ID_LEN);
		memset(key + SHALE_ID_LEN, 0, SHALE_ID_LEN);
		return 2 * SHALE_ID_LEN;
	}
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) : 0;
	const char *name = slash ? slash + 1 : path;
	size_t n = entry_dir_prefix(s, layer, path, dirlen, key);
	size_t nl = strlen(name);
	memcpy(key + n, name, nl);
	return n + nl;
}

int path_normalize(const char *in, char *out, bool reject_dotdot)
{
	size_t o = 0;
	const char *p = in;
	if (*p == '/')
		return shale_err(EINVAL, "'%s': absolute paths are not allowed", in);
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 1 && p[0] == '.') {
			p += n;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (reject_dotdot)
				return shale_err(EINVAL, "'%s': '..' is not allowed in paths", in);
		}
		if (n > NAME_MAX)
			return shale_err(ENAMETOOLONG, "'%.64s...': a name is longer than %d bytes", in,
					 NAME_MAX);
		if (o + n + 2 > PATH_MAX)
			return shale_err(ENAMETOOLONG, "'%.64s...': path longer than %d bytes", in,
					 PATH_MAX - 1);
		if (o)
			out[o++] = '/';
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = 0;
	return 0;
}
