/* SPDX-License-Identifier: BSD-3-Clause */
/* Lcore commands: lcore/show, lcore/rebalance. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cycles.h>

#include "vs_cmd.h"
#include "vs_fwd.h"
#include "vs_port_priv.h"

#define MAX_RXQS 512

#ifdef VS_CHECKS
#define OWNER_CHECKS 1
#else
#define OWNER_CHECKS 0
#endif

/* "vm1:0 vm2:0 ..." (with "=USEC" timeouts if @p timeouts) of lcore @p i. */
static int
rxq_list(unsigned int i, bool timeouts, char *buf, size_t len)
{
	uint16_t ports[MAX_RXQS], queues[MAX_RXQS];
	size_t off = 0;
	int n, k;

	buf[0] = '\0';
	n = vs_fwd_lcore_rxqs(i, ports, queues, MAX_RXQS);
	for (k = 0; k < n && off + 48 < len; k++) {
		struct vs_port *p = vs_port_get(ports[k]);

		off += snprintf(buf + off, len - off, "%s%s:%u", k ? " " : "",
				p ? p->name : "?", queues[k]);
		if (timeouts)
			off += snprintf(buf + off, len - off, "=%u",
					p ? vs_port_get_busyloop(p, queues[k])
					  : 0);
	}
	return n;
}

static int
cmd_lcore_show(int argc, const char *const *argv, json_t **res, char *err,
	       size_t errlen)
{
	struct vs_fwd_lcore_info li;
	json_t *a = json_array();
	unsigned int i;

	for (i = 0; vs_fwd_lcore_info(i, &li) == 0; i++) {
		uint64_t total = li.busy_cycles + li.idle_cycles;
		char rxqs[2048];
		int n = rxq_list(i, false, rxqs, sizeof(rxqs));

		json_array_append_new(
			a,
			json_pack(
				"{s:i, s:s, s:i, s:I, s:I, s:I, s:f, s:I, s:b, s:I}",
				"lcore", li.lcore_id, "rxqs", rxqs, "nb_rxq", n,
				"busy_cycles", (json_int_t)li.busy_cycles,
				"idle_cycles", (json_int_t)li.idle_cycles,
				"pkts", (json_int_t)li.pkts, "busy_pct",
				total ? 100.0 * li.busy_cycles / total : 0.0,
				"cycles_per_pkt",
				(json_int_t)(li.pkts ? li.busy_cycles / li.pkts
						     : 0),
				"owner_checks", OWNER_CHECKS, "owner_conflicts",
				(json_int_t)li.owner_conflicts));
	}
	*res = a;
	return 0;
}

static int
cmd_lcore_rebalance(int argc, const char *const *argv, json_t **res, char *err,
		    size_t errlen)
{
	int ret = vs_fwd_rebalance_even();

	if (ret < 0)
		return vs_cmd_err(err, errlen, VS_RPC_FAILED,
				  "rebalance failed: %s", strerror(-ret));
	return cmd_lcore_show(0, NULL, res, err, errlen);
}

static int
cmd_busyloop_set(int argc, const char *const *argv, json_t **res, char *err,
		 size_t errlen)
{
	unsigned long usec, q = 0;
	bool all = strcmp(argv[0], "all") == 0;
	struct vs_port *p = NULL;
	unsigned int n = 0;
	uint16_t i;

	if (!all && (p = vs_port_lookup(argv[0])) == NULL)
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "no port '%s' (a port name or id, or all)",
				  argv[0]);
	if (vs_cmd_parse_uint(argv[argc - 1], 10000000, &usec) != 0)
		return vs_cmd_err(
			err, errlen, VS_RPC_INVALID_PARAMS,
			"USEC '%s' must be 0..10000000 (0 = poll forever)",
			argv[argc - 1]);
	if (argc == 3 &&
	    (all || vs_cmd_parse_uint(argv[1], UINT16_MAX, &q) != 0 ||
	     q >= p->nb_rxq))
		return vs_cmd_err(err, errlen, VS_RPC_INVALID_PARAMS,
				  "QUEUE '%s' is not an rx queue of '%s'",
				  argv[1], argv[0]);
	for (i = 0; i < vs_port_count(); i++) {
		struct vs_port *k = vs_port_get(i);

		if (k == NULL || (!all && k != p))
			continue;
		vs_port_set_busyloop(k, argc == 3 ? (int)q : -1, usec);
		n++;
	}
	if (all)
		vs_port_set_default_busyloop(usec);
	vs_fwd_wake_all();
	*res = json_pack("{s:i, s:I}", "ports", n, "busyloop_us",
			 (json_int_t)usec);
	return 0;
}

static int
cmd_busyloop_show(int argc, const char *const *argv, json_t **res, char *err,
		  size_t errlen)
{
	struct vs_fwd_lcore_info li;
	json_t *a = json_array();
	unsigned int i;

	for (i = 0; vs_fwd_lcore_info(i, &li) == 0; i++) {
		uint64_t total =
			li.busy_cycles + li.idle_cycles + li.sleep_cycles;
		char qs[2048];

		rxq_list(i, true, qs, sizeof(qs));
		json_array_append_new(
			a,
			json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:f, s:s}",
				  "lcore", li.lcore_id, "state",
				  li.sleeping ? "sleeping" : "polling",
				  "sleeps", (json_int_t)li.sleeps,
				  "wakeups_kick", (json_int_t)li.wake_kick,
				  "wakeups_timer", (json_int_t)li.wake_timer,
				  "wakeups_ctl", (json_int_t)li.wake_ctl,
				  "asleep_pct",
				  total ? 100.0 * li.sleep_cycles / total : 0.0,
				  "busyloop_us", qs));
	}
	*res = a;
	return 0;
}

static int
cmd_lcore_tx_flush(int argc, const char *const *argv, json_t **res, char *err,
		   size_t errlen)
{
	unsigned long usec;

	if (argc > 0) {
		if (vs_cmd_parse_uint(argv[0], VS_MAX_TX_FLUSH_US, &usec) != 0)
			return vs_cmd_err(
				err, errlen, VS_RPC_INVALID_PARAMS,
				"USEC '%s' must be 0..%u (0 = send after each burst)",
				argv[0], VS_MAX_TX_FLUSH_US);
		vs_fwd_set_tx_flush(usec);
	}
	*res = json_pack("{s:i}", "tx_flush_interval_us",
			 vs_fwd_get_tx_flush());
	return 0;
}

static int
cmd_lcore_tx_coalesce(int argc, const char *const *argv, json_t **res,
		      char *err, size_t errlen)
{
	unsigned long usec;

	if (argc > 0) {
		if (vs_cmd_parse_uint(argv[0], VS_MAX_TX_FLUSH_US, &usec) != 0)
			return vs_cmd_err(
				err, errlen, VS_RPC_INVALID_PARAMS,
				"USEC '%s' must be 0..%u (0 = no wait)",
				argv[0], VS_MAX_TX_FLUSH_US);
		vs_fwd_set_tx_coalesce(usec);
	}
	*res = json_pack("{s:i}", "tx_coalesce_us", vs_fwd_get_tx_coalesce());
	return 0;
}

static const struct vs_cmd fwd_cmds[] = {
	{ "busyloop/set", "PORT|all [QUEUE] USEC",
	  "busy-loop timeout: poll an idle rx queue USEC us, then sleep until a kick (0 = poll forever)",
	  2, 3, NULL, cmd_busyloop_set },
	{ "busyloop/show", "",
	  "per lcore: polling or sleeping, sleeps, wake-ups, share of time asleep, per-queue timeouts",
	  0, 0, "busyloop", cmd_busyloop_show },
	{ "lcore/show", "",
	  "forwarding lcores: rx queues, busy and idle cycles, cycles per packet",
	  0, 0, "lcores", cmd_lcore_show },
	{ "lcore/rebalance", "", "spread the rx queues over the lcores again",
	  0, 0, NULL, cmd_lcore_rebalance },
	{ "lcore/tx-flush", "[USEC]",
	  "show or set the tx flush interval (OVS's tx-flush-interval): after a send to a port, its next send waits this long while frames gather (0 = none)",
	  0, 1, NULL, cmd_lcore_tx_flush },
	{ "lcore/tx-coalesce", "[USEC]",
	  "show or set tx coalescing for guests: a frame to a guest's port that finds no frame waiting waits up to USEC for more, so the guest takes them on one interrupt (0 = none)",
	  0, 1, NULL, cmd_lcore_tx_coalesce },
};

int
vs_fwd_cmd_register(void)
{
	return vs_cmd_register(fwd_cmds, RTE_DIM(fwd_cmds));
}
