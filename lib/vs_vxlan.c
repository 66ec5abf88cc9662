/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VXLAN tunnel ports and their VTEP (see vs_vxlan.h).
 *
 * Datapath state is read without locks: an underlay's list of tunnels is
 * rebuilt whole and published (RCU), a neighbour's MAC is one 64-bit
 * atomic (the MAC and a valid bit). The control thread owns everything
 * else and sends its ARP requests and neighbour solicitations through a
 * ring the lcore polling the underlay's rx queue 0 drains: only lcores
 * touch an ethdev's tx queues.
 *
 * A tunnel is IPv4 or IPv6 (vx->family). The IPv4 paths (encap(),
 * decap_fast()) are the ones the benchmark tunes; the IPv6 ones sit beside
 * them, encap6() here (inlined into the tunnel's tx as encap() is) and
 * the IPv6 underlay in vs_vxlan6.c. An IPv4 frame pays nothing for them:
 * the tunnel's tx op is chosen at creation, and an underlay frame reaches
 * vs_vx_rx6() only after the IPv4 fast path missed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include <jansson.h>
#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_hash_crc.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_udp.h>
#include <rte_vxlan.h>
#if defined(RTE_ARCH_X86_64) && defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

#include "vs_cmd.h"
#include "vs_fdb.h"
#include "vs_fwd.h"
#include "vs_cksum.h"
#include "vs_mbuf.h"
#include "vs_port_priv.h"
#include "vs_vxlan.h"
#include "vs_vxlan_priv.h"

RTE_LOG_REGISTER(vs_logtype_vxlan, vswitch.vxlan, INFO);
#define VX_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vs_logtype_vxlan, "vswitch.vxlan: " fmt, \
		##__VA_ARGS__)

/* Outer headers: Ethernet, IPv4 without options, UDP, VXLAN. */
/* ---- egress: encapsulation ---- */

/*
 * CRC32-C steps, as rte_hash_crc_8byte() and _4byte() compute them: the
 * SSE4.2 instruction itself where the build targets it (libdpdk's cflags
 * carry -march=corei7), without their run-time check of the CPU on every
 * call.
 */
static inline uint32_t
crc_u64(uint64_t v, uint32_t h)
{
#if defined(RTE_ARCH_X86_64) && defined(__SSE4_2__)
	return (uint32_t)_mm_crc32_u64(h, v);
#else
	return rte_hash_crc_8byte(v, h);
#endif
}

static inline uint32_t
crc_u32(uint32_t v, uint32_t h)
{
#if defined(RTE_ARCH_X86_64) && defined(__SSE4_2__)
	return _mm_crc32_u32(h, v);
#else
	return rte_hash_crc_4byte(v, h);
#endif
}

/*
 * CRC32 of @p len bytes (a multiple of 4) at @p p, which may be at any
 * address: rte_hash_crc() loads 8 bytes through a cast, which wants them
 * aligned (a decapsulated frame's headers are not).
 */
static inline uint32_t
crc_unaligned(const void *p, uint32_t len, uint32_t h)
{
	const uint8_t *b = p;
	uint64_t v;
	uint32_t w;

	for (; len >= 8; len -= 8, b += 8) {
		memcpy(&v, b, sizeof(v));
		h = crc_u64(v, h);
	}
	if (len >= 4) {
		memcpy(&w, b, sizeof(w));
		h = crc_u32(w, h);
	}
	return h;
}

/*
 * The inner IPv6 flow: addresses, and the ports of TCP or UDP right after
 * the fixed header (not behind extension headers).
 */
static __rte_noinline uint32_t
inner_hash6(const struct rte_mbuf *m, const struct rte_ether_hdr *eth)
{
	const struct rte_ipv6_hdr *ip6 = (const struct rte_ipv6_hdr *)(eth + 1);
	uint32_t h, ports;

	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(*ip6))
		return crc_unaligned(eth, 2 * RTE_ETHER_ADDR_LEN, 0);
	h = crc_unaligned(ip6->src_addr, 2 * sizeof(ip6->src_addr), ip6->proto);
	if ((ip6->proto == IPPROTO_TCP || ip6->proto == IPPROTO_UDP) &&
	    rte_pktmbuf_data_len(m) >= RTE_ETHER_HDR_LEN + sizeof(*ip6) + 4) {
		memcpy(&ports, ip6 + 1, 4);
		h = crc_u32(ports, h);
	}
	return h;
}

/*
 * A hash of the inner flow, for the outer UDP source port (ECMP) and the
 * outer IPv6 flow label: of the IP addresses and, unfragmented TCP or
 * UDP, the ports; of the MACs for anything else.
 */
static inline uint32_t
inner_hash(const struct rte_mbuf *m)
{
	const struct rte_ether_hdr *eth =
		rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);
	uint32_t ihl, ports;
	uint64_t addrs;
	uint32_t h;

	/* The usual frame, in few compares: IPv4, no options, TCP or UDP. */
	if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4) &&
	    ip->version_ihl == RTE_IPV4_VHL_DEF &&
	    (ip->next_proto_id == IPPROTO_TCP ||
	     ip->next_proto_id == IPPROTO_UDP) &&
	    !(ip->fragment_offset & RTE_BE16(0x3fff)) &&
	    rte_pktmbuf_data_len(m) >= RTE_ETHER_HDR_LEN + sizeof(*ip) + 4) {
		memcpy(&addrs, &ip->src_addr, sizeof(addrs));
		memcpy(&ports, ip + 1, sizeof(ports));
		return crc_u32(ports, crc_u64(addrs, ip->next_proto_id));
	}
	if (unlikely(eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6)))
		return inner_hash6(m, eth);
	if (eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
	    rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(*ip))
		return crc_unaligned(eth, 2 * RTE_ETHER_ADDR_LEN, 0);
	memcpy(&addrs, &ip->src_addr, sizeof(addrs));
	h = crc_u64(addrs, ip->next_proto_id);
	ihl = (ip->version_ihl & 0xf) * 4;
	if ((ip->next_proto_id == IPPROTO_TCP ||
	     ip->next_proto_id == IPPROTO_UDP) &&
	    !(ip->fragment_offset & RTE_BE16(0x3fff)) &&
	    rte_pktmbuf_data_len(m) >= RTE_ETHER_HDR_LEN + ihl + 4) {
		memcpy(&ports, (const char *)ip + ihl, 4);
		h = crc_u32(ports, h);
	}
	return h;
}

/*
 * A checksum field from a 32-bit sum of 16-bit words: folded and
 * complemented, 0 sent as 0xffff (a UDP checksum of 0 means none).
 */
static inline uint16_t
cksum_final(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff ? 0xffff : (uint16_t)~sum;
}

/*
 * What both families' encapsulations start with: @p m, or a copy of it
 * when it is shared or @p keep (the caller still needs it: another
 * remote), with @p hlen bytes prepended and the template's @p tlen bytes
 * of outer headers from the source MAC on, the next hop's MAC before
 * them. NULL: dropped and counted (the neighbour is unresolved, or no
 * mbuf).
 */
static __rte_always_inline struct rte_mbuf *
encap_begin(struct vs_vxlan *vx, struct rte_mbuf *m, struct vs_vx_neigh *r,
	    bool keep, uint16_t hlen, uint16_t tlen)
{
	uint64_t mac = atomic_load_explicit(&next_hop(vx, r)->mac,
					    memory_order_acquire);
	enum vs_drop why = VS_DROP_NO_MBUF;
	struct rte_ether_hdr *eth;

	if (unlikely(!(mac & NEIGH_VALID))) {
		atomic_fetch_add_explicit(&r->unresolved, 1,
					  memory_order_relaxed);
		why = VS_DROP_UNRESOLVED;
		goto drop;
	}
	if (unlikely(keep || rte_mbuf_refcnt_read(m) > 1 ||
		     !RTE_MBUF_DIRECT(m) || rte_pktmbuf_headroom(m) < hlen)) {
		struct rte_mbuf *c = rte_pktmbuf_copy(
			m, vs_mbuf_pool(vx->via->socket_id), 0, UINT32_MAX);

		if (!keep)
			rte_pktmbuf_free(m);
		keep = true;
		if (c == NULL)
			goto drop;
		m = c;
	}
	eth = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, hlen);
	if (unlikely(eth == NULL)) {
		keep = false;
		goto drop;
	}
	m->ol_flags &= RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT;
	/* The template, then the fields that change per frame. */
	rte_memcpy(&eth->src_addr, r->tmpl, tlen);
	u64_mac(mac, &eth->dst_addr);
	return m;
drop:
	vx->port->stats[vs_lcore_slot()].drops[why]++;
	if (!keep)
		rte_pktmbuf_free(m);
	return NULL;
}

/*
 * The outer IPv4 headers' per-frame fields, at @p d (the outer Ethernet
 * header): IPv4 total length @p tot and checksum (@p ip_sum, the remote's
 * constant words summed and folded once by ip_sum_init(), plus the
 * length; as Linux's ip_fast_csum(), 0 where the sum is 0xffff), UDP
 * source port from the inner flow's hash @p h (in the dynamic range) and
 * length.
 */
static __rte_always_inline void
encap_fields(uint8_t *d, uint16_t tot, uint32_t ip_sum, uint32_t h)
{
	struct rte_ipv4_hdr *ip =
		(struct rte_ipv4_hdr *)(d + RTE_ETHER_HDR_LEN);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	uint32_t sum;

	ip->total_length = rte_cpu_to_be_16(tot);
	/* @p ip_sum is folded (rte_raw_cksum()): one more fold is enough. */
	sum = ip_sum + ip->total_length;
	ip->hdr_checksum = (uint16_t) ~((sum & 0xffff) + (sum >> 16));
	udp->src_port = rte_cpu_to_be_16(49152 + (h & 0x3fff));
	udp->dgram_len = rte_cpu_to_be_16(tot - sizeof(*ip));
}

/*
 * @p m encapsulated for remote @p r, or NULL (dropped, counted). @p keep:
 * the caller still needs @p m (another remote): work on a copy.
 */
static __rte_always_inline struct rte_mbuf *
encap(struct vs_vxlan *vx, struct rte_mbuf *m, struct vs_vx_neigh *r, bool keep)
{
	uint32_t len = rte_pktmbuf_pkt_len(m), h = inner_hash(m);
	uint16_t tot = (uint16_t)(len + VX_HDR_LEN - RTE_ETHER_HDR_LEN);

	m = encap_begin(vx, m, r, keep, VX_HDR_LEN, VX_TMPL_LEN);
	if (unlikely(m == NULL))
		return NULL;
	encap_fields(rte_pktmbuf_mtod(m, uint8_t *), tot, r->ip_sum, h);
	return m;
}

/*
 * encap() over IPv6: @p m encapsulated for remote @p r, or NULL (dropped,
 * counted). @p h is the inner flow's hash (inner_hash()), @p isum the
 * inner frame's raw sum (rte_raw_cksum_mbuf()): the caller computes both
 * once for every remote. Linux drops IPv6 UDP with a zero checksum
 * (RFC 8200 wants one; RFC 6935's exception is opt-in there,
 * udp6zerocsumrx), so the UDP checksum is computed: the remote's constant
 * words summed once (udp6_sum_init()), the lengths, the source port and
 * the inner frame's sum per frame.
 */
static __rte_always_inline struct rte_mbuf *
encap6(struct vs_vxlan *vx, struct rte_mbuf *m, struct vs_vx_neigh *r,
       bool keep, uint32_t h, uint16_t isum)
{
	uint32_t len = rte_pktmbuf_pkt_len(m), fl;
	uint16_t plen = (uint16_t)(len + VX6_HDR_LEN - RTE_ETHER_HDR_LEN -
				   sizeof(struct rte_ipv6_hdr));
	struct rte_ipv6_hdr *ip;
	struct rte_udp_hdr *udp;

	m = encap_begin(vx, m, r, keep, VX6_HDR_LEN, VX6_TMPL_LEN);
	if (unlikely(m == NULL))
		return NULL;
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *,
				     RTE_ETHER_HDR_LEN);
	/* RFC 6438: the flow label from the inner flow, never 0. */
	fl = h & RTE_IPV6_HDR_FL_MASK;
	ip->vtc_flow = rte_cpu_to_be_32(6u << 28 | (fl ? fl : 1));
	ip->payload_len = rte_cpu_to_be_16(plen);
	udp = (struct rte_udp_hdr *)(ip + 1);
	udp->src_port = rte_cpu_to_be_16(49152 + (h & 0x3fff));
	udp->dgram_len = ip->payload_len;
	/* The UDP length counts twice: in the pseudo-header and the header. */
	udp->dgram_cksum =
		cksum_final(r->ip_sum + 2 * (uint32_t)udp->dgram_len +
			    udp->src_port + isum);
	return m;
}

/*
 * A remote's outer IPv4 headers as one block, its next hop's MAC in
 * front: built once for a run of frames to the remote (vx_img_set()), so
 * that a frame's encapsulation is one copy and four fields (encap_fast()).
 */
struct vx_img {
	uint8_t b[64] __rte_aligned(16); /* VX_HDR_LEN bytes used */
	uint32_t ip_sum; /* the remote's ip_sum */
	uint32_t to; /* the remote's index + 1; UINT32_MAX: none */
};

/* @p img for remote @p to (index + 1); false: its next hop unresolved. */
static __rte_always_inline bool
vx_img_set(struct vs_vxlan *vx, uint32_t to, struct vx_img *img)
{
	struct vs_vx_neigh *r = &vx->remote[to - 1];
	uint64_t mac = atomic_load_explicit(&next_hop(vx, r)->mac,
					    memory_order_acquire);

	img->to = UINT32_MAX;
	if (!(mac & NEIGH_VALID))
		return false;
	u64_mac(mac, (struct rte_ether_addr *)img->b);
	memcpy(img->b + RTE_ETHER_ADDR_LEN, r->tmpl, VX_TMPL_LEN);
	img->ip_sum = r->ip_sum;
	img->to = to;
	return true;
}

/*
 * encap() for the usual frame, one encapsulated in place: a direct mbuf
 * nobody else holds, with room for the outer headers (encap_fast_ok()).
 */
static __rte_always_inline bool
encap_fast_ok(const struct rte_mbuf *m)
{
	return rte_mbuf_refcnt_read(m) == 1 && RTE_MBUF_DIRECT(m) &&
		rte_pktmbuf_headroom(m) >= VX_HDR_LEN;
}

static __rte_always_inline void
encap_fast(struct rte_mbuf *m, const struct vx_img *img)
{
	uint32_t len = rte_pktmbuf_pkt_len(m), h = inner_hash(m);
	uint16_t tot = (uint16_t)(len + VX_HDR_LEN - RTE_ETHER_HDR_LEN);
	uint8_t *d;

	/* rte_pktmbuf_prepend() without its check: encap_fast_ok() made it. */
	m->data_off -= VX_HDR_LEN;
	m->data_len += VX_HDR_LEN;
	m->pkt_len += VX_HDR_LEN;
	m->ol_flags = 0; /* a direct mbuf: no flag to keep */
	d = rte_pktmbuf_mtod(m, uint8_t *);
	/* 50 bytes: two 32-byte copies that overlap. */
	memcpy(d, img->b, 32);
	memcpy(d + VX_HDR_LEN - 32, img->b + VX_HDR_LEN - 32, 32);
	encap_fields(d, tot, img->ip_sum, h);
}

/*
 * encap_fast() of the frames from @p pkts on while they are for remote
 * @p to (img's) and encap_fast_ok(): how many; their inner bytes added to
 * @p bytes. Apart from vx_tx_burst()'s other paths, in few registers.
 */
static __rte_noinline unsigned int
encap_run(struct rte_mbuf **pkts, unsigned int n, const struct vx_img *img,
	  uint64_t *bytes)
{
	uint32_t to = img->to;
	uint64_t b = 0;
	unsigned int j;

	for (j = 0; j < n; j++) {
		struct rte_mbuf *m = pkts[j];

		if (m->hash.usr != to || !encap_fast_ok(m))
			break;
		b += rte_pktmbuf_pkt_len(m);
		encap_fast(m, img);
	}
	*bytes += b;
	return j;
}

/*
 * Tunnel tx: q is the forwarding index (nb_txq is the number of lcores),
 * and the underlay's tx queue of that lcore takes the frames. Consumes
 * every mbuf: the ones it cannot send are counted on the underlay. @p v6
 * is a constant: vx_tx() and vx_tx6() are this for each family.
 */
static __rte_always_inline uint16_t
vx_tx_burst(struct vs_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n,
	    struct vs_tx_lost *lost, const bool v6)
{
	struct vs_vxlan *vx = p->vx;
	struct rte_mbuf *out[64];
	/* Per-remote counters, added once per call: no atomic per frame. */
	uint64_t tn[VS_VXLAN_MAX_REMOTES] = { 0 },
		 tb[VS_VXLAN_MAX_REMOTES] = { 0 };
	uint16_t i, r, k0, isum = 0;
	unsigned int k = 0;
	struct vx_img img = { .to = UINT32_MAX };
	uint32_t h = 0;

	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i], *e;
		uint32_t to = m->hash.usr, len = rte_pktmbuf_pkt_len(m);

		/*
		 * IPv4, a known remote: its headers are built once for the
		 * run of frames to it, and copied into each frame's headroom.
		 */
		if (!v6 && to >= 1 && to <= vx->nb_remote &&
		    (to == img.to || vx_img_set(vx, to, &img)) &&
		    likely(encap_fast_ok(m))) {
			unsigned int c =
				encap_run(pkts + i, n - i, &img, &tb[to - 1]);

			tn[to - 1] += c;
			/* The whole burst (the usual case): sent as it is. */
			if (c == n) {
				vs_port_tx_bytes(vx->via, q, pkts, n,
						 VX_TX_RETRIES,
						 tb[to - 1] + n * VX_HDR_LEN);
				break;
			}
			while (c > 0) {
				unsigned int f = RTE_MIN(c, RTE_DIM(out) - k);

				memcpy(&out[k], &pkts[i], f * sizeof(*out));
				k += f;
				i += f;
				c -= f;
				if (k == RTE_DIM(out)) {
					vs_port_tx(vx->via, q, out, k,
						   VX_TX_RETRIES);
					k = 0;
				}
			}
			i--; /* the loop's i++ */
			continue;
		}
		if (k + vx->nb_remote > RTE_DIM(out)) {
			vs_port_tx(vx->via, q, out, k, VX_TX_RETRIES);
			k = 0;
		}
		k0 = k;
		if (v6) {
			/* Once for every remote of a flood. */
			h = inner_hash(m);
			if (rte_raw_cksum_mbuf(m, 0, len, &isum) != 0)
				isum = 0; /* cannot be: len is m's */
		}
		if (to >= 1 && to <= vx->nb_remote) {
			e = v6 ? encap6(vx, m, &vx->remote[to - 1], false, h,
					isum)
			       : encap(vx, m, &vx->remote[to - 1], false);
			if (e != NULL) {
				out[k++] = e;
				tn[to - 1]++;
				tb[to - 1] += len;
			}
		} else {
			/* Flooded, or a static entry: head-end replication. */
			for (r = 0; r < vx->nb_remote; r++) {
				bool keep = r + 1 < vx->nb_remote;

				e = v6 ? encap6(vx, m, &vx->remote[r], keep, h,
						isum)
				       : encap(vx, m, &vx->remote[r], keep);
				if (e != NULL) {
					out[k++] = e;
					tn[r]++;
					tb[r] += len;
				}
			}
		}
		/* Reached no remote (counted unresolved): not sent. */
		if (k == k0) {
			lost->pkts++;
			lost->bytes += len;
		}
	}
	if (k > 0)
		vs_port_tx(vx->via, q, out, k, VX_TX_RETRIES);
	for (r = 0; r < vx->nb_remote; r++)
		if (tn[r]) {
			atomic_fetch_add_explicit(&vx->remote[r].tx_pkts, tn[r],
						  memory_order_relaxed);
			atomic_fetch_add_explicit(&vx->remote[r].tx_bytes,
						  tb[r], memory_order_relaxed);
		}
	return n;
}

static uint16_t
vx_tx(struct vs_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n,
      struct vs_tx_lost *lost)
{
	return vx_tx_burst(p, q, pkts, n, lost, false);
}

static uint16_t
vx_tx6(struct vs_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n,
       struct vs_tx_lost *lost)
{
	return vx_tx_burst(p, q, pkts, n, lost, true);
}

static uint16_t
vx_rx(struct vs_port *p __rte_unused, uint16_t q __rte_unused,
      struct rte_mbuf **pkts __rte_unused, uint16_t n __rte_unused)
{
	return 0; /* no rx queue: vs_vxlan_rx() feeds it */
}

static uint16_t
vx_nb_txq(const struct vs_port *p __rte_unused)
{
	return (uint16_t)vs_fwd_nb_lcores();
}

static uint16_t
vx_txq_of(const struct vs_port *p __rte_unused, unsigned int lc,
	  uint16_t nq __rte_unused)
{
	return (uint16_t)lc;
}

static void
vx_info(const struct vs_port *p, struct vs_port_info *info)
{
	char l[VS_ADDR_LEN];

	vs_ipaddr_str(p->vx->family, &p->vx->local, l);
	snprintf(info->path, sizeof(info->path), "vni=%u local=%s via=%s",
		 p->vx->vni, l, p->vx->via->name);
	info->link_up = vs_port_up(p->vx->via);
}

static void detach(struct vs_port *p);

static void
vx_destroy(struct vs_port *p)
{
	if (p->vx == NULL)
		return;
	if (p->vx->attached)
		detach(p);
	rte_free(p->vx);
	p->vx = NULL;
}

static const struct vs_port_ops vx_ops = {
	.kind = "vxlan",
	.rx = vx_rx,
	.tx = vx_tx,
	.tx_copies = false,
	.txq_of = vx_txq_of,
	.nb_txq = vx_nb_txq,
	.info = vx_info,
	.destroy = vx_destroy,
};

/* An IPv6 tunnel: the same but its tx. */
static const struct vs_port_ops vx6_ops = {
	.kind = "vxlan",
	.rx = vx_rx,
	.tx = vx_tx6,
	.tx_copies = false,
	.txq_of = vx_txq_of,
	.nb_txq = vx_nb_txq,
	.info = vx_info,
	.destroy = vx_destroy,
};

/* ---- the underlay: ARP, neighbour discovery, ICMP, decapsulation ---- */

/* Address @p a of @p family equals @p b (4 or 16 bytes, network order). */
static inline bool
ip_eq(uint8_t family, const union vs_ipaddr *a, const void *b)
{
	return memcmp(a, b, family == AF_INET ? 4 : 16) == 0;
}

/*
 * Note a neighbour's MAC from an ARP or ND message it sent: @p ip is an
 * address of @p family, 4 or 16 bytes.
 */
void
vs_vx_neigh_learn(const struct vs_tunlist *tl, uint8_t family, const void *ip,
		  const struct rte_ether_addr *mac, uint64_t now)
{
	uint64_t v = mac_u64(mac) | NEIGH_VALID;
	uint16_t i, r;

	if (rte_is_multicast_ether_addr(mac) || rte_is_zero_ether_addr(mac))
		return;
	for (i = 0; i < tl->n; i++) {
		struct vs_vxlan *vx = tl->t[i];
		struct vs_vx_neigh *nb = NULL;

		if (vx->family != family)
			continue;
		if (vx->has_gw && ip_eq(family, &vx->gw, ip))
			nb = &vx->gwn;
		for (r = 0; nb == NULL && r < vx->nb_remote; r++)
			if (ip_eq(family, &vx->remote[r].ip, ip))
				nb = &vx->remote[r];
		if (nb == NULL)
			continue;
		if (atomic_load_explicit(&nb->mac, memory_order_relaxed) != v)
			atomic_store_explicit(&nb->mac, v,
					      memory_order_release);
		atomic_store_explicit(&nb->seen, now, memory_order_relaxed);
	}
}

static bool
is_local(const struct vs_tunlist *tl, uint32_t ip)
{
	uint16_t i;

	for (i = 0; i < tl->n; i++)
		if (tl->t[i]->family == AF_INET && tl->t[i]->local.v4 == ip)
			return true;
	return false;
}

/*
 * An ARP frame: learn the sender if it is a neighbour. 1: @p m became our
 * reply; 0: it was for us (a reply to our request); -1: not for us.
 */
static int
arp_in(struct vs_underlay *ul, const struct vs_tunlist *tl, struct rte_mbuf *m,
       uint64_t now)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(eth + 1);
	uint32_t sip, tip;

	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(*a) ||
	    a->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) ||
	    a->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
	    a->arp_hlen != RTE_ETHER_ADDR_LEN || a->arp_plen != 4 ||
	    !rte_is_unicast_ether_addr(&a->arp_data.arp_sha))
		return -1; /* nor a group address to learn or answer */
	sip = a->arp_data.arp_sip;
	tip = a->arp_data.arp_tip;
	vs_vx_neigh_learn(tl, AF_INET, &sip, &a->arp_data.arp_sha, now);
	if (!is_local(tl, tip))
		return -1;
	if (a->arp_opcode != RTE_BE16(RTE_ARP_OP_REQUEST))
		return 0;
	atomic_fetch_add_explicit(&ul->arp_requests, 1, memory_order_relaxed);
	/* The request becomes the reply, in place. */
	a->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
	a->arp_data.arp_tha = a->arp_data.arp_sha;
	a->arp_data.arp_tip = sip;
	a->arp_data.arp_sha = ul->mac;
	a->arp_data.arp_sip = tip;
	eth->dst_addr = a->arp_data.arp_tha;
	eth->src_addr = ul->mac;
	atomic_fetch_add_explicit(&ul->arp_replies_sent, 1,
				  memory_order_relaxed);
	return 1;
}

/* An ICMP echo request to a local address: true if @p m became the reply. */
static bool
icmp_in(struct vs_underlay *ul, struct rte_mbuf *m, uint32_t ihl)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint32_t tot = rte_be_to_cpu_16(ip->total_length), t;
	struct rte_icmp_hdr *ic;

	if (tot < ihl + sizeof(*ic) ||
	    rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + tot ||
	    rte_mbuf_refcnt_read(m) > 1 || !RTE_MBUF_DIRECT(m))
		return false;
	ic = (struct rte_icmp_hdr *)((char *)ip + ihl);
	if (ic->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || ic->icmp_code != 0)
		return false;
	rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN - tot);
	ic->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	ic->icmp_cksum = 0;
	ic->icmp_cksum = ~rte_raw_cksum(ic, tot - ihl);
	if (ic->icmp_cksum == 0)
		ic->icmp_cksum = 0xffff;
	t = ip->src_addr;
	ip->src_addr = ip->dst_addr;
	ip->dst_addr = t;
	ip->time_to_live = 64;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	eth->dst_addr = eth->src_addr;
	eth->src_addr = ul->mac;
	atomic_fetch_add_explicit(&ul->icmp_echo_replies, 1,
				  memory_order_relaxed);
	return true;
}

/*
 * The tunnel and remote the last VXLAN frame of a burst matched, by its
 * outer addresses, UDP port and VNI as they are on the wire: a burst
 * usually comes from one remote VTEP, and one compare replaces the
 * searches of the tunnel list.
 */
typedef uint8_t vx_v16 __attribute__((vector_size(16)));

/* The offsets decap_fast() compares, in the frame from byte 12 on. */
enum {
	VXM_TYPE = 0,
	VXM_VHL = 2,
	VXM_FRAG = 8,
	VXM_PROTO = 11,
	VXM_SRC = 14,
	VXM_DST = 18,
	VXM_DPORT = 24,
	VXM_FLAGS = 30
};

/*
 * The bits of bytes 12 to 43 (EtherType to the VXLAN flags) that
 * decap_fast() compares, the same for every tunnel and remote: EtherType,
 * version and header length, fragment offset and MF (DF either),
 * protocol, addresses, destination port, flag I.
 */
static const union {
	uint8_t b[32];
	vx_v16 v[2];
} vx_hit_mask = { .b = {
			  [VXM_TYPE... VXM_TYPE + 1] = 0xff,
			  [VXM_VHL] = 0xff,
			  [VXM_FRAG] = 0x3f, /* 0x3fff in network order */
			  [VXM_FRAG + 1] = 0xff,
			  [VXM_PROTO] = 0xff,
			  [VXM_SRC... VXM_SRC + 3] = 0xff,
			  [VXM_DST... VXM_DST + 3] = 0xff,
			  [VXM_DPORT... VXM_DPORT + 1] = 0xff,
			  [VXM_FLAGS] = VX_FLAG_I,
		  } };

struct vx_hit {
	/* Bytes 12 to 43 of its frames under vx_hit_mask (hit_image()). */
	vx_v16 want[2];
	struct vs_vxlan *vx; /* NULL: nothing matched yet */
	uint32_t dst, src;
	rte_be32_t vni;
	rte_be16_t dport;
	uint16_t r;
};

/*
 * The matches a forwarding lcore made lately, by the outer source address
 * (vx_hc_slot()): a frame that does not take the run before it tries the
 * one of its source before the tunnel list's search. Direct-mapped; a
 * cache line pair per lcore and entry group, no sharing.
 */
#define VX_HC_SLOTS 8
struct vx_hit_cache {
	struct vx_hit h[VX_HC_SLOTS];
} __rte_aligned(2 * RTE_CACHE_LINE_SIZE);

/* The slot of outer IPv4 source @p src (as on the wire). */
static inline unsigned int
vx_hc_slot(uint32_t src)
{
	return (src ^ src >> 8 ^ src >> 16 ^ src >> 24) & (VX_HC_SLOTS - 1);
}

/* The entry of @p tl's cache of lcore @p lc for @p m's outer source. */
static inline const struct vx_hit *
vx_hc_get(const struct vs_tunlist *tl, unsigned int lc,
	  const struct rte_mbuf *m)
{
	uint32_t src;

	if (lc >= tl->nb_hc ||
	    rte_pktmbuf_data_len(m) < VX_HDR_LEN + RTE_ETHER_HDR_LEN)
		return NULL;
	memcpy(&src, rte_pktmbuf_mtod_offset(m, const uint8_t *, 26),
	       sizeof(src));
	return &tl->hc[lc].h[vx_hc_slot(src)];
}

/* @p hit, just matched by lcore @p lc, into its cache. */
static inline void
vx_hc_put(const struct vs_tunlist *tl, unsigned int lc,
	  const struct vx_hit *hit)
{
	if (lc < tl->nb_hc)
		tl->hc[lc].h[vx_hc_slot(hit->src)] = *hit;
}

/* @p hit's want[], from its addresses and port. */
static void
hit_image(struct vx_hit *hit)
{
	const rte_be16_t type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	uint8_t w[32] = { 0 };

	memcpy(&w[VXM_TYPE], &type, 2);
	w[VXM_VHL] = RTE_IPV4_VHL_DEF;
	w[VXM_PROTO] = IPPROTO_UDP;
	memcpy(&w[VXM_SRC], &hit->src, 4);
	memcpy(&w[VXM_DST], &hit->dst, 4);
	memcpy(&w[VXM_DPORT], &hit->dport, 2);
	w[VXM_FLAGS] = VX_FLAG_I;
	memcpy(hit->want, w, sizeof(w));
}

/* Which tunnel and remote a frame is for, or a UL_* counter. */
static int
vx_lookup(const struct vs_tunlist *tl, const struct rte_ipv4_hdr *ip,
	  const struct rte_udp_hdr *udp, const struct rte_vxlan_hdr *vh,
	  struct vx_hit *hit)
{
	uint16_t dport = rte_be_to_cpu_16(udp->dst_port), i, r;
	uint32_t vni = rte_be_to_cpu_32(vh->vx_vni) >> 8;
	struct vs_vxlan *vx = NULL;

	for (i = 0; i < tl->n && vx == NULL; i++)
		if (tl->t[i]->family == AF_INET &&
		    tl->t[i]->local.v4 == ip->dst_addr &&
		    tl->t[i]->dstport == dport && tl->t[i]->vni == vni)
			vx = tl->t[i];
	if (vx == NULL)
		return UL_bad_vni;
	for (r = 0; r < vx->nb_remote; r++)
		if (vx->remote[r].ip.v4 == ip->src_addr)
			break;
	if (r == vx->nb_remote)
		return UL_unknown_remote;
	*hit = (struct vx_hit){ .vx = vx,
				.dst = ip->dst_addr,
				.src = ip->src_addr,
				.vni = vh->vx_vni,
				.dport = udp->dst_port,
				.r = r };
	hit_image(hit);
	return -1;
}

/*
 * A VXLAN frame: decapsulated in place for tunnel @p hit->vx, its remote
 * noted in hash.usr. Else a UL_* counter to drop it under.
 */
static int
decap(const struct vs_tunlist *tl, struct rte_mbuf *m, uint32_t ihl,
      struct vx_hit *hit)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((char *)ip + ihl);
	struct rte_vxlan_hdr *vh = (struct rte_vxlan_hdr *)(udp + 1);
	uint32_t hlen = RTE_ETHER_HDR_LEN + ihl + sizeof(*udp) + sizeof(*vh);
	uint32_t tot = rte_be_to_cpu_16(ip->total_length);
	bool cached = hit->vx != NULL && rte_pktmbuf_data_len(m) >= hlen &&
		hit->dst == ip->dst_addr && hit->src == ip->src_addr &&
		hit->dport == udp->dst_port && hit->vni == vh->vx_vni;
	uint16_t dport, i;
	int why;

	if (!cached) {
		/* Not this VTEP's address and port: not VXLAN for us. */
		dport = rte_be_to_cpu_16(udp->dst_port);
		for (i = 0; i < tl->n; i++)
			if (tl->t[i]->family == AF_INET &&
			    tl->t[i]->local.v4 == ip->dst_addr &&
			    tl->t[i]->dstport == dport)
				break;
		if (i == tl->n)
			return UL_not_vtep;
	}
	if (rte_pktmbuf_data_len(m) < hlen ||
	    tot + RTE_ETHER_HDR_LEN > rte_pktmbuf_pkt_len(m) ||
	    tot < hlen - RTE_ETHER_HDR_LEN ||
	    rte_be_to_cpu_16(udp->dgram_len) != tot - ihl)
		return UL_bad_header;
	if (!(vh->vx_flags & VX_FLAG_I))
		return UL_bad_header;
	if (!cached) {
		why = vx_lookup(tl, ip, udp, vh, hit);
		if (why >= 0)
			return why;
	}
	if (tot + RTE_ETHER_HDR_LEN - hlen < RTE_ETHER_HDR_LEN)
		return UL_runt; /* the inner frame has no Ethernet header */
	/*
	 * Ethernet padding of a short outer frame is not the inner's. (Only
	 * then: finding the last segment reads the mbuf's second cache line.)
	 */
	if (unlikely(rte_pktmbuf_pkt_len(m) != RTE_ETHER_HDR_LEN + tot))
		rte_pktmbuf_trim(
			m, rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN - tot);
	rte_pktmbuf_adj(m, hlen);
	m->ol_flags &= RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT;
	m->packet_type = 0;
	m->hash.usr = hit->r + 1;
	return -1;
}

/*
 * The outer IPv4 header's checksum (RFC 1122 3.2.1.2): what the NIC found,
 * or computed here when it did not look.
 */
static inline bool
ip_csum_ok(const struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
	   uint32_t ihl)
{
	switch (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) {
	case RTE_MBUF_F_RX_IP_CKSUM_BAD:
		return false;
	case RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN:
		/* Inline; decap_fast() gives it a constant length (20). */
		if (ihl == sizeof(*ip))
			return ip4_sum20_ok(ip);
		return rte_raw_cksum(ip, ihl) == 0xffff;
	default: /* GOOD, or NONE: the header verified, the field not set */
		return true;
	}
}

/*
 * The common case in few compares: a frame for the tunnel and remote of
 * the one before (@p hit, set; @p usr its remote's index + 1), IPv4
 * without options, unfragmented, unpadded, its lengths consistent;
 * decapsulated in place. Everything else (false) takes decap() and its
 * counted reasons.
 */
static __rte_always_inline bool
decap_fast(struct rte_mbuf *m, const struct vx_hit *hit, uint32_t usr)
{
	const struct rte_ether_hdr *eth =
		rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);
	const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)(ip + 1);
	const struct rte_vxlan_hdr *vh =
		(const struct rte_vxlan_hdr *)(udp + 1);
	vx_v16 a, b, x;
	uint64_t z[2];
	uint32_t tot;

	if (rte_pktmbuf_data_len(m) < VX_HDR_LEN + RTE_ETHER_HDR_LEN)
		return false;
	/* Two 16-byte compares under mask for eight fields, and the VNI. */
	memcpy(&a, (const uint8_t *)eth + 12, sizeof(a));
	memcpy(&b, (const uint8_t *)eth + 28, sizeof(b));
	x = ((a & vx_hit_mask.v[0]) ^ hit->want[0]) |
		((b & vx_hit_mask.v[1]) ^ hit->want[1]);
	memcpy(z, &x, sizeof(z));
	if ((z[0] | z[1]) != 0 || vh->vx_vni != hit->vni ||
	    !ip_csum_ok(m, ip, sizeof(*ip)))
		return false;
	tot = rte_be_to_cpu_16(ip->total_length);
	if (tot + RTE_ETHER_HDR_LEN != rte_pktmbuf_pkt_len(m) ||
	    rte_be_to_cpu_16(udp->dgram_len) != tot - sizeof(*ip))
		return false;
	/* rte_pktmbuf_adj() without its checks: they were made above. */
	m->data_off += VX_HDR_LEN;
	m->data_len -= VX_HDR_LEN;
	m->pkt_len -= VX_HDR_LEN;
	m->ol_flags &= RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT;
	m->packet_type = 0;
	m->hash.usr = usr;
	return true;
}

/*
 * The frames of a tunnel's batch: whether their inner MACs and EtherType
 * are all the first one's (fwd_burst() then learns and looks up once).
 */
struct vx_same {
	vx_v16 first; /* bytes 48 to 63 of the first frame (encapsulated) */
	vx_v16 diff; /* what any other frame had different from it */
	bool set;
};

/*
 * Frame bytes @p k (48 to 63 of the encapsulated frame) into a struct
 * vx_same's fields, which decap_run() keeps in registers.
 */
static __rte_always_inline void
vx_same_note(vx_v16 k, vx_v16 *first, vx_v16 *diff, bool *set)
{
	if (!*set) {
		*first = k;
		*set = true;
	}
	*diff |= k ^ *first;
}

/*
 * decap_fast() of the frames from @p pkts on while it takes them (the
 * tunnel and remote of @p hit, set): how many; their inner bytes added to
 * @p bytes, their inner MACs and EtherType compared in @p same. Apart
 * from vs_vxlan_rx()'s other paths, in few registers.
 */
static __rte_noinline unsigned int
decap_run(struct rte_mbuf **pkts, unsigned int n, const struct vx_hit *hit,
	  uint64_t *bytes, struct vx_same *same)
{
	vx_v16 first = same->first, diff = same->diff, k;
	uint32_t usr = hit->r + 1u;
	bool set = same->set;
	uint64_t b = 0;
	unsigned int j;

	for (j = 0; j < n; j++) {
		struct rte_mbuf *m = pkts[j];
		const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);

		if (j + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[j + 1], void *));
		if (!decap_fast(m, hit, usr))
			break;
		/*
		 * The VNI's last byte and the reserved one (equal in a run),
		 * then the inner MACs and EtherType: decap_fast() checked that
		 * the frame has them.
		 */
		memcpy(&k, d + 48, sizeof(k));
		vx_same_note(k, &first, &diff, &set);
		b += rte_pktmbuf_pkt_len(m);
	}
	same->first = first;
	same->diff = diff;
	same->set = set;
	*bytes += b;
	return j;
}

/*
 * The decapsulated frame @p m into @p s: the two bytes before it are the
 * VXLAN header's last ones, as decap_run() reads them.
 */
static inline void
vx_same_add(struct vx_same *s, const struct rte_mbuf *m)
{
	vx_v16 k;

	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN) {
		s->diff = (vx_v16){ 1 }; /* the rest in another segment */
		return;
	}
	memcpy(&k, rte_pktmbuf_mtod(m, const uint8_t *) - 2, sizeof(k));
	vx_same_note(k, &s->first, &s->diff, &s->set);
}

/* Whether every frame @p s saw had the MACs and EtherType of the first. */
static inline bool
vx_same_all(const struct vx_same *s)
{
	uint64_t z[2];

	memcpy(z, &s->diff, sizeof(z));
	return s->set && (z[0] | z[1]) == 0;
}

static inline void
remote_rx(struct vs_vx_neigh *nb, uint64_t n, uint64_t bytes)
{
	if (nb == NULL || n == 0)
		return;
	atomic_fetch_add_explicit(&nb->rx_pkts, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&nb->rx_bytes, bytes, memory_order_relaxed);
}

uint64_t
vs_vxlan_rx(struct vs_port *via, unsigned int lc, struct rte_mbuf **pkts,
	    uint16_t n, uint64_t now, vs_vxlan_deliver_t deliver, void *arg)
{
	struct vs_underlay *ul =
		atomic_load_explicit(&via->ul, memory_order_acquire);
	const struct vs_tunlist *tl;
	struct rte_mbuf *reply[VX_MAX_BURST], *batch[VX_MAX_BURST];
	/* The drops' reasons: zeroed on the first (most bursts have none). */
	uint64_t cnt[UL_MAX], decap_pkts = 0;
	bool dropped = false;
	struct vs_vxlan *cur = NULL;
	struct vx_hit hit = { .vx = NULL };
	struct vx_hit6 hit6 = { .vx = NULL };
	struct vs_vx_neigh *rnb = NULL, *nbr;
	uint64_t rn = 0, rbytes = 0, tbytes = 0, ubytes = 0;
	struct vx_same same = { .set = false };
	uint16_t i, nr = 0;
	unsigned int nb = 0;

	/* Its last tunnel deleted since the caller looked. */
	if (unlikely(ul == NULL)) {
		ubytes = vs_mbuf_bytes(pkts, n);
		vs_port_drop(via, VS_DROP_UNDERLAY, pkts, n);
		return ubytes;
	}
	tl = atomic_load_explicit(&ul->tl, memory_order_acquire);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct rte_ether_hdr *eth;
		struct rte_ipv4_hdr *ip;
		struct vs_vxlan *vx;
		uint64_t bytes = 0;
		unsigned int c, k;
		bool run = false;
		uint32_t ihl;
		int why = UL_not_vtep;

		/*
		 * The usual frame: IPv4, of the tunnel and remote of the run
		 * before, or of the match this lcore made last for its outer
		 * source.
		 */
		for (k = 0; k < 2; k++) {
			const struct vx_hit *e =
				k == 0 ? &hit : vx_hc_get(tl, lc, m);

			if (e == NULL || e->vx == NULL ||
			    (k == 1 && e->vx == hit.vx && e->r == hit.r))
				continue;
			if (e->vx != cur && nb > 0) {
				/* Not batch[]'s tunnel: delivered first. */
				deliver(arg, cur->port, batch, nb, tbytes,
					vx_same_all(&same));
				nb = 0;
				tbytes = 0;
				same = (struct vx_same){ .set = false };
			}
			c = decap_run(pkts + i, n - i, e, &bytes, &same);
			if (c > 0) {
				if (k == 1)
					hit = *e;
				run = true;
				/* Each had 50 bytes of headers, no padding. */
				ubytes += bytes + c * VX_HDR_LEN;
				vx = hit.vx;
				goto decapsulated;
			}
		}
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		c = 1;
		ubytes += rte_pktmbuf_pkt_len(m);
		if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN)
			goto drop;
		eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		/* No frame comes from a group address: nothing to answer. */
		if (unlikely(!rte_is_unicast_ether_addr(&eth->src_addr)))
			goto drop;
		if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP)) {
			switch (arp_in(ul, tl, m, now)) {
			case 1:
				reply[nr++] = m;
				continue;
			case 0: /* a reply to our request: done with */
				rte_pktmbuf_free(m);
				continue;
			default: /* not for us (learned from if a neighbour's) */
				goto drop;
			}
		}
		if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6)) {
			why = vs_vx_rx6(ul, tl, m, now, &hit6);
			if (why == RX6_REPLY) {
				reply[nr++] = m;
				continue;
			}
			if (why == RX6_DONE) {
				rte_pktmbuf_free(m);
				continue;
			}
			if (why >= 0)
				goto drop;
			vx = hit6.vx;
			bytes = rte_pktmbuf_pkt_len(m);
			goto decapsulated;
		}
		if (eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
		    rte_pktmbuf_data_len(m) <
			    RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr))
			goto drop;
		ip = (struct rte_ipv4_hdr *)(eth + 1);
		ihl = (ip->version_ihl & 0xf) * 4;
		if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) ||
		    ((hit.vx == NULL || hit.dst != ip->dst_addr) &&
		     !is_local(tl, ip->dst_addr)))
			goto drop;
		if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + ihl) {
			why = UL_bad_header;
			goto drop;
		}
		if (!ip_csum_ok(m, ip, ihl)) {
			why = UL_bad_csum;
			goto drop;
		}
		if (ip->fragment_offset & RTE_BE16(0x3fff)) {
			why = UL_fragment;
			goto drop;
		}
		if (ip->next_proto_id == IPPROTO_ICMP) {
			if (icmp_in(ul, m, ihl)) {
				reply[nr++] = m;
				continue;
			}
			goto drop;
		}
		if (ip->next_proto_id != IPPROTO_UDP)
			goto drop;
		if (rte_pktmbuf_data_len(m) <
		    RTE_ETHER_HDR_LEN + ihl + sizeof(struct rte_udp_hdr)) {
			why = UL_bad_header;
			goto drop;
		}
		why = decap(tl, m, ihl, &hit);
		if (why >= 0)
			goto drop;
		vx_hc_put(tl, lc, &hit);
		vx = hit.vx;
		bytes = rte_pktmbuf_pkt_len(m);
	decapsulated:
		/*
		 * The @c frames from pkts[i] on, of one tunnel and remote (in
		 * m->hash.usr), join the batch of their tunnel. Per-remote
		 * counters: one atomic add per run of a remote; per tunnel,
		 * one delivery per run.
		 */
		decap_pkts += c;
		nbr = &vx->remote[m->hash.usr - 1];
		if (nbr != rnb) {
			remote_rx(rnb, rn, rbytes);
			rnb = nbr;
			rn = 0;
			rbytes = 0;
		}
		if (vx != cur) {
			/* Only after the slow path: decap_run() delivered. */
			if (nb > 0) {
				deliver(arg, cur->port, batch, nb, tbytes,
					vx_same_all(&same));
				same = (struct vx_same){ .set = false };
			}
			nb = 0;
			tbytes = 0;
			cur = vx;
		}
		/* decap() or IPv6 (the slow path): compared here. */
		if (!run)
			vx_same_add(&same, m);
		memcpy(&batch[nb], &pkts[i], c * sizeof(*batch));
		nb += c;
		rn += c;
		rbytes += bytes;
		tbytes += bytes;
		i = (uint16_t)(i + c - 1);
		continue;
	drop:
		if (!dropped) {
			memset(cnt, 0, sizeof(cnt));
			dropped = true;
		}
		cnt[why]++;
		vs_port_drop(via, VS_DROP_UNDERLAY, &m, 1);
	}
	remote_rx(rnb, rn, rbytes);
	if (nb > 0)
		deliver(arg, cur->port, batch, nb, tbytes, vx_same_all(&same));
	if (nr > 0)
		vs_port_tx(via, lc, reply, nr, VX_TX_RETRIES);
	atomic_fetch_add_explicit(&ul->rx_pkts, n, memory_order_relaxed);
	if (decap_pkts)
		atomic_fetch_add_explicit(&ul->decap_pkts, decap_pkts,
					  memory_order_relaxed);
	if (dropped) {
#define UL_ADD(f) \
	if (cnt[UL_##f]) \
		atomic_fetch_add_explicit(&ul->f, cnt[UL_##f], \
					  memory_order_relaxed);
		UL_COUNTERS(UL_ADD)
#undef UL_ADD
	}
	return ubytes;
}

void
vs_vxlan_drain(struct vs_port *via, unsigned int lc)
{
	struct vs_underlay *ul =
		atomic_load_explicit(&via->ul, memory_order_acquire);
	struct rte_mbuf *pkts[32];
	unsigned int n;

	if (ul == NULL || rte_ring_empty(ul->ctl))
		return;
	n = rte_ring_dequeue_burst(ul->ctl, (void **)pkts, RTE_DIM(pkts), NULL);
	if (n > 0)
		vs_port_tx(via, lc, pkts, n, VX_TX_RETRIES);
}

/* ---- the control side ---- */

static struct vs_tunlist *
tunlist_build(const struct vs_port *via, const struct vs_port *skip,
	      const struct vs_port *add)
{
	size_t off =
		RTE_ALIGN_CEIL(sizeof(struct vs_tunlist) +
				       VS_MAX_PORTS * sizeof(struct vs_vxlan *),
			       2 * RTE_CACHE_LINE_SIZE);
	uint16_t i, n = 0, nb_hc = (uint16_t)vs_fwd_nb_lcores();
	struct vs_tunlist *tl;

	/* Zeroed: no lcore matched anything yet. */
	tl = rte_zmalloc("vs_tunlist",
			 off + nb_hc * sizeof(struct vx_hit_cache),
			 2 * RTE_CACHE_LINE_SIZE);
	if (tl == NULL)
		return NULL;
	tl->hc = (struct vx_hit_cache *)((uint8_t *)tl + off);
	tl->nb_hc = nb_hc;
	for (i = 0; i < vs_port_count(); i++) {
		struct vs_port *p = vs_port_get(i);

		if (p == NULL || p == skip || p->kind != VS_PORT_VXLAN ||
		    p->vx->via != via || (!p->vx->attached && p != add))
			continue;
		tl->t[n++] = p->vx;
	}
	tl->n = n;
	return tl;
}

static void
tunlist_publish(struct vs_underlay *ul, struct vs_tunlist *tl)
{
	struct vs_tunlist *old = atomic_exchange(&ul->tl, tl);

	vs_fwd_synchronize();
	rte_free(old);
}

static void
detach(struct vs_port *p)
{
	struct vs_port *via = p->vx->via;
	struct vs_underlay *ul = atomic_load(&via->ul);
	struct vs_tunlist *tl;
	struct rte_mbuf *m;

	p->vx->attached = false;
	if (ul == NULL)
		return;
	tl = tunlist_build(via, p, NULL);
	if (tl != NULL && tl->n > 0) {
		tunlist_publish(ul, tl);
		return;
	}
	/* The last tunnel: the ethdev is a switch port again. */
	rte_free(tl);
	atomic_store(&via->ul, NULL);
	vs_fwd_synchronize();
	while (rte_ring_dequeue(ul->ctl, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	rte_ring_free(ul->ctl);
	rte_free(atomic_load(&ul->tl));
	rte_free(ul);
}

/*
 * The sum of the outer IPv4 header's words that never change for a remote
 * (all but the total length and the checksum), as rte_raw_cksum() sums.
 */
static uint32_t
ip_sum_init(const struct vs_vxlan *vx, uint32_t remote)
{
	struct rte_ipv4_hdr ip = {
		.version_ihl = RTE_IPV4_VHL_DEF,
		.fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG),
		.time_to_live = vx->ttl,
		.next_proto_id = IPPROTO_UDP,
		.src_addr = vx->local.v4,
		.dst_addr = remote,
	};

	return rte_raw_cksum(&ip, sizeof(ip));
}

/* The outer headers' template of every remote (struct vs_vx_neigh). */
static void
tmpl_build(struct vs_vxlan *vx, const struct rte_ether_addr *smac)
{
	struct {
		struct rte_ether_addr src;
		rte_be16_t type;
		struct rte_ipv4_hdr ip;
		struct rte_udp_hdr udp;
		struct rte_vxlan_hdr vh;
	} __rte_packed __rte_aligned(2) t = {
		.type = RTE_BE16(RTE_ETHER_TYPE_IPV4),
		.ip = {
			.version_ihl = RTE_IPV4_VHL_DEF,
			.packet_id = 0, /* DF set: RFC 6864 */
			.fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG),
			.time_to_live = vx->ttl,
			.next_proto_id = IPPROTO_UDP,
			.src_addr = vx->local.v4,
		},
		/* Checksum 0: RFC 7348 allows it over IPv4. */
		.udp = { .dst_port = rte_cpu_to_be_16(vx->dstport) },
		.vh = { .vx_flags = VX_FLAG_I,
			.vx_vni = rte_cpu_to_be_32(vx->vni << 8) },
	};
	uint16_t i;

	RTE_BUILD_BUG_ON(sizeof(t) != VX_TMPL_LEN);
	t.src = *smac;
	for (i = 0; i < vx->nb_remote; i++) {
		t.ip.dst_addr = vx->remote[i].ip.v4;
		memcpy(vx->remote[i].tmpl, &t, sizeof(t));
	}
}

struct vs_port *
vs_vxlan_create(const struct vs_vxlan_conf *xc, char *err, size_t errlen)
{
	struct vs_port *via = vs_port_lookup(xc->via), *p;
	bool v6 = xc->family == AF_INET6;
	uint32_t hlen = v6 ? VX6_HDR_LEN : VX_HDR_LEN;
	struct vs_vxlan *vx;
	uint16_t i;

	if (via == NULL || via->kind != VS_PORT_ETHDEV) {
		snprintf(err, errlen,
			 "%s: via '%s' is not an ethdev port (see port/list)",
			 xc->name, xc->via);
		rte_errno = ENODEV;
		return NULL;
	}
	if (via->mtu < VS_MTU_MIN + hlen - RTE_ETHER_HDR_LEN) {
		snprintf(err, errlen, "%s: via '%s' has an MTU of %u", xc->name,
			 via->name, via->mtu);
		rte_errno = EINVAL;
		return NULL;
	}
	p = vs_port_alloc(VS_PORT_VXLAN, xc->name, v6 ? &vx6_ops : &vx_ops,
			  via->socket_id);
	vx = rte_zmalloc_socket("vs_vxlan", sizeof(*vx), RTE_CACHE_LINE_SIZE,
				via->socket_id);
	if (p == NULL || vx == NULL) {
		rte_free(p);
		rte_free(vx);
		snprintf(err, errlen, "%s: out of memory", xc->name);
		rte_errno = ENOMEM;
		return NULL;
	}
	p->vx = vx;
	vx->port = p;
	vx->via = via;
	vx->vni = xc->vni;
	vx->family = v6 ? AF_INET6 : AF_INET;
	vx->local = xc->local;
	vx->gw = xc->gw;
	vx->has_gw = !vs_ipaddr_is_zero(&xc->gw);
	vx->dstport = xc->dstport;
	vx->ttl = xc->ttl;
	vx->nb_remote = xc->nb_remote;
	for (i = 0; i < xc->nb_remote; i++) {
		vx->remote[i].ip = xc->remote[i];
		vx->remote[i].ip_sum = v6
			? vs_vx_udp6_sum_init(vx, &xc->remote[i])
			: ip_sum_init(vx, xc->remote[i].v4);
	}
	vx->gwn.ip = xc->gw;
	p->nb_rxq = 0;
	p->nb_txq = (uint16_t)vs_fwd_nb_lcores();
	/* Inner frames are finished (checksums, segments) before. */
	atomic_init(&p->tx_ol, 0);
	p->ol_off = true;
	/*
	 * The outer headers take 50 bytes of the underlay's MTU (70 over
	 * IPv6): an inner frame of at most via's MTU - 36 (- 56; its own
	 * Ethernet header and any tag included) keeps the outer IP packet
	 * within via's MTU.
	 */
	p->mtu = via->mtu - hlen;
	p->max_frame = via->mtu - (hlen - RTE_ETHER_HDR_LEN);
	atomic_store(&p->link_up, true);
	return p;
}

int
vs_vxlan_attach(struct vs_port *p, char *err, size_t errlen)
{
	struct vs_vxlan *vx = p->vx;
	struct vs_port *via = vx->via;
	struct vs_underlay *ul = atomic_load(&via->ul);
	struct vs_tunlist *tl;
	char name[RTE_RING_NAMESIZE];
	uint16_t i;

	if (ul != NULL) {
		tl = atomic_load(&ul->tl);
		for (i = 0; i < tl->n; i++)
			if (tl->t[i]->family == vx->family &&
			    memcmp(&tl->t[i]->local, &vx->local,
				   sizeof(vx->local)) == 0 &&
			    tl->t[i]->dstport == vx->dstport &&
			    tl->t[i]->vni == vx->vni) {
				snprintf(
					err, errlen,
					"%s: tunnel %s has that VNI, local address and port on %s",
					p->name, tl->t[i]->port->name,
					via->name);
				return -EEXIST;
			}
	}
	tl = tunlist_build(via, NULL, p);
	if (tl == NULL)
		goto nomem;
	if (ul == NULL) {
		ul = rte_zmalloc("vs_underlay", sizeof(*ul),
				 RTE_CACHE_LINE_SIZE);
		snprintf(name, sizeof(name), "vs_ul_%" PRIu64, via->serial);
		if (ul != NULL)
			ul->ctl =
				rte_ring_create(name, VX_CTL_RING,
						via->socket_id, RING_F_SC_DEQ);
		if (ul == NULL || ul->ctl == NULL) {
			rte_free(ul);
			rte_free(tl);
			goto nomem;
		}
		ul->via = via;
		if (rte_eth_macaddr_get(via->eth.port_id, &ul->mac) != 0 ||
		    !rte_is_valid_assigned_ether_addr(&ul->mac)) {
			/*
			 * A device without a MAC of its own (net_ring): a
			 * locally administered one, so that ARP works.
			 */
			rte_eth_random_addr(ul->mac.addr_bytes);
			VX_LOG(INFO,
			       "%s: no MAC; the VTEP uses %02x:%02x:%02x:%02x:%02x:%02x\n",
			       via->name, ul->mac.addr_bytes[0],
			       ul->mac.addr_bytes[1], ul->mac.addr_bytes[2],
			       ul->mac.addr_bytes[3], ul->mac.addr_bytes[4],
			       ul->mac.addr_bytes[5]);
		}
		atomic_init(&ul->tl, tl);
		if (vx->family == AF_INET6)
			vs_vx_tmpl6_build(vx, &ul->mac);
		else
			tmpl_build(vx, &ul->mac);
		vx->attached = true;
		/* From now on the lcores hand its frames to the VTEP. */
		atomic_store_explicit(&via->ul, ul, memory_order_release);
		vs_fwd_synchronize();
		vs_fdb_flush(via->id);
		return 0;
	}
	if (vx->family == AF_INET6)
		vs_vx_tmpl6_build(vx, &ul->mac);
	else
		tmpl_build(vx, &ul->mac);
	vx->attached = true;
	tunlist_publish(ul, tl);
	return 0;
nomem:
	snprintf(err, errlen, "%s: out of memory", p->name);
	return -ENOMEM;
}

const char *
vs_vxlan_remote_str(const struct vs_port *p, uint8_t remote, char *buf)
{
	if (p == NULL || p->kind != VS_PORT_VXLAN || remote == 0 ||
	    remote > p->vx->nb_remote) {
		strcpy(buf, "?");
		return buf;
	}
	return vs_ipaddr_str(p->vx->family, &p->vx->remote[remote - 1].ip, buf);
}

int
vs_vxlan_conf_get(const struct vs_port *p, struct vs_vxlan_conf *xc)
{
	const struct vs_vxlan *vx;
	uint16_t i;

	if (p == NULL || p->kind != VS_PORT_VXLAN)
		return -EINVAL;
	vx = p->vx;
	memset(xc, 0, sizeof(*xc));
	strlcpy(xc->name, p->name, sizeof(xc->name));
	strlcpy(xc->via, vx->via->name, sizeof(xc->via));
	xc->vni = vx->vni;
	xc->family = vx->family;
	xc->local = vx->local;
	xc->gw = vx->gw;
	xc->dstport = vx->dstport;
	xc->ttl = vx->ttl;
	xc->nb_remote = vx->nb_remote;
	for (i = 0; i < vx->nb_remote; i++)
		xc->remote[i] = vx->remote[i].ip;
	return 0;
}

/* An ARP request for @p ip, queued for the lcore that sends on @p ul. */
static bool
arp_request(struct vs_underlay *ul, uint32_t sip, uint32_t tip)
{
	struct rte_mbuf *m =
		rte_pktmbuf_alloc(vs_mbuf_pool(ul->via->socket_id));
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *a;

	if (m == NULL)
		return false;
	/* 60 bytes: the Ethernet minimum without FCS. */
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, 60);
	if (eth == NULL) {
		rte_pktmbuf_free(m);
		return false;
	}
	memset(eth, 0, 60);
	memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
	eth->src_addr = ul->mac;
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
	a = (struct rte_arp_hdr *)(eth + 1);
	a->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
	a->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = RTE_ETHER_ADDR_LEN;
	a->arp_plen = 4;
	a->arp_opcode = RTE_BE16(RTE_ARP_OP_REQUEST);
	a->arp_data.arp_sha = ul->mac;
	a->arp_data.arp_sip = sip;
	a->arp_data.arp_tip = tip;
	if (rte_ring_enqueue(ul->ctl, m) != 0) {
		rte_pktmbuf_free(m);
		return false;
	}
	atomic_fetch_add_explicit(&ul->arp_requests_sent, 1,
				  memory_order_relaxed);
	return true;
}

/* Resolve (or refresh) neighbour @p nb of @p vx; true if a request went. */
static bool
neigh_tick(struct vs_vxlan *vx, struct vs_vx_neigh *nb, uint64_t now)
{
	struct vs_underlay *ul = atomic_load(&vx->via->ul);
	uint64_t hz = rte_get_tsc_hz();
	uint64_t mac = atomic_load(&nb->mac), seen = atomic_load(&nb->seen);

	if (ul == NULL || now < nb->next_req)
		return false;
	if (mac & NEIGH_VALID) {
		/* An lcore may have seen it after @p now was read. */
		uint64_t age = now > seen ? now - seen : 0;

		if (age < ARP_REFRESH_S * hz)
			return false;
		if (age > ARP_EXPIRE_S * hz)
			atomic_store(&nb->mac, 0);
	}
	nb->next_req = now + ARP_RETRY_S * hz;
	if (vx->family == AF_INET6)
		return vs_vx_nd_request(ul, vx->local.v6, nb->ip.v6);
	return arp_request(ul, vx->local.v4, nb->ip.v4);
}

void
vs_vxlan_tick(uint64_t now)
{
	bool sent = false;
	uint16_t i, r;

	for (i = 0; i < vs_port_count(); i++) {
		struct vs_port *p = vs_port_get(i);

		if (p == NULL || p->kind != VS_PORT_VXLAN || !p->vx->attached)
			continue;
		if (p->vx->has_gw) {
			sent |= neigh_tick(p->vx, &p->vx->gwn, now);
			continue;
		}
		for (r = 0; r < p->vx->nb_remote; r++)
			sent |= neigh_tick(p->vx, &p->vx->remote[r], now);
	}
	if (sent)
		vs_fwd_wake_all();
}

/* ---- vxlan/show ---- */

static json_t *
ip_json(uint8_t family, const union vs_ipaddr *ip)
{
	char b[VS_ADDR_LEN];

	if (vs_ipaddr_is_zero(ip))
		return json_null();
	return json_string(vs_ipaddr_str(family, ip, b));
}

static json_t *
mac_json(uint64_t v)
{
	struct rte_ether_addr a;
	char b[RTE_ETHER_ADDR_FMT_SIZE];

	if (!(v & NEIGH_VALID))
		return json_null();
	u64_mac(v, &a);
	snprintf(b, sizeof(b), "%02x:%02x:%02x:%02x:%02x:%02x", a.addr_bytes[0],
		 a.addr_bytes[1], a.addr_bytes[2], a.addr_bytes[3],
		 a.addr_bytes[4], a.addr_bytes[5]);
	return json_string(b);
}

static json_t *
tunnel_json(const struct vs_port *p)
{
	const struct vs_vxlan *vx = p->vx;
	json_t *rs = json_array(), *o;
	uint16_t r;

	for (r = 0; r < vx->nb_remote; r++) {
		const struct vs_vx_neigh *nb = &vx->remote[r];
		uint64_t mac = atomic_load(&(vx->has_gw ? &vx->gwn : nb)->mac);

		json_array_append_new(
			rs,
			json_pack("{s:o, s:o, s:s, s:I, s:I, s:I, s:I, s:I}",
				  "ip", ip_json(vx->family, &nb->ip), "mac",
				  mac_json(mac), "state",
				  mac & NEIGH_VALID ? "resolved" : "resolving",
				  "tx_pkts",
				  (json_int_t)atomic_load(&nb->tx_pkts),
				  "tx_bytes",
				  (json_int_t)atomic_load(&nb->tx_bytes),
				  "rx_pkts",
				  (json_int_t)atomic_load(&nb->rx_pkts),
				  "rx_bytes",
				  (json_int_t)atomic_load(&nb->rx_bytes),
				  "unresolved",
				  (json_int_t)atomic_load(&nb->unresolved)));
	}
	o = json_pack("{s:s, s:i, s:I, s:o, s:s, s:i, s:i, s:o, s:o}", "name",
		      p->name, "id", p->id, "vni", (json_int_t)vx->vni, "local",
		      ip_json(vx->family, &vx->local), "via", vx->via->name,
		      "dstport", vx->dstport, "ttl", vx->ttl, "gw",
		      ip_json(vx->family, &vx->gw), "remotes", rs);
	if (o != NULL)
		json_object_set_new(o, "vlan",
				    p->keys.vlan ? json_integer(p->keys.vlan)
						 : json_null());
	if (o != NULL && vx->has_gw)
		json_object_set_new(o, "gw_mac",
				    mac_json(atomic_load(&vx->gwn.mac)));
	return o;
}

static json_t *
underlay_json(const struct vs_port *via)
{
	const struct vs_underlay *ul = atomic_load(&via->ul);
	const struct vs_tunlist *tl = atomic_load(&ul->tl);
	json_t *ips = json_array(), *o;
	uint16_t i, j;

	for (i = 0; i < tl->n; i++) {
		for (j = 0; j < i; j++)
			if (tl->t[j]->family == tl->t[i]->family &&
			    memcmp(&tl->t[j]->local, &tl->t[i]->local,
				   sizeof(tl->t[i]->local)) == 0)
				break;
		if (j == i)
			json_array_append_new(
				ips,
				ip_json(tl->t[i]->family, &tl->t[i]->local));
	}
	o = json_pack("{s:s, s:o, s:o}", "port", via->name, "mac",
		      mac_json(mac_u64(&ul->mac) | NEIGH_VALID), "ips", ips);
#define UL_JSON(f) \
	json_object_set_new(o, #f, \
			    json_integer((json_int_t)atomic_load(&ul->f)));
	if (o != NULL) {
		UL_COUNTERS(UL_JSON)
	}
#undef UL_JSON
	return o;
}

static int
cmd_vxlan_show(int argc __rte_unused, const char *const *argv __rte_unused,
	       json_t **res, char *err __rte_unused, size_t errlen __rte_unused)
{
	json_t *t = json_array(), *u = json_array();
	uint16_t i;

	for (i = 0; i < vs_port_count(); i++) {
		struct vs_port *p = vs_port_get(i);

		if (p == NULL)
			continue;
		if (p->kind == VS_PORT_VXLAN)
			json_array_append_new(t, tunnel_json(p));
		else if (atomic_load(&p->ul) != NULL)
			json_array_append_new(u, underlay_json(p));
	}
	*res = json_pack("{s:o, s:o}", "tunnels", t, "underlays", u);
	return 0;
}

static const struct vs_cmd vxlan_cmds[] = {
	{ "vxlan/show", "",
	  "VXLAN tunnels: remotes with their MAC and counters; underlays: the VTEP's addresses and counters",
	  0, 0, "vxlan", cmd_vxlan_show },
};

int
vs_vxlan_cmd_register(void)
{
	return vs_cmd_register(vxlan_cmds, RTE_DIM(vxlan_cmds));
}
