/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_CONF_H
#define VS_CONF_H

/**
 * @file
 * Switch options: the command line after EAL's "--" and the INI file of
 * --config. Both fill one struct vs_conf; the command line wins where both
 * set a value. Parsing never exits: it returns -EINVAL and a one-line
 * message naming the option and the value, and main() decides what to do.
 */

#include <stdbool.h>
#include <stdint.h>
#include <limits.h>

#define VS_MAX_VHOST_CONF 256
#define VS_NAME_LEN 32

/** One --vhost PATH[,client][,queues=N][,name=NAME]. */
struct vs_vhost_conf {
	char path[PATH_MAX];
	char name[VS_NAME_LEN];
	bool client;
	uint16_t queues; /**< Queue pairs offered to the guest. */
	bool no_offloads; /**< offloads=off: no checksum/segmentation offload. */
	uint16_t mtu; /**< mtu=N; 0: the guest's (VIRTIO_NET_F_MTU) or 1500. */
};

/** MTU bounds: the IPv4 minimum and a 9000-byte jumbo frame's payload. */
#define VS_MTU_MIN 68
#define VS_MTU_MAX 9702

struct vs_conf {
	uint16_t burst; /**< Packets per rx burst. */
	uint32_t mbufs; /**< Mbufs per NUMA pool; 0 = computed. */
	uint32_t fdb_size; /**< MAC table capacity. */
	uint32_t fdb_aging; /**< Seconds; 0 = never age. */
	uint32_t tx_retries; /**< Extra tx attempts before a drop. */
	uint32_t stats_period; /**< Seconds between rate lines; 0 = off. */
	uint32_t busyloop_us; /**< Default busy-loop timeout, us. */
	char config_file[PATH_MAX];
	char ctl_path[PATH_MAX];
	bool interactive;
	uint16_t nb_vhost;
	struct vs_vhost_conf vhost[VS_MAX_VHOST_CONF];
};

/** Fill @p conf with the defaults documented in doc/guide.md. */
void vs_conf_defaults(struct vs_conf *conf);

/**
 * Parse the switch options (argv[0] is the program name, as after
 * rte_eal_init()). A --config FILE is read where it appears, so later
 * options override it.
 *
 * @return 0, or -EINVAL with a one-line reason in @p err.
 */
int vs_conf_parse_args(struct vs_conf *conf, int argc, char **argv, char *err,
		       size_t errlen);

/**
 * Read an INI file (rte_cfgfile) into @p conf.
 *
 * @return 0, -ENOENT if it cannot be read, -EINVAL on a bad key or value;
 *   a one-line reason in @p err.
 */
int vs_conf_load_file(struct vs_conf *conf, const char *file, char *err,
		      size_t errlen);

/**
 * Parse one vhost port spec "PATH[,client][,queues=N][,name=NAME]".
 *
 * @return 0, or -EINVAL with a reason in @p err.
 */
int vs_conf_parse_vhost(struct vs_vhost_conf *vc, const char *spec, char *err,
			size_t errlen);

/** The usage text, for --help. */
void vs_conf_usage(const char *prog);

#endif /* VS_CONF_H */
