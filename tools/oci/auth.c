/* The credentials file and WWW-Authenticate challenges (see auth.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "auth.h"
#include "store.h"

char *auth_file(const char *root)
{
	char *p = NULL;
	if (asprintf(&p, "%s/auth.json", root) < 0)
		return NULL;
	return p;
}

static json_t *load_file(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j && errno != ENOENT && access(path, F_OK) == 0) {
		shale_err(EINVAL, "%s: %s", path, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	return j;
}

int auth_get(const char *root, const char *host, char **user, char **pass)
{
	char *path = auth_file(root);
	json_t *j = load_file(path);
	free(path);
	if (!j)
		return -1;
	const char *b64 = json_string_value(json_object_get(json_object_get(json_object_get(j, "auths"),
									    host),
						      "auth"));
	int ret = 0;
	if (b64) {
		size_t n = strlen(b64);
		unsigned char *dec = malloc(n + 4);
		int dl = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
		/* EVP_DecodeBlock counts padding bytes as data: drop them */
		while (dl > 0 && n > 0 && b64[n - 1] == '=') {
			dl--;
			n--;
		}
		char *colon = dl > 0 ? memchr(dec, ':', (size_t)dl) : NULL;
		if (colon) {
			*user = strndup((char *)dec, (size_t)(colon - (char *)dec));
			*pass = strndup(colon + 1, (size_t)dl - (size_t)(colon - (char *)dec) - 1);
			ret = 1;
		}
		free(dec);
	}
	json_decref(j);
	return ret;
}

/* Write the file atomically, readable by its owner only. */
static int save_file(const char *root, json_t *j)
{
	char *path = auth_file(root), *tmp = NULL;
	int ret = -1;
	if (mkdir(root, 0700) < 0 && errno != EEXIST) {
		shale_err(errno, "%s: %s", root, strerror(errno));
		goto out;
	}
	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
		goto out;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		shale_err(errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	fchmod(fd, 0600);
	char *s = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
	size_t n = strlen(s);
	bool ok = write(fd, s, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	free(s);
	close(fd);
	if (!ok || rename(tmp, path) < 0) {
		shale_err(errno, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	free(tmp);
	free(path);
	return ret;
}

int auth_put(const char *root, const char *host, const char *user, const char *pass)
{
	char *path = auth_file(root);
	json_t *j = load_file(path);
	free(path);
	if (!j)
		return -1;
	json_t *auths = json_object_get(j, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(j, "auths", auths);
	}
	size_t n = strlen(user) + 1 + strlen(pass);
	char *plain = malloc(n + 1), *b64 = malloc(4 * ((n + 2) / 3) + 1);
	snprintf(plain, n + 1, "%s:%s", user, pass);
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)plain, (int)n);
	json_object_set_new(auths, host, json_pack("{s:s}", "auth", b64));
	explicit_bzero(plain, n);
	free(plain);
	free(b64);
	int r = save_file(root, j);
	json_decref(j);
	return r;
}

int auth_delete(const char *root, const char *host)
{
	char *path = auth_file(root);
	json_t *j = load_file(path);
	free(path);
	if (!j)
		return -1;
	json_t *auths = json_object_get(j, "auths");
	if (!json_object_get(auths, host)) {
		json_decref(j);
		return 0;
	}
	json_object_del(auths, host);
	int r = save_file(root, j);
	json_decref(j);
	return r < 0 ? -1 : 1;
}

char *auth_basic_header(const char *user, const char *pass)
{
	size_t n = strlen(user) + 1 + strlen(pass);
	char *plain = malloc(n + 1), *out = malloc(6 + 4 * ((n + 2) / 3) + 1);
	snprintf(plain, n + 1, "%s:%s", user, pass);
	memcpy(out, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, (unsigned char *)plain, (int)n);
	explicit_bzero(plain, n);
	free(plain);
	return out;
}

/* ---- WWW-Authenticate: scheme param="value", param=token, ... (RFC 7235) ---- */

static void skip_space(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t' || **p == ','))
		(*p)++;
}

int auth_parse_challenge(const char *buf, size_t len, struct auth_challenge *out)
{
	memset(out, 0, sizeof *out);
	if (!buf)
		return shale_err(EINVAL, "empty authentication challenge");
	const char *p = buf, *end = buf + len;
	skip_space(&p, end);
	const char *s = p;
	while (p < end && isalpha((unsigned char)*p))
		p++;
	size_t sl = (size_t)(p - s);
	if (sl == 5 && !strncasecmp(s, "basic", 5))
		out->scheme = AUTH_BASIC;
	else if (sl == 6 && !strncasecmp(s, "bearer", 6))
		out->scheme = AUTH_BEARER;
	else
		return shale_err(EINVAL, "unsupported authentication scheme '%.*s'", (int)(sl > 32 ? 32 : sl),
				 s);
	while (p < end) {
		skip_space(&p, end);
		const char *k = p;
		while (p < end && *p != '=' && *p != ',' && *p != ' ')
			p++;
		size_t kl = (size_t)(p - k);
		if (p >= end || *p != '=') {
			if (kl == 0)
				break;
			continue; /* a token68 or a bare word: nothing we use */
		}
		p++;
		char val[1024];
		size_t vl = 0;
		if (p < end && *p == '"') {
			p++;
			while (p < end && *p != '"') {
				if (*p == '\\' && p + 1 < end)
					p++;
				if (vl + 1 < sizeof val)
					val[vl++] = *p;
				p++;
			}
			if (p >= end)
				return shale_err(EINVAL, "unterminated quoted string in challenge");
			p++;
		} else {
			while (p < end && *p != ',' && *p != ' ') {
				if (vl + 1 < sizeof val)
					val[vl++] = *p;
				p++;
			}
		}
		val[vl] = 0;
		char *dst = NULL;
		size_t cap = 0;
		if (kl == 5 && !strncasecmp(k, "realm", 5))
			dst = out->realm, cap = sizeof out->realm;
		else if (kl == 7 && !strncasecmp(k, "service", 7))
			dst = out->service, cap = sizeof out->service;
		else if (kl == 5 && !strncasecmp(k, "scope", 5))
			dst = out->scope, cap = sizeof out->scope;
		if (dst) {
			if (vl >= cap)
				return shale_err(EINVAL, "authentication challenge: value too long");
			memcpy(dst, val, vl + 1);
		}
	}
	if (out->scheme == AUTH_BEARER && !out->realm[0])
		return shale_err(EINVAL, "bearer challenge without a realm");
	return 0;
}
