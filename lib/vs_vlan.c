/* SPDX-License-Identifier: BSD-3-Clause */
/* VLANs and port security: the ingress and egress stages (vs_vlan.h). */
#include <rte_cycles.h>
#include <rte_ether.h>

#include "vs_mbuf.h"
#include "vs_offload.h"
#include "vs_vlan.h"

#define VS_VLAN_ID_MASK RTE_VLAN_ID_MASK

int
vs_vlan_in(const struct vs_l2 *c, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint16_t tci = 0, vid;

	if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_VLAN)) {
		if (rte_pktmbuf_data_len(m) <
		    RTE_ETHER_HDR_LEN + sizeof(struct rte_vlan_hdr))
			return -1;
		tci = rte_be_to_cpu_16(
			((const struct rte_vlan_hdr *)(eth + 1))->vlan_tci);
		vid = tci & VS_VLAN_ID_MASK;
		/* VLAN 0 is a priority tag: the frame counts as untagged. */
		/* A trunk's native VLAN also comes tagged, as in OVS. */
		if (vid == 4095 ||
		    (vid != 0 &&
		     (c->access ||
		      (c->trunk_list && vid != c->native &&
		       !vs_l2_trunk_has(c, vid)))))
			return -1;
		rte_vlan_strip(m);
		m->ol_flags &=
			~(RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED);
		if (m->ol_flags & VS_OL_TX_FLAGS)
			m->l2_len -= RTE_VLAN_HLEN;
		if (vid != 0) {
			m->vlan_tci = tci;
			return vid;
		}
	}
	if (c->access)
		vid = c->access;
	else if (c->native)
		vid = c->native;
	else if (c->trunk_list && !vs_l2_trunk_has(c, 0))
		return -1;
	else
		vid = 0;
	m->vlan_tci = (tci & ~VS_VLAN_ID_MASK) | vid;
	return vid;
}

/*
 * A unicast the table sends to a port outside the frame's VLAN (a static
 * entry, or one learned before the port's VLANs changed) is dropped here;
 * a flood only goes to members.
 */
struct rte_mbuf *
vs_vlan_out(struct vs_port *in, const struct vs_l2 *d, struct rte_mbuf *m,
	    uint16_t vid, int socket)
{
	struct rte_mbuf *c;

	if (unlikely(!vs_l2_member(d, vid))) {
		vs_port_drop(in, VS_DROP_VLAN_DENIED, &m, 1);
		return NULL;
	}
	if (!vs_l2_tagged(d, vid))
		return m;
	/*
	 * Push the tag into the frame. A frame another destination also
	 * holds (flooding), or whose buffer is not its own, is copied first.
	 */
	if (rte_mbuf_refcnt_read(m) > 1 || !RTE_MBUF_DIRECT(m) ||
	    rte_pktmbuf_headroom(m) < RTE_VLAN_HLEN) {
		c = rte_pktmbuf_copy(m, vs_mbuf_pool(socket), 0, UINT32_MAX);
		if (c == NULL) {
			vs_port_drop(in, VS_DROP_NO_MBUF, &m, 1);
			return NULL;
		}
		c->ol_flags = m->ol_flags;
		c->l2_len = m->l2_len;
		c->l3_len = m->l3_len;
		c->l4_len = m->l4_len;
		c->tso_segsz = m->tso_segsz;
		c->vlan_tci = m->vlan_tci;
		rte_pktmbuf_free(m);
		m = c;
	}
	/* It adds the tag's 4 bytes to l2_len itself (rte_vlan_strip()
	 * does not take them off: see vs_vlan_in()). */
	if (rte_vlan_insert(&m) != 0) {
		vs_port_drop(in, VS_DROP_NO_MBUF, &m, 1);
		return NULL;
	}
	return m;
}

/*
 * Storm control: a token bucket per (lcore, ingress port) for frames that
 * flood; no atomics, each lcore has its own. An lcore polling k of the
 * port's n rx queues gets k/n of the rate (RSS spreads the flows). The
 * bucket holds 100 ms of frames (at least one), so a burst after a quiet
 * spell passes whole but the rate over seconds stays within 10 %.
 */
bool
vs_storm_ok(struct vs_storm *s, const struct vs_port *in, const struct vs_l2 *c,
	    uint16_t share, uint64_t now)
{
	uint64_t rate, cost, depth;

	rate = (uint64_t)c->flood_pps * RTE_MAX(share, (uint16_t)1) /
		RTE_MAX(in->nb_rxq, (uint16_t)1);
	if (rate == 0)
		rate = 1;
	cost = rte_get_tsc_hz() / rate;
	depth = cost * RTE_MAX(rate / 10, (uint64_t)1);
	if (s->pps != c->flood_pps || s->serial != in->serial) {
		s->pps = c->flood_pps;
		s->serial = in->serial;
		s->tokens = depth;
		s->last = now;
	}
	s->tokens = RTE_MIN(s->tokens + (now - s->last), depth);
	s->last = now;
	if (s->tokens < cost)
		return false;
	s->tokens -= cost;
	return true;
}
