/* SPDX-License-Identifier: BSD-3-Clause */
/* Lcore commands: lcore/show, lcore/rebalance. */
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cycles.h>

#include "vs_cmd.h"
#include "vs_fwd.h"
#include "vs_port_priv.h"

#define MAX_RXQS 512

static int
cmd_lcore_show(int argc, const char *const *argv, json_t **res, char *err,
	       size_t errlen)
{
	uint16_t ports[MAX_RXQS], queues[MAX_RXQS];
	struct vs_fwd_lcore_info li;
	json_t *a = json_array();
	unsigned int i;
	int n, k;

	for (i = 0; vs_fwd_lcore_info(i, &li) == 0; i++) {
		uint64_t total = li.busy_cycles + li.idle_cycles;
		char rxqs[2048] = "";
		size_t off = 0;

		n = vs_fwd_lcore_rxqs(i, ports, queues, MAX_RXQS);
		for (k = 0; k < n && off < sizeof(rxqs) - 40; k++) {
			struct vs_port *p = vs_port_get(ports[k]);

			off += snprintf(rxqs + off, sizeof(rxqs) - off,
					"%s%s:%u", k ? " " : "",
					p ? p->name : "?", queues[k]);
		}
		json_array_append_new(
			a,
			json_pack(
				"{s:i, s:s, s:i, s:I, s:I, s:I, s:f, s:I}",
				"lcore", li.lcore_id, "rxqs", rxqs, "nb_rxq", n,
				"busy_cycles", (json_int_t)li.busy_cycles,
				"idle_cycles", (json_int_t)li.idle_cycles,
				"pkts", (json_int_t)li.pkts, "busy_pct",
				total ? 100.0 * li.busy_cycles / total : 0.0,
				"cycles_per_pkt",
				(json_int_t)(li.pkts ? li.busy_cycles / li.pkts
						     : 0)));
	}
	*res = a;
	return 0;
}

static int
cmd_lcore_rebalance(int argc, const char *const *argv, json_t **res, char *err,
		    size_t errlen)
{
	int ret = vs_fwd_rebalance();

	if (ret < 0)
		return vs_cmd_err(err, errlen, VS_RPC_FAILED,
				  "rebalance failed: %s", strerror(-ret));
	return cmd_lcore_show(0, NULL, res, err, errlen);
}

static const struct vs_cmd fwd_cmds[] = {
	{ "lcore/show", "",
	  "forwarding lcores: rx queues, busy and idle cycles, cycles per packet",
	  0, 0, "lcores", cmd_lcore_show },
	{ "lcore/rebalance", "", "spread the rx queues over the lcores again",
	  0, 0, NULL, cmd_lcore_rebalance },
};

int
vs_fwd_cmd_register(void)
{
	return vs_cmd_register(fwd_cmds, RTE_DIM(fwd_cmds));
}
