/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ethdev ports: every ethdev EAL probed (a PCI NIC, net_tap, net_pcap,
 * net_af_packet, net_ring, net_null, net_virtio_user, net_vhost...).
 * rx queues: one per forwarding lcore when the device has them, with RSS
 * spreading flows; tx queues: one per forwarding lcore, or a lock per
 * queue when the device has fewer.
 */
#include <errno.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "vs_mbuf.h"
#include "vs_offload.h"
#include "vs_port_priv.h"

/*
 * 1024 descriptors: testpmd's default for rx and tx; enough to ride out a
 * scheduling hiccup of the owning lcore at 10 Mpps for ~100 us.
 */
#define VS_ETH_NB_DESC 1024

static uint16_t
eth_rx(struct vs_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(p->eth.port_id, q, pkts, n);
}

static uint16_t
eth_tx(struct vs_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n,
       struct vs_tx_lost *lost)
{
	uint16_t ok, sent, done;

	if (atomic_load_explicit(&p->tx_ol, memory_order_relaxed) == 0)
		return rte_eth_tx_burst(p->eth.port_id, q, pkts, n);
	/*
	 * Frames handed over with their offload requests: the driver's
	 * tx_prepare fixes what its hardware expects (the pseudo-header sum
	 * in the L4 checksum field for Intel NICs) and refuses what it cannot
	 * do. A refused frame is dropped as offload_error: consumed, lost.
	 */
	for (done = 0; done < n;) {
		ok = rte_eth_tx_prepare(p->eth.port_id, q, pkts + done,
					n - done);
		sent = rte_eth_tx_burst(p->eth.port_id, q, pkts + done, ok);
		done += sent;
		if (sent < ok || done == n)
			break; /* the device is full, or all went */
		/* pkts[done] refused; those behind it get their turn. */
		lost->pkts++;
		lost->bytes += rte_pktmbuf_pkt_len(pkts[done]);
		vs_port_drop(p, VS_DROP_OFFLOAD_ERROR, &pkts[done], 1);
		done++;
	}
	return done;
}

static uint16_t
eth_nb_txq(const struct vs_port *p)
{
	return p->nb_txq;
}

static void
eth_info(const struct vs_port *p, struct vs_port_info *info)
{
	struct rte_eth_dev_info di;
	struct rte_eth_link link;

	if (rte_eth_dev_info_get(p->eth.port_id, &di) == 0)
		info->kind_name = di.driver_name;
	rte_eth_dev_get_name_by_port(p->eth.port_id, info->path);
	if (rte_eth_link_get_nowait(p->eth.port_id, &link) == 0)
		info->link_up = link.link_status == RTE_ETH_LINK_UP;
}

static bool
eth_carrier(const struct vs_port *p)
{
	struct rte_eth_link link;

	return rte_eth_link_get_nowait(p->eth.port_id, &link) != 0 ||
		link.link_status == RTE_ETH_LINK_UP;
}

static void
eth_stats(const struct vs_port *p, struct vs_port_stats *st)
{
	struct rte_eth_stats es;

	if (rte_eth_stats_get(p->eth.port_id, &es) != 0)
		return;
	st->drops[VS_DROP_NO_MBUF] += es.rx_nombuf;
	st->drops[VS_DROP_RX_MISSED] += es.imissed;
	st->drops[VS_DROP_RX_ERROR] += es.ierrors;
}

static int
eth_set_mtu(struct vs_port *p, uint16_t mtu)
{
	int ret = rte_eth_dev_set_mtu(p->eth.port_id, mtu);

	if (ret != 0)
		return ret;
	p->mtu = mtu;
	p->max_frame = mtu + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN;
	return 0;
}

static void
eth_destroy(struct vs_port *p)
{
	int ret;

	ret = rte_eth_dev_stop(p->eth.port_id);
	if (ret != 0)
		PORT_LOG(WARNING, "%s: stop failed: %s\n", p->name,
			 rte_strerror(-ret));
	/* Closing flushes what net_pcap buffered into its tx file. */
	rte_eth_dev_close(p->eth.port_id);
}

static void
eth_notify(struct vs_port *p, uint16_t q, bool on)
{
	if (!p->eth.rx_intr)
		return;
	if (on)
		rte_eth_dev_rx_intr_enable(p->eth.port_id, q);
	else
		rte_eth_dev_rx_intr_disable(p->eth.port_id, q);
	atomic_store_explicit(&p->rxq_armed[q], on, memory_order_relaxed);
}

static int
eth_kickfd(const struct vs_port *p, uint16_t q)
{
	return p->eth.rx_intr
		? rte_eth_dev_rx_intr_ctl_q_get_fd(p->eth.port_id, q)
		: -1;
}

static const struct vs_port_ops eth_ops = {
	.kind = "ethdev",
	.rx = eth_rx,
	.tx = eth_tx,
	.tx_copies = false,
	.nb_txq = eth_nb_txq,
	.info = eth_info,
	.notify = eth_notify,
	.kickfd = eth_kickfd,
	.carrier = eth_carrier,
	.stats = eth_stats,
	.destroy = eth_destroy,
	.set_mtu = eth_set_mtu,
};

/*
 * The tx offloads a switch port uses when the device has them: checksums
 * of the frames a guest left partial, and TCP segmentation.
 */
#define VS_ETH_TX_OL \
	(RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM | \
	 RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_TSO)

/* What of VS_OL_* the device takes, from the offloads it was given. */
static uint32_t
eth_ol_capa(const struct rte_eth_dev_info *di, uint64_t tx)
{
	uint32_t ol = 0;

	if ((tx & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) &&
	    (tx & RTE_ETH_TX_OFFLOAD_UDP_CKSUM))
		ol |= VS_OL_CSUM;
	if ((ol & VS_OL_CSUM) && (tx & RTE_ETH_TX_OFFLOAD_TCP_TSO) &&
	    (tx & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)) {
		ol |= VS_OL_TSO4;
		/*
		 * net_tap segments with librte_gso, which in 22.11 knows TCP
		 * over IPv4 only: an IPv6 TSO frame would go out whole.
		 */
		if (strcmp(di->driver_name, "net_tap") != 0)
			ol |= VS_OL_TSO6;
	}
	return ol;
}

/* Configure @p pid with its queues (not started). */
static int
eth_queues(uint16_t pid, uint16_t nrx, uint16_t ntx,
	   const struct rte_eth_conf *conf, int socket)
{
	uint16_t nb_rxd = VS_ETH_NB_DESC, nb_txd = VS_ETH_NB_DESC, q;
	int ret;

	ret = rte_eth_dev_configure(pid, nrx, ntx, conf);
	if (ret != 0)
		return ret;
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nb_rxd, &nb_txd);
	if (ret != 0)
		return ret;
	for (q = 0; q < nrx; q++) {
		ret = rte_eth_rx_queue_setup(pid, q, nb_rxd, socket, NULL,
					     vs_mbuf_pool(socket));
		if (ret != 0)
			return ret;
	}
	for (q = 0; q < ntx; q++) {
		ret = rte_eth_tx_queue_setup(pid, q, nb_txd, socket, NULL);
		if (ret != 0)
			return ret;
	}
	return 0;
}

static int
eth_setup(uint16_t pid, uint16_t nb_fwd, struct vs_port **out)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info di;
	struct rte_eth_link link;
	char name[RTE_ETH_NAME_MAX_LEN];
	uint16_t nrx, ntx;
	struct vs_port *p;
	int socket, ret;

	ret = rte_eth_dev_info_get(pid, &di);
	if (ret != 0)
		return ret;
	ret = rte_eth_dev_get_name_by_port(pid, name);
	if (ret != 0)
		return ret;
	socket = rte_eth_dev_socket_id(pid);
	if (socket < 0)
		socket = (int)rte_socket_id();

	nrx = RTE_MIN(RTE_MIN(nb_fwd, di.max_rx_queues), VS_PORT_MAX_QUEUES);
	ntx = RTE_MIN(RTE_MIN(nb_fwd, di.max_tx_queues), VS_PORT_MAX_QUEUES);
	if (nrx == 0 || ntx == 0)
		return -ENOTSUP;
	if (nrx > 1 && di.flow_type_rss_offloads != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
		conf.rx_adv_conf.rss_conf.rss_hf &= di.flow_type_rss_offloads;
	} else {
		nrx = 1;
	}
	if (di.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	conf.txmode.offloads |= di.tx_offload_capa & VS_ETH_TX_OL;

	/*
	 * Rx interrupts let a sleeping lcore (busy-loop timeout) wake on a
	 * frame; a device that cannot is set up again without them and
	 * polled every timeout instead.
	 */
	conf.intr_conf.rxq = 1;
	ret = eth_queues(pid, nrx, ntx, &conf, socket);
	if (ret != 0) {
		conf.intr_conf.rxq = 0;
		ret = eth_queues(pid, nrx, ntx, &conf, socket);
	}
	if (ret != 0)
		return ret;
	/* A switch port sees every frame; not all vdevs can say so. */
	ret = rte_eth_promiscuous_enable(pid);
	if (ret != 0 && ret != -ENOTSUP)
		PORT_LOG(WARNING, "%s: promiscuous mode: %s\n", name,
			 rte_strerror(-ret));

	p = vs_port_alloc(VS_PORT_ETHDEV, name, &eth_ops, socket);
	if (p == NULL)
		return -rte_errno;
	p->eth.port_id = pid;
	p->nb_rxq = nrx;
	p->nb_txq = ntx;
	p->tx_shared = ntx < nb_fwd;
	/*
	 * The device's tx offloads are configured whenever it has them;
	 * offloads=off (vs_port_set_keys) only stops the switch from using
	 * them, so the key can change at run time. Frames above its MTU (+
	 * header and one VLAN tag) without a TSO request are dropped, counted
	 * mtu.
	 */
	p->ol_capa = eth_ol_capa(&di, conf.txmode.offloads);
	atomic_init(&p->tx_ol, p->ol_capa);
	/* net_tap counts the Ethernet header in the MTU a segment must fit. */
	p->eth.tso_l2_in_mtu = strcmp(di.driver_name, "net_tap") == 0;
	if (rte_eth_dev_get_mtu(pid, &p->mtu) != 0)
		p->mtu = RTE_ETHER_MTU;
	p->max_frame = p->mtu + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN;
	ret = rte_eth_dev_start(pid);
	if (ret != 0 && conf.intr_conf.rxq) {
		conf.intr_conf.rxq = 0;
		ret = eth_queues(pid, nrx, ntx, &conf, socket);
		if (ret == 0)
			ret = rte_eth_dev_start(pid);
	}
	if (ret != 0) {
		rte_free(p);
		return ret;
	}
	p->eth.rx_intr = conf.intr_conf.rxq &&
		rte_eth_dev_rx_intr_ctl_q_get_fd(pid, 0) >= 0;
	ret = vs_port_register(p);
	if (ret != 0) {
		rte_eth_dev_stop(pid);
		rte_free(p);
		return ret;
	}
	/*
	 * The flag says the port takes part in forwarding. The device's
	 * carrier is asked only when a send fails (eth_carrier): net_tap
	 * moved to another namespace reports its carrier wrongly, and its
	 * frames still flow.
	 */
	atomic_store(&p->link_up, true);
	rte_eth_link_get_nowait(pid, &link);
	PORT_LOG(
		INFO,
		"port %u %s: %s, %u rxq, %u txq%s, rx interrupts %s, tx offloads%s%s%s%s, socket %d, link %s\n",
		p->id, name, di.driver_name, nrx, ntx,
		p->tx_shared ? " (shared, locked)" : "",
		p->eth.rx_intr ? "on" : "off", p->ol_capa ? "" : " none",
		(p->ol_capa & VS_OL_CSUM) ? " csum" : "",
		(p->ol_capa & VS_OL_TSO4) ? " tso4" : "",
		(p->ol_capa & VS_OL_TSO6) ? " tso6" : "", socket,
		link.link_status ? "up" : "down");
	*out = p;
	return 0;
}

int
vs_port_ethdev_probe_all(uint16_t nb_fwd)
{
	struct vs_port *p;
	uint16_t pid;
	int ret;

	RTE_ETH_FOREACH_DEV(pid) {
		ret = eth_setup(pid, nb_fwd, &p);
		if (ret != 0) {
			char name[RTE_ETH_NAME_MAX_LEN] = "?";

			rte_eth_dev_get_name_by_port(pid, name);
			PORT_LOG(ERR, "ethdev %u (%s): setup failed: %s\n", pid,
				 name, rte_strerror(-ret));
			return ret;
		}
	}
	return 0;
}
