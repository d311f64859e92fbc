/* Helpers for the unit tests: temp dirs, counting objects, crafting bad tars. */
#define _XOPEN_SOURCE 700
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

void rm_rf(const char *path)
{
	nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS);
}

static size_t counted;
static int count_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_F && S_ISREG(st->st_mode) && p[ftw->base] != '.')
		counted++;
	return 0;
}

size_t count_files(const char *dir)
{
	counted = 0;
	nftw(dir, count_one, 64, FTW_PHYS);
	return counted;
}

size_t xattr_put(unsigned char *p, const char *name, const void *value, size_t len)
{
	size_t nl = strlen(name), o = 0;
	p[o++] = (unsigned char)(nl & 0xff);
	p[o++] = (unsigned char)(nl >> 8);
	memcpy(p + o, name, nl);
	o += nl;
	for (int i = 0; i < 4; i++)
		p[o++] = (unsigned char)(len >> (8 * i));
	memcpy(p + o, value, len);
	return o + len;
}

static void add(struct archive *a, const char *name, const char *data, const char *hardlink)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_mode(e, 0100644);
	if (hardlink) {
		archive_entry_set_hardlink(e, hardlink);
		archive_entry_set_size(e, 0);
	} else {
		archive_entry_set_size(e, (int64_t)strlen(data));
	}
	archive_write_header(a, e);
	if (!hardlink)
		archive_write_data(a, data, strlen(data));
	archive_entry_free(e);
}

int make_bad_tar(const char *path, const char *kind)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		return -1;
	/* a good member first: a failure later must undo it */
	static char big[300000];
	memset(big, 'x', sizeof big - 1);
	add(a, "ok/file", big, NULL);
	if (!strcmp(kind, "dotdot"))
		add(a, "ok/../../escape", "evil", NULL);
	else if (!strcmp(kind, "absolute"))
		add(a, "/etc/evil", "evil", NULL);
	else if (!strcmp(kind, "hardlink_outside"))
		add(a, "ok/link", "", "../../etc/passwd");
	else
		add(a, "ok/second", big, NULL);
	archive_write_close(a);
	archive_write_free(a);
	if (!strcmp(kind, "truncated")) {
		struct stat st;
		if (stat(path, &st) < 0 || truncate(path, st.st_size - 200000) < 0)
			return -1;
	}
	return 0;
}
