/* SPDX-License-Identifier: BSD-3-Clause */
/* Switch commands: version, help, info, shutdown, port/add, port/del. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_version.h>

#include "vs_cmd.h"
#include "vs_conf.h"
#include "vs_fdb.h"
#include "vs_fwd.h"
#include "vs_mbuf.h"
#include "vs_port.h"
#include "vs_switch.h"

static int
cmd_version(int argc, const char *const *argv, json_t **res, char *err,
	    size_t errlen)
{
	*res = json_pack("{s:s, s:s}", "version", VS_VERSION, "dpdk",
			 rte_version());
	return 0;
}

static int
cmd_help(int argc, const char *const *argv, json_t **res, char *err,
	 size_t errlen)
{
	const struct vs_cmd *c;
	unsigned int i;

	if (argc > 0) {
		c = vs_cmd_find(argv[0]);
		if (c == NULL)
			return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
					  "unknown method '%.64s'", argv[0]);
		*res = json_pack("{s:s, s:s, s:s, s:s}", "method", c->name,
				 "usage", c->usage, "help", c->help,
				 "telemetry", c->tel ? c->tel : "");
		return 0;
	}
	*res = json_array();
	for (i = 0; (c = vs_cmd_at(i)) != NULL; i++)
		json_array_append_new(*res,
				      json_pack("{s:s, s:s, s:s}", "method",
						c->name, "usage", c->usage,
						"help", c->help));
	return 0;
}

static int
cmd_info(int argc, const char *const *argv, json_t **res, char *err,
	 size_t errlen)
{
	uint32_t cap, entries, used, size = 0;
	uint16_t i, n = 0;

	for (i = 0; i < vs_port_count(); i++)
		n += vs_port_get(i) != NULL;
	used = vs_mbuf_in_use(0, &size);
	entries = vs_fdb_count(&cap);
	*res = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
			 "version", VS_VERSION, "dpdk", rte_version(), "pid",
			 (int)getpid(), "ports", n, "lcores",
			 vs_fwd_nb_lcores(), "fdb_entries", entries,
			 "fdb_capacity", cap, "mbufs", size, "mbufs_in_use",
			 used);
	return 0;
}

static int
cmd_shutdown(int argc, const char *const *argv, json_t **res, char *err,
	     size_t errlen)
{
	/* The same path as SIGTERM: main() stops the switch gracefully. */
	kill(getpid(), SIGTERM);
	*res = json_pack("{s:s}", "status", "stopping");
	return 0;
}

static int
cmd_port_add(int argc, const char *const *argv, json_t **res, char *err,
	     size_t errlen)
{
	struct vs_vhost_conf vc;
	char spec[PATH_MAX + 128];
	size_t off;
	int i, ret;

	off = strlcpy(spec, argv[0], sizeof(spec));
	for (i = 1; i < argc && off < sizeof(spec); i++)
		off += snprintf(spec + off, sizeof(spec) - off, ",%s", argv[i]);
	if (off >= sizeof(spec))
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "arguments too long");
	if (vs_conf_parse_vhost(&vc, spec, err, errlen) != 0)
		return VS_RPC_INVALID_PARAMS;
	ret = vs_switch_port_add(&vc);
	if (ret == -EEXIST)
		return vs_cmd_err(
			err, errlen, VS_RPC_FAILED,
			"a port with that name or socket path exists");
	if (ret == -EADDRINUSE)
		return vs_cmd_err(err, errlen, VS_RPC_FAILED,
				  "socket %s is in use by another process",
				  vc.path);
	if (ret < 0)
		return vs_cmd_err(err, errlen, VS_RPC_FAILED,
				  "cannot add %s: %s", vc.path, strerror(-ret));
	*res = json_pack("{s:i, s:s}", "id", ret, "path", vc.path);
	return 0;
}

static int
cmd_port_del(int argc, const char *const *argv, json_t **res, char *err,
	     size_t errlen)
{
	int ret = vs_switch_port_del(argv[0]);

	if (ret == -ENOENT)
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "no port '%s' (see port/list)", argv[0]);
	if (ret == -ENOTSUP)
		return vs_cmd_err(
			err, errlen, VS_RPC_INVALID_PARAMS,
			"port '%s' is an ethdev: only vhost-user ports can be deleted",
			argv[0]);
	if (ret < 0)
		return vs_cmd_err(err, errlen, VS_RPC_FAILED, "%s",
				  strerror(-ret));
	*res = json_pack("{s:s}", "deleted", argv[0]);
	return 0;
}

static const struct vs_cmd switch_cmds[] = {
	{ "version", "", "vhost-switch and DPDK versions", 0, 0, NULL,
	  cmd_version },
	{ "help", "[METHOD]", "methods with usage, or one method", 0, 1, NULL,
	  cmd_help },
	{ "info", "", "versions, ports, lcores, MAC table and mbuf use", 0, 0,
	  "info", cmd_info },
	{ "shutdown", "", "stop the switch gracefully", 0, 0, NULL,
	  cmd_shutdown },
	{ "port/add", "PATH [client] [queues=N] [name=NAME]",
	  "add a vhost-user port", 1, 4, NULL, cmd_port_add },
	{ "port/del", "PORT", "delete a vhost-user port", 1, 1, NULL,
	  cmd_port_del },
};

int
vs_switch_cmd_register(void)
{
	return vs_cmd_register(switch_cmds, RTE_DIM(switch_cmds));
}
