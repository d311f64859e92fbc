/* The mount table (/proc/self/mountinfo): which file system is mounted at a
 * path, without touching the path (a stat of a FUSE mount point asks its
 * daemon, which may be this process, or dead). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

/* Unescape mountinfo's octal escapes (\040 for space...). */
static void unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] && p[3]) {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = 0;
}

bool shale_fs_mount_find(const char *path, char *fstype, size_t len, unsigned *major,
			 unsigned *minor)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL; /* whole lines: an overlay's options can run to pages */
	size_t cap = 0;
	bool found = false;
	if (!f)
		return false;
	while (getline(&line, &cap, f) > 0) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		char *save, *tok = strtok_r(line, " ", &save);
		unsigned a = 0, b = 0;
		for (int i = 0; tok && i < 4; i++) {
			tok = strtok_r(NULL, " ", &save);
			if (i == 1 && tok && sscanf(tok, "%u:%u", &a, &b) != 2)
				a = b = 0;
		}
		char *mp = tok;
		if (!mp)
			continue;
		unescape(mp);
		if (strcmp(mp, path))
			continue;
		while ((tok = strtok_r(NULL, " ", &save)) && strcmp(tok, "-"))
			;
		tok = strtok_r(NULL, " ", &save);
		if (fstype)
			snprintf(fstype, len, "%s", tok ? tok : "");
		if (major)
			*major = a;
		if (minor)
			*minor = b;
		found = true; /* the last match is the top mount: keep reading */
	}
	free(line);
	fclose(f);
	return found;
}
