/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_OFFLOAD_H
#define VS_OFFLOAD_H

/**
 * @file
 * Checksum and segmentation offloads, end to end. A guest that negotiated
 * CSUM / HOST_TSO4/6 hands over frames with a partial checksum or larger
 * than its MTU (librte_vhost marks them RX_L4_CKSUM_NONE / RX_LRO with
 * RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS). At ingress such a frame is
 * described once with the mbuf TX offload fields (l2/l3/l4_len, TX_IPV4/6,
 * TX_TCP/UDP_CKSUM, TX_TCP_SEG with tso_segsz); it keeps them to every
 * egress. There each destination gets what it can take: the frame as it is
 * where it negotiated the offload (GUEST_CSUM, GUEST_TSO4/6), finished in
 * software otherwise: checksums computed, TCP segmented to the smaller of
 * the sender's segment size and the destination's MTU.
 *
 * A frame without offload flags costs one flag test and one length compare
 * per destination.
 */

#include <stdint.h>

#include <rte_mbuf.h>

struct vs_port;

/** Offloads a destination takes as they are (vs_port.tx_ol). */
#define VS_OL_CSUM (1u << 0) /**< partial TCP/UDP checksum */
#define VS_OL_TSO4 (1u << 1) /**< TCP over IPv4 larger than the MTU */
#define VS_OL_TSO6 (1u << 2) /**< TCP over IPv6 larger than the MTU */

/** TX offload flags an ingress frame may carry after vs_offload_rx(). */
#define VS_OL_TX_FLAGS \
	(RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)

/** RX flags librte_vhost sets on a frame that needs finishing. */
#define VS_OL_RX_FLAGS (RTE_MBUF_F_RX_L4_CKSUM_NONE | RTE_MBUF_F_RX_LRO)

/**
 * Describe a frame librte_vhost flagged (VS_OL_RX_FLAGS) with the TX
 * offload fields. An IPv6 frame with extension headers is finished here
 * instead: its checksum's pseudo-header needs the upper-layer protocol
 * and length (and a Routing header's final destination), which DPDK's
 * helpers (rte_ipv6_phdr_cksum(), so rte_net_intel_cksum_prepare() in
 * librte_vhost's enqueue and in NICs' tx_prepare) take from the fixed
 * header. @return 0 (described), 1 (finished: the caller counts sw_csum),
 * or -EINVAL when its headers cannot be parsed or it is such a frame to
 * segment (the caller drops it: offload_error).
 */
int vs_offload_rx(struct rte_mbuf *m);

/**
 * Frame @p m goes to port @p p, which cannot take it as it is (it needs an
 * offload @p p lacks, or it is larger than @p p's MTU). Consumes one
 * reference of @p m and puts what @p p gets into @p out (at most @p max
 * mbufs): a finished copy, or segments. Counts on @p p (sw_csum, sw_gso,
 * sw_gso_segs) and drops (mtu, offload_error, no_mbuf) on @p p too.
 * @return the number of mbufs in @p out.
 */
uint16_t vs_offload_finish(struct vs_port *p, struct rte_mbuf *m,
			   struct rte_mbuf **out, uint16_t max);

/** Largest number of segments vs_offload_finish() makes of one frame. */
#define VS_OL_MAX_SEGS 128

#endif /* VS_OFFLOAD_H */
