/* SPDX-License-Identifier: BSD-3-Clause */
/* Switch commands: version, help, info, shutdown, port/add, port/del. */
#define _GNU_SOURCE
#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_log.h>
#include <rte_version.h>

#include "vs_cmd.h"
#include "vs_conf.h"
#include "vs_fdb.h"
#include "vs_fwd.h"
#include "vs_mbuf.h"
#include "vs_port.h"
#include "vs_save.h"
#include "vs_switch.h"
#include "vs_vhost_call.h"
#include "vs_vhost_guard.h"

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
	struct vs_call_stats cs;
	enum vs_guard_reason r;
	json_t *g;
	unsigned int s;
	uint16_t i, n = 0;

	for (i = 0; i < vs_port_count(); i++)
		n += vs_port_get(i) != NULL;
	for (s = 0, used = 0; s < RTE_MAX_NUMA_NODES; s++) {
		uint32_t sz = 0;

		used += vs_mbuf_in_use(s, &sz);
		size += sz;
	}
	entries = vs_fdb_count(&cap);
	*res = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
			 "version", VS_VERSION, "dpdk", rte_version(), "pid",
			 (int)getpid(), "ports", n, "lcores",
			 vs_fwd_nb_lcores(), "fdb_entries", entries,
			 "fdb_capacity", cap, "mbufs", size, "mbufs_in_use",
			 used);
	if (*res == NULL)
		return -ENOMEM;
	/* The vhost-user message guard: refused messages by reason. */
	g = json_object();
	for (r = 0; g != NULL && r < VS_GUARD_MAX; r++)
		json_object_set_new(
			g, vs_vhost_guard_reason_name(r),
			json_integer((json_int_t)vs_vhost_guard_refused(r)));
	json_object_set_new(*res, "vhost_guard",
			    json_pack("{s:b, s:o*}", "active",
				      vs_vhost_guard_active(), "refused", g));
	/* The vring call relay: interrupts passed on, all ports. */
	vs_call_relay_totals(&cs);
	json_object_set_new(*res, "call_relay",
			    json_pack("{s:b, s:I, s:I, s:I}", "active",
				      cs.relay && vs_vhost_guard_active(),
				      "relayed", (json_int_t)cs.relayed, "full",
				      (json_int_t)cs.full, "blocked",
				      (json_int_t)cs.blocked));
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

/* port/add vxlan NAME KEY=VAL...: the words joined as --vxlan takes them. */
static int
port_add_vxlan(int argc, const char *const *argv, json_t **res, char *err,
	       size_t errlen)
{
	struct vs_vxlan_conf xc;
	char spec[1024];
	size_t off = 0;
	int i, ret;

	if (argc < 1)
		return vs_cmd_err(
			err, errlen, VS_RPC_INVALID_PARAMS,
			"port/add vxlan NAME vni=N local=IP remote=IP[+IP...] via=PORT [KEY=VAL...]");
	for (i = 0; i < argc && off < sizeof(spec); i++)
		off += snprintf(spec + off, sizeof(spec) - off, "%s%s",
				i ? "," : "", argv[i]);
	if (off >= sizeof(spec))
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "arguments too long");
	if (vs_conf_parse_vxlan(&xc, spec, err, errlen) != 0)
		return VS_RPC_INVALID_PARAMS;
	err[0] = '\0';
	ret = vs_switch_vxlan_add(&xc, err, errlen);
	if (ret < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "cannot add %s: %s", xc.name,
				 strerror(-ret));
		return ret == -ENODEV || ret == -EEXIST ? VS_RPC_INVALID_PARAMS
							: VS_RPC_FAILED;
	}
	*res = json_pack("{s:i, s:s}", "id", ret, "name", xc.name);
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

	if (strcmp(argv[0], "vxlan") == 0)
		return port_add_vxlan(argc - 1, argv + 1, res, err, errlen);
	off = strlcpy(spec, argv[0], sizeof(spec));
	for (i = 1; i < argc && off < sizeof(spec); i++)
		off += snprintf(spec + off, sizeof(spec) - off, ",%s", argv[i]);
	if (off >= sizeof(spec))
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "arguments too long");
	if (vs_conf_parse_vhost(&vc, spec, err, errlen) != 0)
		return VS_RPC_INVALID_PARAMS;
	err[0] = '\0';
	ret = vs_switch_port_add(&vc, err, errlen);
	if (ret < 0 && err[0] != '\0')
		return VS_RPC_FAILED;
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

static const char *const level_names[] = {
	[RTE_LOG_EMERG] = "emerg",     [RTE_LOG_ALERT] = "alert",
	[RTE_LOG_CRIT] = "crit",       [RTE_LOG_ERR] = "err",
	[RTE_LOG_WARNING] = "warning", [RTE_LOG_NOTICE] = "notice",
	[RTE_LOG_INFO] = "info",       [RTE_LOG_DEBUG] = "debug",
};

/*
 * rte_log has no iterator in 22.11: read the types back from
 * rte_log_dump(), whose lines are "id N: NAME, level is LEVEL".
 */
static json_t *
log_types(const char *pattern)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	json_t *a = json_array();
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return a;
	rte_log_dump(f);
	fclose(f);
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[128], level[32];
		int id;

		if (sscanf(line, "id %d: %127[^,], level is %31s", &id, name,
			   level) != 3)
			continue;
		if (pattern != NULL && fnmatch(pattern, name, 0) != 0)
			continue;
		json_array_append_new(a,
				      json_pack("{s:i, s:s, s:s}", "id", id,
						"type", name, "level", level));
	}
	free(buf);
	return a;
}

static int
cmd_log_list(int argc, const char *const *argv, json_t **res, char *err,
	     size_t errlen)
{
	*res = log_types(argc > 0 ? argv[0] : NULL);
	return 0;
}

static int
cmd_log_set(int argc, const char *const *argv, json_t **res, char *err,
	    size_t errlen)
{
	unsigned long v;
	unsigned int level = 0, i;
	json_t *matched;

	for (i = 1; i < RTE_DIM(level_names); i++)
		if (strcmp(argv[1], level_names[i]) == 0)
			level = i;
	if (level == 0 && vs_cmd_parse_uint(argv[1], RTE_LOG_DEBUG, &v) == 0 &&
	    v > 0)
		level = v;
	if (level == 0)
		return vs_cmd_err(
			err, errlen, VS_RPC_INVALID_PARAMS,
			"LEVEL '%s': one of emerg alert crit err warning notice info debug, or 1..8",
			argv[1]);
	matched = log_types(argv[0]);
	if (json_array_size(matched) == 0) {
		json_decref(matched);
		return vs_cmd_err(
			err, errlen, VS_RPC_INVALID_PARAMS,
			"PATTERN '%s' matches no log type (see log/list)",
			argv[0]);
	}
	json_decref(matched);
	if (rte_log_set_level_pattern(argv[0], level) != 0)
		return vs_cmd_err(err, errlen, VS_RPC_FAILED,
				  "cannot set '%s' to %s", argv[0], argv[1]);
	/* config/save writes it back. */
	vs_save_log_note(argv[0], level);
	*res = log_types(argv[0]);
	return 0;
}

static const struct vs_cmd switch_cmds[] = {
	{ "log/list", "[PATTERN]", "log types and their levels (rte_log)", 0, 1,
	  "log", cmd_log_list },
	{ "log/set", "PATTERN LEVEL",
	  "set the level of the log types matching a glob, e.g. 'vswitch.*' debug",
	  2, 2, NULL, cmd_log_set },
	{ "version", "", "vhost-switch and DPDK versions", 0, 0, NULL,
	  cmd_version },
	{ "help", "[METHOD]", "methods with usage, or one method", 0, 1, NULL,
	  cmd_help },
	{ "info", "", "versions, ports, lcores, MAC table and mbuf use", 0, 0,
	  "info", cmd_info },
	{ "shutdown", "", "stop the switch gracefully", 0, 0, NULL,
	  cmd_shutdown },
	{ "port/add",
	  "PATH [client] [queues=N] [name=NAME] [KEY=VAL...] | vxlan NAME vni=N local=IP remote=IP[+IP...] via=PORT [KEY=VAL...]",
	  "add a vhost-user port, or a VXLAN tunnel port", 1, 24, NULL,
	  cmd_port_add },
	{ "port/del", "PORT", "delete a vhost-user or tunnel port", 1, 1, NULL,
	  cmd_port_del },
};

int
vs_switch_cmd_register(void)
{
	return vs_cmd_register(switch_cmds, RTE_DIM(switch_cmds));
}
