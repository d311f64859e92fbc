/* Registry references, following Docker's rules (see reference.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "reference.h"
#include "store.h"

/* Copy a string that must fit. */
static int put(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return shale_err(EINVAL, "invalid reference format: a part is too long");
	memcpy(dst, src, n + 1);
	return 0;
}

int reg_ref_parse(const char *s, struct reg_ref *out)
{
	char name[600];
	memset(out, 0, sizeof *out);
	if (!s || !*s)
		return shale_err(EINVAL, "invalid reference format: empty name");
	if (strlen(s) >= sizeof name)
		return shale_err(EINVAL, "invalid reference format: too long");
	/* messages below show the reference: it must not break their line */
	for (size_t i = 0; s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return shale_err(EINVAL, "invalid reference format: control character at byte %zu",
					 i + 1);
	snprintf(name, sizeof name, "%s", s);
	char *at = strchr(name, '@');
	if (at) {
		*at = 0;
		if (!oci_digest_valid(at + 1))
			return shale_err(EINVAL, "invalid reference format: bad digest '%.80s'", at + 1);
		snprintf(out->digest, sizeof out->digest, "%s", at + 1);
	}
	char *slash = strchr(name, '/'), *path = name;
	bool has_domain = slash && (memchr(name, '.', (size_t)(slash - name)) ||
				    memchr(name, ':', (size_t)(slash - name)) ||
				    !strncmp(name, "localhost/", 10));
	if (has_domain) {
		*slash = 0;
		if (put(out->domain, sizeof out->domain, name) < 0)
			return -1;
		path = slash + 1;
	} else {
		snprintf(out->domain, sizeof out->domain, "docker.io");
	}
	bool hub = !strcmp(out->domain, "docker.io") || !strcmp(out->domain, "index.docker.io");
	put(out->host, sizeof out->host, hub ? "registry-1.docker.io" : out->domain);
	char *colon = strrchr(path, ':');
	if (colon) {
		*colon = 0;
		if (!colon[1])
			return shale_err(EINVAL, "invalid reference format: empty tag in %.256s", s);
		if (put(out->tag, sizeof out->tag, colon + 1) < 0)
			return -1;
	} else if (!at) {
		snprintf(out->tag, sizeof out->tag, "latest");
	}
	if (strlen(path) + 8 >= sizeof out->repo)
		return shale_err(EINVAL, "invalid reference format: too long");
	if (hub && !strchr(path, '/'))
		snprintf(out->repo, sizeof out->repo, "library/%.240s", path);
	else
		put(out->repo, sizeof out->repo, path);
	/* Validate with the store's grammar (which also knows host:port prefixes). */
	char full[1024], norm[512];
	snprintf(full, sizeof full, "%s/%s:%s", out->domain, out->repo,
		 out->tag[0] ? out->tag : "latest");
	if (shale_ref_normalize(full, norm, sizeof norm) < 0)
		return shale_err(EINVAL, "invalid reference format: %s", s);
	if (hub) {
		/* Docker's familiar name: "library/" goes only before a one-component name
		 * (library/m/app is not m/app) */
		const char *short_repo = !strncmp(out->repo, "library/", 8) && !strchr(out->repo + 8, '/')
						 ? out->repo + 8
						 : out->repo;
		/* ... and docker.io/ stays before a first component that would read as a
		 * registry (docker.io/a.b/c is not a.b/c) */
		size_t first = strcspn(short_repo, "/");
		bool hostlike = short_repo[first] == '/' &&
				(memchr(short_repo, '.', first) || memchr(short_repo, ':', first) ||
				 (first == 9 && !strncmp(short_repo, "localhost", 9)));
		snprintf(out->local, sizeof out->local, "%s%.250s:%.129s",
			 hostlike ? "docker.io/" : "", short_repo, out->tag[0] ? out->tag : "latest");
		/* the short name must be one shale can tag: not 64 hex digits (an image id) */
		if (shale_ref_normalize(out->local, norm, sizeof norm) < 0)
			return -1;
	} else {
		put(out->local, sizeof out->local, norm);
	}
	return 0;
}

void reg_ref_repo(const struct reg_ref *r, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", r->domain, r->repo);
}
