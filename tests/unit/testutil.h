/* Helpers for the unit tests. */
#ifndef SHALE_TESTUTIL_H
#define SHALE_TESTUTIL_H

#include <stddef.h>

void rm_rf(const char *path);
/* Regular files below a directory (recursively), ignoring temp files. */
size_t count_files(const char *dir);
/* Append one encoded xattr (the store's format) at p; returns its length. */
size_t xattr_put(unsigned char *p, const char *name, const void *value, size_t len);
/* Write a tar that an importer must refuse: "dotdot", "absolute", "truncated",
 * "hardlink_outside". */
int make_bad_tar(const char *path, const char *kind);

#endif
