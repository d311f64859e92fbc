/* shale login, shale logout: registry credentials (kept in ROOT/auth.json, mode 0600). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth.h"
#include "cli.h"
#include "reference.h"
#include "registry.h"

static const char login_help[] =
	"Usage:  shale login [OPTIONS] [SERVER]\n\n"
	"Log in to a registry (default: docker.io). The credentials are checked with the\n"
	"registry, then kept in ROOT/auth.json (the store root, mode 0600) and used by push\n"
	"and pull, as HTTP Basic auth or to get bearer tokens, as the registry asks.\n\n"
	"Options:\n"
	"      --insecure         Allow plain HTTP and TLS without certificate checks\n"
	"  -p, --password string  Password\n"
	"      --password-stdin   Take the password from stdin\n"
	"  -u, --username string  Username\n";

/* "https://host:port/v2/" -> "host:port" */
static void server_name(const char *in, char *out, size_t len)
{
	const char *p = strstr(in, "://");
	p = p ? p + 3 : in;
	size_t n = strcspn(p, "/");
	snprintf(out, len, "%.*s", (int)n, p);
	if (!strcmp(out, "index.docker.io") || !strcmp(out, "registry-1.docker.io"))
		snprintf(out, len, "docker.io");
}

static char *read_line(FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;
	return line;
}

/* Ask on the terminal; echo off for passwords. */
static char *prompt(const char *what, bool secret)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return NULL;
	fprintf(tty, "%s: ", what);
	fflush(tty);
	struct termios old, quiet;
	bool restore = secret && tcgetattr(fileno(tty), &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	char *line = read_line(tty);
	if (restore) {
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
		fputc('\n', tty);
	}
	fclose(tty);
	return line;
}

int cmd_login(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"username", required_argument, 0, 'u'},
					   {"password", required_argument, 0, 'p'},
					   {"password-stdin", no_argument, 0, 'P'},
					   {"insecure", no_argument, 0, 'k'},
					   {"help", no_argument, 0, 'h'},
					   {0}};
	char *user = NULL, *pass = NULL;
	bool from_stdin = false, insecure = false;
	int o;
	while ((o = cli_getopt(argc, argv, "u:p:h", lo)) != -1) {
		switch (o) {
		case 'u': free(user); user = strdup(optarg); break;
		case 'p': free(pass); pass = strdup(optarg); break;
		case 'P': from_stdin = true; break;
		case 'k': insecure = true; break;
		case 'h': free(user); free(pass); return cli_help(login_help);
		default: free(user); free(pass); return EXIT_USAGE;
		}
	}
	int ret = EXIT_USAGE;
	if (argc - optind > 1) {
		cli_usage_error("login", "\"shale login\" requires at most 1 argument.");
		goto out;
	}
	if (pass && from_stdin) {
		cli_usage_error("login", "--password and --password-stdin are mutually exclusive");
		goto out;
	}
	ret = EXIT_ERR;
	char server[256];
	server_name(optind < argc ? argv[optind] : "docker.io", server, sizeof server);
	if (pass)
		fprintf(stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
	if (from_stdin) {
		if (!user) {
			cli_error("must provide --username with --password-stdin");
			goto out;
		}
		pass = read_line(stdin);
	}
	if (!user)
		user = prompt("Username", false);
	if (!pass && user)
		pass = prompt("Password", true);
	if (!user || !*user || !pass || !*pass) {
		cli_error("login: a username and a password are required");
		goto out;
	}
	struct reg_ref ref;
	char probe[300];
	snprintf(probe, sizeof probe, "%s/x", server);
	const char *host = reg_ref_parse(probe, &ref) == 0 ? ref.host : server;
	struct registry r;
	if (registry_open(&r, c->root, server, host, "", insecure, false, user, pass) < 0) {
		cli_fail();
		goto out;
	}
	registry_close(&r);
	if (auth_put(c->root, server, user, pass) < 0) {
		cli_fail();
		goto out;
	}
	printf("Login Succeeded\n");
	ret = EXIT_OK;
out:
	if (pass)
		explicit_bzero(pass, strlen(pass));
	free(user);
	free(pass);
	return ret;
}

int cmd_logout(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"help", no_argument, 0, 'h'}, {0}};
	int o;
	while ((o = cli_getopt(argc, argv, "h", lo)) != -1) {
		if (o == 'h')
			return cli_help("Usage:  shale logout [SERVER]\n\n"
					"Forget the credentials of a registry (default: docker.io).\n");
		return EXIT_USAGE;
	}
	if (argc - optind > 1)
		return cli_usage_error("logout", "\"shale logout\" requires at most 1 argument.");
	char server[256];
	server_name(optind < argc ? argv[optind] : "docker.io", server, sizeof server);
	int r = auth_delete(c->root, server);
	if (r < 0)
		return cli_fail();
	if (r == 0)
		printf("Not logged in to %s\n", server);
	else
		printf("Removing login credentials for %s\n", server);
	return EXIT_OK;
}
