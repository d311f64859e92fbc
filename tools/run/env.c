/* The container's environment, built as Docker builds it. */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

struct envv {
	char **v;
	size_t n, cap;
	bool oom;
};

static size_t key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq ? (size_t)(eq - kv) : strlen(kv);
}

static ssize_t env_find(const struct envv *e, const char *key, size_t klen)
{
	for (size_t i = 0; i < e->n; i++)
		if (key_len(e->v[i]) == klen && !strncmp(e->v[i], key, klen))
			return (ssize_t)i;
	return -1;
}

/* Set "K=V", replacing K in place if it is there. */
static void env_put(struct envv *e, const char *kv)
{
	size_t klen = key_len(kv);
	if (klen == 0)
		return; /* "=V" names nothing */
	char *copy = strdup(kv);
	if (!copy) {
		e->oom = true;
		return;
	}
	ssize_t i = env_find(e, kv, klen);
	if (i >= 0) {
		free(e->v[i]);
		e->v[i] = copy;
		return;
	}
	if (e->n + 2 > e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 16;
		char **v = realloc(e->v, cap * sizeof *v);
		if (!v) {
			free(copy);
			e->oom = true;
			return;
		}
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = copy;
	e->v[e->n] = NULL;
}

static void env_unset(struct envv *e, const char *key)
{
	ssize_t i = env_find(e, key, strlen(key));
	if (i < 0)
		return;
	free(e->v[i]);
	memmove(&e->v[i], &e->v[i + 1], (e->n - (size_t)i) * sizeof *e->v); /* and the NULL */
	e->n--;
}

static void env_put2(struct envv *e, const char *k, const char *v)
{
	size_t n = strlen(k) + strlen(v) + 2;
	char *kv = malloc(n);
	if (!kv) {
		e->oom = true;
		return;
	}
	strcpy(kv, k);
	strcat(kv, "=");
	strcat(kv, v);
	env_put(e, kv);
	free(kv);
}

char **runtime_env(char *const *image_env, char *const *overrides, const char *hostname,
		   const char *home, bool tty)
{
	struct envv e = {0};
	env_put(&e, "PATH=" RUNTIME_DEFAULT_PATH);
	if (hostname)
		env_put2(&e, "HOSTNAME", hostname);
	if (tty)
		env_put(&e, "TERM=xterm");
	for (size_t i = 0; image_env && image_env[i]; i++)
		env_put(&e, image_env[i]);
	for (size_t i = 0; overrides && overrides[i]; i++) {
		const char *kv = overrides[i];
		if (strchr(kv, '=')) {
			env_put(&e, kv);
		} else if (*kv) {
			const char *host = getenv(kv); /* -e K: pass the caller's K through */
			if (host)
				env_put2(&e, kv, host);
			else
				env_unset(&e, kv);
		}
	}
	if (home && env_find(&e, "HOME", 4) < 0)
		env_put2(&e, "HOME", home);
	if (!e.oom && !e.v) /* never NULL when it worked */
		e.v = calloc(1, sizeof *e.v);
	if (e.oom || !e.v) {
		for (size_t i = 0; i < e.n; i++)
			free(e.v[i]);
		free(e.v);
		return NULL;
	}
	return e.v;
}

void runtime_env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}
