/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The metrics endpoint: Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/) over
 * libmicrohttpd.
 *
 * Threads: MHD runs one thread of its own that accepts, reads requests and
 * calls on_request(). A scrape snapshots everything into a struct snap
 * under the command lock (the port table is freed only under that lock,
 * by port/del, or after vs_metrics_stop(), at shutdown), renders the
 * snapshot into memory once the lock is released, and hands the buffer
 * to MHD, which sends it and frees it. The forwarding lcores never see
 * any of this: every figure is read through the getters commands use.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "vs_cmd.h"
#include "vs_fdb.h"
#include "vs_fwd.h"
#include "vs_mbuf.h"
#include "vs_metrics.h"
#include "vs_port.h"
#include "vs_vhost_call.h"

RTE_LOG_REGISTER(vs_logtype_metrics, vswitch.metrics, INFO);
#define MET_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vs_logtype_metrics, "vswitch: " fmt, \
		##__VA_ARGS__)

/*
 * A scraper opens one connection at a time (Prometheus, curl); 16 leave
 * room for a few people with curl without letting a client that opens
 * connections in a loop hold many fds. 10 s: Prometheus's default scrape
 * timeout, after which an idle connection is of no use to anyone.
 */
#define MET_MAX_CONN 16
#define MET_CONN_TIMEOUT_S 10

#define MET_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static struct MHD_Daemon *mhd;

/* ---- snapshot ---- */

struct port_snap {
	char name[VS_NAME_LEN];
	char kind[32];
	uint64_t up; /* 0 or 1 */
	uint64_t enabled; /* 0 or 1 */
	uint64_t macs;
	uint64_t tx_lock_contended;
	uint64_t refused;
	struct vs_port_stats st;
};

struct snap {
	uint16_t nb_ports;
	struct port_snap port[VS_MAX_PORTS];
	unsigned int nb_lcores;
	struct vs_fwd_lcore_info lc[RTE_MAX_LCORE];
	uint32_t fdb_used;
	uint32_t fdb_cap;
	uint32_t mbuf_used[RTE_MAX_NUMA_NODES];
	uint32_t mbuf_size[RTE_MAX_NUMA_NODES];
	json_t *vxlan; /**< vxlan/show's result, or NULL */
	struct vs_call_stats call; /**< the call relay's totals */
};

/* Under the command lock: copy what the render needs, nothing more. */
static void
snap_take(struct snap *s)
{
	struct vs_port_info in;
	unsigned int i;
	uint16_t id;

	for (id = 0; id < vs_port_count() && s->nb_ports < VS_MAX_PORTS; id++) {
		struct vs_port *p = vs_port_get(id);
		struct port_snap *ps = &s->port[s->nb_ports];

		if (p == NULL)
			continue;
		vs_port_info_get(p, &in);
		vs_port_stats_get(p, &ps->st);
		strlcpy(ps->name, in.name, sizeof(ps->name));
		strlcpy(ps->kind, in.kind_name != NULL ? in.kind_name : "",
			sizeof(ps->kind));
		ps->up = in.link_up;
		ps->enabled = in.enabled;
		ps->macs = in.macs;
		ps->tx_lock_contended = in.tx_lock_contended;
		ps->refused = vs_port_vhost_refused_count(p);
		s->nb_ports++;
	}
	for (i = 0; i < RTE_DIM(s->lc) && vs_fwd_lcore_info(i, &s->lc[i]) == 0;
	     i++)
		;
	s->nb_lcores = i;
	s->fdb_used = vs_fdb_count(&s->fdb_cap);
	for (i = 0; i < RTE_MAX_NUMA_NODES; i++)
		s->mbuf_used[i] = vs_mbuf_in_use(i, &s->mbuf_size[i]);
	vs_call_relay_totals(&s->call);
}

/* ---- rendering ---- */

/* A label value: backslash, double quote and newline are escaped. */
static void
put_label(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s=\"", name);
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
port_labels(FILE *f, const char *metric, const struct port_snap *ps)
{
	fprintf(f, "%s{", metric);
	put_label(f, "port", ps->name);
	fputc(',', f);
	put_label(f, "kind", ps->kind);
}

/*
 * A figure of a snapshot element (a port, an lcore): one family, one
 * sample per element, the value @size bytes at @off in the element.
 */
struct figure {
	const char *name;
	const char *type;
	size_t off;
	size_t size;
	const char *help;
};

#define FIG(prefix, n, t, s, f, h) \
	{ \
		prefix n, t, offsetof(s, f), sizeof(((s *)0)->f), h \
	}

static uint64_t
figure_value(const void *elem, const struct figure *fg)
{
	const char *v = (const char *)elem + fg->off;

	switch (fg->size) {
	case sizeof(uint8_t):
		return *(const uint8_t *)v;
	case sizeof(uint32_t):
		return *(const uint32_t *)v;
	default:
		return *(const uint64_t *)v;
	}
}

typedef void (*labels_t)(FILE *f, const char *metric, const void *elem);

/* Every figure of @figs for each of the @n elements of @elems. */
static void
render_figures(FILE *f, const struct figure *figs, size_t nb_figs,
	       const void *elems, size_t stride, unsigned int n,
	       labels_t labels)
{
	unsigned int c, i;

	for (c = 0; c < nb_figs; c++) {
		family(f, figs[c].name, figs[c].type, figs[c].help);
		for (i = 0; i < n; i++) {
			const void *e = (const char *)elems + i * stride;

			labels(f, figs[c].name, e);
			fprintf(f, "} %" PRIu64 "\n",
				figure_value(e, &figs[c]));
		}
	}
}

/* struct port_snap's figures, one family each. */
static const struct figure port_figures[] = {
#define PG(n, f, h) \
	FIG("vhost_switch_port_", n, "gauge", struct port_snap, f, h)
#define PC(n, f, h) \
	FIG("vhost_switch_port_", n "_total", "counter", struct port_snap, \
	    st.f, h)
	PG("up", up, "1 if a guest is attached or the link is up."),
	PG("enabled", enabled,
	   "1 unless the port was disabled (port/disable)."),
	PC("rx_packets", rx_pkts,
	   "Frames the switch received from the port (guest TX)."),
	PC("rx_bytes", rx_bytes, "Bytes the switch received from the port."),
	PC("tx_packets", tx_pkts,
	   "Frames the switch sent to the port (guest RX)."),
	PC("tx_bytes", tx_bytes, "Bytes the switch sent to the port."),
	PC("rx_gso", rx_gso, "TSO frames received (larger than the MTU)."),
	PC("rx_csum_partial", rx_csum_partial,
	   "Frames received with a partial checksum."),
	PC("tx_gso", tx_gso, "TSO frames sent as one frame (guest TSO)."),
	PC("sw_csum", sw_csum, "Checksums the switch completed for the port."),
	PC("sw_gso", sw_gso, "TSO frames the switch segmented for the port."),
	PC("sw_gso_segments", sw_gso_segs,
	   "Segments the switch made of TSO frames for the port."),
	PC("mac_limit", mac_limit,
	   "Frames whose source MAC was not learned: max-macs reached."),
	FIG("vhost_switch_port_", "tx_lock_contended_total", "counter",
	    struct port_snap, tx_lock_contended,
	    "Sends that found the port's shared tx queue lock taken."),
	FIG("vhost_switch_port_", "vhost_refused_total", "counter",
	    struct port_snap, refused,
	    "vhost-user messages the guard refused (0 for other ports)."),
	PG("fdb_entries", macs, "MAC table entries on the port."),
#undef PC
#undef PG
};

static void
port_labels_of(FILE *f, const char *metric, const void *ps)
{
	port_labels(f, metric, ps);
}

static void
render_ports(FILE *f, const struct snap *s)
{
	unsigned int i, d;

	render_figures(f, port_figures, RTE_DIM(port_figures), s->port,
		       sizeof(s->port[0]), s->nb_ports, port_labels_of);
	family(f, "vhost_switch_port_drops_total", "counter",
	       "Frames not delivered, by reason (doc/architecture.md lists the reasons).");
	for (i = 0; i < s->nb_ports; i++)
		for (d = 0; d < VS_DROP_MAX; d++) {
			port_labels(f, "vhost_switch_port_drops_total",
				    &s->port[i]);
			fputc(',', f);
			put_label(f, "reason", vs_drop_name(d));
			fprintf(f, "} %" PRIu64 "\n", s->port[i].st.drops[d]);
		}
}

/* struct vs_fwd_lcore_info's figures, one family each. */
static const struct figure lcore_figures[] = {
#define LF(n, t, f, h) \
	FIG("vhost_switch_lcore_", n, t, struct vs_fwd_lcore_info, f, h)
	LF("busy_cycles_total", "counter", busy_cycles,
	   "TSC cycles of loops that moved packets (vhost_switch_tsc_hz a second)."),
	LF("idle_cycles_total", "counter", idle_cycles,
	   "TSC cycles of loops that found nothing to do."),
	LF("sleep_cycles_total", "counter", sleep_cycles,
	   "TSC cycles asleep (busy-loop timeout passed)."),
	LF("packets_total", "counter", pkts, "Frames the lcore received."),
	LF("sleeps_total", "counter", sleeps, "Times the lcore went to sleep."),
	LF("owner_conflicts_total", "counter", owner_conflicts,
	   "Times a queue had two pollers (counted with -Dchecks=true only)."),
	LF("sleeping", "gauge", sleeping, "1 if the lcore is asleep now."),
	LF("rx_queues", "gauge", nb_rxq, "Rx queues the lcore polls."),
#undef LF
};

static void
lcore_label(FILE *f, const char *metric, const void *elem)
{
	const struct vs_fwd_lcore_info *li = elem;

	fprintf(f, "%s{lcore=\"%u\"", metric, li->lcore_id);
}

static void
render_lcores(FILE *f, const struct snap *s)
{
	static const char *const why[] = { "kick", "timer", "ctl" };
	unsigned int i, c;

	family(f, "vhost_switch_tsc_hz", "gauge",
	       "TSC cycles a second: divides the lcore cycle counters.");
	fprintf(f, "vhost_switch_tsc_hz %" PRIu64 "\n", rte_get_tsc_hz());
	render_figures(f, lcore_figures, RTE_DIM(lcore_figures), s->lc,
		       sizeof(s->lc[0]), s->nb_lcores, lcore_label);
	family(f, "vhost_switch_lcore_wakeups_total", "counter",
	       "Wake-ups, by what woke the lcore: a guest's kick, the bounded sleep time, a control change.");
	for (i = 0; i < s->nb_lcores; i++) {
		const uint64_t n[] = { s->lc[i].wake_kick, s->lc[i].wake_timer,
				       s->lc[i].wake_ctl };

		for (c = 0; c < RTE_DIM(why); c++) {
			lcore_label(f, "vhost_switch_lcore_wakeups_total",
				    &s->lc[i]);
			fprintf(f, ",reason=\"%s\"} %" PRIu64 "\n", why[c],
				n[c]);
		}
	}
}

static void
render_tables(FILE *f, const struct snap *s)
{
	unsigned int i;

	family(f, "vhost_switch_fdb_entries", "gauge",
	       "MAC table entries in use.");
	fprintf(f, "vhost_switch_fdb_entries %" PRIu32 "\n", s->fdb_used);
	family(f, "vhost_switch_fdb_capacity", "gauge",
	       "MAC table capacity (--fdb-size).");
	fprintf(f, "vhost_switch_fdb_capacity %" PRIu32 "\n", s->fdb_cap);
	family(f, "vhost_switch_mbufs_in_use", "gauge",
	       "Mbufs out of the NUMA socket's pool: in rings, in flight, in lcore caches.");
	for (i = 0; i < RTE_MAX_NUMA_NODES; i++)
		if (s->mbuf_size[i] != 0)
			fprintf(f,
				"vhost_switch_mbufs_in_use{socket=\"%u\"} %" PRIu32
				"\n",
				i, s->mbuf_used[i]);
	family(f, "vhost_switch_mbufs_pool_size", "gauge",
	       "Mbufs in the NUMA socket's pool.");
	for (i = 0; i < RTE_MAX_NUMA_NODES; i++)
		if (s->mbuf_size[i] != 0)
			fprintf(f,
				"vhost_switch_mbufs_pool_size{socket=\"%u\"} %" PRIu32
				"\n",
				i, s->mbuf_size[i]);
	family(f, "vhost_switch_call_relay_total", "counter",
	       "Guest interrupts through the call relay, by outcome: relayed, full (the frontend's eventfd held one not consumed yet), blocked (a write cut short).");
	fprintf(f,
		"vhost_switch_call_relay_total{outcome=\"relayed\"} %" PRIu64
		"\nvhost_switch_call_relay_total{outcome=\"full\"} %" PRIu64
		"\nvhost_switch_call_relay_total{outcome=\"blocked\"} %" PRIu64
		"\n",
		s->call.relayed, s->call.full, s->call.blocked);
}

/* A JSON integer of @p o, or 0. */
static uint64_t
jnum(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static void
remote_labels(FILE *f, const char *metric, json_t *t, json_t *r)
{
	const char *name = json_string_value(json_object_get(t, "name"));
	const char *ip = json_string_value(json_object_get(r, "ip"));

	fprintf(f, "%s{", metric);
	put_label(f, "tunnel", name != NULL ? name : "");
	fprintf(f, ",vni=\"%" PRIu64 "\",", jnum(t, "vni"));
	put_label(f, "remote", ip != NULL ? ip : "");
	fputs("} ", f);
}

/* Tunnel remotes, from vxlan/show. */
static void
render_remotes(FILE *f, json_t *tunnels)
{
	static const struct {
		const char *name, *key, *help;
	} rc[] = {
		{ "vhost_switch_vxlan_remote_tx_packets_total", "tx_pkts",
		  "Frames encapsulated towards the remote VTEP." },
		{ "vhost_switch_vxlan_remote_tx_bytes_total", "tx_bytes",
		  "Bytes of inner frames sent to the remote VTEP." },
		{ "vhost_switch_vxlan_remote_rx_packets_total", "rx_pkts",
		  "Frames decapsulated from the remote VTEP." },
		{ "vhost_switch_vxlan_remote_rx_bytes_total", "rx_bytes",
		  "Bytes of inner frames received from the remote VTEP." },
		{ "vhost_switch_vxlan_remote_unresolved_total", "unresolved",
		  "Frames dropped: the remote's (or gateway's) MAC unresolved." },
	};
	static const char resolved[] = "vhost_switch_vxlan_remote_resolved";
	json_t *t, *r;
	size_t i, j, c;

	for (c = 0; c < RTE_DIM(rc); c++) {
		family(f, rc[c].name, "counter", rc[c].help);
		json_array_foreach(tunnels, i, t)
		{
			json_array_foreach(json_object_get(t, "remotes"), j, r)
			{
				remote_labels(f, rc[c].name, t, r);
				fprintf(f, "%" PRIu64 "\n", jnum(r, rc[c].key));
			}
		}
	}
	family(f, resolved, "gauge",
	       "1 once the remote's (or gateway's) MAC is resolved.");
	json_array_foreach(tunnels, i, t)
	{
		json_array_foreach(json_object_get(t, "remotes"), j, r)
		{
			const char *st =
				json_string_value(json_object_get(r, "state"));

			remote_labels(f, resolved, t, r);
			fprintf(f, "%d\n",
				st != NULL && strcmp(st, "resolved") == 0);
		}
	}
}

/* A key that can be part of a metric name as it is. */
static bool
metric_word(const char *key)
{
	return key[0] != '\0' &&
		key[strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_")] ==
		'\0';
}

/*
 * Underlay counters, from vxlan/show: every integer member of an underlay
 * object is a counter (vs_vxlan.c's UL_COUNTERS), named after its key.
 */
static void
render_underlays(FILE *f, json_t *uls)
{
	json_t *first = json_array_get(uls, 0), *u, *v;
	const char *key, *port;
	size_t i;

	json_object_foreach(first, key, v)
	{
		if (!json_is_integer(v) || !metric_word(key))
			continue;
		fprintf(f,
			"# HELP vhost_switch_vxlan_underlay_%s_total Underlay counter %s (vxlan/show).\n"
			"# TYPE vhost_switch_vxlan_underlay_%s_total counter\n",
			key, key, key);
		json_array_foreach(uls, i, u)
		{
			port = json_string_value(json_object_get(u, "port"));
			fprintf(f, "vhost_switch_vxlan_underlay_%s_total{",
				key);
			put_label(f, "port", port != NULL ? port : "");
			fprintf(f, "} %" PRIu64 "\n", jnum(u, key));
		}
	}
}

static void
render(FILE *f, const struct snap *s)
{
	family(f, "vhost_switch_info", "gauge",
	       "Always 1; the version is a label.");
	fprintf(f, "vhost_switch_info{version=\"%s\"} 1\n", VS_VERSION);
	render_ports(f, s);
	render_lcores(f, s);
	render_tables(f, s);
	if (s->vxlan != NULL) {
		json_t *tunnels = json_object_get(s->vxlan, "tunnels");

		if (json_array_size(tunnels) > 0)
			render_remotes(f, tunnels);
		render_underlays(f, json_object_get(s->vxlan, "underlays"));
	}
}

/*
 * The whole exposition, in a malloc'ed buffer of *len bytes; NULL when out
 * of memory.
 */
static char *
scrape(size_t *len)
{
	struct snap *s = calloc(1, sizeof(*s));
	char *buf = NULL, err[128];
	FILE *f;

	if (s == NULL)
		return NULL;
	/* vxlan/show takes the command lock itself: not under ours. */
	if (vs_cmd_find("vxlan/show") != NULL &&
	    vs_cmd_exec("vxlan/show", 0, NULL, &s->vxlan, err, sizeof(err)) !=
		    0)
		s->vxlan = NULL;
	vs_cmd_lock();
	snap_take(s);
	vs_cmd_unlock();
	f = open_memstream(&buf, len);
	if (f != NULL) {
		render(f, s);
		if (fclose(f) != 0) {
			free(buf);
			buf = NULL;
		}
	}
	json_decref(s->vxlan);
	free(s);
	return buf;
}

/* ---- HTTP ---- */

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned int status, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(text), (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * MHD calls this once when the headers are in, and again for each piece
 * of a body; every answer here is given on the first call (a GET has no
 * body, and any other method is refused before its body is read).
 */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **req_cls)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len = 0;
	char *buf;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
			     "only GET and HEAD\n");
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND,
			     "not found: the metrics are at /metrics\n");
	buf = scrape(&len);
	if (buf == NULL)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
			     "out of memory\n");
	r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				MET_CONTENT_TYPE);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	rte_vlog(RTE_LOG_WARNING, vs_logtype_metrics, fmt, ap);
}

/* A bound, listening TCP socket, or -errno. */
static int
listen_on(const char *addr, uint16_t port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	const struct sockaddr *sa = (const struct sockaddr *)&s4;
	socklen_t salen = sizeof(s4);
	int fd, one = 1, ret;

	if (inet_pton(AF_INET, addr, &s4.sin_addr) == 1) {
		s4.sin_port = htons(port);
	} else if (inet_pton(AF_INET6, addr, &s6.sin6_addr) == 1) {
		s6.sin6_port = htons(port);
		sa = (const struct sockaddr *)&s6;
		salen = sizeof(s6);
	} else {
		return -EINVAL;
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A restarted switch rebinds while old connections sit in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, sa, salen) < 0 || listen(fd, SOMAXCONN) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int
vs_metrics_start(const char *addr, uint16_t port)
{
	sigset_t all, old;
	int fd;

	if (mhd != NULL)
		return -EALREADY;
	fd = listen_on(addr, port);
	if (fd < 0) {
		if (fd == -EADDRINUSE)
			MET_LOG(ERR,
				"--metrics %s:%u: the port is in use by another process\n",
				addr, port);
		else
			MET_LOG(ERR, "--metrics %s:%u: cannot listen: %s\n",
				addr, port, strerror(-fd));
		return fd;
	}
	/*
	 * MHD's thread inherits this mask: signals (SIGTERM, SIGUSR1) go to
	 * the threads that handle them, never to the HTTP thread.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/*
	 * AUTO picks epoll: the switch can hold more fds than select()'s
	 * FD_SETSIZE (two eventfds per vring, per guest).
	 */
	mhd = MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MET_MAX_CONN,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)MET_CONN_TIMEOUT_S,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (mhd == NULL) {
		close(fd);
		MET_LOG(ERR, "--metrics %s:%u: cannot start the HTTP server\n",
			addr, port);
		return -ENOMEM;
	}
	MET_LOG(INFO, "metrics at http://%s%s%s:%u/metrics\n",
		strchr(addr, ':') ? "[" : "", addr,
		strchr(addr, ':') ? "]" : "", port);
	return 0;
}

void
vs_metrics_stop(void)
{
	if (mhd == NULL)
		return;
	/* Closes the listening socket, joins the thread (and its scrape). */
	MHD_stop_daemon(mhd);
	mhd = NULL;
}
