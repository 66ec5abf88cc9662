/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_VXLAN_H
#define VS_VXLAN_H

/**
 * @file
 * VXLAN tunnel ports (RFC 7348) and the VTEP on their underlay.
 *
 * A tunnel port is a switch port: frames sent to it are encapsulated
 * (outer Ethernet, IPv4 or IPv6, UDP, VXLAN) and leave by its underlay
 * ethdev (via=), to the remote VTEP the destination MAC was learned from,
 * or to every remote (head-end replication) when flooded. The underlay
 * ethdev is the VTEP's, not a switch port: what it receives goes to
 * vs_vxlan_rx(), which answers ARP, IPv6 neighbour solicitations and ping
 * for the local addresses, learns the remotes' MACs from ARP and neighbour
 * discovery, and decapsulates VXLAN of a known VNI into the tunnel port's
 * ingress. The control thread resolves the remotes (or gw=) by ARP or
 * neighbour solicitations (vs_vxlan_tick()). A tunnel is IPv4 or IPv6
 * (all its addresses of one family); tunnels of both can share a via.
 */

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "vs_conf.h"

struct vs_port;

/**
 * Frames a tunnel port received, @p bytes in all (inner frames): switch
 * them as its ingress. @p same: every frame has the MACs and EtherType of
 * the first.
 */
typedef void (*vs_vxlan_deliver_t)(void *arg, struct vs_port *tunnel,
				   struct rte_mbuf **pkts, uint16_t n,
				   uint64_t bytes, bool same);

/**
 * Create tunnel port @p xc (not registered). NULL with rte_errno and a
 * reason in @p err.
 */
struct vs_port *vs_vxlan_create(const struct vs_vxlan_conf *xc, char *err,
				size_t errlen);

/**
 * Attach a registered tunnel port to its underlay (after
 * vs_port_register()): from then on its VNI is decapsulated.
 * @return 0 or -errno with @p err.
 */
int vs_vxlan_attach(struct vs_port *tunnel, char *err, size_t errlen);

/**
 * Frames from underlay port @p via (which has a struct vs_underlay):
 * decapsulated ones are handed to @p deliver tunnel by tunnel; ARP,
 * neighbour solicitations and ICMP(v6) echo for the local addresses
 * answered; the rest dropped and counted. Consumes every mbuf. Datapath: the lcore polling @p via.
 * @p lc is the caller's forwarding index (its tx queue).
 * @return the bytes of the @p n frames as received (@p via's rx_bytes).
 */
uint64_t vs_vxlan_rx(struct vs_port *via, unsigned int lc,
		     struct rte_mbuf **pkts, uint16_t n, uint64_t now,
		     vs_vxlan_deliver_t deliver, void *arg);

/**
 * Send what the control thread queued on underlay @p via (ARP requests,
 * neighbour solicitations).
 * Datapath: the lcore polling rx queue 0 of @p via.
 */
void vs_vxlan_drain(struct vs_port *via, unsigned int lc);

/**
 * ARP or neighbour solicitations for the remotes: once a second from the
 * control thread.
 */
void vs_vxlan_tick(uint64_t now);

/**
 * The address of remote @p remote (index + 1) of tunnel @p port as text in
 * @p buf (VS_ADDR_LEN bytes), "?" if there is no such remote.
 * @return @p buf.
 */
const char *vs_vxlan_remote_str(const struct vs_port *port, uint8_t remote,
				char *buf);

/**
 * The settings tunnel @p port was created with (config/save), its keys
 * left empty. @return 0, or -EINVAL when @p port is not a tunnel.
 */
int vs_vxlan_conf_get(const struct vs_port *port, struct vs_vxlan_conf *xc);

/** Register vxlan/show. */
int vs_vxlan_cmd_register(void);

#endif /* VS_VXLAN_H */
