/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Finishing frames in software for destinations without the offload: the
 * checksum a guest left partial, and TCP segmentation of a frame larger
 * than the MTU (TSO). See vs_offload.h.
 *
 * Segmentation copies: each segment is one new mbuf chain holding the
 * headers and its share of the payload. librte_gso (22.11) would attach
 * the payload instead of copying it, but knows TCP over IPv4 only (no
 * IPv6) and leaves the TCP checksums to the caller, which then reads the
 * payload anyway; a copy made while checksumming costs about the same and
 * gives each segment one contiguous buffer in the common case (an MSS of
 * 1448 fits one 2 KiB mbuf).
 */
#include <errno.h>
#include <string.h>

#include <rte_ip.h>
#include <rte_net.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "vs_mbuf.h"
#include "vs_offload.h"
#include "vs_port_priv.h"

/* The smallest segment size taken: below it a frame is an offload_error. */
#define VS_OL_MIN_MSS 64

/*
 * The destination address of an IPv6 pseudo-header (RFC 8200 8.1): the
 * final one, from a Routing header still to be followed. NULL for a
 * routing type whose final destination is not given as such.
 */
static const uint8_t *
ipv6_final_dst(const struct rte_mbuf *m, const struct rte_ipv6_hdr *ip)
{
	uint32_t off = m->l2_len + sizeof(*ip), end = m->l2_len + m->l3_len;
	uint8_t next = ip->proto;

	while (off + 8 <= end) {
		const uint8_t *h =
			rte_pktmbuf_mtod_offset(m, const uint8_t *, off);

		/* Type 2 (Mobile IPv6): the home address; type 4 (SRv6): */
		/* segment list[0]. Both are the 16 bytes after the first 8. */
		if (next == IPPROTO_ROUTING && h[3] > 0) {
			if ((h[2] != 2 && h[2] != 4) || off + 24 > end)
				return NULL;
			return h + 8;
		}
		next = h[0];
		off += (h[1] + 1u) * 8;
	}
	return ip->dst_addr;
}

/*
 * Fill the TCP/UDP checksum of IPv6 frame @p m (headers in its first
 * segment) whose extension headers make DPDK's helpers wrong. -EINVAL if
 * its final destination cannot be known.
 */
static int
ipv6_ext_cksum(struct rte_mbuf *m, bool udp)
{
	const struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod_offset(
		m, const struct rte_ipv6_hdr *, m->l2_len);
	uint32_t l4_off = m->l2_len + m->l3_len, l4len, sum,
		 ck_off = udp ? offsetof(struct rte_udp_hdr, dgram_cksum)
			      : offsetof(struct rte_tcp_hdr, cksum);
	const uint8_t *dst = ipv6_final_dst(m, ip);
	struct {
		rte_be32_t len;
		rte_be32_t proto;
	} psd;
	uint16_t *ck, raw;

	if (dst == NULL ||
	    rte_be_to_cpu_16(ip->payload_len) + sizeof(*ip) < m->l3_len)
		return -EINVAL;
	l4len = rte_be_to_cpu_16(ip->payload_len) + sizeof(*ip) - m->l3_len;
	ck = rte_pktmbuf_mtod_offset(m, uint16_t *, l4_off + ck_off);
	*ck = 0;
	if (rte_raw_cksum_mbuf(m, l4_off, l4len, &raw) != 0)
		return -EINVAL; /* shorter than its IPv6 length */
	psd.len = rte_cpu_to_be_32(l4len);
	psd.proto = rte_cpu_to_be_32(udp ? IPPROTO_UDP : IPPROTO_TCP);
	sum = __rte_raw_cksum(ip->src_addr, sizeof(ip->src_addr), raw);
	sum = __rte_raw_cksum(dst, sizeof(ip->dst_addr), sum);
	sum = __rte_raw_cksum(&psd, sizeof(psd), sum);
	raw = (uint16_t)~__rte_raw_cksum_reduce(sum);
	/* RFC 768 / 8200 8.1: a UDP sum of 0 goes as all ones. */
	*ck = raw == 0 && udp ? 0xffff : raw;
	return 0;
}

int
vs_offload_rx(struct rte_mbuf *m)
{
	struct rte_net_hdr_lens hl;
	uint64_t rx = m->ol_flags & VS_OL_RX_FLAGS, tx = 0;
	uint32_t ptype, l4;

	m->ol_flags &= ~VS_OL_RX_FLAGS;
	ptype = rte_net_get_ptype(m, &hl,
				  RTE_PTYPE_L2_MASK | RTE_PTYPE_L3_MASK |
					  RTE_PTYPE_L4_MASK);
	if (RTE_ETH_IS_IPV4_HDR(ptype))
		tx |= RTE_MBUF_F_TX_IPV4;
	else if (RTE_ETH_IS_IPV6_HDR(ptype))
		tx |= RTE_MBUF_F_TX_IPV6;
	else
		return -EINVAL;
	l4 = ptype & RTE_PTYPE_L4_MASK;
	if (l4 == RTE_PTYPE_L4_TCP)
		tx |= RTE_MBUF_F_TX_TCP_CKSUM;
	else if (l4 == RTE_PTYPE_L4_UDP)
		tx |= RTE_MBUF_F_TX_UDP_CKSUM;
	else
		return -EINVAL; /* SCTP's CRC, fragments: nothing to finish */
	if (rx & RTE_MBUF_F_RX_LRO) {
		/* HOST_UFO is not negotiated: only TCP comes segmented. */
		if (l4 != RTE_PTYPE_L4_TCP || m->tso_segsz < VS_OL_MIN_MSS)
			return -EINVAL;
		tx |= RTE_MBUF_F_TX_TCP_SEG;
	}
	m->l2_len = hl.l2_len;
	m->l3_len = hl.l3_len;
	m->l4_len = hl.l4_len;
	if (rte_pktmbuf_data_len(m) < hl.l2_len + hl.l3_len + hl.l4_len)
		return -EINVAL; /* headers must sit in the first segment */
	if ((tx & RTE_MBUF_F_TX_IPV6) &&
	    hl.l3_len != sizeof(struct rte_ipv6_hdr)) {
		/* Extension headers: see vs_offload.h. */
		if ((tx & RTE_MBUF_F_TX_TCP_SEG) ||
		    ipv6_ext_cksum(m, l4 == RTE_PTYPE_L4_UDP) < 0)
			return -EINVAL;
		return 1;
	}
	m->ol_flags |= tx;
	return 0;
}

/* Append @p len bytes of @p src from @p off to chain @p dst. */
static int
copy_range(struct rte_mbuf *dst, const struct rte_mbuf *src, uint32_t off,
	   uint32_t len, struct rte_mempool *pool)
{
	struct rte_mbuf *last = rte_pktmbuf_lastseg(dst);

	while (len > 0) {
		uint16_t room = rte_pktmbuf_tailroom(last);
		const void *from;
		uint32_t n;
		char *to;

		if (room == 0) {
			struct rte_mbuf *s = rte_pktmbuf_alloc(pool);

			if (s == NULL)
				return -ENOMEM;
			last->next = s;
			dst->nb_segs++;
			last = s;
			continue;
		}
		n = RTE_MIN((uint32_t)room, len);
		to = rte_pktmbuf_mtod_offset(last, char *, last->data_len);
		from = rte_pktmbuf_read(src, off, n, to);
		if (from == NULL)
			return -EINVAL;
		if (from != to)
			memcpy(to, from, n);
		last->data_len += n;
		dst->pkt_len += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Fill the L4 checksum of @p m (headers in its first segment). */
static void
l4_cksum(struct rte_mbuf *m)
{
	char *l3 = rte_pktmbuf_mtod_offset(m, char *, m->l2_len);
	uint32_t l4_off = m->l2_len + m->l3_len;
	struct rte_udp_hdr *uh;
	struct rte_tcp_hdr *th;
	uint16_t ck;
	bool udp = (m->ol_flags & RTE_MBUF_F_TX_L4_MASK) ==
		RTE_MBUF_F_TX_UDP_CKSUM;

	uh = rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *, l4_off);
	th = rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, l4_off);
	if (udp)
		uh->dgram_cksum = 0;
	else
		th->cksum = 0;
	if (m->ol_flags & RTE_MBUF_F_TX_IPV4)
		ck = rte_ipv4_udptcp_cksum_mbuf(
			m, (const struct rte_ipv4_hdr *)l3, l4_off);
	else
		ck = rte_ipv6_udptcp_cksum_mbuf(
			m, (const struct rte_ipv6_hdr *)l3, l4_off);
	/* The helpers give 0xffff for a UDP sum of 0 (RFC 768). */
	if (udp)
		uh->dgram_cksum = ck;
	else
		th->cksum = ck;
}

/*
 * A private copy of @p m if another destination also holds it; NULL (and
 * our reference dropped) when there is no mbuf for the copy.
 */
static struct rte_mbuf *
writable(struct rte_mbuf *m, struct rte_mempool *pool)
{
	struct rte_mbuf *s, *c;

	for (s = m; s != NULL; s = s->next)
		if (rte_mbuf_refcnt_read(s) > 1 || !RTE_MBUF_DIRECT(s))
			break;
	if (s == NULL)
		return m;
	c = rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);
	if (c == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	c->ol_flags = m->ol_flags;
	c->l2_len = m->l2_len;
	c->l3_len = m->l3_len;
	c->l4_len = m->l4_len;
	c->tso_segsz = m->tso_segsz;
	rte_pktmbuf_free(m);
	return c;
}

/* Segment TCP frame @p m into @p out, each at most @p mss of payload. */
static uint16_t
segment(struct vs_port *p, struct rte_mbuf *m, uint32_t mss,
	struct rte_mempool *pool, struct rte_mbuf **out, uint16_t max)
{
	struct vs_port_lstats *st = &p->stats[vs_lcore_slot()];
	uint32_t hlen = m->l2_len + m->l3_len + m->l4_len;
	uint32_t payload = rte_pktmbuf_pkt_len(m) - hlen, off, len;
	const struct rte_tcp_hdr *th0 = rte_pktmbuf_mtod_offset(
		m, const struct rte_tcp_hdr *, m->l2_len + m->l3_len);
	bool v4 = !!(m->ol_flags & RTE_MBUF_F_TX_IPV4);
	uint16_t n = 0, id0 = 0;

	if (payload == 0 || (payload + mss - 1) / mss > max) {
		vs_port_drop(p, VS_DROP_OFFLOAD_ERROR, &m, 1);
		return 0;
	}
	if (v4)
		id0 = rte_be_to_cpu_16(
			rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *,
						m->l2_len)
				->packet_id);
	for (off = 0; off < payload; off += len) {
		struct rte_mbuf *s = rte_pktmbuf_alloc(pool);
		struct rte_tcp_hdr *th;
		char *l3;

		len = RTE_MIN(mss, payload - off);
		if (s == NULL || copy_range(s, m, 0, hlen, pool) < 0 ||
		    copy_range(s, m, hlen + off, len, pool) < 0) {
			/* The whole frame is lost: count it once. */
			rte_pktmbuf_free(s);
			rte_pktmbuf_free_bulk(out, n);
			vs_port_drop(p, VS_DROP_NO_MBUF, &m, 1);
			return 0;
		}
		s->l2_len = m->l2_len;
		s->l3_len = m->l3_len;
		s->l4_len = m->l4_len;
		/* The remote VTEP behind a tunnel port (vs_fwd.c), and the
		 * rest of what the forwarder set on the frame. */
		s->hash = m->hash;
		s->vlan_tci = m->vlan_tci;
		s->port = m->port;
		s->ol_flags = m->ol_flags &
			(RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IPV6 |
			 RTE_MBUF_F_TX_TCP_CKSUM);
		l3 = rte_pktmbuf_mtod_offset(s, char *, s->l2_len);
		if (v4) {
			struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)l3;

			ip->total_length =
				rte_cpu_to_be_16(s->l3_len + s->l4_len + len);
			ip->packet_id = rte_cpu_to_be_16(id0 + n);
			ip->hdr_checksum = 0;
			ip->hdr_checksum = rte_ipv4_cksum(ip);
		} else {
			struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)l3;

			ip->payload_len = rte_cpu_to_be_16(
				s->l3_len - sizeof(*ip) + s->l4_len + len);
		}
		th = (struct rte_tcp_hdr *)(l3 + s->l3_len);
		th->sent_seq =
			rte_cpu_to_be_32(rte_be_to_cpu_32(th0->sent_seq) + off);
		/* FIN and PSH end the stream: last segment only; CWR first. */
		if (off + len < payload)
			th->tcp_flags &= ~(RTE_TCP_FIN_FLAG | RTE_TCP_PSH_FLAG);
		if (off > 0)
			th->tcp_flags &= ~RTE_TCP_CWR_FLAG;
		l4_cksum(s);
		s->ol_flags = 0;
		out[n++] = s;
	}
	st->sw_gso++;
	st->sw_gso_segs += n;
	rte_pktmbuf_free(m);
	return n;
}

/*
 * A TSO frame to an ethdev that segments it: the segments must fit its MTU
 * (the guest's MSS may not) and, over IPv4, get their IP header checksum
 * from the device.
 */
static uint16_t
eth_tso(struct vs_port *p, struct rte_mbuf *m, struct rte_mbuf **out,
	struct rte_mempool *pool)
{
	struct vs_port_lstats *st = &p->stats[vs_lcore_slot()];
	uint32_t hlen = m->l3_len + m->l4_len, lim;
	bool v4 = !!(m->ol_flags & RTE_MBUF_F_TX_IPV4);

	if (p->eth.tso_l2_in_mtu)
		hlen += m->l2_len;
	lim = p->mtu > hlen ? p->mtu - hlen : 0;
	/*
	 * Ours alone: the driver's tx_prepare writes its pseudo-header sum
	 * (without the length, for TSO) into the frame, which a guest that
	 * takes TSO must get as the sender left it.
	 */
	m = writable(m, pool);
	if (m == NULL) {
		st->drops[VS_DROP_NO_MBUF]++;
		return 0;
	}
	m->tso_segsz = RTE_MIN((uint32_t)m->tso_segsz, lim);
	if (v4)
		m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
	st->tx_gso++;
	out[0] = m;
	return 1;
}

uint16_t
vs_offload_finish(struct vs_port *p, struct rte_mbuf *m, struct rte_mbuf **out,
		  uint16_t max)
{
	struct vs_port_lstats *st = &p->stats[vs_lcore_slot()];
	uint64_t fl = m->ol_flags & VS_OL_TX_FLAGS;
	uint32_t tx_ol = atomic_load_explicit(&p->tx_ol, memory_order_relaxed);
	uint32_t max_frame = p->max_frame, hlen, mss;
	struct rte_mempool *pool = vs_mbuf_pool(p->socket_id);

	if (fl & RTE_MBUF_F_TX_TCP_SEG) {
		bool v6 = !!(m->ol_flags & RTE_MBUF_F_TX_IPV6);

		hlen = m->l3_len + m->l4_len;
		if ((tx_ol & (v6 ? VS_OL_TSO6 : VS_OL_TSO4)) &&
		    (tx_ol & VS_OL_CSUM) && p->kind == VS_PORT_ETHDEV &&
		    p->mtu >= hlen + m->l2_len + VS_OL_MIN_MSS)
			return eth_tso(p, m, out, pool);
		if ((tx_ol & (v6 ? VS_OL_TSO6 : VS_OL_TSO4)) &&
		    (tx_ol & VS_OL_CSUM) && p->kind != VS_PORT_ETHDEV) {
			st->tx_gso++;
			out[0] = m;
			return 1;
		}
		/*
		 * Segments fit the MTU: IP packets of at most p->mtu, and
		 * frames of at most p->max_frame with the L2 header the
		 * frame has (a tag pushed on the way: 4 bytes more than
		 * max_frame leaves room for on a tunnel port).
		 */
		mss = m->tso_segsz;
		if (p->mtu && p->mtu >= hlen + VS_OL_MIN_MSS)
			mss = RTE_MIN(mss, p->mtu - hlen);
		if (max_frame && max_frame >= m->l2_len + hlen + VS_OL_MIN_MSS)
			mss = RTE_MIN(mss, max_frame - m->l2_len - hlen);
		return segment(p, m, mss, pool, out, max);
	}
	if (max_frame && rte_pktmbuf_pkt_len(m) > max_frame) {
		vs_port_drop(p, VS_DROP_MTU, &m, 1);
		return 0;
	}
	if (fl == 0 || (tx_ol & VS_OL_CSUM)) {
		out[0] = m;
		return 1;
	}
	m = writable(m, pool);
	if (m == NULL) {
		st->drops[VS_DROP_NO_MBUF]++;
		return 0;
	}
	l4_cksum(m);
	m->ol_flags &= ~VS_OL_TX_FLAGS;
	st->sw_csum++;
	out[0] = m;
	return 1;
}
