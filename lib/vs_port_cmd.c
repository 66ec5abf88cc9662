/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Port commands: port/list, port/show, port/enable, port/disable,
 * vring/show, mem/show, features/show, stats/show, stats/clear.
 * Each parses its arguments, calls one typed vs_port_* function and
 * builds the JSON result; results stay two levels deep so telemetry can
 * carry them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_errno.h>

#include "vs_cmd.h"
#include "vs_offload.h"
#include "vs_port_priv.h"

#define MAX_REGIONS 64 /* VHOST_MEMORY_MAX_NREGIONS is 8; a margin */

static const char *const virtio_feature_names[64] = {
	[0] = "CSUM",
	[1] = "GUEST_CSUM",
	[2] = "CTRL_GUEST_OFFLOADS",
	[3] = "MTU",
	[5] = "MAC",
	[6] = "GSO",
	[7] = "GUEST_TSO4",
	[8] = "GUEST_TSO6",
	[9] = "GUEST_ECN",
	[10] = "GUEST_UFO",
	[11] = "HOST_TSO4",
	[12] = "HOST_TSO6",
	[13] = "HOST_ECN",
	[14] = "HOST_UFO",
	[15] = "MRG_RXBUF",
	[16] = "STATUS",
	[17] = "CTRL_VQ",
	[18] = "CTRL_RX",
	[19] = "CTRL_VLAN",
	[20] = "CTRL_RX_EXTRA",
	[21] = "GUEST_ANNOUNCE",
	[22] = "MQ",
	[23] = "CTRL_MAC_ADDR",
	[24] = "NOTIFY_ON_EMPTY",
	[26] = "VHOST_F_LOG_ALL",
	[27] = "ANY_LAYOUT",
	[28] = "RING_INDIRECT_DESC",
	[29] = "RING_EVENT_IDX",
	[30] = "VHOST_USER_F_PROTOCOL_FEATURES",
	[32] = "VERSION_1",
	[33] = "ACCESS_PLATFORM",
	[34] = "RING_PACKED",
	[35] = "IN_ORDER",
	[36] = "ORDER_PLATFORM",
	[37] = "SR_IOV",
	[38] = "NOTIFICATION_DATA",
	[40] = "RING_RESET",
	[53] = "NOTF_COAL",
	[57] = "HASH_REPORT",
	[60] = "RSS",
	[61] = "RSC_EXT",
	[62] = "STANDBY",
	[63] = "SPEED_DUPLEX",
};

static const char *const protocol_feature_names[64] = {
	[0] = "MQ",
	[1] = "LOG_SHMFD",
	[2] = "RARP",
	[3] = "REPLY_ACK",
	[4] = "NET_MTU",
	[5] = "BACKEND_REQ",
	[6] = "CROSS_ENDIAN",
	[7] = "CRYPTO_SESSION",
	[8] = "PAGEFAULT",
	[9] = "CONFIG",
	[10] = "BACKEND_SEND_FD",
	[11] = "HOST_NOTIFIER",
	[12] = "INFLIGHT_SHMFD",
	[13] = "RESET_DEVICE",
	[14] = "INBAND_NOTIFICATIONS",
	[15] = "CONFIGURE_MEM_SLOTS",
	[16] = "STATUS",
};

static int
get_port(const char *arg, struct vs_port **p, char *err, size_t errlen)
{
	*p = vs_port_lookup(arg);
	if (*p == NULL)
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "no port '%s' (see port/list)", arg);
	return 0;
}

static int
vhost_err(int ret, const struct vs_port *p, char *err, size_t errlen)
{
	if (ret == -ENOTSUP)
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "port '%s' is not a vhost-user port",
				  p->name);
	if (ret == -ENOLINK)
		return vs_cmd_err(err, errlen, VS_RPC_FAILED,
				  "port '%s' has no guest attached", p->name);
	return vs_cmd_err(err, errlen, VS_RPC_FAILED, "port '%s': %s", p->name,
			  strerror(-ret));
}

static char *
hex64(char *buf, size_t len, uint64_t v)
{
	snprintf(buf, len, "0x%" PRIx64, v);
	return buf;
}

/* The VLAN and security keys of a port, as port/show and port/set print. */
static void
keys_json(json_t *o, const struct vs_port_info *in)
{
	const struct vs_port_keys *k = &in->keys;
	json_t *macs = json_array();
	char b[1024];
	uint16_t i;

	json_object_set_new(o, "vlan",
			    k->vlan ? json_integer(k->vlan) : json_null());
	if (k->trunk_list) {
		vs_conf_trunks_fmt(k->trunks, b, sizeof(b));
		json_object_set_new(o, "trunks", json_string(b));
	} else {
		json_object_set_new(o, "trunks", json_null());
	}
	json_object_set_new(o, "native",
			    k->native ? json_integer(k->native) : json_null());
	json_object_set_new(o, "max_macs", json_integer(k->max_macs));
	for (i = 0; i < k->nb_allowed; i++) {
		snprintf(b, sizeof(b), "%02x:%02x:%02x:%02x:%02x:%02x",
			 k->allowed[i][0], k->allowed[i][1], k->allowed[i][2],
			 k->allowed[i][3], k->allowed[i][4], k->allowed[i][5]);
		json_array_append_new(macs, json_string(b));
	}
	json_object_set_new(o, "allowed_macs", macs);
	json_object_set_new(o, "flood_pps", json_integer(k->flood_pps));
}

static const char *
kind_str(enum vs_port_kind k)
{
	switch (k) {
	case VS_PORT_VHOST:
		return "vhost";
	case VS_PORT_VXLAN:
		return "vxlan";
	default:
		return "ethdev";
	}
}

static json_t *
port_json(const struct vs_port *p, bool detail)
{
	struct vs_port_info in;
	struct vs_port_stats st;
	uint64_t drops = 0;
	json_t *o, *d;
	unsigned int i;

	vs_port_info_get(p, &in);
	vs_port_stats_get(p, &st);
	for (i = 0; i < VS_DROP_MAX; i++)
		drops += st.drops[i];
	o = json_pack(
		"{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:I}",
		"id", in.id, "name", in.name, "kind", kind_str(in.kind),
		"driver", in.kind_name, "state",
		in.enabled ? "enabled" : "disabled", "link",
		in.link_up ? "up" : "down", "path", in.path, "rxq", in.nb_rxq,
		"txq", in.nb_txq, "numa", in.socket_id, "rx_pkts",
		(json_int_t)st.rx_pkts, "tx_pkts", (json_int_t)st.tx_pkts,
		"drops", (json_int_t)drops);
	if (o == NULL)
		return NULL;
	if (in.kind == VS_PORT_VHOST)
		json_object_set_new(
			o, "mode",
			json_string(in.client ? "client" : "server"));
	if (!detail)
		return o;
	json_object_set_new(o, "rx_bytes", json_integer(st.rx_bytes));
	json_object_set_new(o, "tx_bytes", json_integer(st.tx_bytes));
	d = json_object();
	for (i = 0; i < VS_DROP_MAX; i++)
		json_object_set_new(d, vs_drop_name(i),
				    json_integer(st.drops[i]));
	json_object_set_new(o, "drops_by_reason", d);
	/* Whether lcores share its tx queues, and how often they met. */
	json_object_set_new(o, "tx_lock", json_boolean(in.tx_lock));
	json_object_set_new(o, "tx_lock_contended",
			    json_integer((json_int_t)in.tx_lock_contended));
	json_object_set_new(o, "mtu", json_integer(in.mtu));
	keys_json(o, &in);
	json_object_set_new(o, "macs", json_integer(in.macs));
	json_object_set_new(o, "mac_limit", json_integer(st.mac_limit));
	{
		json_t *ol = json_object(), *takes = json_array();

		if (in.tx_ol & VS_OL_CSUM)
			json_array_append_new(takes, json_string("csum"));
		if (in.tx_ol & VS_OL_TSO4)
			json_array_append_new(takes, json_string("tso4"));
		if (in.tx_ol & VS_OL_TSO6)
			json_array_append_new(takes, json_string("tso6"));
		json_object_set_new(ol, "enabled", json_boolean(in.offloads));
		/* An ethdev's: what it has, whether used or not. */
		if (in.kind != VS_PORT_VHOST) {
			json_t *can = json_array();

			if (in.ol_capa & VS_OL_CSUM)
				json_array_append_new(can, json_string("csum"));
			if (in.ol_capa & VS_OL_TSO4)
				json_array_append_new(can, json_string("tso4"));
			if (in.ol_capa & VS_OL_TSO6)
				json_array_append_new(can, json_string("tso6"));
			json_object_set_new(ol, "device", can);
		}
		json_object_set_new(ol, "takes", takes);
		json_object_set_new(ol, "rx_gso", json_integer(st.rx_gso));
		json_object_set_new(ol, "rx_csum_partial",
				    json_integer(st.rx_csum_partial));
		json_object_set_new(ol, "tx_gso", json_integer(st.tx_gso));
		json_object_set_new(ol, "sw_csum", json_integer(st.sw_csum));
		json_object_set_new(ol, "sw_gso", json_integer(st.sw_gso));
		json_object_set_new(ol, "sw_gso_segs",
				    json_integer(st.sw_gso_segs));
		json_object_set_new(o, "offloads", ol);
	}
	if (in.kind == VS_PORT_VHOST) {
		bool log = false;
		uint64_t base = 0, size = 0;
		char b[32];

		json_object_set_new(o, "vid", json_integer(in.vid));
		json_object_set_new(
			o, "vhost_refused",
			json_integer(
				(json_int_t)vs_port_vhost_refused_count(p)));
		if (vs_port_log_info(p, &log, &base, &size) == 0) {
			json_object_set_new(o, "dirty_log", json_boolean(log));
			json_object_set_new(
				o, "log_base",
				json_string(hex64(b, sizeof(b), base)));
			json_object_set_new(o, "log_size", json_integer(size));
		}
	}
	return o;
}

static int
cmd_port_list(int argc, const char *const *argv, json_t **res, char *err,
	      size_t errlen)
{
	json_t *a = json_array();
	uint16_t i;

	for (i = 0; i < vs_port_count(); i++) {
		struct vs_port *p = vs_port_get(i);

		if (p != NULL)
			json_array_append_new(a, port_json(p, false));
	}
	*res = a;
	return 0;
}

static int
cmd_port_show(int argc, const char *const *argv, json_t **res, char *err,
	      size_t errlen)
{
	struct vs_port *p;
	int ret = get_port(argv[0], &p, err, errlen);

	if (ret != 0)
		return ret;
	*res = port_json(p, true);
	return 0;
}

static int
set_enabled(const char *arg, bool en, json_t **res, char *err, size_t errlen)
{
	struct vs_port *p;
	int ret = get_port(arg, &p, err, errlen);

	if (ret != 0)
		return ret;
	vs_port_set_enabled(p, en);
	*res = json_pack("{s:s, s:s}", "port", p->name, "state",
			 en ? "enabled" : "disabled");
	return 0;
}

static int
cmd_port_enable(int argc, const char *const *argv, json_t **res, char *err,
		size_t errlen)
{
	return set_enabled(argv[0], true, res, err, errlen);
}

static int
cmd_port_disable(int argc, const char *const *argv, json_t **res, char *err,
		 size_t errlen)
{
	return set_enabled(argv[0], false, res, err, errlen);
}

static json_t *
vring_json(const struct vs_port *p, const struct vs_vring_info *v)
{
	char a[3][32], lg[32];
	json_t *o;

	o = json_pack(
		"{s:i, s:i, s:s, s:b, s:i, s:i, s:i, s:s, s:s, s:s, s:s, s:b, s:i, s:i}",
		"vring", v->vring, "queue", v->queue, "direction",
		v->guest_tx ? "guest_tx" : "guest_rx", "enabled", v->enabled,
		"size", v->size, "last_avail_idx", v->last_avail_idx,
		"last_used_idx", v->last_used_idx, "desc",
		hex64(a[0], sizeof(a[0]), v->desc), "avail",
		hex64(a[1], sizeof(a[1]), v->avail), "used",
		hex64(a[2], sizeof(a[2]), v->used), "log_guest_addr",
		hex64(lg, sizeof(lg), v->log_guest_addr), "log", v->log,
		"kickfd", v->kickfd, "callfd", v->callfd);
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "ring",
			    json_string(v->packed ? "packed" : "split"));
	/* Interrupts through the call relay (vs_vhost_call.c), or null. */
	json_object_set_new(
		o, "call_relay",
		v->call.relay ? json_pack("{s:I, s:I, s:I}", "relayed",
					  (json_int_t)v->call.relayed, "full",
					  (json_int_t)v->call.full, "blocked",
					  (json_int_t)v->call.blocked)
			      : json_null());
	if (v->packed) {
		json_object_set_new(o, "avail_wrap_counter",
				    json_integer(v->avail_wrap));
		json_object_set_new(o, "used_wrap_counter",
				    json_integer(v->used_wrap));
	}
	/*
	 * Guest TX vrings: kicks are armed only while the owning lcore
	 * sleeps; otherwise it polls and the guest is told not to kick.
	 */
	json_object_set_new(o, "notification",
			    json_string(!v->guest_tx ? "-"
						: v->guest_notify
						? "armed (sleeping)"
						: "off (polling)"));
	json_object_set_new(o, "busyloop_us",
			    v->guest_tx ? json_integer(v->busyloop_us)
					: json_null());
	json_object_set_new(o, "packets", json_integer(v->packets));
	json_object_set_new(o, "kicks", json_integer(v->kicks));
	json_object_set_new(o, "calls", json_integer(v->calls));
	return o;
}

static int
cmd_vring_show(int argc, const char *const *argv, json_t **res, char *err,
	       size_t errlen)
{
	struct vs_vring_info vi;
	unsigned long q = 0;
	struct vs_port *p;
	json_t *a;
	int ret, n, i;

	ret = get_port(argv[0], &p, err, errlen);
	if (ret != 0)
		return ret;
	n = vs_port_vring_count(p);
	if (n < 0)
		return vhost_err(n, p, err, errlen);
	if (argc > 1 &&
	    (vs_cmd_parse_uint(argv[1], UINT16_MAX, &q) != 0 ||
	     q >= (unsigned long)n / 2))
		return vs_cmd_err(
			err, errlen, VS_RPC_INVALID_PARAMS,
			"QUEUE '%s' is not a queue pair of '%s' (0..%d)",
			argv[1], p->name, n / 2 - 1);
	a = json_array();
	for (i = 0; i < n; i++) {
		if (argc > 1 && (unsigned long)i / 2 != q)
			continue;
		ret = vs_port_vring_info(p, i, &vi);
		if (ret < 0) {
			json_decref(a);
			return vhost_err(ret, p, err, errlen);
		}
		json_array_append_new(a, vring_json(p, &vi));
	}
	*res = a;
	return 0;
}

static int
cmd_mem_show(int argc, const char *const *argv, json_t **res, char *err,
	     size_t errlen)
{
	struct vs_mem_region r[MAX_REGIONS];
	struct vs_port *p;
	char b[4][32];
	json_t *a;
	int ret, n, i;

	ret = get_port(argv[0], &p, err, errlen);
	if (ret != 0)
		return ret;
	n = vs_port_mem_info(p, r, RTE_DIM(r));
	if (n < 0)
		return vhost_err(n, p, err, errlen);
	a = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(
			a,
			json_pack(
				"{s:i, s:s, s:s, s:s, s:s, s:I}", "region", i,
				"guest_phys_addr",
				hex64(b[0], sizeof(b[0]), r[i].guest_phys_addr),
				"memory_size",
				hex64(b[1], sizeof(b[1]), r[i].memory_size),
				"userspace_addr",
				hex64(b[2], sizeof(b[2]), r[i].userspace_addr),
				"host_addr",
				hex64(b[3], sizeof(b[3]), r[i].host_addr),
				"mmap_size", (json_int_t)r[i].mmap_size));
	*res = a;
	return 0;
}

static json_t *
bit_names(uint64_t v, const char *const *names)
{
	json_t *a = json_array();
	char b[16];
	int i;

	for (i = 0; i < 64; i++) {
		if (!(v & (1ULL << i)))
			continue;
		if (names[i] != NULL) {
			json_array_append_new(a, json_string(names[i]));
		} else {
			snprintf(b, sizeof(b), "BIT_%d", i);
			json_array_append_new(a, json_string(b));
		}
	}
	return a;
}

static int
cmd_features_show(int argc, const char *const *argv, json_t **res, char *err,
		  size_t errlen)
{
	uint64_t f, pf;
	struct vs_port *p;
	char b[2][32];
	int ret;

	ret = get_port(argv[0], &p, err, errlen);
	if (ret != 0)
		return ret;
	ret = vs_port_features(p, &f, &pf);
	if (ret < 0)
		return vhost_err(ret, p, err, errlen);
	*res = json_pack("{s:s, s:o, s:s, s:o}", "features",
			 hex64(b[0], sizeof(b[0]), f), "feature_names",
			 bit_names(f, virtio_feature_names),
			 "protocol_features", hex64(b[1], sizeof(b[1]), pf),
			 "protocol_feature_names",
			 bit_names(pf, protocol_feature_names));
	return 0;
}

static json_t *
stats_json(const struct vs_port *p)
{
	struct vs_port_stats st;
	unsigned int i;
	json_t *o;

	vs_port_stats_get(p, &st);
	o = json_pack("{s:i, s:s, s:I, s:I, s:I, s:I}", "id", p->id, "name",
		      p->name, "rx_pkts", (json_int_t)st.rx_pkts, "rx_bytes",
		      (json_int_t)st.rx_bytes, "tx_pkts",
		      (json_int_t)st.tx_pkts, "tx_bytes",
		      (json_int_t)st.tx_bytes);
	for (i = 0; o != NULL && i < VS_DROP_MAX; i++)
		json_object_set_new(o, vs_drop_name(i),
				    json_integer(st.drops[i]));
	return o;
}

static int
cmd_stats_show(int argc, const char *const *argv, json_t **res, char *err,
	       size_t errlen)
{
	struct vs_port *p;
	json_t *a;
	uint16_t i;
	int ret;

	if (argc > 0) {
		ret = get_port(argv[0], &p, err, errlen);
		if (ret != 0)
			return ret;
		*res = stats_json(p);
		return 0;
	}
	a = json_array();
	for (i = 0; i < vs_port_count(); i++) {
		p = vs_port_get(i);
		if (p != NULL)
			json_array_append_new(a, stats_json(p));
	}
	*res = a;
	return 0;
}

static int
cmd_stats_clear(int argc, const char *const *argv, json_t **res, char *err,
		size_t errlen)
{
	struct vs_port *p;
	unsigned int n = 0;
	uint16_t i;
	int ret;

	if (argc > 0) {
		ret = get_port(argv[0], &p, err, errlen);
		if (ret != 0)
			return ret;
		vs_port_stats_clear(p);
		n = 1;
	} else {
		for (i = 0; i < vs_port_count(); i++) {
			p = vs_port_get(i);
			if (p != NULL) {
				vs_port_stats_clear(p);
				n++;
			}
		}
	}
	*res = json_pack("{s:i}", "cleared", n);
	return 0;
}

static int
cmd_port_set(int argc, const char *const *argv, json_t **res, char *err,
	     size_t errlen)
{
	struct vs_port_keys k = { 0 };
	struct vs_port_info in;
	struct vs_port *p;
	int i, ret;

	ret = get_port(argv[0], &p, err, errlen);
	if (ret != 0)
		return ret;
	for (i = 1; i < argc; i++) {
		ret = vs_conf_port_key(&k, argv[i], "", err, errlen);
		if (ret == -ENOENT)
			return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
					  "unknown key '%s' (%s)", argv[i],
					  vs_conf_port_keys_help);
		if (ret < 0)
			return VS_RPC_INVALID_PARAMS;
	}
	ret = vs_port_set_keys(p, &k, err, errlen);
	if (ret == -EINVAL)
		return VS_RPC_INVALID_PARAMS;
	if (ret < 0)
		return VS_RPC_FAILED;
	vs_port_info_get(p, &in);
	*res = json_pack("{s:i, s:s, s:s, s:i}", "id", in.id, "name", in.name,
			 "offloads", in.offloads ? "on" : "off", "mtu", in.mtu);
	keys_json(*res, &in);
	return 0;
}

static const struct vs_cmd port_cmds[] = {
	{ "port/list", "",
	  "ports with kind, state, link, queues, NUMA socket and counters", 0,
	  0, "ports", cmd_port_list },
	{ "port/show", "PORT",
	  "one port in detail: counters, drops by reason, dirty log", 1, 1,
	  "port", cmd_port_show },
	{ "port/set", "PORT KEY=VAL...",
	  "change a port's keys: offloads=on|off, mtu=N, vlan=N, trunks=LIST, native=N, max-macs=N, allowed-macs=MAC+MAC, flood-pps=N",
	  2, 16, NULL, cmd_port_set },
	{ "port/enable", "PORT", "resume a port's rings", 1, 1, NULL,
	  cmd_port_enable },
	{ "port/disable", "PORT",
	  "stop a port's rings, keeping the guest connected", 1, 1, NULL,
	  cmd_port_disable },
	{ "vring/show", "PORT [QUEUE]",
	  "vrings: size, last avail/used index, addresses, log, fds, notification, packets",
	  1, 2, "vrings", cmd_vring_show },
	{ "mem/show", "PORT", "guest memory regions", 1, 1, "mem",
	  cmd_mem_show },
	{ "features/show", "PORT",
	  "negotiated virtio and vhost-user protocol features", 1, 1,
	  "features", cmd_features_show },
	{ "stats/show", "[PORT]", "counters, drops by reason", 0, 1, "stats",
	  cmd_stats_show },
	{ "stats/clear", "[PORT]", "zero the counters", 0, 1, NULL,
	  cmd_stats_clear },
};

int
vs_port_cmd_register(void)
{
	return vs_cmd_register(port_cmds, RTE_DIM(port_cmds));
}
