/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness: vs_conf_parse_args() on an argv made from the input
 * (arguments separated by NUL bytes or newlines; argv[0] is the program).
 * With VS_FUZZ_NO_GETOPT_RESET=1 in the environment glibc's getopt state
 * is not reset between runs: fuzz/repro/getopt-cluster-1 then -2 shows
 * what vs_conf_parse_args() does when called twice (see
 * doc/reliability.md).
 */
#include <getopt.h>
#include <stdint.h>

#include "fuzz_common.h"

#define MAX_ARGS 600

static struct vs_conf conf; /* ~1 MB: not on the stack */
static int no_reset;
static char *prev_buf; /* no_reset: the last argv stays readable */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init_common();
	no_reset = getenv("VS_FUZZ_NO_GETOPT_RESET") != NULL;
	return 0;
}

/*
 * vs_conf_parse_args() sets optind = 1, which does not reset glibc's
 * position inside a cluster of short options ("-hi" returns at 'h' and
 * keeps a pointer to "i"). The switch calls it once per process; here it
 * runs again on freed memory, so reset glibc's state the documented way
 * (optind = 0) first.
 */
static void
reset_getopt(void)
{
	char *dummy[] = { (char *)"x", NULL };

	optind = 0;
	opterr = 0;
	while (getopt(1, dummy, "") != -1)
		;
}

/* Could any argument have asked for -i / --interactive? */
static int
asks_interactive(int argc, char **argv)
{
	int i;

	/* Not stopping at "--": it may be an option's value ("--vhost --"). */
	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--i", 3) == 0)
			return 1;
		if (argv[i][0] == '-' && argv[i][1] != '-' &&
		    strchr(argv[i], 'i') != NULL)
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2];
	char err[512];
	char *buf, *p, *end;
	int argc = 0, ret;

	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = (char *)"vhost-switch";
	for (p = buf, end = buf + size; p <= end && argc < MAX_ARGS;) {
		char *q = p;

		while (q < end && *q != '\0' && *q != '\n')
			q++;
		*q = '\0';
		argv[argc++] = p;
		p = q + 1;
	}
	argv[argc] = NULL;

	if (!no_reset)
		reset_getopt();
	vs_conf_defaults(&conf);
	memset(err, 0, sizeof(err));
	ret = vs_conf_parse_args(&conf, argc, argv, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -EAGAIN);
	fuzz_check_err(ret, err, sizeof(err));
	/* A failed --config may leave a partial file behind: not checked. */
	if (ret == 0)
		fuzz_check_conf(&conf);
	/* Options come from this argv only, not from an earlier call's. */
	if (conf.interactive)
		FUZZ_CHECK(asks_interactive(argc, argv));
	if (no_reset) {
		/*
		 * Keep this argv alive until the next call has run: glibc may
		 * still point into it, and reading freed memory inside glibc
		 * (not instrumented) would only give random results.
		 */
		free(prev_buf);
		prev_buf = buf;
	} else {
		free(buf);
	}
	return 0;
}
