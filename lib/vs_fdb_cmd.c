/* SPDX-License-Identifier: BSD-3-Clause */
/* MAC table commands: fdb/show, fdb/add, fdb/del, fdb/flush, fdb/aging. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_ether.h>

#include "vs_cmd.h"
#include "vs_fdb.h"
#include "vs_vxlan.h"
#include "vs_port_priv.h"

static void
entry_json(const struct vs_fdb_entry_info *e, void *arg)
{
	struct vs_port *p = vs_port_get(e->port_id);
	char mac[RTE_ETHER_ADDR_FMT_SIZE];

	/* Lower case, as ip link, bridge fdb and ovs-appctl fdb/show print. */
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
		 e->mac.addr_bytes[0], e->mac.addr_bytes[1],
		 e->mac.addr_bytes[2], e->mac.addr_bytes[3],
		 e->mac.addr_bytes[4], e->mac.addr_bytes[5]);
	json_array_append_new(arg,
			      json_pack("{s:s, s:i, s:i, s:s, s:s, s:i}", "mac",
					mac, "vlan", e->vlan, "port_id",
					e->port_id, "port", p ? p->name : "?",
					"type",
					e->is_static ? "static" : "learned",
					"age", e->age_s));
	if (e->remote) {
		char b[VS_ADDR_LEN];

		vs_vxlan_remote_str(p, e->remote, b);
		json_object_set_new(
			json_array_get(arg, json_array_size(arg) - 1), "remote",
			json_string(b));
	}
}

static int
opt_port(int argc, const char *const *argv, int i, uint16_t *id, char *err,
	 size_t errlen)
{
	struct vs_port *p;

	*id = VS_PORT_INVALID;
	if (argc <= i)
		return 0;
	p = vs_port_lookup(argv[i]);
	if (p == NULL)
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "no port '%s' (see port/list)", argv[i]);
	*id = p->id;
	return 0;
}

static int
parse_mac(const char *s, struct rte_ether_addr *mac, char *err, size_t errlen)
{
	if (strlen(s) != 17 || rte_ether_unformat_addr(s, mac) != 0)
		return vs_cmd_err(
			err, errlen, VS_RPC_INVALID_PARAMS,
			"'%s' is not a MAC address (xx:xx:xx:xx:xx:xx)", s);
	return 0;
}

/* An optional VLAN id argument, 0..4095; 0 when absent. */
static int
opt_vlan(int argc, const char *const *argv, int i, uint16_t *vlan, char *err,
	 size_t errlen)
{
	unsigned long v;

	*vlan = 0;
	if (argc <= i)
		return 0;
	if (vs_cmd_parse_uint(argv[i], 4095, &v) != 0)
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "invalid VLAN '%s' (0..4095)", argv[i]);
	*vlan = v;
	return 0;
}

/* A front end on a thread EAL does not know: none does, by design. */
static int
no_lcore_id(char *err, size_t errlen)
{
	return vs_cmd_err(
		err, errlen, VS_RPC_INTERNAL_ERROR,
		"this front end's thread has no lcore id, and the MAC table is written only from threads that have one");
}

static int
cmd_fdb_show(int argc, const char *const *argv, json_t **res, char *err,
	     size_t errlen)
{
	uint16_t port;
	int ret = opt_port(argc, argv, 0, &port, err, errlen);

	if (ret != 0)
		return ret;
	*res = json_array();
	vs_fdb_walk(port, entry_json, *res);
	return 0;
}

static int
cmd_fdb_add(int argc, const char *const *argv, json_t **res, char *err,
	    size_t errlen)
{
	struct rte_ether_addr mac;
	uint16_t port, vlan;
	int ret;

	ret = parse_mac(argv[0], &mac, err, errlen);
	if (ret == 0)
		ret = opt_port(argc, argv, 1, &port, err, errlen);
	if (ret == 0)
		ret = opt_vlan(argc, argv, 2, &vlan, err, errlen);
	if (ret != 0)
		return ret;
	ret = vs_fdb_add_static(&mac, vlan, port);
	if (ret == -EPERM)
		return no_lcore_id(err, errlen);
	if (ret == -EINVAL)
		return vs_cmd_err(
			err, errlen, VS_RPC_INVALID_PARAMS,
			"%s is multicast or zero: only unicast MACs are forwarded by the table",
			argv[0]);
	if (ret != 0)
		return vs_cmd_err(err, errlen, VS_RPC_FAILED,
				  "the MAC table is full");
	*res = json_pack("{s:s, s:i, s:s, s:s}", "mac", argv[0], "vlan", vlan,
			 "port", argv[1], "type", "static");
	return 0;
}

static int
cmd_fdb_del(int argc, const char *const *argv, json_t **res, char *err,
	    size_t errlen)
{
	struct rte_ether_addr mac;
	uint16_t vlan;
	int ret = parse_mac(argv[0], &mac, err, errlen);

	if (ret == 0)
		ret = opt_vlan(argc, argv, 1, &vlan, err, errlen);
	if (ret != 0)
		return ret;
	ret = vs_fdb_del(&mac, vlan);
	if (ret == -EPERM)
		return no_lcore_id(err, errlen);
	if (ret != 0)
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "%s is not in the MAC table (VLAN %u)",
				  argv[0], vlan);
	*res = json_pack("{s:s}", "deleted", argv[0]);
	return 0;
}

static int
cmd_fdb_flush(int argc, const char *const *argv, json_t **res, char *err,
	      size_t errlen)
{
	uint16_t port;
	int ret = opt_port(argc, argv, 0, &port, err, errlen);

	if (ret != 0)
		return ret;
	*res = json_pack("{s:i}", "flushed", vs_fdb_flush(port));
	return 0;
}

static int
cmd_fdb_aging(int argc, const char *const *argv, json_t **res, char *err,
	      size_t errlen)
{
	unsigned long sec;

	if (argc > 0) {
		if (vs_cmd_parse_uint(argv[0], 86400 * 365, &sec) != 0)
			return vs_cmd_err(
				err, errlen, VS_RPC_INVALID_PARAMS,
				"SEC '%s' must be 0..31536000 (0 = never)",
				argv[0]);
		vs_fdb_set_aging(sec);
	}
	*res = json_pack("{s:i}", "aging", vs_fdb_get_aging());
	return 0;
}

static int
cmd_fdb_info(int argc, const char *const *argv, json_t **res, char *err,
	     size_t errlen)
{
	uint32_t cap, n = vs_fdb_count(&cap);

	*res = json_pack("{s:i, s:i, s:i}", "entries", n, "capacity", cap,
			 "aging", vs_fdb_get_aging());
	return 0;
}

static const struct vs_cmd fdb_cmds[] = {
	{ "fdb/show", "[PORT]", "the MAC table (of one port)", 0, 1, "fdb",
	  cmd_fdb_show },
	{ "fdb/add", "MAC PORT [VLAN]",
	  "a static entry: never aged or moved (VLAN 0 unless given)", 2, 3,
	  NULL, cmd_fdb_add },
	{ "fdb/del", "MAC [VLAN]", "remove an entry (of VLAN 0 unless given)",
	  1, 2, NULL, cmd_fdb_del },
	{ "fdb/flush", "[PORT]", "remove every entry (of one port)", 0, 1, NULL,
	  cmd_fdb_flush },
	{ "fdb/aging", "[SEC]", "show or set the ageing time, 0 = never", 0, 1,
	  NULL, cmd_fdb_aging },
	{ "fdb/info", "", "entries, capacity, ageing time", 0, 0, "fdb_info",
	  cmd_fdb_info },
};

int
vs_fdb_cmd_register(void)
{
	return vs_cmd_register(fdb_cmds, RTE_DIM(fdb_cmds));
}
