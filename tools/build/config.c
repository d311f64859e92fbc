/* Dockerfile metadata instructions applied to an image config, as Docker's
 * builder dispatchers do (moby/buildkit frontend/dockerfile/dockerfile2llb). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_config.h"

static json_t *config_of(json_t *image)
{
	json_t *c = json_object_get(image, "config");
	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(image, "config", c);
	}
	return c;
}

static json_t *strv(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* Shell form runs through the config's Shell (default /bin/sh -c). */
static json_t *command(json_t *config, const struct df_instruction *in)
{
	if (in->json)
		return strv(in->args, in->nargs);
	json_t *shell = json_object_get(config, "Shell");
	json_t *a = json_is_array(shell) && json_array_size(shell) ? json_deep_copy(shell)
								    : json_pack("[ss]", "/bin/sh", "-c");
	json_array_append_new(a, json_string(in->nargs ? in->args[0] : ""));
	return a;
}

const char *image_config_env_lookup(void *config, const char *name)
{
	json_t *env = json_object_get(config, "Env"), *e;
	size_t i, nl = strlen(name);
	const char *found = NULL;
	json_array_foreach(env, i, e) {
		const char *s = json_string_value(e);
		if (s && !strncmp(s, name, nl) && s[nl] == '=')
			found = s + nl + 1;
	}
	return found;
}

static void env_set(json_t *config, const char *key, const char *value)
{
	json_t *env = json_object_get(config, "Env");
	if (!json_is_array(env)) {
		env = json_array();
		json_object_set_new(config, "Env", env);
	}
	size_t kl = strlen(key), i;
	char *kv = malloc(kl + strlen(value) + 2);
	sprintf(kv, "%s=%s", key, value);
	json_t *e;
	json_array_foreach(env, i, e) {
		const char *s = json_string_value(e);
		if (s && !strncmp(s, key, kl) && (s[kl] == '=' || !s[kl])) {
			json_array_set_new(env, i, json_string(kv));
			free(kv);
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
	free(kv);
}

static void set_member(json_t *config, const char *map, const char *key, json_t *value)
{
	json_t *m = json_object_get(config, map);
	if (!json_is_object(m)) {
		m = json_object();
		json_object_set_new(config, map, m);
	}
	json_object_set_new(m, key, value);
}

/* "/a/b" + "c/../d" -> "/a/b/d"; an absolute path replaces the old one. */
static char *workdir_join(const char *old, const char *path)
{
	char buf[8192];
	if (path[0] == '/' || !old || !*old)
		snprintf(buf, sizeof buf, "%s%s", path[0] == '/' ? "" : "/", path);
	else
		snprintf(buf, sizeof buf, "%s/%s", old, path);
	/* clean: drop ".", "..", duplicate slashes */
	char out[8192];
	size_t o = 0;
	for (char *p = buf, *save, *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		if (o + strlen(c) + 2 >= sizeof out)
			break;
		out[o++] = '/';
		memcpy(out + o, c, strlen(c));
		o += strlen(c);
	}
	out[o] = 0;
	return strdup(o ? out : "/");
}

int image_config_apply(json_t *image, const struct df_instruction *in, char *err, size_t errlen)
{
	json_t *c = config_of(image);
	switch (in->cmd) {
	case DF_CMD:
		json_object_set_new(c, "Cmd", command(c, in));
		return 0;
	case DF_ENTRYPOINT:
		json_object_set_new(c, "Entrypoint", command(c, in));
		/* as Docker: an inherited CMD does not survive a new ENTRYPOINT */
		json_object_set_new(c, "Cmd", json_null());
		return 0;
	case DF_ENV:
		for (size_t i = 0; i < in->nkvs; i++)
			env_set(c, in->kvs[i].key, in->kvs[i].value ? in->kvs[i].value : "");
		return 0;
	case DF_LABEL:
		for (size_t i = 0; i < in->nkvs; i++)
			set_member(c, "Labels", in->kvs[i].key,
				   json_string(in->kvs[i].value ? in->kvs[i].value : ""));
		return 0;
	case DF_WORKDIR: {
		char *w = workdir_join(json_string_value(json_object_get(c, "WorkingDir")),
				       in->nargs ? in->args[0] : "/");
		json_object_set_new(c, "WorkingDir", json_string(w));
		free(w);
		return 0;
	}
	case DF_EXPOSE:
		for (size_t i = 0; i < in->nargs; i++) {
			char port[256];
			snprintf(port, sizeof port, "%s%s", in->args[i], strchr(in->args[i], '/') ? "" : "/tcp");
			for (char *p = port; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
			set_member(c, "ExposedPorts", port, json_object());
		}
		return 0;
	case DF_USER:
		json_object_set_new(c, "User", json_string(in->nargs ? in->args[0] : ""));
		return 0;
	case DF_VOLUME:
		for (size_t i = 0; i < in->nargs; i++) {
			if (!*in->args[i]) {
				snprintf(err, errlen, "VOLUME specified can not be an empty string");
				return -1;
			}
			set_member(c, "Volumes", in->args[i], json_object());
		}
		return 0;
	case DF_STOPSIGNAL:
		json_object_set_new(c, "StopSignal", json_string(in->nargs ? in->args[0] : ""));
		return 0;
	case DF_SHELL:
		json_object_set_new(c, "Shell", strv(in->args, in->nargs));
		return 0;
	case DF_HEALTHCHECK: {
		const struct df_healthcheck *h = in->health;
		if (!h) {
			snprintf(err, errlen, "HEALTHCHECK: nothing parsed");
			return -1;
		}
		json_t *hc = json_pack("{s:o}", "Test", strv(h->test, h->ntest));
		if (h->interval)
			json_object_set_new(hc, "Interval", json_integer(h->interval));
		if (h->timeout)
			json_object_set_new(hc, "Timeout", json_integer(h->timeout));
		if (h->start_period)
			json_object_set_new(hc, "StartPeriod", json_integer(h->start_period));
		if (h->start_interval)
			json_object_set_new(hc, "StartInterval", json_integer(h->start_interval));
		if (h->retries)
			json_object_set_new(hc, "Retries", json_integer(h->retries));
		json_object_set_new(c, "Healthcheck", hc);
		return 0;
	}
	case DF_ONBUILD: {
		json_t *ob = json_object_get(c, "OnBuild");
		if (!json_is_array(ob)) {
			ob = json_array();
			json_object_set_new(c, "OnBuild", ob);
		}
		json_array_append_new(ob, json_string(in->nargs ? in->args[0] : ""));
		return 0;
	}
	case DF_MAINTAINER:
		json_object_set_new(image, "author", json_string(in->nargs ? in->args[0] : ""));
		return 0;
	default:
		snprintf(err, errlen, "%s cannot be applied to an image config", df_command_name(in->cmd));
		return -1;
	}
}

int image_config_change(json_t *image, const char *change, char *err, size_t errlen)
{
	char *perr = NULL;
	struct df_instruction *in = df_parse_instruction(change, strlen(change), '\\', "change", &perr);
	if (!in) {
		snprintf(err, errlen, "invalid change \"%s\": %s", change, perr ? perr : "parse error");
		free(perr);
		return -1;
	}
	static const enum df_command allowed[] = {DF_CMD,	  DF_ENTRYPOINT, DF_ENV,     DF_EXPOSE,
						  DF_LABEL,	  DF_ONBUILD,	 DF_USER,    DF_VOLUME,
						  DF_WORKDIR, DF_STOPSIGNAL, DF_HEALTHCHECK, DF_SHELL};
	bool ok = false;
	for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
		ok = ok || in->cmd == allowed[i];
	int r = -1;
	if (!ok) {
		snprintf(err, errlen, "%s is not a valid change command", df_command_name(in->cmd));
	} else {
		struct df_instruction *x = in;
		if (in->expand) {
			x = df_expand_instruction(in, '\\', image_config_env_lookup,
						  json_object_get(image, "config"), &perr);
			if (!x) {
				snprintf(err, errlen, "invalid change \"%s\": %s", change, perr ? perr : "");
				free(perr);
			}
		}
		if (x)
			r = image_config_apply(image, x, err, errlen);
		if (x && x != in)
			df_instruction_free(x);
	}
	df_instruction_free(in);
	return r;
}
