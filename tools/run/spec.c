/* Small helpers around a run_spec: the default hostname, -v's argument. */
#include <stdio.h>
#include <string.h>

#include "runtime.h"

void runtime_hostname(const struct run_spec *spec, char *out, size_t outlen)
{
	if (spec->hostname && *spec->hostname)
		snprintf(out, outlen, "%s", spec->hostname);
	else if (spec->container_id && *spec->container_id)
		snprintf(out, outlen, "%.12s", spec->container_id); /* Docker's short id */
	else
		snprintf(out, outlen, "shale");
}

int runtime_volume_parse(char *arg, struct run_volume *v, char *err, size_t errlen)
{
	char *orig_end = arg + strlen(arg);
	char *host = arg, *ctr = strchr(arg, ':');
	if (!ctr) {
		run_err(err, errlen, "invalid volume \"%s\": expected HOST:CONTAINER[:ro]", arg);
		return -1;
	}
	*ctr++ = 0;
	char *mode = strchr(ctr, ':');
	if (mode)
		*mode++ = 0;
	*v = (struct run_volume){.host = host, .ctr = ctr};
	const char *problem = NULL;
	if (mode && !strcmp(mode, "ro"))
		v->ro = true;
	else if (mode && strcmp(mode, "rw"))
		problem = "mode must be ro or rw";
	else if (host[0] != '/')
		problem = "the host path must be absolute"; /* shale has no named volumes */
	else if (ctr[0] != '/')
		problem = "the container path must be absolute";
	else if (!ctr[strspn(ctr, "/")])
		problem = "the container path cannot be \"/\"";
	if (problem) {
		/* Put the colons back so the message shows what was typed. */
		for (char *p = arg; p < orig_end; p++)
			if (!*p)
				*p = ':';
		run_err(err, errlen, "invalid volume \"%s\": %s", arg, problem);
		return -1;
	}
	return 0;
}
