/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_VXLAN_PRIV_H
#define VS_VXLAN_PRIV_H

/*
 * Internals of the VXLAN module, shared by vs_vxlan.c (the tunnel ports,
 * the IPv4 underlay, the control side) and vs_vxlan6.c (the IPv6
 * underlay). Who owns what: see vs_vxlan.c.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>
#include <rte_vxlan.h>

#include "vs_conf.h"

struct vs_port;

#define VX_HDR_LEN \
	(RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr) + \
	 sizeof(struct rte_udp_hdr) + sizeof(struct rte_vxlan_hdr))
/* Over IPv6: a 40-byte IPv6 header without extension headers, 70 bytes. */
#define VX6_HDR_LEN \
	(RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv6_hdr) + \
	 sizeof(struct rte_udp_hdr) + sizeof(struct rte_vxlan_hdr))
#define VX_FLAG_I RTE_BE32(0x08000000) /* RFC 7348: a valid VNI */
#define NEIGH_VALID (1ull << 63)
/* ARP and ND alike: ask every second until answered; refresh a minute
 * after the last word from the neighbour; forget it after three minutes of
 * silence. */
#define ARP_RETRY_S 1
#define ARP_REFRESH_S 60
#define ARP_EXPIRE_S 180
#define VX_TX_RETRIES 4
#define VX_CTL_RING 256
#define VX_MAX_BURST 512 /* the largest --burst (vs_fwd_priv.h) */

/* The outer headers but the destination MAC: source MAC, EtherType. */
#define VX_TMPL_LEN (VX_HDR_LEN - RTE_ETHER_ADDR_LEN)
#define VX6_TMPL_LEN (VX6_HDR_LEN - RTE_ETHER_ADDR_LEN)

/* ICMPv6 (RFC 4443) and its neighbour discovery (RFC 4861). */
#define ICMP6_ECHO_REQ 128
#define ICMP6_ECHO_REP 129
#define ND_SOLICIT 135
#define ND_ADVERT 136
#define ND_OPT_SLLA 1 /* source link-layer address */
#define ND_OPT_TLLA 2 /* target link-layer address */
#define ND_NA_S RTE_BE32(0x40000000) /* solicited */
#define ND_NA_O RTE_BE32(0x20000000) /* override */

/*
 * A neighbour solicitation or advertisement without its options; packed,
 * as DPDK's headers are: it sits 2 bytes off a 4-byte boundary.
 */
struct nd_msg {
	uint8_t type;
	uint8_t code;
	rte_be16_t cksum;
	rte_be32_t flags; /* an advertisement's R, S, O; 0 in a solicitation */
	uint8_t target[16];
} __rte_packed;

/* The ICMPv6 header: type, code, checksum (and 4 bytes of the message). */
struct icmp6_msg {
	uint8_t type;
	uint8_t code;
	rte_be16_t cksum;
	rte_be32_t data;
} __rte_packed;

/* What the switch sends: a message with its one link-layer address option. */
#define ND_LEN (sizeof(struct nd_msg) + 8)

struct vs_vx_neigh {
	/*
	 * The outer headers to this remote from the source MAC on, lengths
	 * and checksums 0: written by vs_vxlan_attach() before any frame can
	 * reach the remote (its MAC is not valid before that). IPv4 uses the
	 * first VX_TMPL_LEN bytes.
	 */
	uint8_t tmpl[VX6_TMPL_LEN];
	/*
	 * IPv4: the outer IPv4 header's sum without its total length
	 * (ip_sum_init()). IPv6: the outer UDP checksum's sum of what does
	 * not change per frame (udp6_sum_init()).
	 */
	uint32_t ip_sum;
	_Atomic uint64_t mac; /* MAC bytes in the low 48 bits | NEIGH_VALID */
	_Atomic uint64_t seen; /* TSC of its last ARP or ND message */
	uint64_t next_req; /* control thread */
	_Atomic uint64_t tx_pkts, tx_bytes, rx_pkts, rx_bytes, unresolved;
	union vs_ipaddr ip; /* of the tunnel's family */
} __rte_cache_aligned;

struct vs_vxlan {
	struct vs_port *port;
	struct vs_port *via; /* an ethdev: never deleted */
	uint32_t vni;
	uint8_t family; /* AF_INET or AF_INET6: every address's */
	bool has_gw;
	union vs_ipaddr local, gw;
	uint16_t dstport; /* host order */
	uint8_t ttl;
	bool attached;
	uint16_t nb_remote;
	struct vs_vx_neigh remote[VS_VXLAN_MAX_REMOTES];
	struct vs_vx_neigh gwn; /* gw=: the next hop of every remote */
};

struct vx_hit_cache;

/*
 * An underlay's tunnels, replaced as a whole (tunlist_publish()) when one
 * comes or goes. hc[lc]: the matches forwarding lcore lc made lately
 * (vs_vxlan.c), for nb_hc lcores; they name tunnels of this list, which
 * live as long as it.
 */
struct vs_tunlist {
	uint16_t n;
	uint16_t nb_hc;
	struct vx_hit_cache *hc; /* in the same allocation */
	struct vs_vxlan *t[];
};

/* clang-format off */
#define UL_COUNTERS(_) \
	_(rx_pkts) \
	_(arp_requests) \
	_(arp_replies_sent) \
	_(arp_requests_sent) \
	_(nd_solicitations) \
	_(nd_advertisements_sent) \
	_(nd_solicitations_sent) \
	_(icmp_echo_replies) \
	_(decap_pkts) \
	_(bad_vni) \
	_(bad_header) \
	_(bad_csum) \
	_(ext_header) \
	_(nd_invalid) \
	_(fragment) \
	_(runt) \
	_(unknown_remote) \
	_(not_vtep)
/* clang-format on */

struct vs_underlay {
	struct vs_port *via;
	struct rte_ether_addr mac;
	struct vs_tunlist *_Atomic tl;
	struct rte_ring *ctl; /* the control thread's ARP and ND requests */
#define UL_FIELD(n) _Atomic uint64_t n;
	UL_COUNTERS(UL_FIELD)
#undef UL_FIELD
};

enum ul_count {
#define UL_ENUM(n) UL_##n,
	UL_COUNTERS(UL_ENUM)
#undef UL_ENUM
		UL_MAX
};

static inline uint64_t
mac_u64(const struct rte_ether_addr *a)
{
	uint64_t v = 0;

	memcpy(&v, a, RTE_ETHER_ADDR_LEN);
	return v;
}

static inline void
u64_mac(uint64_t v, struct rte_ether_addr *a)
{
	memcpy(a, &v, RTE_ETHER_ADDR_LEN);
}

/* The neighbour whose MAC frames to remote @p r go to. */
static inline struct vs_vx_neigh *
next_hop(struct vs_vxlan *vx, struct vs_vx_neigh *r)
{
	return vx->has_gw ? &vx->gwn : r;
}

static inline bool
is_local6(const struct vs_tunlist *tl, const uint8_t *ip)
{
	uint16_t i;

	for (i = 0; i < tl->n; i++)
		if (tl->t[i]->family == AF_INET6 &&
		    memcmp(tl->t[i]->local.v6, ip, 16) == 0)
			return true;
	return false;
}

/* vs_vxlan.c */

/*
 * Note a neighbour's MAC from an ARP or ND message it sent: @p ip is an
 * address of @p family, 4 or 16 bytes. Datapath.
 */
void vs_vx_neigh_learn(const struct vs_tunlist *tl, uint8_t family,
		       const void *ip, const struct rte_ether_addr *mac,
		       uint64_t now);

/* vs_vxlan6.c */

/* What vs_vx_rx6() made of a frame, beside a UL_* counter to drop it under. */
#define RX6_DECAP (-1) /* decapsulated for hit->vx */
#define RX6_REPLY (-2) /* became a reply to send back */
#define RX6_DONE (-3) /* for us, and nothing to answer: freed */

/* struct vx_hit over IPv6. */
struct vx_hit6 {
	struct vs_vxlan *vx; /* NULL: nothing matched yet */
	uint8_t dst[16], src[16];
	rte_be32_t vni;
	rte_be16_t dport;
	uint16_t r;
};

/*
 * An IPv6 frame on underlay @p ul (with tunnels @p tl): RX6_DECAP,
 * RX6_REPLY, RX6_DONE, or an enum ul_count to drop it under. Datapath.
 */
int vs_vx_rx6(struct vs_underlay *ul, const struct vs_tunlist *tl,
	      struct rte_mbuf *m, uint64_t now, struct vx_hit6 *hit);

/* The constant part of the outer UDP checksum to IPv6 remote @p remote. */
uint32_t vs_vx_udp6_sum_init(const struct vs_vxlan *vx,
			     const union vs_ipaddr *remote);

/* The outer headers' template of every remote of IPv6 tunnel @p vx. */
void vs_vx_tmpl6_build(struct vs_vxlan *vx, const struct rte_ether_addr *smac);

/* A neighbour solicitation for @p tip, queued on @p ul's ring. Control. */
bool vs_vx_nd_request(struct vs_underlay *ul, const uint8_t *sip,
		      const uint8_t *tip);

#endif /* VS_VXLAN_PRIV_H */
