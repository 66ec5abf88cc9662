/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-switch-ctl [--ctl PATH | -f FILE_PREFIX] [--json] METHOD [ARGS...]
 *
 * Sends one JSON-RPC 2.0 request to a running vhost-switch and prints the
 * result as a table (or the raw reply with --json). Exit status: 0 on a
 * result, 1 on an error reply, 2 on bad usage or no switch to talk to.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "vs_fmt.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: vhost-switch-ctl [--ctl PATH | -f FILE_PREFIX] [--json] METHOD [ARGS...]\n"
		"  --ctl PATH        the switch's control socket\n"
		"  -f, --file-prefix PREFIX\n"
		"                    the switch's EAL --file-prefix (default rte): the socket\n"
		"                    is vhost-switch.ctl in DPDK's runtime directory for it\n"
		"  --json            print the raw JSON-RPC reply\n"
		"  METHOD            e.g. port/list, port/show PORT; 'help' lists them all\n");
}

/* The runtime directory as DPDK's eal_get_runtime_dir() derives it. */
static void
default_path(char *buf, size_t len, const char *prefix)
{
	const char *dir = "/var/run";

	if (getuid() != 0) {
		dir = getenv("XDG_RUNTIME_DIR");
		if (dir == NULL)
			dir = "/tmp";
	}
	snprintf(buf, len, "%s/dpdk/%s/vhost-switch.ctl", dir, prefix);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, 'c' },
		{ "file-prefix", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[PATH_MAX] = "", *req, *line = NULL;
	const char *prefix = "rte";
	size_t cap = 0;
	json_t *params, *msg, *reply, *err, *res;
	json_error_t jerr;
	bool raw = false;
	FILE *f;
	int c, fd, i, rc;

	while ((c = getopt_long(argc, argv, "+f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			snprintf(path, sizeof(path), "%s", optarg);
			break;
		case 'f':
			prefix = optarg;
			break;
		case 'j':
			raw = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (path[0] == '\0')
		default_path(path, sizeof(path), prefix);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vhost-switch-ctl: socket path too long: %s\n",
			path);
		return 2;
	}
	params = json_array();
	for (i = optind + 1; i < argc; i++)
		json_array_append_new(params, json_string(argv[i]));
	msg = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", 1,
			"method", argv[optind], "params", params);
	req = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	if (req == NULL) {
		fprintf(stderr,
			"vhost-switch-ctl: arguments are not valid UTF-8\n");
		return 2;
	}

	/* One way out: everything below is released at out. */
	f = NULL;
	reply = NULL;
	rc = 2;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr,
			"vhost-switch-ctl: cannot connect to %s: %s (is vhost-switch running? see --ctl / -f)\n",
			path, strerror(errno));
		goto out;
	}
	f = fdopen(fd, "r+");
	if (f == NULL)
		goto out;
	fd = -1; /* f owns it */
	if (fprintf(f, "%s\n", req) < 0 || fflush(f) != 0 ||
	    getline(&line, &cap, f) <= 0) {
		fprintf(stderr, "vhost-switch-ctl: no reply from %s\n", path);
		goto out;
	}
	if (raw)
		fputs(line, stdout);
	reply = json_loads(line, 0, &jerr);
	if (reply == NULL) {
		fprintf(stderr, "vhost-switch-ctl: bad reply: %s\n", jerr.text);
		goto out;
	}
	err = json_object_get(reply, "error");
	if (err != NULL) {
		fprintf(stderr, "vhost-switch-ctl: error %lld: %s\n",
			(long long)json_integer_value(
				json_object_get(err, "code")),
			json_string_value(json_object_get(err, "message")));
		rc = 1;
		goto out;
	}
	res = json_object_get(reply, "result");
	if (!raw)
		vs_fmt_print(stdout, res);
	rc = 0;
out:
	json_decref(reply);
	free(line);
	free(req);
	if (f != NULL)
		fclose(f);
	else if (fd >= 0)
		close(fd);
	return rc;
}
