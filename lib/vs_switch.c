/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_log.h>

#include "vs_cmd.h"
#include "vs_ctl.h"
#include "vs_fdb.h"
#include "vs_fwd.h"
#include "vs_mbuf.h"
#include "vs_metrics.h"
#include "vs_port_priv.h"
#include "vs_save.h"
#include "vs_switch.h"
#include "vs_vhost_call.h"
#include "vs_vxlan.h"

RTE_LOG_REGISTER(vs_logtype_switch, vswitch.switch, INFO);
#define SW_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vs_logtype_switch, "vswitch: " fmt, \
		##__VA_ARGS__)

/* Descriptors vs_port_ethdev.c asks for, to size the pools. */
#define VS_ETH_RING_ESTIMATE 1024

static struct {
	struct vs_port_stats prev[VS_MAX_PORTS];
	uint64_t prev_tsc;
	bool started;
} sw;

static uint32_t
pool_size(const struct vs_conf *conf, uint64_t *socket_mask)
{
	struct vs_mbuf_sizing s = {
		.nb_lcores = vs_fwd_nb_lcores(),
		.burst = conf->burst,
	};
	unsigned int lcore;
	uint16_t pid, i;

	*socket_mask = 1ull << rte_socket_id();
	RTE_LCORE_FOREACH_WORKER(lcore)
		*socket_mask |= 1ull << rte_lcore_to_socket_id(lcore);
	RTE_ETH_FOREACH_DEV(pid) {
		struct rte_eth_dev_info di;
		int sock = rte_eth_dev_socket_id(pid);

		if (rte_eth_dev_info_get(pid, &di) != 0)
			continue;
		s.ring_mbufs += VS_ETH_RING_ESTIMATE *
			(RTE_MIN(s.nb_lcores, di.max_rx_queues) +
			 RTE_MIN(s.nb_lcores, di.max_tx_queues));
		s.nb_ports++;
		if (sock >= 0)
			*socket_mask |= 1ull << sock;
	}
	for (i = 0; i < conf->nb_vhost; i++)
		s.vhost_queues += conf->vhost[i].queues;
	s.nb_ports += conf->nb_vhost;
	return conf->mbufs ? conf->mbufs : vs_mbuf_pool_size(&s);
}

static int
start_control(const struct vs_conf *conf)
{
	char path[PATH_MAX];
	int ret;

	if (vs_cmd_find("version") == NULL) {
		ret = vs_switch_cmd_register();
		if (ret == 0)
			ret = vs_port_cmd_register();
		if (ret == 0)
			ret = vs_fdb_cmd_register();
		if (ret == 0)
			ret = vs_fwd_cmd_register();
		if (ret == 0)
			ret = vs_capture_cmd_register();
		if (ret == 0)
			ret = vs_vxlan_cmd_register();
		if (ret == 0)
			ret = vs_save_cmd_register();
		if (ret == 0)
			ret = vs_cmd_telemetry_register();
		if (ret < 0) {
			SW_LOG(ERR, "cannot register commands: %s\n",
			       strerror(-ret));
			return ret;
		}
	}
	if (conf->ctl_path[0] != '\0')
		strlcpy(path, conf->ctl_path, sizeof(path));
	else
		vs_ctl_default_path(path, sizeof(path));
	vs_cmd_open();
	ret = vs_ctl_start(path);
	if (ret == -EADDRINUSE)
		SW_LOG(ERR,
		       "control socket %s is in use by another process (another vhost-switch with this --file-prefix?)\n",
		       path);
	else if (ret < 0)
		SW_LOG(ERR, "cannot create the control socket %s: %s\n", path,
		       ret == -EEXIST ? "it exists and is not a socket"
				      : strerror(-ret));
	return ret;
}

/*
 * Create, register and attach tunnel @p xc; its keys applied. Errors are
 * logged, and copied to @p err when given. @return its id or -errno.
 */
static int
tunnel_add(const struct vs_vxlan_conf *xc, char *err, size_t errlen)
{
	char e[256] = "";
	struct vs_port *p;
	int ret;

	p = vs_vxlan_create(xc, e, sizeof(e));
	if (p == NULL) {
		ret = -rte_errno;
		goto fail;
	}
	ret = vs_port_register(p);
	if (ret < 0) {
		snprintf(e, sizeof(e), "%s: %s", xc->name,
			 ret == -EEXIST ? "name in use" : rte_strerror(-ret));
		p->ops->destroy(p);
		rte_free(p);
		goto fail;
	}
	ret = vs_vxlan_attach(p, e, sizeof(e));
	if (ret == 0)
		ret = vs_port_set_keys(p, &xc->keys, e, sizeof(e));
	if (ret < 0) {
		vs_port_unregister(p);
		goto fail;
	}
	SW_LOG(INFO, "port %u %s: vxlan vni %u over %s, %u remote(s)\n", p->id,
	       p->name, xc->vni, xc->via, xc->nb_remote);
	return p->id;
fail:
	SW_LOG(ERR, "--vxlan: %s\n", e);
	if (err != NULL)
		strlcpy(err, e, errlen);
	return ret < 0 ? ret : -EINVAL;
}

int
vs_switch_vxlan_add(const struct vs_vxlan_conf *xc, char *err, size_t errlen)
{
	int ret = tunnel_add(xc, err, errlen);

	if (ret >= 0) {
		int r = vs_fwd_rebalance();

		if (r < 0)
			return r;
	}
	return ret;
}

/* The VLAN and security keys of a new port. */
static int
apply_keys(struct vs_port *p, const struct vs_port_keys *k)
{
	char err[256];
	int ret = vs_port_set_keys(p, k, err, sizeof(err));

	if (ret < 0)
		SW_LOG(ERR, "%s: %s\n", p->name, err);
	return ret;
}

/*
 * --port NAME,offloads=... for a vhost port of --vhost: a guest negotiates
 * offloads when it connects, so they are set before the port exists.
 */
static void
port_conf_merge(const struct vs_conf *conf, struct vs_vhost_conf *vc)
{
	uint16_t i;

	for (i = 0; i < conf->nb_port; i++) {
		const struct vs_port_keys *k = &conf->port[i].keys;

		if (strcmp(conf->port[i].port, vc->name) != 0)
			continue;
		vs_conf_port_keys_merge(&vc->keys, k);
	}
}

int
vs_switch_start(const struct vs_conf *conf)
{
	struct vs_port *vp[VS_MAX_VHOST_CONF];
	char err[256];
	uint64_t mask;
	uint32_t n;
	uint16_t i;
	int ret;

	/* [log] first: the start's own messages are at those levels. */
	vs_save_apply_log(conf);
	ret = vs_fwd_init(conf);
	if (ret == -ENODEV) {
		SW_LOG(ERR,
		       "no forwarding lcore: give EAL a main lcore and at least one more (e.g. -l 0,1)\n");
		return ret;
	} else if (ret < 0) {
		SW_LOG(ERR, "cannot set up the forwarding lcores: %s\n",
		       rte_strerror(-ret));
		return ret;
	}
	n = pool_size(conf, &mask);
	ret = vs_mbuf_init(mask, n);
	if (ret < 0) {
		SW_LOG(ERR,
		       "cannot create pools of %u mbufs: %s (give EAL more memory with -m, or --mbufs)\n",
		       n, rte_strerror(-ret));
		goto fail_fwd;
	}
	SW_LOG(INFO, "mbuf pools: %u mbufs per NUMA socket\n", n);
	ret = vs_fdb_init(conf->fdb_size, conf->fdb_aging, vs_fwd_qsbr());
	if (ret < 0) {
		SW_LOG(ERR, "cannot create the MAC table of %u entries: %s\n",
		       conf->fdb_size, rte_strerror(-ret));
		goto fail_pool;
	}
	/* Before any vhost-user connection: see vs_vhost_call.c. */
	ret = conf->call_relay ? vs_call_relay_start() : 0;
	if (ret < 0)
		SW_LOG(WARNING,
		       "no vring call relay (%s): librte_vhost writes the frontends' call eventfds from the lcores\n",
		       strerror(-ret));
	vs_port_set_default_busyloop(conf->busyloop_us);
	ret = vs_port_ethdev_probe_all(vs_fwd_nb_lcores());
	if (ret < 0)
		goto fail_ports;
	for (i = 0; i < conf->nb_vhost; i++) {
		struct vs_vhost_conf vc = conf->vhost[i];

		if (vc.name[0] == '\0')
			snprintf(vc.name, sizeof(vc.name), "vhost%u", i);
		port_conf_merge(conf, &vc);
		vp[i] = vs_port_vhost_create(&vc);
		if (vp[i] == NULL) {
			ret = -rte_errno;
			goto fail_ports;
		}
		ret = vs_port_register(vp[i]);
		if (ret < 0) {
			SW_LOG(ERR, "%s: cannot add port: %s\n", vc.name,
			       ret == -EEXIST ? "name in use"
					      : rte_strerror(-ret));
			vp[i]->ops->destroy(vp[i]);
			rte_free(vp[i]);
			goto fail_ports;
		}
		ret = apply_keys(vp[i], &vc.keys);
		if (ret < 0)
			goto fail_ports;
	}
	for (i = 0; i < conf->nb_vxlan; i++) {
		ret = tunnel_add(&conf->vxlan[i], NULL, 0);
		if (ret == -EEXIST || ret == -ENODEV)
			ret = -ENXIO; /* a usage error: exit 2 */
		if (ret < 0)
			goto fail_ports;
	}
	for (i = 0; i < conf->nb_port; i++) {
		const struct vs_port_conf *pc = &conf->port[i];
		struct vs_port *p = vs_port_lookup(pc->port);
		char err[256];

		if (p == NULL) {
			SW_LOG(ERR, "--port '%s': no such port\n", pc->port);
			ret = -ENXIO;
			goto fail_ports;
		}
		ret = vs_port_set_keys(p, &pc->keys, err, sizeof(err));
		if (ret < 0) {
			SW_LOG(ERR, "--port '%s': %s\n", pc->port, err);
			goto fail_ports;
		}
	}
	/* Busy-loop timeouts and static MACs of the config file. */
	ret = vs_save_apply_ports(conf, err, sizeof(err));
	if (ret < 0) {
		SW_LOG(ERR, "--config: %s\n", err);
		goto fail_ports;
	}
	ret = vs_save_init(conf);
	if (ret < 0)
		goto fail_ports;
	ret = vs_fwd_rebalance();
	if (ret < 0)
		goto fail_ports;
	ret = vs_fwd_start();
	if (ret < 0)
		goto fail_ports;
	sw.started = true;
	for (i = 0; i < conf->nb_vhost; i++) {
		ret = vs_port_vhost_start(vp[i]);
		if (ret < 0)
			goto fail_started;
	}
	sw.prev_tsc = rte_get_tsc_cycles();
	ret = start_control(conf);
	if (ret < 0)
		goto fail_started;
	if (conf->metrics_port != 0) {
		ret = vs_metrics_start(conf->metrics_addr, conf->metrics_port);
		if (ret < 0)
			goto fail_started;
	}
	SW_LOG(INFO, "forwarding on %u lcore(s), %u port(s)\n",
	       vs_fwd_nb_lcores(), vs_port_count());
	return 0;

fail_started:
	vs_switch_stop(NULL);
	return ret;
fail_ports:
	vs_port_destroy_all();
	vs_call_relay_stop();
	vs_fdb_fini();
fail_pool:
	vs_mbuf_fini();
fail_fwd:
	vs_fwd_fini();
	return ret;
}

int
vs_switch_port_add(const struct vs_vhost_conf *conf, char *err, size_t errlen)
{
	struct vs_vhost_conf vc = *conf;
	struct vs_port *p;
	unsigned int n;
	uint16_t i;
	int ret;

	for (i = 0; i < vs_port_count(); i++) {
		p = vs_port_get(i);
		if (p != NULL && p->kind == VS_PORT_VHOST &&
		    strcmp(p->vhost.path, vc.path) == 0)
			return -EEXIST;
	}
	for (n = 0; vc.name[0] == '\0'; n++) {
		snprintf(vc.name, sizeof(vc.name), "vhost%u", n);
		if (vs_port_lookup(vc.name) != NULL)
			vc.name[0] = '\0';
	}
	p = vs_port_vhost_create(&vc);
	if (p == NULL)
		return -rte_errno;
	ret = vs_port_register(p);
	if (ret < 0) {
		p->ops->destroy(p);
		rte_free(p);
		return ret;
	}
	ret = vs_port_set_keys(p, &vc.keys, err, errlen);
	if (ret == 0)
		ret = vs_fwd_rebalance();
	if (ret == 0)
		ret = vs_port_vhost_start(p);
	if (ret < 0) {
		vs_port_unregister(p);
		vs_fwd_rebalance();
		return ret;
	}
	return p->id;
}

int
vs_switch_port_del(const char *name_or_id)
{
	struct vs_port *p = vs_port_lookup(name_or_id);
	uint16_t id;

	if (p == NULL)
		return -ENOENT;
	if (p->kind == VS_PORT_ETHDEV)
		return -ENOTSUP;
	id = p->id;
	vs_capture_stop(p);
	/* Unpublish, synchronize, destroy: no lcore can still see it. */
	vs_port_unregister(p);
	vs_fdb_flush(id);
	return vs_fwd_rebalance();
}

/*
 * Run printer @p fn as a command runs (under the command lock): port/del
 * frees a port only under that lock, so no port it reads can go. It prints
 * into memory, and @p f gets the text after the lock is released: a slow
 * reader of @p f must not hold up the control socket.
 */
static void
print_locked(FILE *f, void (*fn)(FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	vs_cmd_lock();
	fn(m != NULL ? m : f);
	vs_cmd_unlock();
	if (m != NULL) {
		fclose(m);
		fwrite(buf, 1, len, f);
		free(buf);
	}
	fflush(f);
}

static void
print_rates(FILE *f)
{
	uint64_t now = rte_get_tsc_cycles();
	double dt = (double)(now - sw.prev_tsc) / rte_get_tsc_hz();
	uint16_t i;

	if (dt <= 0)
		dt = 1;
	fprintf(f, "%-4s %-16s %-5s %12s %12s %10s %10s %10s\n", "port", "name",
		"link", "rx-pps", "tx-pps", "rx-Mbps", "tx-Mbps", "drops");
	for (i = 0; i < vs_port_count(); i++) {
		struct vs_port *p = vs_port_get(i);
		struct vs_port_stats st, *pv = &sw.prev[i];
		uint64_t drops = 0, pdrops = 0;
		unsigned int d;

		if (p == NULL) {
			memset(pv, 0, sizeof(*pv));
			continue;
		}
		vs_port_stats_get(p, &st);
		/* Cleared counters, or a new port in a reused slot: restart. */
		if (st.rx_pkts < pv->rx_pkts || st.tx_pkts < pv->tx_pkts ||
		    st.rx_bytes < pv->rx_bytes || st.tx_bytes < pv->tx_bytes)
			memset(pv, 0, sizeof(*pv));
		for (d = 0; d < VS_DROP_MAX; d++) {
			drops += st.drops[d];
			pdrops += RTE_MIN(pv->drops[d], st.drops[d]);
		}
		fprintf(f,
			"%-4u %-16s %-5s %12.0f %12.0f %10.1f %10.1f %10" PRIu64
			"\n",
			i, p->name, vs_port_up(p) ? "up" : "down",
			(st.rx_pkts - pv->rx_pkts) / dt,
			(st.tx_pkts - pv->tx_pkts) / dt,
			(st.rx_bytes - pv->rx_bytes) * 8 / dt / 1e6,
			(st.tx_bytes - pv->tx_bytes) * 8 / dt / 1e6,
			drops - pdrops);
		*pv = st;
	}
	sw.prev_tsc = now;
}

void
vs_switch_print_rates(FILE *f)
{
	print_locked(f, print_rates);
}

static void
print_stats(FILE *f)
{
	uint32_t size, used;
	unsigned int s, d;
	uint16_t i;

	for (i = 0; i < vs_port_count(); i++) {
		struct vs_port *p = vs_port_get(i);
		struct vs_port_stats st;

		if (p == NULL)
			continue;
		vs_port_stats_get(p, &st);
		fprintf(f,
			"port %u %s: rx_pkts=%" PRIu64 " rx_bytes=%" PRIu64
			" tx_pkts=%" PRIu64 " tx_bytes=%" PRIu64,
			i, p->name, st.rx_pkts, st.rx_bytes, st.tx_pkts,
			st.tx_bytes);
		for (d = 0; d < VS_DROP_MAX; d++)
			fprintf(f, " %s=%" PRIu64, vs_drop_name(d),
				st.drops[d]);
		fprintf(f, "\n");
	}
	for (s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		used = vs_mbuf_in_use(s, &size);
		if (size)
			fprintf(f, "mbufs socket=%u in_use=%u size=%u\n", s,
				used, size);
	}
}

void
vs_switch_print_stats(FILE *f)
{
	print_locked(f, print_stats);
}

void
vs_switch_stop(FILE *f)
{
	uint16_t i;

	/*
	 * First refuse commands, whatever their front end: DPDK's telemetry
	 * thread cannot be stopped and would walk the ports freed below.
	 */
	vs_metrics_stop();
	vs_cmd_close();
	vs_ctl_stop();
	if (sw.started)
		vs_fwd_stop();
	for (i = 0; i < vs_port_count(); i++)
		if (vs_port_get(i) != NULL)
			vs_capture_stop(vs_port_get(i));
	sw.started = false;
	if (f != NULL)
		vs_switch_print_stats(f);
	vs_port_destroy_all();
	vs_call_relay_stop();
	vs_fdb_fini();
	vs_mbuf_fini();
	vs_fwd_fini();
}
