/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The port table and what every port kind shares: counters, the tx path
 * with bounded retries, and retirement through RCU.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "vs_fdb.h"
#include "vs_fwd.h"
#include "vs_mbuf.h"
#include "vs_port_priv.h"

RTE_LOG_REGISTER(vs_logtype_port, vswitch.port, INFO);

static struct vs_port *_Atomic ports[VS_MAX_PORTS];
static uint16_t nb_slots;
/* Serializes writers of the table (control thread, launcher). */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static _Atomic uint32_t kick_gen;
static uint64_t next_serial = 1; /* under table_lock */
static uint32_t default_busyloop_us;

uint32_t
vs_port_kick_gen(void)
{
	return atomic_load_explicit(&kick_gen, memory_order_acquire);
}

void
vs_port_kick_gen_bump(void)
{
	/* Sequentially consistent: vs_fwd_wake_all() and try_sleep(). */
	atomic_fetch_add(&kick_gen, 1);
	vs_fwd_wake_all();
}

void
vs_port_set_default_busyloop(uint32_t usec)
{
	default_busyloop_us = usec;
}

uint32_t
vs_port_get_default_busyloop(void)
{
	return default_busyloop_us;
}

int
vs_port_set_busyloop(struct vs_port *port, int queue, uint32_t usec)
{
	uint64_t tsc = (uint64_t)usec * rte_get_tsc_hz() / 1000000;
	int q;

	if (queue >= port->nb_rxq)
		return -EINVAL;
	for (q = 0; q < port->nb_rxq; q++) {
		if (queue >= 0 && q != queue)
			continue;
		atomic_store(&port->busyloop_us[q], usec);
		/* A nonzero timeout never rounds down to "poll forever". */
		atomic_store(&port->busyloop_tsc[q], usec && !tsc ? 1 : tsc);
	}
	return 0;
}

uint32_t
vs_port_get_busyloop(const struct vs_port *port, uint16_t queue)
{
	return queue < VS_PORT_MAX_QUEUES
		? atomic_load(&port->busyloop_us[queue])
		: 0;
}

static const char *const drop_names[] = {
#define VS_DROP_NAME(e, n, s) [VS_DROP_##e] = n,
	VS_DROP_REASONS(VS_DROP_NAME)
#undef VS_DROP_NAME
};

static const char *const drop_help[] = {
#define VS_DROP_HELP(e, n, s) [VS_DROP_##e] = s,
	VS_DROP_REASONS(VS_DROP_HELP)
#undef VS_DROP_HELP
};

const char *
vs_drop_name(enum vs_drop d)
{
	return d < VS_DROP_MAX ? drop_names[d] : "unknown";
}

const char *
vs_drop_help(enum vs_drop d)
{
	return d < VS_DROP_MAX ? drop_help[d] : "unknown";
}

uint16_t
vs_port_count(void)
{
	return __atomic_load_n(&nb_slots, __ATOMIC_ACQUIRE);
}

struct vs_port *
vs_port_get(uint16_t id)
{
	if (id >= VS_MAX_PORTS)
		return NULL;
	return atomic_load_explicit(&ports[id], memory_order_acquire);
}

struct vs_port *
vs_port_lookup(const char *s)
{
	struct vs_port *p;
	char *end;
	unsigned long id;
	uint16_t i;

	if (s == NULL || *s == '\0') {
		rte_errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < vs_port_count(); i++) {
		p = vs_port_get(i);
		if (p != NULL && strcmp(p->name, s) == 0)
			return p;
	}
	id = strtoul(s, &end, 10);
	if (*end == '\0' && id < VS_MAX_PORTS) {
		p = vs_port_get(id);
		if (p != NULL)
			return p;
	}
	rte_errno = ENOENT;
	return NULL;
}

struct vs_port *
vs_port_alloc(enum vs_port_kind kind, const char *name,
	      const struct vs_port_ops *ops, int socket)
{
	struct vs_port *p;
	unsigned int q;

	p = rte_zmalloc_socket("vs_port", sizeof(*p), RTE_CACHE_LINE_SIZE,
			       socket);
	if (p == NULL)
		p = rte_zmalloc("vs_port", sizeof(*p), RTE_CACHE_LINE_SIZE);
	if (p == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	p->id = VS_PORT_INVALID;
	p->kind = kind;
	p->ops = ops;
	p->socket_id = socket;
	strlcpy(p->name, name, sizeof(p->name));
	atomic_init(&p->enabled, true);
	atomic_init(&p->link_up, false);
	atomic_init(&p->l2, &vs_l2_plain);
	for (q = 0; q < VS_PORT_MAX_QUEUES; q++) {
		rte_spinlock_init(&p->tx_lock[q]);
		atomic_init(&p->rxq_owner[q], -1);
	}
	return p;
}

int
vs_port_register(struct vs_port *port)
{
	uint16_t i, n;
	int ret = -ENOSPC;

	pthread_mutex_lock(&table_lock);
	n = nb_slots;
	for (i = 0; i < n; i++) {
		struct vs_port *p = atomic_load(&ports[i]);

		if (p != NULL && strcmp(p->name, port->name) == 0) {
			ret = -EEXIST;
			goto out;
		}
	}
	for (i = 0; i < VS_MAX_PORTS; i++)
		if (atomic_load(&ports[i]) == NULL)
			break;
	if (i == VS_MAX_PORTS)
		goto out;
	port->id = i;
	port->serial = next_serial++;
	vs_port_set_busyloop(port, -1, default_busyloop_us);
	atomic_store_explicit(&ports[i], port, memory_order_release);
	if (i >= n)
		__atomic_store_n(&nb_slots, i + 1, __ATOMIC_RELEASE);
	ret = 0;
out:
	pthread_mutex_unlock(&table_lock);
	return ret;
}

struct vs_port *
vs_port_find_vhost(const char *path)
{
	struct vs_port *found = NULL;
	uint16_t i, n;

	/*
	 * Under the table lock: vs_port_unregister() takes it to remove a
	 * port before freeing it, so a port this scan reads cannot be freed
	 * under it. (The lcores need no lock: they are RCU readers.)
	 */
	pthread_mutex_lock(&table_lock);
	n = vs_port_count();
	for (i = 0; i < n && found == NULL; i++) {
		struct vs_port *p = atomic_load(&ports[i]);

		if (p != NULL && p->kind == VS_PORT_VHOST &&
		    strcmp(p->vhost.path, path) == 0)
			found = p;
	}
	pthread_mutex_unlock(&table_lock);
	return found;
}

void
vs_port_unregister(struct vs_port *port)
{
	pthread_mutex_lock(&table_lock);
	if (port->id < VS_MAX_PORTS && atomic_load(&ports[port->id]) == port)
		atomic_store_explicit(&ports[port->id], NULL,
				      memory_order_release);
	pthread_mutex_unlock(&table_lock);
	/* No lcore can still hold the port once every one has quiesced. */
	vs_fwd_synchronize();
	if (port->ops->destroy != NULL)
		port->ops->destroy(port);
	if (atomic_load(&port->l2) != &vs_l2_plain)
		rte_free((void *)(uintptr_t)atomic_load(&port->l2));
	rte_free(port);
}

void
vs_port_destroy_all(void)
{
	uint16_t i;

	for (i = 0; i < vs_port_count(); i++) {
		struct vs_port *p = vs_port_get(i);

		if (p != NULL)
			vs_port_unregister(p);
	}
}

void
vs_port_set_enabled(struct vs_port *port, bool enable)
{
	atomic_store_explicit(&port->enabled, enable, memory_order_release);
	vs_fwd_wake_all();
	/* Once every lcore has seen it, none is inside the port's rings. */
	vs_fwd_synchronize();
}

const struct vs_l2 vs_l2_plain = { .plain = true };

#define VS_KEYS_L2 \
	(VS_KEY_VLAN | VS_KEY_TRUNKS | VS_KEY_NATIVE | VS_KEY_MAX_MACS | \
	 VS_KEY_ALLOWED_MACS | VS_KEY_FLOOD_PPS)
#define VS_KEYS_MEMBERSHIP (VS_KEY_VLAN | VS_KEY_TRUNKS | VS_KEY_NATIVE)

/* The datapath's form of the keys; NULL (rte_errno) without memory. */
static struct vs_l2 *
l2_build(const struct vs_port_keys *k, int socket)
{
	struct vs_l2 *c;
	uint16_t i;

	c = rte_zmalloc_socket("vs_l2", sizeof(*c), RTE_CACHE_LINE_SIZE,
			       socket);
	if (c == NULL)
		c = rte_zmalloc("vs_l2", sizeof(*c), RTE_CACHE_LINE_SIZE);
	if (c == NULL)
		return NULL;
	c->access = k->vlan;
	c->native = k->native;
	c->trunk_list = k->trunk_list;
	memcpy(c->trunks, k->trunks, sizeof(c->trunks));
	c->max_macs = k->max_macs;
	c->flood_pps = k->flood_pps;
	c->nb_allowed = k->nb_allowed;
	for (i = 0; i < k->nb_allowed; i++)
		c->allowed[i] = vs_fdb_key(k->allowed[i], 0);
	c->plain = !c->access && !c->native && !c->trunk_list && !c->max_macs &&
		!c->flood_pps && !c->nb_allowed;
	if (c->access) {
		c->in_vid = c->access;
		c->out_vid = c->access;
	} else if (c->native) {
		c->in_vid = c->native;
		c->out_vid = -1;
	} else if (c->trunk_list) {
		c->in_vid = vs_l2_trunk_has(c, 0) ? 0 : -1;
		c->out_vid = -1;
	} else {
		c->in_vid = 0;
		c->out_vid = 0;
	}
	return c;
}

int
vs_port_set_keys(struct vs_port *p, const struct vs_port_keys *k, char *err,
		 size_t errlen)
{
	struct vs_port_keys merged = p->keys;
	const struct vs_l2 *old;
	struct vs_l2 *c = NULL;
	int ret;

	/* Check everything first: a refused request changes nothing. */
	vs_conf_port_keys_merge(&merged, k);
	if (vs_conf_port_keys_check(&merged, "", err, errlen) < 0)
		return -EINVAL;
	if ((k->given & VS_KEY_OFFLOADS) && p->kind == VS_PORT_VHOST &&
	    k->no_offloads != p->ol_off) {
		snprintf(
			err, errlen,
			"%s: a vhost port's offloads are negotiated when the guest connects: give offloads= to port/add or --vhost",
			p->name);
		return -ENOTSUP;
	}
	if (k->given & VS_KEYS_L2) {
		c = l2_build(&merged, p->socket_id);
		if (c == NULL) {
			snprintf(err, errlen, "%s: out of memory", p->name);
			return -ENOMEM;
		}
	}
	if ((k->given & VS_KEY_MTU) && p->mtu != k->mtu) {
		ret = p->ops->set_mtu ? p->ops->set_mtu(p, k->mtu) : -ENOTSUP;
		if (ret < 0) {
			snprintf(err, errlen, "%s: cannot set mtu %u: %s",
				 p->name, k->mtu, rte_strerror(-ret));
			rte_free(c);
			return ret;
		}
	}
	if ((k->given & VS_KEY_OFFLOADS) && p->kind != VS_PORT_VHOST) {
		p->ol_off = k->no_offloads;
		atomic_store_explicit(&p->tx_ol, p->ol_off ? 0 : p->ol_capa,
				      memory_order_relaxed);
	}
	if (c != NULL) {
		bool moved = (k->given & VS_KEYS_MEMBERSHIP) &&
			(merged.vlan != p->keys.vlan ||
			 merged.native != p->keys.native ||
			 merged.trunk_list != p->keys.trunk_list ||
			 memcmp(merged.trunks, p->keys.trunks,
				sizeof(merged.trunks)) != 0);

		if (c->plain) {
			rte_free(c);
			c = (struct vs_l2 *)(uintptr_t)&vs_l2_plain;
		}
		old = atomic_exchange_explicit(&p->l2, c, memory_order_release);
		/* No lcore reads the old settings after a grace period. */
		vs_fwd_synchronize();
		if (old != &vs_l2_plain)
			rte_free((void *)(uintptr_t)old);
		/*
		 * Its MACs were learned in VLANs it may have left: forget
		 * them (as OVS does when a port's tag changes).
		 */
		if (moved && p->id != VS_PORT_INVALID)
			vs_fdb_flush(p->id);
	}
	p->keys = merged;
	return 0;
}

void
vs_port_info_get(const struct vs_port *port, struct vs_port_info *info)
{
	memset(info, 0, sizeof(*info));
	info->id = port->id;
	strlcpy(info->name, port->name, sizeof(info->name));
	info->kind = port->kind;
	info->kind_name = port->ops->kind;
	info->enabled = atomic_load(&port->enabled);
	info->link_up = atomic_load(&port->link_up);
	info->nb_rxq = port->nb_rxq;
	info->nb_txq = port->nb_txq;
	info->socket_id = port->socket_id;
	info->vid = -1;
	info->tx_lock = port->tx_shared;
	info->tx_lock_contended = atomic_load(&port->tx_lock_contended);
	info->offloads = !port->ol_off;
	info->tx_ol = atomic_load(&port->tx_ol);
	info->ol_capa = port->ol_capa;
	info->keys = port->keys;
	info->macs = port->id < VS_MAX_PORTS ? vs_fdb_port_count(port->id) : 0;
	info->mtu = port->mtu;
	if (port->ops->info != NULL)
		port->ops->info(port, info);
}

void
vs_port_stats_get(const struct vs_port *port, struct vs_port_stats *st)
{
	unsigned int i, d;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < RTE_DIM(port->stats); i++) {
		const struct vs_port_lstats *l = &port->stats[i];

		st->rx_pkts += l->rx_pkts;
		st->rx_bytes += l->rx_bytes;
		st->tx_pkts += l->tx_pkts;
		st->tx_bytes += l->tx_bytes;
		for (d = 0; d < VS_DROP_MAX; d++)
			st->drops[d] += l->drops[d];
		st->rx_gso += l->rx_gso;
		st->rx_csum_partial += l->rx_csum_partial;
		st->tx_gso += l->tx_gso;
		st->sw_csum += l->sw_csum;
		st->sw_gso += l->sw_gso;
		st->sw_gso_segs += l->sw_gso_segs;
		st->mac_limit += l->mac_limit;
	}
	if (port->ops->stats != NULL)
		port->ops->stats(port, st);
}

void
vs_port_stats_clear(struct vs_port *port)
{
	/*
	 * Racy against the lcores by design, as rte_eth_stats_reset() is for
	 * software PMDs: a counter being incremented may keep one burst.
	 */
	memset(port->stats, 0, sizeof(port->stats));
	if (port->kind == VS_PORT_ETHDEV)
		rte_eth_stats_reset(port->eth.port_id);
}

/* One send attempt on queue @p q, under its lock when it is shared. */
static inline uint16_t
port_tx_once(struct vs_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n,
	     struct vs_tx_lost *lost)
{
	uint16_t sent;

	if (!p->tx_shared)
		return p->ops->tx(p, q, pkts, n, lost);
	/* As OVS's vhost tx_q[].tx_lock: count contention, then wait. */
	if (unlikely(!rte_spinlock_trylock(&p->tx_lock[q]))) {
		atomic_fetch_add_explicit(&p->tx_lock_contended, 1,
					  memory_order_relaxed);
		rte_spinlock_lock(&p->tx_lock[q]);
	}
	sent = p->ops->tx(p, q, pkts, n, lost);
	rte_spinlock_unlock(&p->tx_lock[q]);
	return sent;
}

uint16_t
vs_port_tx(struct vs_port *p, unsigned int lc, struct rte_mbuf **pkts,
	   uint16_t n, uint32_t retries)
{
	return vs_port_tx_bytes(p, lc, pkts, n, retries,
				vs_mbuf_bytes(pkts, n));
}

uint16_t
vs_port_tx_bytes(struct vs_port *p, unsigned int lc, struct rte_mbuf **pkts,
		 uint16_t n, uint32_t retries, uint64_t bytes)
{
	struct vs_port_lstats *st = &p->stats[vs_lcore_slot()];
	uint64_t dropped_bytes = 0;
	struct vs_tx_lost lost = { 0, 0 };
	uint16_t nq, q, done, unfit = 0, k, i;
	uint32_t left = retries;
	struct vs_capture *cap;

	if (unlikely(!vs_port_up(p))) {
		vs_port_drop(p, VS_DROP_PORT_DOWN, pkts, n);
		return 0;
	}
	nq = p->ops->nb_txq(p);
	if (unlikely(nq == 0)) {
		vs_port_drop(p, VS_DROP_PORT_DOWN, pkts, n);
		return 0;
	}
	/* Captured as handed to the port: frames then dropped included. */
	cap = atomic_load_explicit(&p->capture, memory_order_acquire);
	if (unlikely(cap != NULL))
		vs_capture_burst(cap, pkts, n, VS_CAPTURE_TX);
	q = p->ops->txq_of ? p->ops->txq_of(p, lc, nq) : lc % nq;
	done = port_tx_once(p, q, pkts, n, &lost);
	while (done < n) {
		if (left > 0) {
			left--;
			rte_pause();
			done += port_tx_once(p, q, pkts + done, n - done,
					     &lost);
			continue;
		}
		/*
		 * Out of retries. A vhost enqueue stops at the first frame the
		 * guest's buffers cannot hold. Without mergeable buffers every
		 * buffer has one size: if the frames behind it go in, that one
		 * was too big, not the ring full; drop it alone and carry on
		 * with fresh retries. With mergeable buffers a big frame only
		 * needs more of them: the ring is full (tx_full).
		 */
		if (!p->tx_fixed_bufs || n - done < 2)
			break;
		k = port_tx_once(p, q, pkts + done + 1, n - done - 1, &lost);
		if (k == 0)
			break;
		dropped_bytes += rte_pktmbuf_pkt_len(pkts[done]);
		unfit++;
		done += 1 + k;
		left = retries;
	}
	for (i = done; i < n; i++)
		dropped_bytes += rte_pktmbuf_pkt_len(pkts[i]);
	st->tx_pkts += done - unfit - lost.pkts;
	st->tx_bytes += bytes - dropped_bytes - lost.bytes;
	st->drops[VS_DROP_TOO_BIG] += unfit;
	if (done < n)
		st->drops[p->ops->carrier == NULL || p->ops->carrier(p)
				  ? VS_DROP_TX_FULL
				  : VS_DROP_PORT_DOWN] += n - done;
	if (p->ops->tx_copies)
		vs_mbuf_free_bulk(pkts, n);
	else if (done < n)
		rte_pktmbuf_free_bulk(pkts + done, n - done);
	return done - unfit;
}
