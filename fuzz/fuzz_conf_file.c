/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness: vs_conf_load_file() on the input written to a
 * temporary file (rte_cfgfile reads it, after vs_conf's own line check).
 */
#include <stdint.h>

#include "fuzz_common.h"

static struct vs_conf conf;
static char path[64];
static int fd = -1;

static void
cleanup(void)
{
	if (path[0])
		unlink(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init_common();
	snprintf(path, sizeof(path), "/tmp/vs-fuzz-conf.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		exit(1);
	}
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	int ret;

	if (ftruncate(fd, 0) != 0 ||
	    pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	vs_conf_defaults(&conf);
	memset(err, 0, sizeof(err));
	ret = vs_conf_load_file(&conf, path, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOENT);
	fuzz_check_err(ret, err, sizeof(err));
	if (ret == 0)
		fuzz_check_conf(&conf);
	return 0;
}
