/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_VLAN_H
#define VS_VLAN_H

/**
 * @file
 * The VLAN and port security stages of the datapath (SPEC section 10): on
 * ingress, classify a frame into its VLAN and take its tag off; check its
 * source MAC; rate-limit what floods. On egress, keep a frame inside its
 * VLAN and push the tag a trunk takes. A port's settings are one
 * struct vs_l2 (vs_port_priv.h); a port without any ("plain") costs a
 * flag test in fwd_burst() and no call.
 */

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "vs_port_priv.h"

/* Storm control of one ingress port on one lcore: a token bucket. */
struct vs_storm {
	uint64_t tokens; /* TSC cycles of credit */
	uint64_t last; /* TSC of the last refill */
	uint64_t serial; /* the port it is for */
	uint32_t pps; /* the flood-pps it was set up with */
};

/**
 * The VLAN of frame @p m arriving on a port with @p c, its tag taken off
 * (inside the switch frames are untagged; m->vlan_tci holds the VLAN and
 * the priority of the tag it came with).
 * @return the VLAN id, or -1: not allowed in (vlan_denied).
 */
int vs_vlan_in(const struct vs_l2 *c, struct rte_mbuf *m);

/**
 * Frame @p m of VLAN @p vid to a port with @p d (not plain, or @p vid not
 * 0): dropped (counted on @p in) if that port is not in the VLAN, tagged
 * if it takes the VLAN tagged (copied first when shared). @p socket: the
 * destination's NUMA node, for a copy.
 * @return the frame to send, or NULL.
 */
struct rte_mbuf *vs_vlan_out(struct vs_port *in, const struct vs_l2 *d,
			     struct rte_mbuf *m, uint16_t vid, int socket);

/** Whether source MAC @p src (vs_fdb_key(mac, 0)) is in allowed-macs. */
static inline bool
vs_src_allowed(const struct vs_l2 *c, uint64_t src)
{
	uint16_t i;

	for (i = 0; i < c->nb_allowed; i++)
		if (c->allowed[i] == src)
			return true;
	return false;
}

/**
 * Whether one more flooded frame from @p in may go (flood-pps of @p c),
 * with bucket @p s of this lcore, which polls @p share of @p in's rx
 * queues: it gets that share of the rate.
 */
bool vs_storm_ok(struct vs_storm *s, const struct vs_port *in,
		 const struct vs_l2 *c, uint16_t share, uint64_t now);

#endif /* VS_VLAN_H */
