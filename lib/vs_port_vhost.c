/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user ports on librte_vhost. The vhost-user thread calls
 * new_device / destroy_device / vring_state_changed; the forwarding lcores
 * only read the published vid and the enabled-queue mask.
 *
 * guest TX = vhost dequeue = switch RX  (vring 2q + 1)
 * guest RX = vhost enqueue = switch TX  (vring 2q)
 */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/vhost.h>
#include <linux/virtio_net.h>

#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_malloc.h>
#include <rte_vhost.h>

#include "vs_fwd.h"
#include "vs_mbuf.h"
#include "vs_offload.h"
#include "vs_port_priv.h"
#include "vs_sock.h"
#include "vs_vhost_call.h"
#include "vs_vhost_guard.h"

#define VRING_RX(q) ((q)*2) /* guest RX: the switch enqueues */
#define VRING_TX(q) ((q)*2 + 1) /* guest TX: the switch dequeues */

/*
 * Offloads never negotiated: UDP fragmentation offload both ways (the
 * switch would have to fragment IP datagrams for a destination without it;
 * Linux guests send no UFO since 4.14 unless asked), and with offloads=off
 * every checksum and segmentation offload, as before issue 12 and as
 * OVS-DPDK without userspace TSO: the guest then finishes every frame.
 */
#define VS_VHOST_UFO_FEATURES \
	((1ULL << VIRTIO_NET_F_HOST_UFO) | (1ULL << VIRTIO_NET_F_GUEST_UFO))
#define VS_VHOST_OFFLOAD_FEATURES \
	((1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | \
	 (1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_CSUM) | \
	 (1ULL << VIRTIO_NET_F_GUEST_CSUM) | \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO4) | \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6) | \
	 (1ULL << VIRTIO_NET_F_GUEST_ECN) | VS_VHOST_UFO_FEATURES)

/*
 * The port that owns vhost device @p vid, from its socket path. Called on
 * librte_vhost's threads: a port being deleted cannot be freed under the
 * scan (vs_port_find_vhost), and the port it returns lives until this
 * callback returns (port/del unregisters the socket first, which waits for
 * the socket's callbacks in progress).
 */
static struct vs_port *
port_of_vid(int vid)
{
	char path[PATH_MAX];

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) != 0)
		return NULL;
	return vs_port_find_vhost(path);
}

/* Whether the guest enabled the TX vring of queue pair @p q. */
static inline bool
guest_tx_on(const struct vs_port *p, uint16_t q)
{
	return q < VS_PORT_MAX_QUEUES &&
		(atomic_load_explicit(&p->vhost.tx_enabled,
				      memory_order_relaxed) >>
		 q) &
		1;
}

/*
 * Frames the guest left a checksum or segmentation to: describe them for
 * the destinations (vs_offload_rx), drop what cannot be described.
 */
static __rte_noinline uint16_t
vhost_rx_offloads(struct vs_port *p, struct rte_mbuf **pkts, uint16_t n)
{
	struct vs_port_lstats *st = &p->stats[vs_lcore_slot()];
	uint16_t i, j;

	for (i = 0, j = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];

		if (m->ol_flags & VS_OL_RX_FLAGS) {
			int r = vs_offload_rx(m);

			if (r < 0) {
				vs_port_drop(p, VS_DROP_OFFLOAD_ERROR, &m, 1);
				continue;
			}
			if (r > 0) /* finished at once */
				st->sw_csum++;
			if (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG)
				st->rx_gso++;
			else
				st->rx_csum_partial++;
		}
		pkts[j++] = m;
	}
	return j;
}

static uint16_t
vhost_rx(struct vs_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	int vid = atomic_load_explicit(&p->vhost.vid, memory_order_acquire);
	uint16_t i;

	if (vid < 0 || !guest_tx_on(p, q))
		return 0;
	n = rte_vhost_dequeue_burst(vid, VRING_TX(q), p->vhost.pool, pkts, n);
	if (!p->rx_ol)
		return n;
	for (i = 0; i < n; i++)
		if (unlikely(pkts[i]->ol_flags & VS_OL_RX_FLAGS))
			return vhost_rx_offloads(p, pkts, n);
	return n;
}

/*
 * librte_vhost's rx_queue_count waits for the vring's lock and reads the
 * split ring's avail index; it knows no packed ring. For packed rings an
 * empty re-check is taken as the truth: a frame it missed waits for the
 * next kick or VS_SLEEP_MAX_US (vs_fwd_sleep.c).
 */
static bool
vhost_pending(struct vs_port *p, uint16_t q)
{
	int vid = atomic_load_explicit(&p->vhost.vid, memory_order_acquire);

	if (vid < 0 || p->vhost.packed || !guest_tx_on(p, q))
		return false;
	return rte_vhost_rx_queue_count(vid, VRING_TX(q)) > 0;
}

/* The @p nth queue pair whose guest RX vring is enabled. */
static inline uint16_t
nth_enabled(uint32_t mask, uint16_t nth)
{
	while (nth-- > 0)
		mask &= mask - 1;
	return mask ? (uint16_t)__builtin_ctz(mask) : 0;
}

/*
 * Forwarding index @p lc sends on the (lc % enabled)th enabled guest RX
 * vring. The guest enables and disables vrings at any time, so two lcores
 * can meet on one vring (always, when they outnumber the enabled vrings;
 * for a moment, while the mask changes): with more than one forwarding
 * lcore every send takes the vring's tx_lock (vs_port_tx), as OVS takes
 * its vhost tx_q[].tx_lock, uncontended while each lcore has a vring of
 * its own.
 */
static uint16_t
vhost_txq_of(const struct vs_port *p, unsigned int lc, uint16_t nq)
{
	uint32_t mask = atomic_load_explicit(&p->vhost.rx_enabled,
					     memory_order_relaxed);
	uint16_t n = (uint16_t)__builtin_popcount(mask);

	RTE_SET_USED(nq);
	return n ? nth_enabled(mask, lc % n) : 0;
}

/* librte_vhost 22.11's MAX_PKT_BURST: what one enqueue call copies. */
#define VHOST_ENQ_MAX 32

static uint16_t
vhost_tx(struct vs_port *p, uint16_t qp, struct rte_mbuf **pkts, uint16_t n,
	 struct vs_tx_lost *lost __rte_unused)
{
	int vid = atomic_load_explicit(&p->vhost.vid, memory_order_acquire);
	uint16_t sent = 0, want, k;

	if (vid < 0)
		return 0;
	/*
	 * librte_vhost copies at most 32 frames a call (MAX_PKT_BURST): a
	 * buffer of more goes in slices, until one is not taken whole.
	 */
	do {
		want = RTE_MIN(n - sent, VHOST_ENQ_MAX);
		k = rte_vhost_enqueue_burst(vid, VRING_RX(qp), pkts + sent,
					    want);
		sent += k;
	} while (k == want && sent < n);
	/* Lcores may share the counter without sharing a vring. */
	atomic_fetch_add_explicit(&p->txq_pkts[qp], sent, memory_order_relaxed);
	return sent;
}

static uint16_t
vhost_nb_txq(const struct vs_port *p)
{
	return __builtin_popcount(atomic_load_explicit(&p->vhost.rx_enabled,
						       memory_order_relaxed));
}

static void
vhost_notify(struct vs_port *p, uint16_t q, bool on)
{
	int vid = atomic_load_explicit(&p->vhost.vid, memory_order_acquire);

	if (vid >= 0 && q < p->nb_rxq)
		rte_vhost_enable_guest_notification(vid, VRING_TX(q), on);
	atomic_store_explicit(&p->rxq_armed[q], on, memory_order_relaxed);
}

static int
vhost_kickfd(const struct vs_port *p, uint16_t q)
{
	int vid = atomic_load_explicit(&p->vhost.vid, memory_order_acquire);
	struct rte_vhost_vring vr;

	if (vid < 0 || !guest_tx_on(p, q) ||
	    rte_vhost_get_vhost_vring(vid, VRING_TX(q), &vr) != 0)
		return -1;
	return vr.kickfd;
}

static void
vhost_info(const struct vs_port *p, struct vs_port_info *info)
{
	strlcpy(info->path, p->vhost.path, sizeof(info->path));
	info->client = p->vhost.client;
	info->vid = atomic_load(&p->vhost.vid);
}

/*
 * Paths whose registration a failed start left in librte_vhost (see
 * vhost_destroy()): registering one again would make a second vsocket
 * that librte_vhost's path lookups never find. Control thread only.
 */
struct stranded {
	struct stranded *next;
	char path[];
};
static struct stranded *stranded;

static bool
stranded_find(const char *path)
{
	const struct stranded *s;

	for (s = stranded; s != NULL; s = s->next)
		if (strcmp(s->path, path) == 0)
			return true;
	return false;
}

static void
stranded_add(const char *path)
{
	size_t n = strlen(path) + 1;
	struct stranded *s = malloc(sizeof(*s) + n);

	if (s == NULL)
		return;
	memcpy(s->path, path, n);
	s->next = stranded;
	stranded = s;
}

static void
vhost_destroy(struct vs_port *p)
{
	if (!p->vhost.registered)
		return;
	if (p->vhost.fd_lost) {
		/*
		 * rte_vhost_driver_start() closed the listening fd when it
		 * failed; unregister would close that fd number again (and
		 * take it out of the vhost fdset), which may by now be another
		 * connection's. The registration stays: the path is refused
		 * until the switch restarts (vs_port_vhost_create()).
		 */
		PORT_LOG(
			WARNING,
			"%s: %s stays registered in librte_vhost after its failed start\n",
			p->name, p->vhost.path);
		stranded_add(p->vhost.path);
		p->vhost.registered = false;
		return;
	}
	/*
	 * Closes the connection (destroy_device runs first if a guest is
	 * attached) and, in server mode, removes the socket file.
	 */
	if (rte_vhost_driver_unregister(p->vhost.path) != 0)
		PORT_LOG(WARNING, "%s: unregister %s failed\n", p->name,
			 p->vhost.path);
	p->vhost.registered = false;
}

/* port/set mtu=: from now on, whatever the guest said. */
static int
vhost_set_mtu(struct vs_port *p, uint16_t mtu)
{
	p->vhost.conf_mtu = mtu;
	p->mtu = mtu;
	p->max_frame = mtu + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN;
	return 0;
}

static const struct vs_port_ops vhost_ops = {
	.kind = "vhost",
	.rx = vhost_rx,
	.tx = vhost_tx,
	.tx_copies = true,
	.txq_of = vhost_txq_of,
	.pending = vhost_pending,
	.nb_txq = vhost_nb_txq,
	.info = vhost_info,
	.notify = vhost_notify,
	.kickfd = vhost_kickfd,
	.destroy = vhost_destroy,
	.set_mtu = vhost_set_mtu,
};

/*
 * Guest RX vrings each device (vid) enabled. Kept per vid, not per port: a
 * server socket can hold two connections at once (a VM migrating on the
 * same host: the new QEMU connects before the old one leaves), and the
 * new device's SET_VRING_ENABLE comes before its new_device.
 */
static _Atomic uint32_t vid_rx_enabled[RTE_MAX_VHOST_DEVICE];
/*
 * The same for guest TX vrings. A frontend without
 * VHOST_USER_PROTOCOL_F_STATUS gets new_device as soon as its first queue
 * pair is ready and enables the others later (Linux: ethtool -L), so the
 * queues polled follow vring_state_changed, not new_device.
 */
static _Atomic uint32_t vid_tx_enabled[RTE_MAX_VHOST_DEVICE];

/* What a guest that negotiated @p f takes as it is. */
static uint32_t
features_to_ol(uint64_t f)
{
	uint32_t ol = 0;

	if (f & (1ULL << VIRTIO_NET_F_GUEST_CSUM))
		ol |= VS_OL_CSUM;
	if (f & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
		ol |= VS_OL_TSO4;
	if (f & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
		ol |= VS_OL_TSO6;
	return ol;
}

/*
 * The port's MTU: mtu= if given, else the one the frontend set
 * (VHOST_USER_NET_SET_MTU: QEMU's host_mtu, with VIRTIO_NET_F_MTU), else
 * none known: frames of any size go (as before).
 */
static void
set_mtu(struct vs_port *p, int vid)
{
	uint16_t mtu = p->vhost.conf_mtu;

	if (mtu == 0 && rte_vhost_get_mtu(vid, &mtu) != 0)
		mtu = 0;
	p->mtu = mtu;
	p->max_frame = mtu ? mtu + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN : 0;
}

static int
new_device(int vid)
{
	struct vs_port *p = port_of_vid(vid);
	uint32_t qmask;
	uint64_t features = 0;
	uint16_t nr, i;
	int numa, old;

	if (p == NULL || vid < 0 || vid >= RTE_MAX_VHOST_DEVICE)
		return -1;
	nr = rte_vhost_get_vring_num(vid);
	numa = rte_vhost_get_numa_node(vid);
	old = atomic_load(&p->vhost.vid);
	if (old >= 0) {
		/* The newest connection takes the port over. */
		PORT_LOG(INFO, "port %u %s: vid %d replaces vid %d\n", p->id,
			 p->name, vid, old);
		atomic_store_explicit(&p->vhost.vid, -1, memory_order_release);
		vs_fwd_synchronize();
	}
	qmask = p->nb_rxq >= 32 ? UINT32_MAX : (1u << p->nb_rxq) - 1;
	if (rte_vhost_get_negotiated_features(vid, &features) == 0)
		p->vhost.packed = !!(features & (1ULL << VIRTIO_F_RING_PACKED));
	atomic_store(&p->tx_ol, features_to_ol(features));
	p->tx_fixed_bufs = !(features & (1ULL << VIRTIO_NET_F_MRG_RXBUF));
	set_mtu(p, vid);
	p->vhost.pool = vs_mbuf_pool(numa);
	if (numa >= 0)
		p->socket_id = numa;
	/* The lcores poll: guests need not kick. */
	for (i = 0; i < nr; i++)
		rte_vhost_enable_guest_notification(vid, i, 0);
	for (i = 0; i < VS_PORT_MAX_QUEUES; i++)
		atomic_store(&p->rxq_armed[i], false);
	atomic_store(&p->vhost.rx_enabled,
		     atomic_load(&vid_rx_enabled[vid]) & qmask);
	atomic_store(&p->vhost.tx_enabled,
		     atomic_load(&vid_tx_enabled[vid]) & qmask);
	atomic_store_explicit(&p->vhost.vid, vid, memory_order_release);
	atomic_store_explicit(&p->link_up, true, memory_order_release);
	/* Sleeping lcores must fetch the new kick eventfds. */
	vs_port_kick_gen_bump();
	PORT_LOG(
		INFO,
		"port %u %s: link up (vid %d, %u vrings, %u queue pairs enabled, numa %d)\n",
		p->id, p->name, vid, nr,
		__builtin_popcount(atomic_load(&p->vhost.tx_enabled)), numa);
	return 0;
}

static void
destroy_device(int vid)
{
	struct vs_port *p = port_of_vid(vid);
	int cur = vid;

	if (vid >= 0 && vid < RTE_MAX_VHOST_DEVICE) {
		atomic_store(&vid_rx_enabled[vid], 0);
		atomic_store(&vid_tx_enabled[vid], 0);
	}
	if (p == NULL)
		return;
	/* No vring/show (and the like) left on this vid: see dev_lock. */
	pthread_mutex_lock(&p->vhost.dev_lock);
	if (!atomic_compare_exchange_strong(&p->vhost.vid, &cur, -1)) {
		pthread_mutex_unlock(&p->vhost.dev_lock);
		/* An older connection leaving: the port is someone else's. */
		vs_fwd_synchronize();
		PORT_LOG(INFO, "port %u %s: vid %d gone (port has vid %d)\n",
			 p->id, p->name, vid, cur);
		return;
	}
	pthread_mutex_unlock(&p->vhost.dev_lock);
	atomic_store_explicit(&p->link_up, false, memory_order_release);
	atomic_store_explicit(&p->vhost.rx_enabled, 0, memory_order_relaxed);
	atomic_store_explicit(&p->vhost.tx_enabled, 0, memory_order_relaxed);
	/*
	 * librte_vhost frees the rings when this returns: wait until no lcore
	 * is inside a dequeue or enqueue on them.
	 */
	vs_fwd_synchronize();
	vs_port_kick_gen_bump();
	PORT_LOG(INFO, "port %u %s: link down (vid %d)\n", p->id, p->name, vid);
}

static int
vring_state_changed(int vid, uint16_t vring, int enable)
{
	struct vs_port *p = port_of_vid(vid);
	uint32_t bit;

	/* vring locks are held here: only flags, no librte_vhost calls. */
	if (p == NULL || vid < 0 || vid >= RTE_MAX_VHOST_DEVICE)
		return 0;
	if (vring / 2 < 32) {
		_Atomic uint32_t *vmask = vring % 2 == 0 ? &vid_rx_enabled[vid]
							 : &vid_tx_enabled[vid];
		_Atomic uint32_t *pmask = vring % 2 == 0 ? &p->vhost.rx_enabled
							 : &p->vhost.tx_enabled;

		bit = 1u << (vring / 2);
		if (enable)
			atomic_fetch_or(vmask, bit);
		else
			atomic_fetch_and(vmask, ~bit);
		if (vring / 2 < p->nb_rxq &&
		    atomic_load(&p->vhost.vid) == vid) {
			if (enable)
				atomic_fetch_or(pmask, bit);
			else
				atomic_fetch_and(pmask, ~bit);
		}
	}
	/* A new kick eventfd comes with SET_VRING_KICK before enabling. */
	vs_port_kick_gen_bump();
	PORT_LOG(DEBUG, "port %u %s: vring %u %s\n", p->id, p->name, vring,
		 enable ? "enabled" : "disabled");
	return 0;
}

/* Every connection, before its first message: the message guard. */
static int
new_connection(int vid)
{
	/*
	 * A vid is reused: a connection that enabled vrings and went before
	 * it became a device (no destroy_device) must not leave them
	 * enabled for the next one.
	 */
	if (vid >= 0 && vid < RTE_MAX_VHOST_DEVICE) {
		atomic_store(&vid_rx_enabled[vid], 0);
		atomic_store(&vid_tx_enabled[vid], 0);
	}
	vs_call_relay_drop(vid, -1);
	return vs_vhost_guard_attach(vid);
}

/* The connection is closed: its call eventfds with it. */
static void
destroy_connection(int vid)
{
	vs_call_relay_drop(vid, -1);
}

const char *
vs_port_vhost_refused(int vid)
{
	struct vs_port *p = port_of_vid(vid);

	if (p == NULL)
		return "?";
	atomic_fetch_add(&p->vhost.refused, 1);
	return p->name;
}

uint64_t
vs_port_vhost_refused_count(const struct vs_port *p)
{
	return p->kind == VS_PORT_VHOST ? atomic_load(&p->vhost.refused) : 0;
}

static const struct rte_vhost_device_ops dev_ops = {
	.new_connection = new_connection,
	.destroy_connection = destroy_connection,
	.new_device = new_device,
	.destroy_device = destroy_device,
	.vring_state_changed = vring_state_changed,
};

struct vs_port *
vs_port_vhost_create(const struct vs_vhost_conf *vc)
{
	/*
	 * Per-vring statistics: vring/show reports the interrupts librte_vhost
	 * raised (guest_notifications) and librte_vhost's own per-vring
	 * packet counters.
	 */
	uint64_t flags = RTE_VHOST_USER_NET_STATS_ENABLE |
		(vc->client ? RTE_VHOST_USER_CLIENT : 0) |
		(vc->keys.no_offloads ? 0
				      : RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS);
	struct vs_port *p;
	int ret;

	if (stranded_find(vc->path)) {
		PORT_LOG(
			ERR,
			"%s: %s is still registered in librte_vhost after a failed start: restart the switch to use it again\n",
			vc->name, vc->path);
		rte_errno = EBUSY;
		return NULL;
	}
	if (!vc->client) {
		ret = vs_sock_claim(vc->path);
		if (ret == -EADDRINUSE) {
			PORT_LOG(
				ERR,
				"%s: socket %s is in use by another process (another vhost-switch?)\n",
				vc->name, vc->path);
			rte_errno = EADDRINUSE;
			return NULL;
		} else if (ret < 0) {
			PORT_LOG(ERR, "%s: cannot use %s: %s\n", vc->name,
				 vc->path,
				 ret == -EEXIST
					 ? "it exists and is not a socket"
					 : strerror(-ret));
			rte_errno = ret == -EEXIST ? ENOTSOCK : -ret;
			return NULL;
		}
		/* See vs_sock_probe_bind(): librte_vhost must not fail bind. */
		ret = vs_sock_probe_bind(vc->path);
		if (ret < 0) {
			PORT_LOG(ERR, "%s: cannot listen on %s: %s\n", vc->name,
				 vc->path, strerror(-ret));
			rte_errno = -ret;
			return NULL;
		}
	}
	p = vs_port_alloc(VS_PORT_VHOST, vc->name, &vhost_ops,
			  (int)rte_socket_id());
	if (p == NULL)
		return NULL;
	strlcpy(p->vhost.path, vc->path, sizeof(p->vhost.path));
	p->vhost.client = vc->client;
	p->vhost.sock_uid = vc->sock_uid;
	p->vhost.sock_gid = vc->sock_gid;
	p->vhost.sock_mode = vc->sock_mode;
	atomic_init(&p->vhost.vid, -1);
	pthread_mutex_init(&p->vhost.dev_lock, NULL);
	p->nb_rxq = vc->queues;
	p->nb_txq = vc->queues;
	p->tx_shared = vs_fwd_nb_lcores() > 1;
	p->rx_ol = !vc->keys.no_offloads;
	p->ol_off = vc->keys.no_offloads;
	/* VLAN and security keys: vs_port_set_keys() once registered. */
	p->keys.given = vc->keys.given & (VS_KEY_OFFLOADS | VS_KEY_MTU);
	p->keys.no_offloads = vc->keys.no_offloads;
	p->keys.mtu = vc->keys.mtu;
	p->vhost.conf_mtu = vc->keys.mtu;
	p->mtu = vc->keys.mtu;
	p->max_frame = vc->keys.mtu
		? vc->keys.mtu + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN
		: 0;

	if (rte_vhost_driver_register(vc->path, flags) != 0) {
		PORT_LOG(ERR, "%s: cannot register vhost-user socket %s\n",
			 vc->name, vc->path);
		rte_free(p);
		rte_errno = EINVAL;
		return NULL;
	}
	p->vhost.registered = true;
	if (rte_vhost_driver_disable_features(
		    vc->path,
		    vc->keys.no_offloads ? VS_VHOST_OFFLOAD_FEATURES
					 : VS_VHOST_UFO_FEATURES) != 0 ||
	    rte_vhost_driver_callback_register(vc->path, &dev_ops) != 0) {
		PORT_LOG(ERR, "%s: cannot configure %s\n", vc->name, vc->path);
		vhost_destroy(p);
		rte_free(p);
		rte_errno = EINVAL;
		return NULL;
	}
	return p;
}

/*
 * Give server socket @p p's path to @p uid / @p gid (-1: unchanged) and
 * then mode @p mode (0: 0600): the order that only narrows who else may
 * connect, from a socket that is root's alone.
 */
static int
sock_perms(struct vs_port *p, int32_t uid, int32_t gid, uint32_t mode)
{
	const char *path = p->vhost.path;
	int e;

	if ((uid >= 0 || gid >= 0) &&
	    chown(path, uid >= 0 ? (uid_t)uid : (uid_t)-1,
		  gid >= 0 ? (gid_t)gid : (gid_t)-1) != 0) {
		e = errno;
		PORT_LOG(ERR, "%s: cannot give %s to uid %d gid %d: %s\n",
			 p->name, path, uid, gid, strerror(e));
		return -e;
	}
	if (chmod(path, mode ? mode : 0600) != 0) {
		e = errno;
		PORT_LOG(ERR, "%s: cannot set the mode of %s: %s\n", p->name,
			 path, strerror(e));
		return -e;
	}
	return 0;
}

int
vs_port_vhost_start(struct vs_port *p)
{
	struct vs_vhost *v = &p->vhost;
	bool perms = !v->client &&
		(v->sock_uid >= 0 || v->sock_gid >= 0 || v->sock_mode != 0);
	mode_t um = 0;
	int ret;

	/*
	 * owner=, group=, mode=: librte_vhost binds the socket inside
	 * rte_vhost_driver_start(). With the umask at 0177 it is born 0600,
	 * root's alone; chown and then chmod only ever narrow who else can
	 * connect down to what was asked: no moment where it has others. The
	 * umask is per process: the command lock keeps port/add from running
	 * beside the control socket's own (vs_ctl.c), and the lcores create
	 * no files.
	 */
	if (perms)
		um = umask(0177);
	ret = rte_vhost_driver_start(v->path);
	if (perms)
		umask(um);
	if (ret != 0) {
		PORT_LOG(ERR, "%s: cannot start vhost-user socket %s\n",
			 p->name, v->path);
		v->fd_lost = !v->client;
		return -EIO;
	}
	if (perms) {
		ret = sock_perms(p, v->sock_uid, v->sock_gid, v->sock_mode);
		if (ret < 0)
			return ret;
	}
	PORT_LOG(INFO, "port %u %s: vhost-user %s %s, %u queue pair(s)\n",
		 p->id, p->name, p->vhost.client ? "client" : "server",
		 p->vhost.path, p->nb_rxq);
	return 0;
}

int
vs_port_vhost_set_perms(struct vs_port *p, int32_t uid, int32_t gid,
			uint32_t mode)
{
	struct vs_vhost *v = &p->vhost;
	int ret;

	if (p->kind != VS_PORT_VHOST || v->client ||
	    (uid < 0 && gid < 0 && mode == 0))
		return -EINVAL;
	/*
	 * Its owner alone first (0600), then as at start: nobody the old or
	 * the new settings leave out can connect in between.
	 */
	ret = sock_perms(p, -1, -1, 0600);
	if (ret == 0)
		ret = sock_perms(p, uid, gid, mode);
	if (ret < 0)
		return ret;
	v->sock_uid = uid;
	v->sock_gid = gid;
	v->sock_mode = mode;
	PORT_LOG(INFO, "port %u %s: socket %s uid %d gid %d mode %04o\n", p->id,
		 p->name, v->path, uid, gid, mode ? mode : 0600);
	return 0;
}

/*
 * The device of vhost port @p p, held (dev_lock) until vid_release(): a
 * guest leaving meanwhile waits in destroy_device(). Error: nothing held.
 */
static int
vid_hold(const struct vs_port *p)
{
	pthread_mutex_t *l = (pthread_mutex_t *)&p->vhost.dev_lock;
	int vid;

	if (p->kind != VS_PORT_VHOST)
		return -ENOTSUP;
	pthread_mutex_lock(l);
	vid = atomic_load(&p->vhost.vid);
	if (vid < 0) {
		pthread_mutex_unlock(l);
		return -ENOLINK;
	}
	return vid;
}

static void
vid_release(const struct vs_port *p)
{
	pthread_mutex_unlock((pthread_mutex_t *)&p->vhost.dev_lock);
}

int
vs_port_vring_count(const struct vs_port *p)
{
	int vid = vid_hold(p), n;

	if (vid < 0)
		return vid;
	n = rte_vhost_get_vring_num(vid);
	vid_release(p);
	return n;
}

static int
features_of(int vid, uint64_t *features, uint64_t *protocol_features)
{
	if (rte_vhost_get_negotiated_features(vid, features) != 0 ||
	    rte_vhost_get_negotiated_protocol_features(vid,
						       protocol_features) != 0)
		return -ENOLINK;
	return 0;
}

int
vs_port_features(const struct vs_port *p, uint64_t *features,
		 uint64_t *protocol_features)
{
	int vid = vid_hold(p), ret;

	if (vid < 0)
		return vid;
	ret = features_of(vid, features, protocol_features);
	vid_release(p);
	return ret;
}

int
vs_port_log_info(const struct vs_port *p, bool *enabled, uint64_t *base,
		 uint64_t *size)
{
	uint64_t f = 0, pf;
	int vid = vid_hold(p), ret;

	if (vid < 0)
		return vid;
	ret = features_of(vid, &f, &pf);
	if (ret == 0) {
		*enabled = !!(f & (1ULL << VHOST_F_LOG_ALL));
		*base = *size = 0;
		/* Set once the frontend sent VHOST_USER_SET_LOG_BASE. */
		rte_vhost_get_log_base(vid, base, size);
	}
	vid_release(p);
	return ret;
}

static bool
name_ends(const char *s, const char *end)
{
	size_t n = strnlen(s, RTE_VHOST_STATS_NAME_SIZE), e = strlen(end);

	return n >= e && memcmp(s + n - e, end, e) == 0;
}

static int
vring_info(const struct vs_port *p, int vid, uint16_t idx,
	   struct vs_vring_info *vi)
{
	struct rte_vhost_vring vr;
	struct rte_vhost_stat_name names[64];
	struct rte_vhost_stat st[64];
	uint64_t f = 0, pf = 0;
	int n, i;

	if (idx >= rte_vhost_get_vring_num(vid))
		return -ENOENT;
	memset(vi, 0, sizeof(*vi));
	if (rte_vhost_get_vhost_vring(vid, idx, &vr) != 0)
		return -ENOLINK;
	vi->vring = idx;
	vi->queue = idx / 2;
	vi->guest_tx = idx % 2 == 1;
	vi->size = vr.size;
	vi->desc = (uintptr_t)vr.desc;
	vi->avail = (uintptr_t)vr.avail;
	vi->used = (uintptr_t)vr.used;
	vi->log_guest_addr = vr.log_guest_addr;
	vi->kickfd = vr.kickfd;
	vi->callfd = vr.callfd;
	vs_call_relay_vring(vid, idx, &vi->call);
	rte_vhost_get_vring_base(vid, idx, &vi->last_avail_idx,
				 &vi->last_used_idx);
	if (rte_vhost_get_negotiated_features(vid, &f) == 0) {
		vi->log = !!(f & (1ULL << VHOST_F_LOG_ALL));
		vi->packed = !!(f & (1ULL << VIRTIO_F_RING_PACKED));
	}
	if (vi->packed) {
		/* librte_vhost puts a packed ring's wrap counter in bit 15. */
		vi->avail_wrap = vi->last_avail_idx >> 15;
		vi->used_wrap = vi->last_used_idx >> 15;
		vi->last_avail_idx &= 0x7fff;
		vi->last_used_idx &= 0x7fff;
	}
	RTE_SET_USED(pf);
	if (vi->guest_tx)
		vi->enabled =
			vi->queue < p->nb_rxq && guest_tx_on(p, vi->queue);
	else
		vi->enabled = !!(atomic_load(&p->vhost.rx_enabled) &
				 (1u << vi->queue));
	if (vi->queue < VS_PORT_MAX_QUEUES && vi->guest_tx) {
		/* Armed while the owning lcore sleeps (busy-loop timeout). */
		vi->guest_notify = atomic_load(&p->rxq_armed[vi->queue]);
		vi->kicks = p->rxq_kicks[vi->queue];
		vi->busyloop_us = atomic_load(&p->busyloop_us[vi->queue]);
	}
	if (vi->queue < VS_PORT_MAX_QUEUES)
		vi->packets = vi->guest_tx
			? p->rxq_pkts[vi->queue]
			: atomic_load(&p->txq_pkts[vi->queue]);
	/*
	 * librte_vhost counts the interrupts it raises: "guest_notifications"
	 * behind the vring's own prefix ("rx_q0_", "tx_q0_").
	 */
	n = rte_vhost_vring_stats_get_names(vid, idx, names, RTE_DIM(names));
	if (n > 0 && n <= (int)RTE_DIM(names) &&
	    rte_vhost_vring_stats_get(vid, idx, st, n) == n)
		for (i = 0; i < n; i++)
			if (name_ends(names[i].name, "_guest_notifications"))
				vi->calls = st[i].value;
	return 0;
}

int
vs_port_vring_info(const struct vs_port *p, uint16_t idx,
		   struct vs_vring_info *vi)
{
	int vid = vid_hold(p), ret;

	if (vid < 0)
		return vid;
	ret = vring_info(p, vid, idx, vi);
	vid_release(p);
	return ret;
}

int
vs_port_mem_info(const struct vs_port *p, struct vs_mem_region *r,
		 unsigned int max)
{
	struct rte_vhost_memory *mem = NULL;
	int vid = vid_hold(p), ret;
	unsigned int i;
	int n;

	if (vid < 0)
		return vid;
	/* A copy (ours to free): nothing of the device is used after. */
	ret = rte_vhost_get_mem_table(vid, &mem);
	vid_release(p);
	if (ret != 0)
		return -ENOLINK;
	n = RTE_MIN(mem->nregions, max);
	for (i = 0; i < (unsigned int)n; i++) {
		r[i].guest_phys_addr = mem->regions[i].guest_phys_addr;
		r[i].memory_size = mem->regions[i].size;
		r[i].userspace_addr = mem->regions[i].guest_user_addr;
		r[i].host_addr = mem->regions[i].host_user_addr;
		r[i].mmap_size = mem->regions[i].mmap_size;
	}
	free(mem);
	return n;
}
