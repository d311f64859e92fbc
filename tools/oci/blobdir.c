/* The blob scratch directory under the store root (see blobdir.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobdir.h"
#include "digest.h"

static int mkdirs(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

char *blobdir(shale_store *s)
{
	char *d = NULL;
	if (asprintf(&d, "%s/tmp/blobs/sha256", shale_root(s)) < 0)
		return NULL;
	if (mkdirs(d) < 0) {
		shale_err(errno, "%s: %s", d, strerror(errno));
		free(d);
		return NULL;
	}
	return d;
}

char *blobdir_path(shale_store *s, const char *digest)
{
	char *p = NULL;
	if (asprintf(&p, "%s/tmp/blobs/sha256/%s", shale_root(s), oci_digest_hex(digest)) < 0)
		return NULL;
	return p;
}

char *blobdir_partial(shale_store *s, const char *digest)
{
	char *p = NULL;
	if (asprintf(&p, "%s/tmp/blobs/sha256/%s.partial", shale_root(s), oci_digest_hex(digest)) < 0)
		return NULL;
	return p;
}

int blobdir_tmpfile(shale_store *s, char **path)
{
	char *d = blobdir(s);
	if (!d)
		return -1;
	char *p = NULL;
	if (asprintf(&p, "%s/.new-XXXXXX", d) < 0) {
		free(d);
		return shale_err(ENOMEM, "out of memory");
	}
	free(d);
	int fd = mkostemp(p, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(p);
		return shale_err(e, "temp file: %s", strerror(e));
	}
	*path = p;
	return fd;
}

bool blobdir_has(shale_store *s, const char *digest)
{
	char *p = blobdir_path(s, digest);
	bool ok = p && access(p, F_OK) == 0;
	free(p);
	return ok;
}

void blobdir_remove(shale_store *s, const char *digest)
{
	char *p = blobdir_path(s, digest);
	if (p)
		unlink(p);
	free(p);
	p = blobdir_partial(s, digest);
	if (p)
		unlink(p);
	free(p);
}
