/* shale run, ps, rm: containers that run commands. A run mounts the image with
 * a fresh upper (the container), runs the command in it through the runtime
 * (tools/run), and unmounts; the container's changes stay until `shale rm`. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "containers.h"
#include "mounts.h"
#include "runtime.h"

static char **json_strv(json_t *a)
{
	size_t n = json_array_size(a);
	char **v = calloc(n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = strdup(json_string_value(json_array_get(a, i)) ?: "");
	return v;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static char *strv_join(char *const *v)
{
	size_t n = 1;
	for (size_t i = 0; v[i]; i++)
		n += strlen(v[i]) + 1;
	char *s = calloc(1, n);
	for (size_t i = 0; v[i]; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, v[i]);
	}
	return s;
}

static const char run_help[] =
	"Usage:  shale run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
	"Create and run a new container from an image: mount it with a fresh upper and\n"
	"run the command (the image's Entrypoint and Cmd by default) in new mount, PID,\n"
	"UTS and IPC namespaces. Exits with the command's exit status.\n\n"
	"Options:\n"
	"      --entrypoint string  Overwrite the default ENTRYPOINT of the image\n"
	"  -e, --env list           Set environment variables (K=V, or K to pass it on)\n"
	"  -h, --hostname string    Container host name\n"
	"  -i, --interactive        Keep STDIN open\n"
	"      --name string        Assign a name to the container\n"
	"      --rm                 Remove the container when it exits\n"
	"  -t, --tty                Allocate a pseudo-TTY\n"
	"  -u, --user string        Username or UID (format: <name|uid>[:<group|gid>])\n"
	"  -v, --volume list        Bind mount a volume (HOSTDIR:CTRDIR[:ro])\n"
	"  -w, --workdir string     Working directory inside the container\n";

int cmd_run(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"entrypoint", required_argument, 0, 'E'},
					   {"env", required_argument, 0, 'e'},
					   {"hostname", required_argument, 0, 'h'},
					   {"interactive", no_argument, 0, 'i'},
					   {"name", required_argument, 0, 'N'},
					   {"rm", no_argument, 0, 'R'},
					   {"tty", no_argument, 0, 't'},
					   {"user", required_argument, 0, 'u'},
					   {"volume", required_argument, 0, 'v'},
					   {"workdir", required_argument, 0, 'w'},
					   {"help", no_argument, 0, 'H'},
					   {0}};
	const char *entrypoint = NULL, *hostname = NULL, *name = NULL, *user = NULL, *workdir = NULL;
	bool rm = false, interactive = false, tty = false;
	char **envs = calloc((size_t)argc + 1, sizeof *envs);
	struct run_volume *vols = calloc((size_t)argc + 1, sizeof *vols);
	size_t nenv = 0, nvol = 0;
	int o, ret = EXIT_ERR;
	char err[512];
	/* '+': options end at the image; what follows is the command's */
	while ((o = cli_getopt(argc, argv, "+e:h:itu:v:w:", lo)) != -1) {
		switch (o) {
		case 'E': entrypoint = optarg; break;
		case 'e': envs[nenv++] = optarg; break;
		case 'h': hostname = optarg; break;
		case 'i': interactive = true; break;
		case 'N': name = optarg; break;
		case 'R': rm = true; break;
		case 't': tty = true; break;
		case 'u': user = optarg; break;
		case 'v':
			if (runtime_volume_parse(optarg, &vols[nvol], err, sizeof err) < 0) {
				ret = cli_usage_error("run", "invalid volume: %s", err);
				goto out;
			}
			nvol++;
			break;
		case 'w': workdir = optarg; break;
		case 'H': ret = cli_help(run_help); goto out;
		default: ret = EXIT_USAGE; goto out;
		}
	}
	if (optind >= argc) {
		ret = cli_usage_error("run", "\"shale run\" requires at least 1 argument.");
		goto out;
	}
	if (geteuid() != 0) { /* say so before a container is made for nothing */
		ret = cli_error("run: needs root (new mount, PID, UTS and IPC namespaces); "
				"without root, shale mount the image and use it from there");
		goto out;
	}
	shale_store *s = cli_store(c);
	shale_id image;
	/* the hold: until the container record pins the image */
	if (!s || cli_hold(c) < 0 || shale_image_resolve(s, argv[optind], &image) < 0) {
		ret = cli_fail();
		goto out;
	}
	json_t *img = shale_image_get(s, &image);
	json_t *cfg = json_object_get(img, "config");
	/* the command: Entrypoint + (arguments or Cmd), as Docker */
	char **ep = entrypoint ? (*entrypoint ? calloc(2, sizeof(char *)) : calloc(1, sizeof(char *)))
			       : json_strv(json_object_get(cfg, "Entrypoint"));
	if (entrypoint && *entrypoint)
		ep[0] = strdup(entrypoint);
	char **cmd = optind + 1 < argc ? NULL : json_strv(json_object_get(cfg, "Cmd"));
	size_t n = 0;
	char **full = calloc((size_t)argc + 64 + json_array_size(json_object_get(cfg, "Cmd")) +
				     json_array_size(json_object_get(cfg, "Entrypoint")),
			     sizeof *full);
	for (size_t i = 0; ep[i]; i++)
		full[n++] = ep[i];
	if (cmd)
		for (size_t i = 0; cmd[i]; i++)
			full[n++] = cmd[i];
	else
		for (int i = optind + 1; i < argc; i++)
			full[n++] = strdup(argv[i]);
	if (!n) {
		ret = cli_error("run: no command specified");
		ret = RUNTIME_EXIT_SETUP;
		free(full);
		strv_free(ep);
		strv_free(cmd);
		json_decref(img);
		goto out;
	}
	char norm[512];
	const char *ref = shale_ref_normalize(argv[optind], norm, sizeof norm) == 0 ? norm : argv[optind];
	json_t *ctr = container_create(s, &image, ref, name, NULL);
	cli_release(c);
	if (!ctr) {
		ret = cli_fail();
		goto done;
	}
	char *joined = strv_join(full);
	char now[40];
	shale_now_rfc3339(now);
	json_object_set_new(ctr, "command", json_string(joined));
	json_object_set_new(ctr, "state", json_string("running"));
	json_object_set_new(ctr, "run_pid", json_integer(getpid()));
	json_object_set_new(ctr, "started", json_string(now));
	free(joined);
	/* the container's root: its own mount point, made for the run */
	struct mount_req m = {.ready_fd = -1, .image = image, .container = ctr,
			      .allow_other = true}; /* -u users reach it too */
	snprintf(m.image_ref, sizeof m.image_ref, "%s", ref);
	snprintf(m.mountpoint, sizeof m.mountpoint, "%s/containers/%s/rootfs", shale_root(s),
		 container_str(ctr, "id"));
	if (mkdir(m.mountpoint, 0755) < 0 || container_update(s, ctr) < 0) {
		ret = errno ? cli_error("run: %s: %s", m.mountpoint, strerror(errno)) : cli_fail();
		goto done_ctr;
	}
	if (mount_start(c, &m) != EXIT_OK) {
		ret = RUNTIME_EXIT_SETUP;
		goto done_ctr;
	}
	/* Env, WorkingDir and User from the image, flags over them */
	char hn[65];
	struct run_spec spec = {
		.rootfs = m.mountpoint,
		.argv = full,
		.cwd = workdir ? workdir
			       : (json_string_value(json_object_get(cfg, "WorkingDir")) ?: NULL),
		.user = user ? user : json_string_value(json_object_get(cfg, "User")),
		.volumes = vols,
		.nvolumes = nvol,
		.interactive = interactive,
		.tty = tty,
		.hostname = hostname,
		.container_id = container_str(ctr, "id"),
	};
	if (spec.cwd && !*spec.cwd)
		spec.cwd = NULL;
	if (spec.user && !*spec.user)
		spec.user = NULL;
	runtime_hostname(&spec, hn, sizeof hn);
	struct run_user ru = {0};
	const char *home = NULL;
	if (runtime_resolve_user(m.mountpoint, spec.user, &ru, err, sizeof err) == 0)
		home = ru.home;
	char **image_env = json_strv(json_object_get(cfg, "Env"));
	char **env = runtime_env(image_env, envs, hn, home, tty);
	spec.env = env;
	int status = RUNTIME_EXIT_SETUP;
	fflush(NULL);
	if (runtime_run(&spec, &status, err, sizeof err) < 0)
		fprintf(stderr, "shale: %s\n", err);
	ret = status;
	runtime_env_free(env);
	strv_free(image_env);
	runtime_user_free(&ru);
	mount_stop(c, m.mountpoint, false);
	rmdir(m.mountpoint);
	s = cli_store(c);
	if (s) {
		const char **targets = calloc(nvol + 1, sizeof *targets);
		for (size_t i = 0; i < nvol; i++)
			targets[i] = vols[i].ctr;
		container_drop_mount_points(s, &image, container_str(ctr, "upper"), targets, nvol);
		free(targets);
	}
done_ctr:
	if (s) {
		char fin[40];
		shale_now_rfc3339(fin);
		json_object_set_new(ctr, "state", json_string("exited"));
		json_object_set_new(ctr, "exit_code", json_integer(ret));
		json_object_set_new(ctr, "finished", json_string(fin));
		json_object_del(ctr, "run_pid");
		if (rm)
			container_remove(s, ctr);
		else
			container_update(s, ctr);
	}
	json_decref(ctr);
done:
	for (size_t i = 0; i < n; i++)
		free(full[i]);
	free(full);
	free(ep);
	free(cmd);
	json_decref(img);
out:
	free(envs);
	free(vols);
	return ret;
}

/* ---- ps ---- */

struct ps_ctx {
	shale_store *s;
	bool all, quiet, notrunc, json;
	struct table *t;
};

static int ps_one(void *ctx, const char *id, json_t *c)
{
	struct ps_ctx *p = ctx;
	char status[PATH_MAX + 64], created[64], at[PATH_MAX] = "";
	const char *state = container_str(c, "state");
	pid_t run = (pid_t)json_integer_value(json_object_get(c, "run_pid"));
	bool running = run && pid_running(run);
	bool mounted = container_mounted_at(p->s, id, at) == 1;
	if (running) { /* Docker's "Up 3 minutes", "Exited (0) 2 hours ago" */
		char up[48];
		shale_human_duration((int64_t)time(NULL) - shale_parse_rfc3339(container_str(c, "started")),
				     up, sizeof up);
		snprintf(status, sizeof status, "Up %s", up);
	} else if (mounted && !(state && !strcmp(state, "running"))) {
		snprintf(status, sizeof status, "Mounted at %s", at);
	} else if (state && (!strcmp(state, "exited") || !strcmp(state, "running"))) {
		char age[64];
		shale_human_age(shale_parse_rfc3339(container_str(c, "finished") ?: container_str(c, "started")),
				age, sizeof age);
		if (json_object_get(c, "exit_code"))
			snprintf(status, sizeof status, "Exited (%lld) %s",
				 (long long)json_integer_value(json_object_get(c, "exit_code")), age);
		else
			snprintf(status, sizeof status, "Exited (unknown)");
	} else {
		snprintf(status, sizeof status, "Created");
	}
	if (!p->all && !running && !mounted)
		return 0;
	shale_human_age(shale_parse_rfc3339(container_str(c, "created")), created, sizeof created);
	char sid[33], cmd[64];
	snprintf(sid, sizeof sid, "%s", id);
	if (!p->notrunc)
		sid[12] = 0;
	const char *full = container_str(c, "command") ?: "";
	if (p->notrunc || strlen(full) <= 20)
		snprintf(cmd, sizeof cmd, "\"%s\"", full);
	else
		snprintf(cmd, sizeof cmd, "\"%.19s…\"", full);
	if (p->quiet) {
		puts(sid);
	} else if (p->json) {
		json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "ID", id, "Image",
					container_str(c, "image_ref") ?: "", "Command", full, "CreatedAt",
					container_str(c, "created") ?: "", "Status", status, "Names",
					container_str(c, "name") ?: "");
		json_object_set(row, "Upper", json_object_get(c, "upper"));
		char *out = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
		puts(out);
		free(out);
		json_decref(row);
	} else {
		table_row(p->t, sid, container_str(c, "image_ref") ?: "", cmd, created, status,
			  container_str(c, "name") ?: "");
	}
	return 0;
}

int cmd_ps(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"all", no_argument, 0, 'a'},
					   {"quiet", no_argument, 0, 'q'},
					   {"no-trunc", no_argument, 0, 'T'},
					   {"format", required_argument, 0, 'f'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	struct ps_ctx p = {0};
	int o;
	while ((o = cli_getopt(argc, argv, "aqh", lo)) != -1) {
		switch (o) {
		case 'a': p.all = true; break;
		case 'q': p.quiet = true; break;
		case 'T': p.notrunc = true; break;
		case 'f': p.json = !strcmp(optarg, "json"); break;
		case 'h':
			return cli_help("Usage:  shale ps [OPTIONS]\n\n"
					"List containers (running or mounted; -a for all).\n\n"
					"Options:\n"
					"  -a, --all             Show all containers\n"
					"      --format string   'table' (default) or 'json'\n"
					"      --no-trunc        Don't truncate output\n"
					"  -q, --quiet           Only display container IDs\n");
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error("ps", "\"shale ps\" accepts no arguments.");
	if (!(p.s = cli_store(c)))
		return EXIT_ERR;
	p.t = table_new(6, "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES");
	if (shale_table_foreach(p.s, SHALE_T_CONTAINERS, ps_one, &p) < 0) {
		table_free(p.t);
		return cli_fail();
	}
	if (p.quiet || p.json)
		table_free(p.t);
	else
		table_print(p.t, stdout);
	return EXIT_OK;
}

/* ---- rm ---- */

int cmd_rm(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"force", no_argument, 0, 'f'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	bool force = false;
	int o;
	while ((o = cli_getopt(argc, argv, "fh", lo)) != -1) {
		switch (o) {
		case 'f': force = true; break;
		case 'h':
			return cli_help("Usage:  shale rm [OPTIONS] CONTAINER [CONTAINER...]\n\n"
					"Remove containers and their changes.\n\n"
					"Options:\n"
					"  -f, --force   Stop a running container and unmount a mounted one first\n");
		default: return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage_error("rm", "\"shale rm\" requires at least 1 argument.");
	int ret = EXIT_OK;
	for (int i = optind; i < argc; i++) {
		shale_store *s = cli_store(c);
		json_t *ctr = s ? container_find(s, argv[i]) : NULL;
		if (!ctr) {
			ret = cli_fail();
			continue;
		}
		pid_t run = (pid_t)json_integer_value(json_object_get(ctr, "run_pid"));
		char at[PATH_MAX];
		bool running = run && pid_running(run);
		bool mounted = container_mounted_at(s, container_str(ctr, "id"), at) == 1;
		if ((running || mounted) && !force) {
			ret = cli_error("rm: you cannot remove a %s container %s. Stop it first, or use -f",
					running ? "running" : "mounted", argv[i]);
			json_decref(ctr);
			continue;
		}
		if (running) { /* the run forwards it to the command, then cleans up */
			kill(run, SIGTERM);
			for (int k = 0; k < 1000 && pid_running(run); k++) {
				struct timespec ts = {0, 10 * 1000 * 1000};
				nanosleep(&ts, NULL);
			}
			if (pid_running(run))
				kill(run, SIGKILL);
			mounted = container_mounted_at(s, container_str(ctr, "id"), at) == 1;
		}
		if (mounted && mount_stop(c, at, false) != EXIT_OK && mount_stop(c, at, true) != EXIT_OK) {
			ret = EXIT_ERR;
			json_decref(ctr);
			continue;
		}
		s = cli_store(c);
		if (!s || container_remove(s, ctr) < 0)
			ret = cli_fail();
		else
			puts(argv[i]);
		json_decref(ctr);
	}
	return ret;
}
