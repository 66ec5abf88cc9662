/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared by the libFuzzer harnesses of the option and config parsers
 * (lib/vs_conf.c): quiet logs, no stdin, and invariants every accepted
 * configuration must hold. A broken invariant is a crash (abort), so
 * libFuzzer saves the input.
 */
#ifndef VS_FUZZ_COMMON_H
#define VS_FUZZ_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_log.h>

#include "vs_conf.h"

#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", \
				#cond, __FILE__, __LINE__); \
			abort(); \
		} \
	} while (0)

static void
fuzz_init_common(void)
{
	int fd = open("/dev/null", O_RDONLY);

	/* --config /dev/stdin must not wait for a terminal. */
	if (fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	/* rte_cfgfile reports every bad line through rte_log. */
	rte_log_set_global_level(RTE_LOG_EMERG);
}

/* What vs_conf promises about a configuration it accepted. */
static void
fuzz_check_conf(const struct vs_conf *c)
{
	unsigned int i, j;

	FUZZ_CHECK(c->burst >= 1 && c->burst <= 512);
	FUZZ_CHECK(c->mbufs <= (1u << 26));
	FUZZ_CHECK(c->fdb_size >= 16 && c->fdb_size <= (16u << 20));
	FUZZ_CHECK(c->tx_retries <= 1024);
	FUZZ_CHECK(c->stats_period <= 86400);
	FUZZ_CHECK(c->busyloop_us <= 10u * 1000 * 1000);
	FUZZ_CHECK(memchr(c->ctl_path, '\0', sizeof(c->ctl_path)) != NULL);
	FUZZ_CHECK(strlen(c->ctl_path) < 108);
	FUZZ_CHECK(c->nb_vhost <= VS_MAX_VHOST_CONF);
	for (i = 0; i < c->nb_vhost; i++) {
		const struct vs_vhost_conf *v = &c->vhost[i];

		FUZZ_CHECK(v->path[0] != '\0');
		FUZZ_CHECK(strlen(v->path) < 108);
		FUZZ_CHECK(memchr(v->name, '\0', sizeof(v->name)) != NULL);
		FUZZ_CHECK(v->queues >= 1 && v->queues <= 32);
		for (j = 0; j < i; j++) {
			FUZZ_CHECK(strcmp(c->vhost[j].path, v->path) != 0);
			FUZZ_CHECK(!v->name[0] ||
				   strcmp(c->vhost[j].name, v->name) != 0);
		}
	}
}

static void
fuzz_check_err(int ret, const char *err, size_t errlen)
{
	FUZZ_CHECK(memchr(err, '\0', errlen) != NULL);
	if (ret == -EINVAL || ret == -ENOENT)
		FUZZ_CHECK(err[0] != '\0');
}

#endif
