/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VXLAN over an IPv6 underlay (see vs_vxlan.h): what vs_vxlan_rx() does
 * with an IPv6 frame (decapsulation, neighbour discovery, ICMPv6 echo),
 * and the IPv6 halves of the control side (outer header template, checksum
 * constants, neighbour solicitations). The encapsulation itself, encap6(),
 * stays in vs_vxlan.c, inlined into the tunnel's tx beside the IPv4 one.
 */
#include <stdatomic.h>
#include <string.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>
#include <rte_vxlan.h>

#include "vs_mbuf.h"
#include "vs_port_priv.h"
#include "vs_vxlan_priv.h"

/* The solicited-node multicast address of @p ip (RFC 4291 2.7.1). */
static void
solicited_node(const uint8_t *ip, uint8_t *out)
{
	static const uint8_t pfx[13] = { 0xff, 0x02, [11] = 0x01, [12] = 0xff };

	memcpy(out, pfx, sizeof(pfx));
	memcpy(out + 13, ip + 13, 3);
}

/* Which tunnel and remote a frame is for, or a UL_* counter. */
static int
vx_lookup6(const struct vs_tunlist *tl, const struct rte_ipv6_hdr *ip,
	   const struct rte_udp_hdr *udp, const struct rte_vxlan_hdr *vh,
	   struct vx_hit6 *hit)
{
	uint16_t dport = rte_be_to_cpu_16(udp->dst_port), i, r;
	uint32_t vni = rte_be_to_cpu_32(vh->vx_vni) >> 8;
	struct vs_vxlan *vx = NULL;

	for (i = 0; i < tl->n && vx == NULL; i++)
		if (tl->t[i]->family == AF_INET6 &&
		    memcmp(tl->t[i]->local.v6, ip->dst_addr, 16) == 0 &&
		    tl->t[i]->dstport == dport && tl->t[i]->vni == vni)
			vx = tl->t[i];
	if (vx == NULL)
		return UL_bad_vni;
	for (r = 0; r < vx->nb_remote; r++)
		if (memcmp(vx->remote[r].ip.v6, ip->src_addr, 16) == 0)
			break;
	if (r == vx->nb_remote)
		return UL_unknown_remote;
	hit->vx = vx;
	memcpy(hit->dst, ip->dst_addr, 16);
	memcpy(hit->src, ip->src_addr, 16);
	hit->vni = vh->vx_vni;
	hit->dport = udp->dst_port;
	hit->r = r;
	return -1;
}

/*
 * An IPv6 UDP frame to a local address, its payload length checked
 * against the frame: decapsulated in place for tunnel @p hit->vx
 * (RX6_DECAP), its remote noted in hash.usr; else a UL_* counter. The
 * same checks as decap() over IPv4, and the UDP checksum: verified unless
 * zero (RFC 6935 lets a tunnel endpoint accept those; Linux does with
 * udp6zerocsumrx).
 */
static int
decap6(const struct vs_tunlist *tl, struct rte_mbuf *m, struct vx_hit6 *hit)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	struct rte_vxlan_hdr *vh = (struct rte_vxlan_hdr *)(udp + 1);
	uint32_t plen = rte_be_to_cpu_16(ip->payload_len);
	bool cached;
	uint16_t dport, i;
	int why;

	if (rte_pktmbuf_data_len(m) <
	    RTE_ETHER_HDR_LEN + sizeof(*ip) + sizeof(*udp))
		return UL_bad_header;
	dport = rte_be_to_cpu_16(udp->dst_port);
	for (i = 0; i < tl->n; i++)
		if (tl->t[i]->family == AF_INET6 &&
		    memcmp(tl->t[i]->local.v6, ip->dst_addr, 16) == 0 &&
		    tl->t[i]->dstport == dport)
			break;
	if (i == tl->n)
		return UL_not_vtep;
	if (rte_pktmbuf_data_len(m) < VX6_HDR_LEN ||
	    plen < sizeof(*udp) + sizeof(*vh) ||
	    rte_be_to_cpu_16(udp->dgram_len) != plen ||
	    !(vh->vx_flags & VX_FLAG_I))
		return UL_bad_header;
	cached = hit->vx != NULL && hit->vni == vh->vx_vni &&
		hit->dport == udp->dst_port &&
		memcmp(hit->src, ip->src_addr, 16) == 0 &&
		memcmp(hit->dst, ip->dst_addr, 16) == 0;
	if (!cached) {
		why = vx_lookup6(tl, ip, udp, vh, hit);
		if (why >= 0)
			return why;
	}
	if (udp->dgram_cksum != 0 &&
	    rte_ipv6_udptcp_cksum_mbuf_verify(
		    m, ip, RTE_ETHER_HDR_LEN + sizeof(*ip)) != 0)
		return UL_bad_csum;
	if (plen - sizeof(*udp) - sizeof(*vh) < RTE_ETHER_HDR_LEN)
		return UL_runt; /* the inner frame has no Ethernet header */
	if (rte_pktmbuf_pkt_len(m) != RTE_ETHER_HDR_LEN + sizeof(*ip) + plen)
		rte_pktmbuf_trim(m,
				 rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN -
					 sizeof(*ip) - plen);
	rte_pktmbuf_adj(m, VX6_HDR_LEN);
	m->ol_flags &= RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT;
	m->packet_type = 0;
	m->hash.usr = hit->r + 1;
	return RX6_DECAP;
}

/*
 * Fill @p m, from its IPv6 header on, with a neighbour advertisement for
 * local address @p target to @p dst (RFC 4861 4.4, 7.2.4): the S and O
 * flags (S clear to all-nodes, the answer to duplicate address
 * detection), the target link-layer address option, hop limit 255.
 * Also used for the solicitations the switch sends (nd_request()).
 */
static void
nd_fill(struct vs_underlay *ul, struct rte_ipv6_hdr *ip, uint8_t type,
	const uint8_t *src, const uint8_t *dst, const uint8_t *target,
	uint32_t flags)
{
	struct nd_msg *ns = (struct nd_msg *)(ip + 1);
	uint8_t *opt = (uint8_t *)(ns + 1);
	uint8_t t[16];

	memcpy(t, target, 16); /* may be where the target goes */
	ip->vtc_flow = RTE_BE32(6u << 28);
	ip->payload_len = rte_cpu_to_be_16(ND_LEN);
	ip->proto = IPPROTO_ICMPV6;
	ip->hop_limits = 255;
	memmove(ip->src_addr, src, 16);
	memmove(ip->dst_addr, dst, 16);
	ns->type = type;
	ns->code = 0;
	ns->flags = flags;
	memcpy(ns->target, t, 16);
	opt[0] = type == ND_SOLICIT ? ND_OPT_SLLA : ND_OPT_TLLA;
	opt[1] = 1; /* in units of 8 bytes */
	memcpy(opt + 2, &ul->mac, RTE_ETHER_ADDR_LEN);
	ns->cksum = 0;
	ns->cksum = rte_ipv6_udptcp_cksum(ip, ns);
}

/*
 * A neighbour solicitation or advertisement (RFC 4861 7.1: discarded if
 * its hop limit is not 255, its code not 0, it is short, its checksum
 * wrong, its target multicast or an option malformed): learn the sender
 * if it is a remote or the gw; answer a solicitation for a local address
 * in place (RX6_REPLY).
 */
static int
nd_in(struct vs_underlay *ul, const struct vs_tunlist *tl, struct rte_mbuf *m,
      uint64_t now)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eth + 1);
	struct nd_msg *ns = (struct nd_msg *)(ip + 1);
	uint32_t plen = rte_be_to_cpu_16(ip->payload_len), off, olen;
	const struct rte_ether_addr *lla = NULL;
	uint8_t *target = ns->target, sn[16], dst[16], src[16];
	bool solicit = ns->type == ND_SOLICIT, dad;
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 0x01 };
	static const uint8_t unspecified[16];

	if (ip->hop_limits != 255 || ns->code != 0 || plen < sizeof(*ns) ||
	    target[0] == 0xff || rte_ipv6_udptcp_cksum_verify(ip, ns) != 0)
		return UL_nd_invalid;
	for (off = sizeof(*ns); off + 2 <= plen; off += olen) {
		const uint8_t *opt = (const uint8_t *)ns + off;

		olen = opt[1] * 8;
		if (olen == 0 || off + olen > plen)
			return UL_nd_invalid;
		if (opt[0] == (solicit ? ND_OPT_SLLA : ND_OPT_TLLA))
			lla = (const struct rte_ether_addr *)(opt + 2);
	}
	if (!solicit) {
		/* RFC 4861 7.1.2: S is clear in an advertisement to a group. */
		if (ip->dst_addr[0] == 0xff && (ns->flags & ND_NA_S))
			return UL_nd_invalid;
		if (lla != NULL)
			vs_vx_neigh_learn(tl, AF_INET6, target, lla, now);
		return is_local6(tl, ip->dst_addr) ? RX6_DONE : UL_not_vtep;
	}
	/* RFC 4861 7.1.1: duplicate address detection asks from ::. */
	dad = memcmp(ip->src_addr, unspecified, 16) == 0;
	solicited_node(target, sn);
	if (dad && (lla != NULL || memcmp(ip->dst_addr, sn, 16) != 0))
		return UL_nd_invalid;
	if (!dad && lla != NULL)
		vs_vx_neigh_learn(tl, AF_INET6, ip->src_addr, lla, now);
	if (!is_local6(tl, target) ||
	    (memcmp(ip->dst_addr, sn, 16) != 0 &&
	     memcmp(ip->dst_addr, target, 16) != 0))
		return UL_not_vtep;
	atomic_fetch_add_explicit(&ul->nd_solicitations, 1,
				  memory_order_relaxed);
	/* The solicitation becomes the advertisement, in place. */
	off = RTE_ETHER_HDR_LEN + sizeof(*ip) + ND_LEN;
	if (rte_pktmbuf_pkt_len(m) > off)
		rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - off);
	else if (rte_pktmbuf_pkt_len(m) < off &&
		 rte_pktmbuf_append(m, off - rte_pktmbuf_pkt_len(m)) == NULL)
		return UL_not_vtep; /* no tailroom: cannot be, counted */
	memcpy(src, target, 16);
	if (dad) {
		memcpy(dst, all_nodes, 16);
		memset(&eth->dst_addr, 0, RTE_ETHER_ADDR_LEN);
		eth->dst_addr.addr_bytes[0] = 0x33;
		eth->dst_addr.addr_bytes[1] = 0x33;
		eth->dst_addr.addr_bytes[5] = 0x01;
	} else {
		memcpy(dst, ip->src_addr, 16);
		eth->dst_addr = eth->src_addr;
	}
	eth->src_addr = ul->mac;
	nd_fill(ul, ip, ND_ADVERT, src, dst, src,
		dad ? ND_NA_O : ND_NA_S | ND_NA_O);
	atomic_fetch_add_explicit(&ul->nd_advertisements_sent, 1,
				  memory_order_relaxed);
	return RX6_REPLY;
}

/* ICMPv6 to a local address or a group: neighbour discovery, echo. */
static int
icmp6_in(struct vs_underlay *ul, const struct vs_tunlist *tl,
	 struct rte_mbuf *m, uint64_t now)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eth + 1);
	struct icmp6_msg *ic = (struct icmp6_msg *)(ip + 1);
	uint32_t plen = rte_be_to_cpu_16(ip->payload_len);
	uint8_t t[16];

	if (plen < sizeof(*ic))
		return UL_bad_header;
	/* Answered in place: one segment, this frame's own (as over IPv4). */
	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(*ip) + plen ||
	    rte_mbuf_refcnt_read(m) > 1 || !RTE_MBUF_DIRECT(m))
		return UL_not_vtep;
	if (ic->type == ND_SOLICIT || ic->type == ND_ADVERT)
		return nd_in(ul, tl, m, now);
	if (ic->type != ICMP6_ECHO_REQ || ic->code != 0 ||
	    ip->dst_addr[0] == 0xff)
		return UL_not_vtep;
	if (rte_ipv6_udptcp_cksum_verify(ip, ic) != 0)
		return UL_bad_csum;
	rte_pktmbuf_trim(m,
			 rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN -
				 sizeof(*ip) - plen);
	ic->type = ICMP6_ECHO_REP;
	memcpy(t, ip->src_addr, 16);
	memcpy(ip->src_addr, ip->dst_addr, 16);
	memcpy(ip->dst_addr, t, 16);
	ip->hop_limits = 64;
	ic->cksum = 0;
	ic->cksum = rte_ipv6_udptcp_cksum(ip, ic);
	eth->dst_addr = eth->src_addr;
	eth->src_addr = ul->mac;
	atomic_fetch_add_explicit(&ul->icmp_echo_replies, 1,
				  memory_order_relaxed);
	return RX6_REPLY;
}

/*
 * An IPv6 frame on the underlay: RX6_DECAP, RX6_REPLY, RX6_DONE, or a
 * UL_* counter to drop it under. Extension headers are not parsed: a
 * fragment header counts as a fragment (as over IPv4), any other as
 * ext_header (RFC 8200 4: the IANA list of extension headers). In a file
 * of its own, hence never inlined: vs_vxlan_rx()'s loop stays the size it
 * was for IPv4 (the IPv6 code inlined there grew it by 3 KB).
 */
int
vs_vx_rx6(struct vs_underlay *ul, const struct vs_tunlist *tl,
	  struct rte_mbuf *m, uint64_t now, struct vx_hit6 *hit)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eth + 1);

	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(*ip) ||
	    (ip->vtc_flow & RTE_BE32(0xf0000000)) != RTE_BE32(0x60000000))
		return UL_not_vtep;
	if (ip->dst_addr[0] == 0xff) {
		/* A group: only neighbour discovery can be for us. */
		if (ip->proto != IPPROTO_ICMPV6)
			return UL_not_vtep;
	} else if (!is_local6(tl, ip->dst_addr)) {
		return UL_not_vtep;
	}
	if (RTE_ETHER_HDR_LEN + sizeof(*ip) +
		    rte_be_to_cpu_16(ip->payload_len) >
	    rte_pktmbuf_pkt_len(m))
		return UL_bad_header; /* truncated */
	switch (ip->proto) {
	case IPPROTO_UDP:
		return decap6(tl, m, hit);
	case IPPROTO_ICMPV6:
		return icmp6_in(ul, tl, m, now);
	case IPPROTO_FRAGMENT:
		return UL_fragment;
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case IPPROTO_ESP:
	case IPPROTO_MH:
	case 139: /* HIP */
	case 140: /* Shim6 */
	case 253: /* experiments, RFC 3692 */
	case 254:
		return UL_ext_header;
	default:
		return UL_not_vtep;
	}
}

/*
 * The sum of the outer UDP checksum's words that never change for an IPv6
 * remote: the pseudo-header's addresses and next header, the destination
 * port, the VXLAN header (encap6() adds the lengths, the source port and
 * the inner frame).
 */
uint32_t
vs_vx_udp6_sum_init(const struct vs_vxlan *vx, const union vs_ipaddr *remote)
{
	struct rte_vxlan_hdr vh = {
		.vx_flags = VX_FLAG_I,
		.vx_vni = rte_cpu_to_be_32(vx->vni << 8),
	};

	return (uint32_t)rte_raw_cksum(vx->local.v6, 16) +
		rte_raw_cksum(remote->v6, 16) + rte_cpu_to_be_16(IPPROTO_UDP) +
		rte_cpu_to_be_16(vx->dstport) + rte_raw_cksum(&vh, sizeof(vh));
}

/* tmpl_build() over IPv6: no extension header, traffic class 0. */
void
vs_vx_tmpl6_build(struct vs_vxlan *vx, const struct rte_ether_addr *smac)
{
	struct {
		struct rte_ether_addr src;
		rte_be16_t type;
		struct rte_ipv6_hdr ip;
		struct rte_udp_hdr udp;
		struct rte_vxlan_hdr vh;
	} __rte_packed __rte_aligned(2) t = {
		.type = RTE_BE16(RTE_ETHER_TYPE_IPV6),
		.ip = {
			.vtc_flow = RTE_BE32(6u << 28), /* + the flow label */
			.proto = IPPROTO_UDP,
			.hop_limits = vx->ttl,
		},
		.udp = { .dst_port = rte_cpu_to_be_16(vx->dstport) },
		.vh = { .vx_flags = VX_FLAG_I,
			.vx_vni = rte_cpu_to_be_32(vx->vni << 8) },
	};
	uint16_t i;

	RTE_BUILD_BUG_ON(sizeof(t) != VX6_TMPL_LEN);
	t.src = *smac;
	memcpy(t.ip.src_addr, vx->local.v6, 16);
	for (i = 0; i < vx->nb_remote; i++) {
		memcpy(t.ip.dst_addr, vx->remote[i].ip.v6, 16);
		memcpy(vx->remote[i].tmpl, &t, sizeof(t));
	}
}

/*
 * arp_request() over IPv6: a neighbour solicitation for @p tip from @p sip
 * to its solicited-node group (RFC 4861 7.2.2), with the source
 * link-layer address option, queued for the lcore that sends on @p ul.
 */
bool
vs_vx_nd_request(struct vs_underlay *ul, const uint8_t *sip, const uint8_t *tip)
{
	struct rte_mbuf *m =
		rte_pktmbuf_alloc(vs_mbuf_pool(ul->via->socket_id));
	uint32_t len = RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv6_hdr) + ND_LEN;
	struct rte_ether_hdr *eth;
	uint8_t sn[16];

	if (m == NULL)
		return false;
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, len);
	if (eth == NULL) {
		rte_pktmbuf_free(m);
		return false;
	}
	memset(eth, 0, len);
	/* 33:33 and the group's last 32 bits (RFC 2464 7). */
	solicited_node(tip, sn);
	eth->dst_addr.addr_bytes[0] = 0x33;
	eth->dst_addr.addr_bytes[1] = 0x33;
	memcpy(&eth->dst_addr.addr_bytes[2], sn + 12, 4);
	eth->src_addr = ul->mac;
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV6);
	nd_fill(ul, (struct rte_ipv6_hdr *)(eth + 1), ND_SOLICIT, sip, sn, tip,
		0);
	if (rte_ring_enqueue(ul->ctl, m) != 0) {
		rte_pktmbuf_free(m);
		return false;
	}
	atomic_fetch_add_explicit(&ul->nd_solicitations_sent, 1,
				  memory_order_relaxed);
	return true;
}
