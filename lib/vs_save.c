/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * config/save and the SIGHUP reload (vs_save.h). The writer prints the
 * running state in the INI form vs_conf.c parses; the reload parses the
 * file with the same code and compares it with the running state, port by
 * port and key by key, so a port whose settings did not change is not
 * touched: its MAC entries, its rx queues' lcores and its traffic stay.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cfgfile.h>
#include <rte_common.h>
#include <rte_ether.h>
#include <rte_log.h>
#include <rte_string_fns.h>

#include "vs_cmd.h"
#include "vs_fdb.h"
#include "vs_fwd.h"
#include "vs_port_priv.h"
#include "vs_save.h"
#include "vs_switch.h"
#include "vs_vxlan.h"

RTE_LOG_REGISTER(vs_logtype_save, vswitch.save, INFO);
#define SAVE_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vs_logtype_save, "vswitch.save: " fmt, \
		##__VA_ARGS__)

/* Control side only: config/save and the reload run under the command lock. */
static struct {
	char file[PATH_MAX]; /* --config; "" none */
	/* [switch] values only a restart changes, as the switch started. */
	uint16_t burst;
	uint32_t mbufs, fdb_size, tx_retries, stats_period, call_relay;
	char metrics_addr[VS_ADDR_LEN]; /* --metrics; port 0: none */
	uint16_t metrics_port;
	/* The file as last read: what a reload manages. NULL: no file. */
	struct vs_conf *named;
	/* Levels set by [log] and log/set, in order, one per pattern. */
	uint16_t nb_log;
	struct vs_log_conf log[VS_MAX_LOG_CONF];
} sv;

void
vs_save_log_note(const char *pattern, uint32_t level)
{
	uint16_t i;

	/* The same pattern again: it moves last, as it now applies last. */
	for (i = 0; i < sv.nb_log; i++)
		if (strcmp(sv.log[i].pattern, pattern) == 0) {
			memmove(&sv.log[i], &sv.log[i + 1],
				(sv.nb_log - i - 1) * sizeof(sv.log[0]));
			sv.nb_log--;
			break;
		}
	if (sv.nb_log == VS_MAX_LOG_CONF) {
		memmove(&sv.log[0], &sv.log[1],
			(sv.nb_log - 1) * sizeof(sv.log[0]));
		sv.nb_log--;
	}
	strlcpy(sv.log[sv.nb_log].pattern, pattern, sizeof(sv.log[0].pattern));
	sv.log[sv.nb_log++].level = level;
}

void
vs_save_apply_log(const struct vs_conf *conf)
{
	uint16_t i;

	for (i = 0; i < conf->nb_log; i++) {
		if (rte_log_set_level_pattern(conf->log[i].pattern,
					      conf->log[i].level) != 0) {
			SAVE_LOG(ERR, "[log] %s: cannot set level %s\n",
				 conf->log[i].pattern,
				 vs_conf_log_level_name(conf->log[i].level));
			continue;
		}
		vs_save_log_note(conf->log[i].pattern, conf->log[i].level);
	}
}

static int
fdb_add(const struct vs_fdb_conf *f, char *err, size_t errlen)
{
	struct vs_port *p = vs_port_lookup(f->port);
	struct rte_ether_addr mac;
	int ret;

	if (p == NULL) {
		snprintf(err, errlen,
			 "[fdb] %02x:%02x:%02x:%02x:%02x:%02x: no port '%s'",
			 f->mac[0], f->mac[1], f->mac[2], f->mac[3], f->mac[4],
			 f->mac[5], f->port);
		return -ENXIO;
	}
	memcpy(mac.addr_bytes, f->mac, 6);
	ret = vs_fdb_add_static(&mac, f->vlan, p->id);
	if (ret < 0)
		snprintf(err, errlen, "[fdb] %02x:%02x:%02x:%02x:%02x:%02x: %s",
			 f->mac[0], f->mac[1], f->mac[2], f->mac[3], f->mac[4],
			 f->mac[5],
			 ret == -ENOSPC ? "the MAC table is full"
					: strerror(-ret));
	return ret;
}

int
vs_save_apply_ports(const struct vs_conf *conf, char *err, size_t errlen)
{
	uint16_t i;
	int ret;

	for (i = 0; i < conf->nb_busyloop; i++) {
		const struct vs_busyloop_conf *b = &conf->busyloop[i];
		struct vs_port *p = vs_port_lookup(b->port);

		if (p == NULL) {
			snprintf(err, errlen, "busyloop-timeout: no port '%s'",
				 b->port);
			return -ENXIO;
		}
		if (vs_port_set_busyloop(p, b->queue, b->usec) < 0 ||
		    p->nb_rxq == 0) {
			snprintf(err, errlen,
				 "busyloop-timeout.%d: %s has no such rx queue",
				 b->queue, p->name);
			return -EINVAL;
		}
	}
	for (i = 0; i < conf->nb_fdb; i++) {
		ret = fdb_add(&conf->fdb[i], err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Read @p file alone into a new conf; [switch] values not given are ~0. */
static struct vs_conf *
load(const char *file, char *err, size_t errlen)
{
	struct vs_conf *c = malloc(sizeof(*c));
	int ret;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	vs_conf_defaults(c);
	/* Out of every option's range: tells "not in the file" apart. */
	c->burst = UINT16_MAX;
	c->mbufs = c->fdb_size = c->fdb_aging = c->tx_retries = UINT32_MAX;
	c->stats_period = c->busyloop_us = c->tx_flush_us = UINT32_MAX;
	c->tx_coalesce_us = c->call_relay = UINT32_MAX;
	ret = vs_conf_load_file(c, file, err, errlen);
	if (ret < 0) {
		free(c);
		return NULL;
	}
	return c;
}

int
vs_save_init(const struct vs_conf *conf)
{
	char err[512];

	sv.burst = conf->burst;
	sv.mbufs = conf->mbufs;
	sv.fdb_size = conf->fdb_size;
	sv.tx_retries = conf->tx_retries;
	sv.call_relay = conf->call_relay;
	sv.stats_period = conf->stats_period;
	strlcpy(sv.metrics_addr, conf->metrics_addr, sizeof(sv.metrics_addr));
	sv.metrics_port = conf->metrics_port;
	/* A reload must find the file whatever the working directory is. */
	if (conf->config_file[0] == '\0' ||
	    realpath(conf->config_file, sv.file) == NULL)
		strlcpy(sv.file, conf->config_file, sizeof(sv.file));
	free(sv.named);
	sv.named = NULL;
	if (sv.file[0] == '\0')
		return 0;
	/* What the file names, without the command line's additions. */
	sv.named = load(sv.file, err, sizeof(err));
	if (sv.named == NULL) {
		SAVE_LOG(WARNING, "%s: %s (a reload will add what it names)\n",
			 sv.file, err);
		return 0;
	}
	return 0;
}

/* Writing. */

static void
put_vlan(FILE *f, const char *key, uint16_t v)
{
	if (v)
		fprintf(f, "%s = %u\n", key, v);
	else
		fprintf(f, "%s = none\n", key);
}

/*
 * "@p key = @p list", over as many "key = ..." lines as librte_cfgfile
 * needs (a value of at most CFG_VALUE_LEN - 1 bytes), each cut after an
 * item: the loader joins the lines of a list key again.
 */
static void
put_list(FILE *f, const char *key, const char *list, char sep)
{
	size_t len = strlen(list), max = CFG_VALUE_LEN - 1, n;

	do {
		n = len;
		if (n > max) {
			for (n = max; n > 0 && list[n] != sep; n--)
				;
			if (n == 0) /* one item longer than a line: cannot be */
				n = max;
		}
		fprintf(f, "%s = %.*s\n", key, (int)n, list);
		if (n < len && list[n] == sep)
			n++;
		list += n;
		len -= n;
	} while (len > 0);
}

/* The keys given on @p k, in the order of doc/guide.md "Port keys". */
static void
put_keys(FILE *f, const struct vs_port_keys *k)
{
	/* Trunks of every other VLAN: 2047 items of up to 5 bytes. */
	char buf[16384];
	size_t off;
	uint16_t i;

	if (k->given & VS_KEY_OFFLOADS)
		fprintf(f, "offloads = %s\n", k->no_offloads ? "off" : "on");
	if (k->given & VS_KEY_MTU)
		fprintf(f, "mtu = %u\n", k->mtu);
	if (k->given & VS_KEY_VLAN)
		put_vlan(f, "vlan", k->vlan);
	if (k->given & VS_KEY_TRUNKS) {
		vs_conf_trunks_fmt(k->trunks, buf, sizeof(buf));
		put_list(f, "trunks", k->trunk_list ? buf : "none", ':');
	}
	if (k->given & VS_KEY_NATIVE)
		put_vlan(f, "native", k->native);
	if (k->given & VS_KEY_MAX_MACS)
		fprintf(f, "max-macs = %u\n", k->max_macs);
	if (k->given & VS_KEY_ALLOWED_MACS) {
		off = 0;
		for (i = 0; i < k->nb_allowed; i++)
			off += snprintf(buf + off, sizeof(buf) - off,
					"%s%02x:%02x:%02x:%02x:%02x:%02x",
					i ? "+" : "", k->allowed[i][0],
					k->allowed[i][1], k->allowed[i][2],
					k->allowed[i][3], k->allowed[i][4],
					k->allowed[i][5]);
		put_list(f, "allowed-macs", k->nb_allowed ? buf : "none", '+');
	}
	if (k->given & VS_KEY_FLOOD_PPS)
		fprintf(f, "flood-pps = %u\n", k->flood_pps);
}

/*
 * The rx queues' timeouts that differ from the default: one line when they
 * are all the same, else one per queue. @return lines written.
 */
static unsigned int
put_busyloop(FILE *f, const struct vs_port *p, uint32_t def)
{
	uint32_t v0 = p->nb_rxq ? vs_port_get_busyloop(p, 0) : def;
	unsigned int n = 0;
	uint16_t q;
	bool same = true;

	for (q = 1; q < p->nb_rxq; q++)
		same &= vs_port_get_busyloop(p, q) == v0;
	if (same) {
		if (v0 == def)
			return 0;
		fprintf(f, "busyloop-timeout = %u\n", v0);
		return 1;
	}
	for (q = 0; q < p->nb_rxq; q++) {
		uint32_t v = vs_port_get_busyloop(p, q);

		if (v != def) {
			fprintf(f, "busyloop-timeout.%u = %u\n", q, v);
			n++;
		}
	}
	return n;
}

static void
put_vxlan(FILE *f, const struct vs_port *p)
{
	struct vs_vxlan_conf xc;
	char b[VS_ADDR_LEN], list[VS_VXLAN_MAX_REMOTES * VS_ADDR_LEN];
	size_t off = 0;
	uint16_t i;

	vs_vxlan_conf_get(p, &xc);
	fprintf(f, "[vxlan.%s]\nvni = %u\nlocal = %s\n", p->name, xc.vni,
		vs_ipaddr_str(xc.family, &xc.local, b));
	list[0] = '\0';
	for (i = 0; i < xc.nb_remote; i++)
		off += snprintf(list + off, sizeof(list) - off, "%s%s",
				i ? "+" : "",
				vs_ipaddr_str(xc.family, &xc.remote[i], b));
	put_list(f, "remote", list, '+');
	fprintf(f, "via = %s\ndstport = %u\nttl = %u\n", xc.via, xc.dstport,
		xc.ttl);
	if (!vs_ipaddr_is_zero(&xc.gw))
		fprintf(f, "gw = %s\n", vs_ipaddr_str(xc.family, &xc.gw, b));
}

struct statics {
	unsigned int n, cap;
	struct vs_fdb_entry_info *e;
};

static void
collect_static(const struct vs_fdb_entry_info *e, void *arg)
{
	struct statics *s = arg;
	void *t;

	if (!e->is_static)
		return;
	if (s->n == s->cap) {
		t = realloc(s->e, (s->cap * 2 + 16) * sizeof(*s->e));
		if (t == NULL)
			return;
		s->e = t;
		s->cap = s->cap * 2 + 16;
	}
	s->e[s->n++] = *e;
}

/* Saved files list static entries by MAC, then VLAN: diff-friendly. */
static int
static_cmp(const void *x, const void *y)
{
	const struct vs_fdb_entry_info *a = x, *b = y;
	int c = memcmp(a->mac.addr_bytes, b->mac.addr_bytes, 6);

	return c ? c : (int)a->vlan - (int)b->vlan;
}

static unsigned int
put_statics(FILE *f)
{
	struct statics s = { 0 };
	unsigned int i, n = 0;

	vs_fdb_walk(VS_PORT_INVALID, collect_static, &s);
	if (s.n)
		qsort(s.e, s.n, sizeof(s.e[0]), static_cmp);
	for (i = 0; i < s.n; i++) {
		const struct vs_fdb_entry_info *e = &s.e[i];
		const struct vs_port *p = vs_port_get(e->port_id);

		if (p == NULL)
			continue;
		if (n++ == 0)
			fprintf(f,
				"\n; Static MAC table entries: MAC[.VLAN] = PORT\n[fdb]\n");
		/* Lower case, as fdb/show prints them. */
		fprintf(f, "%02x:%02x:%02x:%02x:%02x:%02x",
			RTE_ETHER_ADDR_BYTES(&e->mac));
		if (e->vlan)
			fprintf(f, ".%u", e->vlan);
		fprintf(f, " = %s\n", p->name);
	}
	free(s.e);
	return n;
}

static void
put_conf(FILE *f, struct vs_save_counts *cnt)
{
	uint32_t def = vs_port_get_default_busyloop();
	char *buf = NULL;
	size_t len = 0;
	time_t t = time(NULL);
	char when[64];
	FILE *m;
	uint16_t i;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", localtime(&t));
	fprintf(f,
		"; vhost-switch %s: the running configuration, written by config/save on %s.\n"
		"; Start with: vhost-switch [EAL options] -- --config FILE\n\n",
		VS_VERSION, when);
	fprintf(f,
		"[switch]\nburst = %u\nmbufs = %u\nfdb-size = %u\nfdb-aging = %u\n"
		"tx-retries = %u\nstats-period = %u\nbusyloop-timeout = %u\n"
		"tx-flush-interval = %u\ntx-coalesce = %u\ncall-relay = %u\n",
		sv.burst, sv.mbufs, sv.fdb_size, vs_fdb_get_aging(),
		sv.tx_retries, sv.stats_period, def, vs_fwd_get_tx_flush(),
		vs_fwd_get_tx_coalesce(), sv.call_relay);
	if (sv.metrics_port != 0)
		fprintf(f,
			strchr(sv.metrics_addr, ':') != NULL
				? "metrics = [%s]:%u\n"
				: "metrics = %s:%u\n",
			sv.metrics_addr, sv.metrics_port);
	memset(cnt, 0, sizeof(*cnt));
	for (i = 0; i < vs_port_count(); i++) {
		struct vs_port *p = vs_port_get(i);

		if (p == NULL)
			continue;
		cnt->ports++;
		if (p->kind == VS_PORT_VHOST) {
			fprintf(f,
				"\n[vhost.%s]\npath = %s\nmode = %s\nqueues = %u\n",
				p->name, p->vhost.path,
				p->vhost.client ? "client" : "server",
				p->nb_rxq);
			if (p->vhost.sock_uid >= 0)
				fprintf(f, "owner = %d\n", p->vhost.sock_uid);
			if (p->vhost.sock_gid >= 0)
				fprintf(f, "group = %d\n", p->vhost.sock_gid);
			if (p->vhost.sock_mode)
				fprintf(f, "socket-mode = %04o\n",
					p->vhost.sock_mode);
			put_keys(f, &p->keys);
			put_busyloop(f, p, def);
			continue;
		}
		if (p->kind == VS_PORT_VXLAN) {
			fprintf(f, "\n");
			put_vxlan(f, p);
			put_keys(f, &p->keys);
			continue;
		}
		/* An ethdev: a section only for what differs from a new one. */
		m = open_memstream(&buf, &len);
		if (m == NULL)
			continue;
		put_keys(m, &p->keys);
		put_busyloop(m, p, def);
		fclose(m);
		if (len)
			fprintf(f, "\n[port.%s]\n%s", p->name, buf);
		free(buf);
		buf = NULL;
	}
	cnt->static_macs = put_statics(f);
	cnt->log_levels = sv.nb_log;
	if (sv.nb_log) {
		fprintf(f,
			"\n; Log levels set at start or by log/set, in order\n[log]\n");
		for (i = 0; i < sv.nb_log; i++)
			fprintf(f, "%s = %s\n", sv.log[i].pattern,
				vs_conf_log_level_name(sv.log[i].level));
	}
}

int
vs_save_write(const char *file, struct vs_save_counts *cnt, char *err,
	      size_t errlen)
{
	char tmp[PATH_MAX];
	FILE *f;
	int ret = 0, fd;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", file) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", file);
		return -ENAMETOOLONG;
	}
	/*
	 * A new file of our own beside the target (O_EXCL: never through a
	 * link or into a FIFO someone left at a predictable name), renamed
	 * over it once complete.
	 */
	fd = mkstemp(tmp);
	if (fd < 0 || fchmod(fd, 0644) != 0 || (f = fdopen(fd, "w")) == NULL) {
		ret = -errno;
		snprintf(err, errlen, "cannot write %s: %s", tmp,
			 strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return ret;
	}
	put_conf(f, cnt);
	/* On disk before the rename: a crash leaves the old file or this. */
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ret = -errno;
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, file) != 0)
		ret = -errno;
	if (ret < 0) {
		snprintf(err, errlen, "cannot write %s: %s", file,
			 strerror(-ret));
		unlink(tmp);
		return ret;
	}
	SAVE_LOG(INFO, "configuration saved to %s (%u ports)\n", file,
		 cnt->ports);
	return 0;
}

/* Reloading. */

static const struct vs_vhost_conf *
find_vhost(const struct vs_conf *c, const char *name)
{
	uint16_t i;

	for (i = 0; c != NULL && i < c->nb_vhost; i++)
		if (strcmp(c->vhost[i].name, name) == 0)
			return &c->vhost[i];
	return NULL;
}

static const struct vs_vxlan_conf *
find_vxlan(const struct vs_conf *c, const char *name)
{
	uint16_t i;

	for (i = 0; c != NULL && i < c->nb_vxlan; i++)
		if (strcmp(c->vxlan[i].name, name) == 0)
			return &c->vxlan[i];
	return NULL;
}

/* The file named @p p before and no longer does: it goes. */
static bool
to_delete(const struct vs_conf *nc, const struct vs_port *p)
{
	if (p->kind == VS_PORT_ETHDEV)
		return false;
	if (find_vhost(sv.named, p->name) == NULL &&
	    find_vxlan(sv.named, p->name) == NULL)
		return false;
	return find_vhost(nc, p->name) == NULL &&
		find_vxlan(nc, p->name) == NULL;
}

/*
 * Whether port @p name exists once @p nc is applied, and its rx queues
 * (-1 unknown). Names in @p nc win over running ports of that name.
 */
static bool
will_exist(const struct vs_conf *nc, const char *name, int *nb_rxq)
{
	const struct vs_vhost_conf *vc = find_vhost(nc, name);
	struct vs_port *p;

	if (vc != NULL) {
		*nb_rxq = vc->queues;
		return true;
	}
	if (find_vxlan(nc, name) != NULL) {
		*nb_rxq = 0;
		return true;
	}
	p = vs_port_lookup(name);
	if (p == NULL || to_delete(nc, p))
		return false;
	*nb_rxq = p->nb_rxq;
	return true;
}

/* What the running switch cannot take from @p nc: nothing is applied. */
static int
check(const struct vs_conf *nc, char *err, size_t errlen)
{
	const char *name = NULL;
	uint16_t i, j;
	int nq;

	for (i = 0; i < nc->nb_vhost; i++) {
		const struct vs_vhost_conf *vc = &nc->vhost[i];
		struct vs_port *p = vs_port_lookup(vc->name);

		name = vc->name;
		if (p != NULL && p->kind == VS_PORT_ETHDEV)
			goto ethdev;
		for (j = 0; j < vs_port_count(); j++) {
			struct vs_port *o = vs_port_get(j);

			if (o != NULL && o != p && o->kind == VS_PORT_VHOST &&
			    strcmp(o->vhost.path, vc->path) == 0 &&
			    !to_delete(nc, o) &&
			    find_vhost(nc, o->name) == NULL) {
				snprintf(err, errlen,
					 "[vhost.%s]: port %s has socket %s",
					 vc->name, o->name, vc->path);
				return -EEXIST;
			}
		}
	}
	for (i = 0; i < nc->nb_vxlan; i++) {
		const struct vs_vxlan_conf *xc = &nc->vxlan[i];
		struct vs_port *p = vs_port_lookup(xc->name);
		struct vs_port *via = vs_port_lookup(xc->via);

		name = xc->name;
		if (p != NULL && p->kind == VS_PORT_ETHDEV)
			goto ethdev;
		if (via == NULL || via->kind != VS_PORT_ETHDEV) {
			snprintf(err, errlen,
				 "[vxlan.%s]: via '%s' is not an ethdev port",
				 xc->name, xc->via);
			return -ENODEV;
		}
	}
	for (i = 0; i < nc->nb_port; i++)
		if (!will_exist(nc, nc->port[i].port, &nq)) {
			snprintf(err, errlen, "[port.%s]: no such port",
				 nc->port[i].port);
			return -ENXIO;
		}
	for (i = 0; i < nc->nb_busyloop; i++) {
		const struct vs_busyloop_conf *b = &nc->busyloop[i];

		if (!will_exist(nc, b->port, &nq)) {
			snprintf(err, errlen, "busyloop-timeout: no port '%s'",
				 b->port);
			return -ENXIO;
		}
		if (b->queue >= nq || nq == 0) {
			snprintf(err, errlen,
				 "busyloop-timeout.%d: %s has no such rx queue",
				 b->queue, b->port);
			return -EINVAL;
		}
	}
	for (i = 0; i < nc->nb_fdb; i++)
		if (!will_exist(nc, nc->fdb[i].port, &nq)) {
			snprintf(err, errlen, "[fdb]: no port '%s'",
				 nc->fdb[i].port);
			return -ENXIO;
		}
	return 0;
ethdev:
	snprintf(err, errlen, "'%s' is the name of an ethdev port", name);
	return -EEXIST;
}

/* The keys of [port.NAME] sections for @p name, merged into @p k. */
static void
merge_port_keys(const struct vs_conf *nc, const char *name,
		struct vs_port_keys *k)
{
	struct vs_port *p = vs_port_lookup(name);
	uint16_t i;

	/* [port.NAME] by its name, or by the id of the running port. */
	for (i = 0; i < nc->nb_port; i++)
		if (strcmp(nc->port[i].port, name) == 0 ||
		    (p != NULL && vs_port_lookup(nc->port[i].port) == p))
			vs_conf_port_keys_merge(k, &nc->port[i].keys);
}

static const char *const key_names[] = {
	"offloads", "mtu",	"vlan",		"trunks",
	"native",   "max-macs", "allowed-macs", "flood-pps",
};

static void
keys_str(uint32_t given, char *buf, size_t len)
{
	size_t off = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < RTE_DIM(key_names) && off < len; i++)
		if (given & (1u << i))
			off += snprintf(buf + off, len - off, "%s%s",
					off ? ", " : "", key_names[i]);
}

/*
 * The keys of @p want (absent ones at their defaults) that differ from
 * those @p p runs with, into @p chg. A removed mtu= keeps the MTU: the
 * device's own default is not known once it was changed.
 */
static void
keys_diff(const struct vs_port *p, const struct vs_port_keys *want,
	  struct vs_port_keys *chg)
{
	struct vs_port_keys w = { 0 }, r = { 0 };
	uint32_t d = 0;

	vs_conf_port_keys_merge(&w, want);
	vs_conf_port_keys_merge(&r, &p->keys);
	if (p->kind != VS_PORT_VXLAN || (want->given & VS_KEY_OFFLOADS))
		if (w.no_offloads !=
		    (p->kind == VS_PORT_VXLAN ? r.no_offloads : p->ol_off))
			d |= VS_KEY_OFFLOADS;
	if ((want->given & VS_KEY_MTU) &&
	    w.mtu != ((p->keys.given & VS_KEY_MTU) ? r.mtu : p->mtu))
		d |= VS_KEY_MTU;
	if (w.vlan != r.vlan)
		d |= VS_KEY_VLAN;
	if (w.trunk_list != r.trunk_list ||
	    memcmp(w.trunks, r.trunks, sizeof(w.trunks)) != 0)
		d |= VS_KEY_TRUNKS;
	if (w.native != r.native)
		d |= VS_KEY_NATIVE;
	if (w.max_macs != r.max_macs)
		d |= VS_KEY_MAX_MACS;
	if (w.nb_allowed != r.nb_allowed ||
	    memcmp(w.allowed, r.allowed, w.nb_allowed * 6) != 0)
		d |= VS_KEY_ALLOWED_MACS;
	if (w.flood_pps != r.flood_pps)
		d |= VS_KEY_FLOOD_PPS;
	*chg = w;
	chg->given = d;
}

static int
set_keys(struct vs_port *p, const struct vs_port_keys *want)
{
	struct vs_port_keys chg;
	char err[256], names[128];
	int ret;

	keys_diff(p, want, &chg);
	if (chg.given == 0)
		return 0;
	keys_str(chg.given, names, sizeof(names));
	ret = vs_port_set_keys(p, &chg, err, sizeof(err));
	if (ret < 0) {
		SAVE_LOG(ERR, "reload: port %s: %s\n", p->name, err);
		return 0;
	}
	SAVE_LOG(INFO, "reload: port %s: %s changed\n", p->name, names);
	return 1;
}

static int
del_port(const char *port_name, const char *why)
{
	char name[VS_NAME_LEN];
	int ret;

	/* The port, and the name in it, are freed by the deletion. */
	strlcpy(name, port_name, sizeof(name));
	ret = vs_switch_port_del(name);

	if (ret < 0) {
		SAVE_LOG(ERR, "reload: port %s: cannot delete: %s\n", name,
			 strerror(-ret));
		return 0;
	}
	SAVE_LOG(INFO, "reload: port %s deleted (%s)\n", name, why);
	return 1;
}

/* Whether running vhost port @p p can stay for @p vc (else: re-created). */
static bool
vhost_same(const struct vs_port *p, const struct vs_vhost_conf *vc)
{
	return p->kind == VS_PORT_VHOST &&
		strcmp(p->vhost.path, vc->path) == 0 &&
		p->vhost.client == vc->client && p->nb_rxq == vc->queues &&
		p->ol_off == vc->keys.no_offloads;
}

/* owner=, group=, mode= (server sockets; a client's are not ours). */
static bool
perms_same(const struct vs_port *p, const struct vs_vhost_conf *vc)
{
	return p->vhost.client ||
		(p->vhost.sock_uid == vc->sock_uid &&
		 p->vhost.sock_gid == vc->sock_gid &&
		 p->vhost.sock_mode == vc->sock_mode);
}

static bool
vxlan_same(const struct vs_port *p, const struct vs_vxlan_conf *xc)
{
	struct vs_vxlan_conf cur;

	if (vs_vxlan_conf_get(p, &cur) < 0)
		return false;
	return cur.vni == xc->vni && cur.family == xc->family &&
		memcmp(&cur.local, &xc->local, sizeof(cur.local)) == 0 &&
		memcmp(&cur.gw, &xc->gw, sizeof(cur.gw)) == 0 &&
		cur.dstport == xc->dstport && cur.ttl == xc->ttl &&
		cur.nb_remote == xc->nb_remote &&
		memcmp(cur.remote, xc->remote,
		       xc->nb_remote * sizeof(xc->remote[0])) == 0 &&
		vs_port_lookup(cur.via) == vs_port_lookup(xc->via);
}

/* The first of @p c's first @p upto [port.*] sections naming @p p, or upto. */
static uint16_t
first_section(const struct vs_conf *c, const struct vs_port *p, uint16_t upto)
{
	uint16_t j;

	for (j = 0; j < upto; j++)
		if (vs_port_lookup(c->port[j].port) == p)
			break;
	return j;
}

static int
reload_ports(const struct vs_conf *nc)
{
	char err[256];
	uint16_t i;
	int n = 0, ret;

	/* First what goes, so that names and sockets are free. */
	for (i = 0; i < vs_port_count(); i++) {
		struct vs_port *p = vs_port_get(i);

		if (p != NULL && to_delete(nc, p))
			n += del_port(p->name, "gone from the file");
	}
	for (i = 0; i < nc->nb_vhost; i++) {
		struct vs_vhost_conf vc = nc->vhost[i];
		struct vs_port *p;

		merge_port_keys(nc, vc.name, &vc.keys);
		p = vs_port_lookup(vc.name);
		/*
		 * New owner/group/mode: on the live socket (then perms_same());
		 * none at all (refused) re-creates the port below.
		 */
		if (p != NULL && vhost_same(p, &vc) && !perms_same(p, &vc) &&
		    vs_port_vhost_set_perms(p, vc.sock_uid, vc.sock_gid,
					    vc.sock_mode) == 0)
			n++;
		if (p != NULL && (!vhost_same(p, &vc) || !perms_same(p, &vc))) {
			n += del_port(
				vc.name,
				"path, mode, queues, offloads or the socket's owner changed");
			p = vs_port_lookup(vc.name);
		}
		if (p != NULL) {
			n += set_keys(p, &vc.keys);
			continue;
		}
		err[0] = '\0';
		ret = vs_switch_port_add(&vc, err, sizeof(err));
		if (ret < 0) {
			SAVE_LOG(ERR, "reload: port %s: cannot add %s: %s\n",
				 vc.name, vc.path,
				 err[0] ? err : strerror(-ret));
			continue;
		}
		SAVE_LOG(INFO, "reload: port %u %s added (%s)\n", ret, vc.name,
			 vc.path);
		n++;
	}
	for (i = 0; i < nc->nb_vxlan; i++) {
		struct vs_vxlan_conf xc = nc->vxlan[i];
		struct vs_port *p;

		merge_port_keys(nc, xc.name, &xc.keys);
		p = vs_port_lookup(xc.name);
		if (p != NULL && !vxlan_same(p, &xc)) {
			n += del_port(xc.name, "tunnel settings changed");
			p = vs_port_lookup(xc.name);
		}
		if (p != NULL) {
			n += set_keys(p, &xc.keys);
			continue;
		}
		err[0] = '\0';
		ret = vs_switch_vxlan_add(&xc, err, sizeof(err));
		if (ret < 0) {
			SAVE_LOG(ERR, "reload: tunnel %s: cannot add: %s\n",
				 xc.name, err[0] ? err : strerror(-ret));
			continue;
		}
		SAVE_LOG(INFO, "reload: port %u %s added (vxlan vni %u)\n", ret,
			 xc.name, xc.vni);
		n++;
	}
	/* [port.NAME] of the ports the file does not create: ethdevs, ... */
	for (i = 0; i < nc->nb_port; i++) {
		const struct vs_port_conf *pc = &nc->port[i];
		struct vs_port *p;
		struct vs_port_keys k = { 0 };

		p = vs_port_lookup(pc->port);
		if (p == NULL || find_vhost(nc, p->name) ||
		    find_vxlan(nc, p->name))
			continue; /* absent, or done above with its section */
		/* Every section naming it, by name or id, at once. */
		if (first_section(nc, p, i) < i)
			continue;
		merge_port_keys(nc, p->name, &k);
		n += set_keys(p, &k);
	}
	/* A [port.NAME] section gone from the file: its keys to defaults. */
	for (i = 0; sv.named != NULL && i < sv.named->nb_port; i++) {
		struct vs_port *p = vs_port_lookup(sv.named->port[i].port);
		struct vs_port_keys k = { 0 };

		if (p == NULL || find_vhost(nc, p->name) ||
		    find_vxlan(nc, p->name) ||
		    first_section(nc, p, nc->nb_port) < nc->nb_port)
			continue; /* gone, or still named: done above */
		if (first_section(sv.named, p, i) == i)
			n += set_keys(p, &k);
	}
	return n;
}

/* Whether the file names port @p p (a section, or a busy-loop key). */
static bool
names(const struct vs_conf *nc, const struct vs_port *p)
{
	uint16_t i;

	if (find_vhost(nc, p->name) || find_vxlan(nc, p->name))
		return true;
	for (i = 0; i < nc->nb_port; i++)
		if (vs_port_lookup(nc->port[i].port) == p)
			return true;
	for (i = 0; i < nc->nb_busyloop; i++)
		if (vs_port_lookup(nc->busyloop[i].port) == p)
			return true;
	return false;
}

static int
reload_busyloop(const struct vs_conf *nc)
{
	uint32_t old = vs_port_get_default_busyloop();
	uint32_t def = nc->busyloop_us != UINT32_MAX ? nc->busyloop_us : old;
	uint32_t want[VS_PORT_MAX_QUEUES];
	uint16_t i, q, k;
	int n = 0;

	if (def != old) {
		vs_port_set_default_busyloop(def);
		SAVE_LOG(INFO, "reload: busyloop-timeout %u -> %u us\n", old,
			 def);
		n++;
	}
	for (i = 0; i < vs_port_count(); i++) {
		struct vs_port *p = vs_port_get(i);
		bool named, changed = false;

		if (p == NULL || p->nb_rxq == 0)
			continue;
		named = names(nc, p);
		for (q = 0; q < p->nb_rxq; q++) {
			uint32_t cur = vs_port_get_busyloop(p, q);

			/* Not named: it follows the default it was at. */
			want[q] = named || cur == old ? def : cur;
		}
		for (k = 0; named && k < nc->nb_busyloop; k++) {
			const struct vs_busyloop_conf *b = &nc->busyloop[k];

			if (vs_port_lookup(b->port) != p)
				continue;
			for (q = 0; q < p->nb_rxq; q++)
				if (b->queue < 0 || b->queue == q)
					want[q] = b->usec;
		}
		for (q = 0; q < p->nb_rxq; q++)
			if (vs_port_get_busyloop(p, q) != want[q]) {
				vs_port_set_busyloop(p, q, want[q]);
				changed = true;
			}
		if (changed) {
			SAVE_LOG(INFO,
				 "reload: port %s: busyloop-timeout changed\n",
				 p->name);
			n++;
		}
	}
	vs_fwd_wake_all();
	return n;
}

static const struct vs_fdb_entry_info *
find_static(const struct statics *s, const uint8_t *mac, uint16_t vlan)
{
	unsigned int i;

	for (i = 0; i < s->n; i++)
		if (s->e[i].vlan == vlan &&
		    memcmp(s->e[i].mac.addr_bytes, mac, 6) == 0)
			return &s->e[i];
	return NULL;
}

static const struct vs_fdb_conf *
find_fdb(const struct vs_conf *c, const uint8_t *mac, uint16_t vlan)
{
	uint16_t i;

	for (i = 0; c != NULL && i < c->nb_fdb; i++)
		if (c->fdb[i].vlan == vlan &&
		    memcmp(c->fdb[i].mac, mac, 6) == 0)
			return &c->fdb[i];
	return NULL;
}

static int
reload_fdb(const struct vs_conf *nc)
{
	struct statics s = { 0 };
	const struct vs_fdb_entry_info *e;
	struct rte_ether_addr mac;
	char err[256];
	uint16_t i;
	int n = 0;

	vs_fdb_walk(VS_PORT_INVALID, collect_static, &s);
	for (i = 0; sv.named != NULL && i < sv.named->nb_fdb; i++) {
		const struct vs_fdb_conf *f = &sv.named->fdb[i];

		if (find_fdb(nc, f->mac, f->vlan) != NULL ||
		    find_static(&s, f->mac, f->vlan) == NULL)
			continue;
		memcpy(mac.addr_bytes, f->mac, 6);
		if (vs_fdb_del(&mac, f->vlan) == 0) {
			SAVE_LOG(
				INFO,
				"reload: static %02x:%02x:%02x:%02x:%02x:%02x vlan %u deleted\n",
				f->mac[0], f->mac[1], f->mac[2], f->mac[3],
				f->mac[4], f->mac[5], f->vlan);
			n++;
		}
	}
	for (i = 0; i < nc->nb_fdb; i++) {
		const struct vs_fdb_conf *f = &nc->fdb[i];
		struct vs_port *p = vs_port_lookup(f->port);

		e = find_static(&s, f->mac, f->vlan);
		if (p != NULL && e != NULL && e->port_id == p->id)
			continue;
		if (fdb_add(f, err, sizeof(err)) < 0) {
			SAVE_LOG(ERR, "reload: %s\n", err);
			continue;
		}
		SAVE_LOG(
			INFO,
			"reload: static %02x:%02x:%02x:%02x:%02x:%02x vlan %u on %s\n",
			f->mac[0], f->mac[1], f->mac[2], f->mac[3], f->mac[4],
			f->mac[5], f->vlan, f->port);
		n++;
	}
	free(s.e);
	return n;
}

static int
reload_switch(const struct vs_conf *nc)
{
	const struct {
		const char *name;
		uint32_t want, have;
	} restart[] = {
		{ "burst", nc->burst == UINT16_MAX ? sv.burst : nc->burst,
		  sv.burst },
		{ "mbufs", nc->mbufs, sv.mbufs },
		{ "fdb-size", nc->fdb_size, sv.fdb_size },
		{ "tx-retries", nc->tx_retries, sv.tx_retries },
		{ "stats-period", nc->stats_period, sv.stats_period },
		{ "call-relay", nc->call_relay, sv.call_relay },
	};
	/* What takes effect at once. */
	const struct {
		const char *name, *unit;
		uint32_t want;
		uint32_t (*get)(void);
		void (*set)(uint32_t);
	} live[] = {
		{ "fdb-aging", "s", nc->fdb_aging, vs_fdb_get_aging,
		  vs_fdb_set_aging },
		{ "tx-flush-interval", "us", nc->tx_flush_us,
		  vs_fwd_get_tx_flush, vs_fwd_set_tx_flush },
		{ "tx-coalesce", "us", nc->tx_coalesce_us,
		  vs_fwd_get_tx_coalesce, vs_fwd_set_tx_coalesce },
	};
	unsigned int i;
	int n = 0;

	for (i = 0; i < RTE_DIM(live); i++)
		if (live[i].want != UINT32_MAX &&
		    live[i].want != live[i].get()) {
			SAVE_LOG(INFO, "reload: %s %u -> %u %s\n", live[i].name,
				 live[i].get(), live[i].want, live[i].unit);
			live[i].set(live[i].want);
			n++;
		}
	for (i = 0; i < RTE_DIM(restart); i++)
		if (restart[i].want != UINT32_MAX &&
		    restart[i].want != restart[i].have)
			SAVE_LOG(
				WARNING,
				"reload: [switch] %s = %u needs a restart (running with %u)\n",
				restart[i].name, restart[i].want,
				restart[i].have);
	return n;
}

static int
reload_log(const struct vs_conf *nc)
{
	uint16_t i, j;
	int n = 0;

	for (i = 0; i < nc->nb_log; i++) {
		const struct vs_log_conf *l = &nc->log[i];

		for (j = 0; j < sv.nb_log; j++)
			if (strcmp(sv.log[j].pattern, l->pattern) == 0)
				break;
		if (j < sv.nb_log && sv.log[j].level == l->level)
			continue;
		if (rte_log_set_level_pattern(l->pattern, l->level) != 0) {
			SAVE_LOG(ERR, "reload: [log] %s: cannot set %s\n",
				 l->pattern, vs_conf_log_level_name(l->level));
			continue;
		}
		vs_save_log_note(l->pattern, l->level);
		SAVE_LOG(INFO, "reload: log %s = %s\n", l->pattern,
			 vs_conf_log_level_name(l->level));
		n++;
	}
	return n;
}

int
vs_save_reload(void)
{
	struct vs_conf *nc;
	char err[512];
	int n, ret;

	if (sv.file[0] == '\0') {
		SAVE_LOG(
			WARNING,
			"SIGHUP: no --config file to read again; nothing changed\n");
		return -ENOENT;
	}
	SAVE_LOG(INFO, "reload: reading %s\n", sv.file);
	nc = load(sv.file, err, sizeof(err));
	if (nc == NULL) {
		SAVE_LOG(ERR, "reload: %s; nothing changed\n", err);
		return -EINVAL;
	}
	vs_cmd_lock();
	ret = check(nc, err, sizeof(err));
	if (ret < 0) {
		vs_cmd_unlock();
		SAVE_LOG(ERR, "reload: %s: %s; nothing changed\n", sv.file,
			 err);
		free(nc);
		return ret;
	}
	n = reload_ports(nc);
	n += reload_busyloop(nc);
	n += reload_fdb(nc);
	n += reload_switch(nc);
	n += reload_log(nc);
	free(sv.named);
	sv.named = nc;
	vs_cmd_unlock();
	SAVE_LOG(INFO, "reload: %s applied, %d change(s)\n", sv.file, n);
	return n;
}

static int
cmd_config_save(int argc, const char *const *argv, json_t **res, char *err,
		size_t errlen)
{
	const char *file = argc > 0 ? argv[0] : sv.file;
	struct vs_save_counts cnt;
	int ret;

	if (file[0] == '\0')
		return vs_cmd_err(
			err, errlen, VS_RPC_INVALID_PARAMS,
			"the switch was started without --config: give FILE");
	ret = vs_save_write(file, &cnt, err, errlen);
	if (ret < 0)
		return VS_RPC_FAILED;
	*res = json_pack("{s:s, s:i, s:i, s:i}", "file", file, "ports",
			 cnt.ports, "static_macs", cnt.static_macs,
			 "log_levels", cnt.log_levels);
	return 0;
}

static const struct vs_cmd save_cmds[] = {
	{ "config/save", "[FILE]",
	  "write the running configuration as an INI file --config reads (default: the --config file)",
	  0, 1, NULL, cmd_config_save },
};

int
vs_save_cmd_register(void)
{
	return vs_cmd_register(save_cmds, RTE_DIM(save_cmds));
}
