/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Switch options. Everything here is pure parsing: no EAL state is touched,
 * so the same code is fuzzed and unit-tested without a running switch.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <grp.h>
#include <pwd.h>

#include <rte_cfgfile.h>
#include <rte_common.h>

#include "vs_conf.h"

/*
 * Defaults. burst 32: librte_vhost copies at most 32 packets per enqueue
 * call (MAX_PKT_BURST in lib/vhost), so a larger burst only splits.
 * fdb-size 65536 and fdb-aging 300 s are the values OVS ships
 * (other_config:mac-table-size is 8192 there; 64 K covers a rack of VMs).
 * tx-retries 4: OVS's vhost tx retry default is 8 with a pause; 4 retries
 * of a 32-packet enqueue keep the worst-case stall per burst under ~1 us.
 */
#define VS_DEF_BURST 32
#define VS_MAX_BURST 512
/* The smallest --mbufs: one lcore's mempool cache (256) and a half. */
#define VS_MBUFS_MIN 384
#define VS_DEF_FDB_SIZE 65536
#define VS_MAX_FDB_SIZE (16u << 20)
#define VS_DEF_FDB_AGING 300
#define VS_DEF_TX_RETRIES 4
#define VS_MAX_QUEUES 32 /* librte_vhost VHOST_MAX_QUEUE_PAIRS is 128 */

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void
vs_conf_defaults(struct vs_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->burst = VS_DEF_BURST;
	conf->fdb_size = VS_DEF_FDB_SIZE;
	conf->fdb_aging = VS_DEF_FDB_AGING;
	conf->tx_retries = VS_DEF_TX_RETRIES;
	conf->call_relay = 1;
}

static int
parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= VS_NAME_LEN)
		return 0;
	/* Names appear in telemetry paths: letters, digits, '_' and '-'. */
	for (; *s; s++)
		if (!(*s == '_' || *s == '-' || (*s >= '0' && *s <= '9') ||
		      (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
			return 0;
	return 1;
}

const char vs_conf_port_keys_help[] =
	"offloads=on|off, mtu=N, vlan=N, trunks=N[-M][:...], native=N, max-macs=N, allowed-macs=MAC[+MAC...], flood-pps=N";

/* A VLAN id 1..4094 or "none" (0). */
static int
parse_vlan(const char *val, uint16_t *out)
{
	uint32_t v;

	if (strcmp(val, "none") == 0) {
		*out = 0;
		return 0;
	}
	if (parse_u32(val, 1, VS_VLAN_MAX, &v) < 0)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "10-20:30": VLAN ids 0..4094, ranges with '-', joined by ':'. */
static int
parse_trunks(const char *val, uint64_t *bits)
{
	char *buf, *tok, *save = NULL;
	int ret = 0;

	memset(bits, 0, 64 * sizeof(uint64_t));
	/* A list over several lines of a config file is joined: any length. */
	if (*val == '\0' || (buf = strdup(val)) == NULL)
		return -EINVAL;
	for (tok = strtok_r(buf, ":", &save); tok && ret == 0;
	     tok = strtok_r(NULL, ":", &save)) {
		char *dash = strchr(tok, '-');
		uint32_t lo, hi, v;

		if (dash != NULL)
			*dash = '\0';
		if (parse_u32(tok, 0, VS_VLAN_MAX, &lo) < 0) {
			ret = -EINVAL;
			break;
		}
		hi = lo;
		if (dash != NULL &&
		    (parse_u32(dash + 1, 0, VS_VLAN_MAX, &hi) < 0 || hi < lo)) {
			ret = -EINVAL;
			break;
		}
		for (v = lo; v <= hi; v++)
			bits[v / 64] |= 1ull << (v % 64);
	}
	free(buf);
	if (ret < 0)
		return ret;
	/* "1::2" or a trailing ':' leave nothing out: strtok skips them. */
	return val[strlen(val) - 1] == ':' || strstr(val, "::") || *val == ':'
		? -EINVAL
		: 0;
}

void
vs_conf_trunks_fmt(const uint64_t *bits, char *buf, size_t len)
{
	size_t off = 0;
	uint32_t v = 0, e;

	buf[0] = '\0';
	while (v <= VS_VLAN_MAX && off < len) {
		if (!(bits[v / 64] & (1ull << (v % 64)))) {
			v++;
			continue;
		}
		for (e = v; e + 1 <= VS_VLAN_MAX &&
		     (bits[(e + 1) / 64] & (1ull << ((e + 1) % 64)));
		     e++)
			;
		if (e == v)
			off += snprintf(buf + off, len - off, "%s%u",
					off ? ":" : "", v);
		else
			off += snprintf(buf + off, len - off, "%s%u-%u",
					off ? ":" : "", v, e);
		v = e + 1;
	}
}

/* "02:00:00:00:00:01+02:00:00:00:00:02", or "none". */
static int
parse_macs(const char *val, struct vs_port_keys *k)
{
	const char *s = val;
	unsigned int b[6];
	int n;

	k->nb_allowed = 0;
	if (strcmp(val, "none") == 0)
		return 0;
	for (;;) {
		if (k->nb_allowed >= VS_MAX_ALLOWED_MACS)
			return -EINVAL;
		n = 0;
		if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2],
			   &b[3], &b[4], &b[5], &n) != 6 ||
		    n != 17)
			return -EINVAL;
		for (int i = 0; i < 6; i++)
			k->allowed[k->nb_allowed][i] = b[i];
		k->nb_allowed++;
		s += n;
		if (*s == '\0')
			return 0;
		if (*s != '+')
			return -EINVAL;
		s++;
	}
}

void
vs_conf_port_keys_merge(struct vs_port_keys *to,
			const struct vs_port_keys *from)
{
	if (from->given & VS_KEY_OFFLOADS)
		to->no_offloads = from->no_offloads;
	if (from->given & VS_KEY_MTU)
		to->mtu = from->mtu;
	if (from->given & VS_KEY_VLAN)
		to->vlan = from->vlan;
	if (from->given & VS_KEY_TRUNKS) {
		to->trunk_list = from->trunk_list;
		memcpy(to->trunks, from->trunks, sizeof(to->trunks));
	}
	if (from->given & VS_KEY_NATIVE)
		to->native = from->native;
	if (from->given & VS_KEY_MAX_MACS)
		to->max_macs = from->max_macs;
	if (from->given & VS_KEY_ALLOWED_MACS) {
		to->nb_allowed = from->nb_allowed;
		memcpy(to->allowed, from->allowed, sizeof(to->allowed));
	}
	if (from->given & VS_KEY_FLOOD_PPS)
		to->flood_pps = from->flood_pps;
	to->given |= from->given;
}

int
vs_conf_port_keys_check(const struct vs_port_keys *k, const char *where,
			char *err, size_t errlen)
{
	if (k->vlan && k->trunk_list)
		return fail(
			err, errlen,
			"%svlan= and trunks= exclude each other (an access port is in one VLAN)",
			where);
	if (k->vlan && k->native)
		return fail(
			err, errlen,
			"%svlan= and native= exclude each other (native= is for trunks)",
			where);
	return 0;
}

/*
 * The keys every port takes (struct vs_port_keys). Returns 0, -ENOENT for
 * another key, or -EINVAL with @p err filled.
 */
static int
port_key(struct vs_port_keys *k, const char *key, const char *val,
	 const char *where, char *err, size_t errlen)
{
	uint32_t v;

	if (strcmp(key, "offloads") == 0) {
		if (strcmp(val, "on") == 0)
			k->no_offloads = false;
		else if (strcmp(val, "off") == 0)
			k->no_offloads = true;
		else
			return fail(err, errlen,
				    "%sinvalid offloads '%s' (on or off)",
				    where, val);
		k->given |= VS_KEY_OFFLOADS;
		return 0;
	}
	if (strcmp(key, "mtu") == 0) {
		if (parse_u32(val, VS_MTU_MIN, VS_MTU_MAX, &v) < 0)
			return fail(err, errlen, "%sinvalid mtu '%s' (%d..%d)",
				    where, val, VS_MTU_MIN, VS_MTU_MAX);
		k->mtu = v;
		k->given |= VS_KEY_MTU;
		return 0;
	}
	if (strcmp(key, "vlan") == 0 || strcmp(key, "native") == 0) {
		bool native = key[0] == 'n';

		if (parse_vlan(val, native ? &k->native : &k->vlan) < 0)
			return fail(err, errlen,
				    "%sinvalid %s '%s' (1..%d or none)", where,
				    key, val, VS_VLAN_MAX);
		k->given |= native ? VS_KEY_NATIVE : VS_KEY_VLAN;
		return 0;
	}
	if (strcmp(key, "trunks") == 0) {
		k->trunk_list = strcmp(val, "none") != 0;
		if (k->trunk_list && parse_trunks(val, k->trunks) < 0)
			return fail(
				err, errlen,
				"%sinvalid trunks '%s' (VLAN ids 0..%d and ranges N-M joined by ':', e.g. 10-20:30, or none)",
				where, val, VS_VLAN_MAX);
		if (!k->trunk_list)
			memset(k->trunks, 0, sizeof(k->trunks));
		k->given |= VS_KEY_TRUNKS;
		return 0;
	}
	if (strcmp(key, "max-macs") == 0) {
		if (parse_u32(val, 0, VS_MAX_FDB_SIZE, &v) < 0)
			return fail(
				err, errlen,
				"%sinvalid max-macs '%s' (0..%u, 0: no limit)",
				where, val, VS_MAX_FDB_SIZE);
		k->max_macs = v;
		k->given |= VS_KEY_MAX_MACS;
		return 0;
	}
	if (strcmp(key, "allowed-macs") == 0) {
		if (parse_macs(val, k) < 0)
			return fail(
				err, errlen,
				"%sinvalid allowed-macs '%s' (up to %d MACs xx:xx:xx:xx:xx:xx joined by '+', or none)",
				where, val, VS_MAX_ALLOWED_MACS);
		k->given |= VS_KEY_ALLOWED_MACS;
		return 0;
	}
	if (strcmp(key, "flood-pps") == 0) {
		if (parse_u32(val, 0, 100000000, &v) < 0)
			return fail(
				err, errlen,
				"%sinvalid flood-pps '%s' (0..100000000, 0: no limit)",
				where, val);
		k->flood_pps = v;
		k->given |= VS_KEY_FLOOD_PPS;
		return 0;
	}
	return -ENOENT;
}

int
vs_conf_port_key(struct vs_port_keys *keys, const char *kv, const char *where,
		 char *err, size_t errlen)
{
	char buf[640]; /* allowed-macs= and 16 MACs */
	char *eq;

	if (strlen(kv) >= sizeof(buf))
		return fail(err, errlen, "%s'%.32s...': too long", where, kv);
	strcpy(buf, kv);
	eq = strchr(buf, '=');
	if (eq == NULL || eq == buf)
		return -ENOENT;
	*eq = '\0';
	return port_key(keys, buf, eq + 1, where, err, errlen);
}

/*
 * owner=USER, group=GROUP (names or numeric ids), mode=OCTAL of a vhost
 * server socket. Returns 0, -ENOENT for another key, or -EINVAL.
 */
static int
sock_key(struct vs_vhost_conf *vc, const char *key, const char *val,
	 const char *where, char *err, size_t errlen)
{
	uint32_t id;
	char *end;
	unsigned long v;

	if (strcmp(key, "owner") == 0) {
		struct passwd *pw = getpwnam(val);

		if (pw != NULL)
			id = pw->pw_uid;
		else if (parse_u32(val, 0, INT32_MAX - 1, &id) < 0)
			return fail(err, errlen, "%sowner '%s': no such user",
				    where, val);
		vc->sock_uid = (int32_t)id;
		return 0;
	}
	if (strcmp(key, "group") == 0) {
		struct group *gr = getgrnam(val);

		if (gr != NULL)
			id = gr->gr_gid;
		else if (parse_u32(val, 0, INT32_MAX - 1, &id) < 0)
			return fail(err, errlen, "%sgroup '%s': no such group",
				    where, val);
		vc->sock_gid = (int32_t)id;
		return 0;
	}
	/* socket-mode: the same, in a [vhost.NAME] section beside mode=server */
	if (strcmp(key, "mode") == 0 || strcmp(key, "socket-mode") == 0) {
		errno = 0;
		v = strtoul(val, &end, 8);
		if (errno != 0 || *val == '\0' || *end != '\0' || v > 0777 ||
		    (v & 0600) != 0600)
			return fail(
				err, errlen,
				"%sinvalid mode '%s' (server, client, or the socket's octal mode, e.g. 0660, with rw for the owner)",
				where, val);
		vc->sock_mode = (uint32_t)v;
		return 0;
	}
	return -ENOENT;
}

int
vs_conf_parse_vhost(struct vs_vhost_conf *vc, const char *spec, char *err,
		    size_t errlen)
{
	char where[PATH_MAX + 32];
	char buf[PATH_MAX + 128];
	char *tok, *save = NULL;
	uint32_t q;
	int first = 1;

	memset(vc, 0, sizeof(*vc));
	vc->queues = 1;
	vc->sock_uid = -1;
	vc->sock_gid = -1;
	if (spec == NULL || *spec == '\0' || *spec == ',')
		return fail(err, errlen,
			    "--vhost '%s': a socket path is needed",
			    spec ? spec : "");
	if (strlen(spec) >= sizeof(buf))
		return fail(err, errlen, "--vhost: spec longer than %zu bytes",
			    sizeof(buf) - 1);
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), first = 0) {
		if (first) {
			if (strlen(tok) >= sizeof(vc->path) ||
			    strlen(tok) >= 108 /* sun_path */)
				return fail(
					err, errlen,
					"--vhost '%s': socket path longer than 107 bytes",
					spec);
			strcpy(vc->path, tok);
		} else if (strcmp(tok, "client") == 0) {
			vc->client = true;
		} else if (strcmp(tok, "server") == 0) {
			vc->client = false;
		} else if (strncmp(tok, "queues=", 7) == 0) {
			if (parse_u32(tok + 7, 1, VS_MAX_QUEUES, &q) < 0)
				return fail(
					err, errlen,
					"--vhost '%s': invalid queues '%s' (1..%d)",
					spec, tok + 7, VS_MAX_QUEUES);
			vc->queues = q;
		} else if (strncmp(tok, "name=", 5) == 0) {
			if (!valid_name(tok + 5))
				return fail(
					err, errlen,
					"--vhost '%s': invalid name '%s' (1..%d of A-Z a-z 0-9 _ -)",
					spec, tok + 5, VS_NAME_LEN - 1);
			strcpy(vc->name, tok + 5);
		} else {
			char *eq = strchr(tok, '=');
			int ret;

			snprintf(where, sizeof(where), "--vhost '%s': ", spec);
			ret = -ENOENT;
			if (eq != NULL) {
				*eq = '\0';
				ret = sock_key(vc, tok, eq + 1, where, err,
					       errlen);
				*eq = '=';
			}
			if (ret == -ENOENT)
				ret = vs_conf_port_key(&vc->keys, tok, where,
						       err, errlen);
			if (ret == 0)
				continue;
			if (ret != -ENOENT)
				return ret;
			return fail(
				err, errlen,
				"--vhost '%s': unknown parameter '%s' (client, queues=N, name=NAME, owner=USER, group=GROUP, mode=OCTAL, %s)",
				spec, tok, vs_conf_port_keys_help);
		}
	}
	snprintf(where, sizeof(where), "--vhost '%s': ", spec);
	return vs_conf_port_keys_check(&vc->keys, where, err, errlen);
}

static int
add_vhost(struct vs_conf *conf, const struct vs_vhost_conf *vc, char *err,
	  size_t errlen)
{
	uint16_t i;

	if (conf->nb_vhost >= VS_MAX_VHOST_CONF)
		return fail(err, errlen,
			    "--vhost '%s': more than %d vhost ports", vc->path,
			    VS_MAX_VHOST_CONF);
	for (i = 0; i < conf->nb_vhost; i++) {
		if (strcmp(conf->vhost[i].path, vc->path) == 0)
			return fail(err, errlen,
				    "--vhost '%s': socket path given twice",
				    vc->path);
		if (vc->name[0] && strcmp(conf->vhost[i].name, vc->name) == 0)
			return fail(err, errlen,
				    "--vhost '%s': name '%s' given twice",
				    vc->path, vc->name);
	}
	conf->vhost[conf->nb_vhost++] = *vc;
	return 0;
}

int
vs_conf_parse_port(struct vs_port_conf *pc, const char *spec, char *err,
		   size_t errlen)
{
	char where[160];
	char buf[1024];
	char *tok, *save = NULL;
	int ret;

	memset(pc, 0, sizeof(*pc));
	if (spec == NULL || *spec == '\0' || *spec == ',')
		return fail(err, errlen,
			    "--port '%s': a port name or id is needed",
			    spec ? spec : "");
	if (strlen(spec) >= sizeof(buf))
		return fail(err, errlen, "--port: spec longer than %zu bytes",
			    sizeof(buf) - 1);
	strcpy(buf, spec);
	tok = strtok_r(buf, ",", &save);
	if (strlen(tok) >= sizeof(pc->port) || strchr(tok, '=') != NULL)
		return fail(err, errlen,
			    "--port '%s': '%s' is not a port name or id", spec,
			    tok);
	strcpy(pc->port, tok);
	snprintf(where, sizeof(where), "--port '%.120s': ", spec);
	while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
		ret = vs_conf_port_key(&pc->keys, tok, where, err, errlen);
		if (ret == -ENOENT)
			return fail(err, errlen, "%sunknown key '%s' (%s)",
				    where, tok, vs_conf_port_keys_help);
		if (ret < 0)
			return ret;
	}
	if (pc->keys.given == 0)
		return fail(err, errlen, "%sno key given (%s)", where,
			    vs_conf_port_keys_help);
	return vs_conf_port_keys_check(&pc->keys, where, err, errlen);
}

/* A second --port for the same port adds to the first. */
static int
add_port(struct vs_conf *conf, const struct vs_port_conf *pc, char *err,
	 size_t errlen)
{
	uint16_t i;

	for (i = 0; i < conf->nb_port; i++)
		if (strcmp(conf->port[i].port, pc->port) == 0) {
			vs_conf_port_keys_merge(&conf->port[i].keys, &pc->keys);
			return 0;
		}
	if (conf->nb_port >= VS_MAX_PORT_CONF)
		return fail(err, errlen, "--port '%s': more than %d ports",
			    pc->port, VS_MAX_PORT_CONF);
	conf->port[conf->nb_port++] = *pc;
	return 0;
}

const char *
vs_ipaddr_str(int family, const union vs_ipaddr *a, char *buf)
{
	if ((family != AF_INET && family != AF_INET6) ||
	    inet_ntop(family, a, buf, VS_ADDR_LEN) == NULL)
		strcpy(buf, "?");
	return buf;
}

/*
 * A unicast address of a tunnel: IPv4 (not 0.0.0.0, multicast or
 * reserved) or IPv6 (not ::, ::1, multicast or IPv4-mapped). Its family
 * in @p family; -EINVAL if it is none.
 */
static int
parse_tunnel_ip(const char *s, uint8_t *family, union vs_ipaddr *out)
{
	union vs_ipaddr a;
	struct in6_addr a6;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, s, &a.v4) == 1) {
		if (a.v4 == 0 || (ntohl(a.v4) >> 28) >= 14)
			return -EINVAL;
		*family = AF_INET;
	} else if (inet_pton(AF_INET6, s, &a6) == 1) {
		if (IN6_IS_ADDR_UNSPECIFIED(&a6) || IN6_IS_ADDR_LOOPBACK(&a6) ||
		    IN6_IS_ADDR_MULTICAST(&a6) || IN6_IS_ADDR_V4MAPPED(&a6))
			return -EINVAL;
		memcpy(a.v6, &a6, sizeof(a.v6));
		*family = AF_INET6;
	} else {
		return -EINVAL;
	}
	*out = a;
	return 0;
}

/* The family of a tunnel's address @p key: the tunnel's, if it had one. */
static int
same_family(struct vs_vxlan_conf *xc, uint8_t family, const char *key,
	    const char *val, const char *where, char *err, size_t errlen)
{
	if (xc->family != 0 && xc->family != family)
		return fail(
			err, errlen,
			"%s%s '%s' is %s but an address before it is %s: local, remote and gw must be all IPv4 or all IPv6",
			where, key, val, family == AF_INET ? "IPv4" : "IPv6",
			family == AF_INET ? "IPv6" : "IPv4");
	xc->family = family;
	return 0;
}

/* One key of a tunnel; -ENOENT for a key that is not a tunnel key. */
static int
vxlan_key(struct vs_vxlan_conf *xc, const char *key, const char *val,
	  const char *where, char *err, size_t errlen)
{
	uint8_t family;
	uint32_t v;

	if (strcmp(key, "vni") == 0) {
		if (parse_u32(val, 0, (1u << 24) - 1, &v) < 0)
			return fail(err, errlen, "%sinvalid vni '%s' (0..%u)",
				    where, val, (1u << 24) - 1);
		xc->vni = v;
	} else if (strcmp(key, "local") == 0 || strcmp(key, "gw") == 0) {
		if (parse_tunnel_ip(val, &family,
				    key[0] == 'l' ? &xc->local : &xc->gw) < 0)
			return fail(
				err, errlen,
				"%sinvalid %s '%s' (a unicast IPv4 or IPv6 address)",
				where, key, val);
		return same_family(xc, family, key, val, where, err, errlen);
	} else if (strcmp(key, "remote") == 0) {
		char buf[VS_VXLAN_MAX_REMOTES * VS_ADDR_LEN + 1], *tok,
			*save = NULL;

		xc->nb_remote = 0;
		if (strlen(val) >= sizeof(buf) || *val == '\0' ||
		    val[strlen(val) - 1] == '+' || *val == '+' ||
		    strstr(val, "++"))
			goto bad_remote;
		strcpy(buf, val);
		for (tok = strtok_r(buf, "+", &save); tok;
		     tok = strtok_r(NULL, "+", &save)) {
			union vs_ipaddr ip;
			uint32_t i;

			if (xc->nb_remote >= VS_VXLAN_MAX_REMOTES ||
			    parse_tunnel_ip(tok, &family, &ip) < 0)
				goto bad_remote;
			if (same_family(xc, family, key, tok, where, err,
					errlen) < 0)
				return -EINVAL;
			for (i = 0; i < xc->nb_remote; i++)
				if (memcmp(&xc->remote[i], &ip, sizeof(ip)) ==
				    0)
					goto bad_remote;
			xc->remote[xc->nb_remote++] = ip;
		}
	} else if (strcmp(key, "via") == 0) {
		if (*val == '\0' || strlen(val) >= sizeof(xc->via))
			return fail(err, errlen, "%sinvalid via '%s'", where,
				    val);
		strcpy(xc->via, val);
	} else if (strcmp(key, "dstport") == 0) {
		if (parse_u32(val, 1, 65535, &v) < 0)
			return fail(err, errlen,
				    "%sinvalid dstport '%s' (1..65535)", where,
				    val);
		xc->dstport = v;
	} else if (strcmp(key, "ttl") == 0) {
		if (parse_u32(val, 1, 255, &v) < 0)
			return fail(err, errlen, "%sinvalid ttl '%s' (1..255)",
				    where, val);
		xc->ttl = v;
	} else {
		return -ENOENT;
	}
	return 0;
bad_remote:
	return fail(
		err, errlen,
		"%sinvalid remote '%s' (up to %d distinct unicast IPv4 or IPv6 addresses joined by '+')",
		where, val, VS_VXLAN_MAX_REMOTES);
}

static int
vxlan_check(const struct vs_vxlan_conf *xc, const char *where, char *err,
	    size_t errlen)
{
	uint16_t i;

	if (vs_ipaddr_is_zero(&xc->local))
		return fail(err, errlen, "%smissing local=IP", where);
	if (xc->nb_remote == 0)
		return fail(err, errlen, "%smissing remote=IP[+IP...]", where);
	if (xc->via[0] == '\0')
		return fail(err, errlen, "%smissing via=PORT (the underlay)",
			    where);
	for (i = 0; i < xc->nb_remote; i++)
		if (memcmp(&xc->remote[i], &xc->local, sizeof(xc->local)) == 0)
			return fail(err, errlen,
				    "%sa remote is the local address", where);
	return vs_conf_port_keys_check(&xc->keys, where, err, errlen);
}

static void
vxlan_defaults(struct vs_vxlan_conf *xc)
{
	memset(xc, 0, sizeof(*xc));
	xc->dstport = 4789; /* IANA, RFC 7348 */
	xc->ttl = 64;
}

int
vs_conf_parse_vxlan(struct vs_vxlan_conf *xc, const char *spec, char *err,
		    size_t errlen)
{
	char where[160];
	char buf[1024];
	char *tok, *save = NULL;
	int ret;

	vxlan_defaults(xc);
	if (spec == NULL || strlen(spec) >= sizeof(buf))
		return fail(err, errlen, "--vxlan: spec missing or too long");
	snprintf(where, sizeof(where), "--vxlan '%.120s': ", spec);
	strcpy(buf, spec);
	tok = strtok_r(buf, ",", &save);
	if (tok == NULL || *spec == ',' || strchr(tok, '=') != NULL ||
	    !valid_name(tok))
		return fail(
			err, errlen,
			"%sa tunnel name is needed first (1..%d of A-Z a-z 0-9 _ -)",
			where, VS_NAME_LEN - 1);
	strcpy(xc->name, tok);
	while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
		char *eq = strchr(tok, '=');

		if (eq == NULL)
			return fail(err, errlen, "%sunknown parameter '%s'",
				    where, tok);
		*eq = '\0';
		ret = vxlan_key(xc, tok, eq + 1, where, err, errlen);
		if (ret == -ENOENT)
			ret = port_key(&xc->keys, tok, eq + 1, where, err,
				       errlen);
		if (ret == -ENOENT)
			return fail(
				err, errlen,
				"%sunknown parameter '%s' (vni=N, local=IP, remote=IP[+IP...], via=PORT, dstport=N, ttl=N, gw=IP, %s)",
				where, tok, vs_conf_port_keys_help);
		if (ret < 0)
			return ret;
	}
	return vxlan_check(xc, where, err, errlen);
}

static int
add_vxlan(struct vs_conf *conf, const struct vs_vxlan_conf *xc, char *err,
	  size_t errlen)
{
	uint16_t i;

	if (conf->nb_vxlan >= VS_MAX_VXLAN_CONF)
		return fail(err, errlen, "--vxlan '%s': more than %d tunnels",
			    xc->name, VS_MAX_VXLAN_CONF);
	for (i = 0; i < conf->nb_vxlan; i++)
		if (strcmp(conf->vxlan[i].name, xc->name) == 0)
			return fail(err, errlen,
				    "--vxlan '%s': name given twice", xc->name);
	conf->vxlan[conf->nb_vxlan++] = *xc;
	return 0;
}

/* One table for the scalar options of the command line and the file. */
struct num_opt {
	const char *name;
	size_t off;
	int is16;
	uint32_t min, max;
};

#define NUM(n, f, w, lo, hi) \
	{ \
		n, offsetof(struct vs_conf, f), w, lo, hi \
	}
static const struct num_opt num_opts[] = {
	NUM("burst", burst, 1, 1, VS_MAX_BURST),
	NUM("mbufs", mbufs, 0, 0, 1u << 26),
	NUM("fdb-size", fdb_size, 0, 16, VS_MAX_FDB_SIZE),
	NUM("fdb-aging", fdb_aging, 0, 0, 86400 * 365),
	NUM("tx-retries", tx_retries, 0, 0, 1024),
	NUM("stats-period", stats_period, 0, 0, 86400),
	NUM("busyloop-timeout", busyloop_us, 0, 0, 10 * 1000 * 1000),
	NUM("tx-flush-interval", tx_flush_us, 0, 0, VS_MAX_TX_FLUSH_US),
	NUM("tx-coalesce", tx_coalesce_us, 0, 0, VS_MAX_TX_FLUSH_US),
	NUM("call-relay", call_relay, 0, 0, 1),
};

static int
set_num(struct vs_conf *conf, const char *name, const char *val,
	const char *where, char *err, size_t errlen)
{
	size_t i;
	uint32_t v;

	for (i = 0; i < RTE_DIM(num_opts); i++) {
		if (strcmp(num_opts[i].name, name) != 0)
			continue;
		if (parse_u32(val, num_opts[i].min, num_opts[i].max, &v) < 0)
			return fail(
				err, errlen,
				"%s%s: invalid value '%s' (an integer %u..%u)",
				where, name, val, num_opts[i].min,
				num_opts[i].max);
		/*
		 * A pool smaller than one lcore's mempool cache and a half
		 * cannot be created: 0 (computed) or at least VS_MBUFS_MIN.
		 */
		if (strcmp(name, "mbufs") == 0 && v != 0 && v < VS_MBUFS_MIN)
			return fail(
				err, errlen,
				"%s%s: invalid value '%s' (0 to compute it, or %u..%u)",
				where, name, val, VS_MBUFS_MIN,
				num_opts[i].max);
		if (num_opts[i].is16)
			*(uint16_t *)((char *)conf + num_opts[i].off) = v;
		else
			*(uint32_t *)((char *)conf + num_opts[i].off) = v;
		return 0;
	}
	return -ENOENT;
}

static int
copy_path(char *dst, const char *src, const char *opt, char *err, size_t errlen)
{
	if (*src == '\0' || strlen(src) >= PATH_MAX)
		return fail(err, errlen, "%s: invalid path '%s'", opt, src);
	strcpy(dst, src);
	return 0;
}

int
vs_conf_parse_metrics(struct vs_conf *conf, const char *spec, const char *where,
		      char *err, size_t errlen)
{
	char addr[VS_ADDR_LEN] = "127.0.0.1";
	unsigned char buf[sizeof(struct in6_addr)];
	const char *port = spec, *colon;
	uint32_t v;
	size_t n;

	if (spec[0] == '[') {
		colon = strstr(spec, "]:");
		n = colon != NULL ? (size_t)(colon - spec - 1) : 0;
		if (n == 0 || n >= sizeof(addr))
			goto bad;
		memcpy(addr, spec + 1, n);
		addr[n] = '\0';
		if (inet_pton(AF_INET6, addr, buf) != 1)
			goto bad;
		port = colon + 2;
	} else if ((colon = strrchr(spec, ':')) != NULL) {
		n = colon - spec;
		if (n == 0 || n >= sizeof(addr))
			goto bad;
		memcpy(addr, spec, n);
		addr[n] = '\0';
		if (inet_pton(AF_INET, addr, buf) != 1)
			goto bad;
		port = colon + 1;
	}
	if (parse_u32(port, 1, 65535, &v) < 0)
		goto bad;
	strcpy(conf->metrics_addr, addr);
	conf->metrics_port = v;
	return 0;
bad:
	return fail(
		err, errlen,
		"%smetrics: invalid value '%s' (PORT, IPV4:PORT or [IPV6]:PORT; PORT 1..65535)",
		where, spec);
}

static const char *const log_level_names[] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

uint32_t
vs_conf_log_level(const char *s)
{
	uint32_t i;

	for (i = 0; i < RTE_DIM(log_level_names); i++)
		if (strcmp(s, log_level_names[i]) == 0)
			return i + 1;
	if (parse_u32(s, 1, RTE_DIM(log_level_names), &i) == 0)
		return i;
	return 0;
}

const char *
vs_conf_log_level_name(uint32_t level)
{
	return level >= 1 && level <= RTE_DIM(log_level_names)
		? log_level_names[level - 1]
		: "?";
}

/*
 * "busyloop-timeout = USEC" or "busyloop-timeout.QUEUE = USEC" in the
 * section of port @p port; -ENOENT for another key.
 */
static int
busyloop_key(struct vs_conf *conf, const char *port, const char *key,
	     const char *val, const char *where, char *err, size_t errlen)
{
	static const char name[] = "busyloop-timeout";
	struct vs_busyloop_conf *b;
	uint32_t q = 0, usec;
	bool one = false;

	if (strncmp(key, name, sizeof(name) - 1) != 0)
		return -ENOENT;
	key += sizeof(name) - 1;
	if (*key == '.') {
		if (parse_u32(key + 1, 0, VS_MAX_QUEUES - 1, &q) < 0)
			return fail(
				err, errlen,
				"%sinvalid queue in 'busyloop-timeout%s' (0..%d)",
				where, key, VS_MAX_QUEUES - 1);
		one = true;
	} else if (*key != '\0') {
		return -ENOENT;
	}
	if (parse_u32(val, 0, 10 * 1000 * 1000, &usec) < 0)
		return fail(err, errlen,
			    "%sinvalid busyloop-timeout '%s' (0..10000000 us)",
			    where, val);
	if (conf->nb_busyloop >= VS_MAX_BUSYLOOP_CONF)
		return fail(err, errlen, "%smore than %d busyloop-timeout keys",
			    where, VS_MAX_BUSYLOOP_CONF);
	b = &conf->busyloop[conf->nb_busyloop++];
	snprintf(b->port, sizeof(b->port), "%s", port);
	b->queue = one ? (int16_t)q : -1;
	b->usec = usec;
	return 0;
}

/* [fdb]: "MAC = PORT" (VLAN 0) or "MAC.VLAN = PORT", one static entry each. */
static int
fdb_entry(struct vs_conf *conf, const char *key, const char *val,
	  const char *where, char *err, size_t errlen)
{
	struct vs_fdb_conf *f;
	unsigned int b[6];
	uint32_t vlan = 0;
	uint16_t i;
	int n = 0;

	if (sscanf(key, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &n) != 6 ||
	    n != 17 || (key[17] != '\0' && key[17] != '.') ||
	    (key[17] == '.' && parse_u32(key + 18, 0, 4095, &vlan) < 0))
		return fail(
			err, errlen,
			"%s'%s': expected MAC or MAC.VLAN (xx:xx:xx:xx:xx:xx, VLAN 0..4095)",
			where, key);
	if ((b[0] & 1) || (b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0)
		return fail(
			err, errlen,
			"%s%.17s is multicast or zero: only unicast MACs are forwarded by the table",
			where, key);
	if (*val == '\0' || strlen(val) >= VS_NAME_LEN || strchr(val, ' '))
		return fail(err, errlen, "%s%s: invalid port '%s'", where, key,
			    val);
	if (conf->nb_fdb >= VS_MAX_FDB_CONF)
		return fail(err, errlen, "%smore than %d static entries", where,
			    VS_MAX_FDB_CONF);
	f = &conf->fdb[conf->nb_fdb];
	for (n = 0; n < 6; n++)
		f->mac[n] = b[n];
	f->vlan = vlan;
	for (i = 0; i < conf->nb_fdb; i++)
		if (conf->fdb[i].vlan == vlan &&
		    memcmp(conf->fdb[i].mac, f->mac, 6) == 0)
			return fail(err, errlen, "%s%s given twice", where,
				    key);
	strcpy(f->port, val);
	conf->nb_fdb++;
	return 0;
}

/* [log]: "PATTERN = LEVEL", as log/set PATTERN LEVEL. */
static int
log_entry(struct vs_conf *conf, const char *key, const char *val,
	  const char *where, char *err, size_t errlen)
{
	struct vs_log_conf *l;
	uint32_t level = vs_conf_log_level(val);

	if (level == 0)
		return fail(
			err, errlen,
			"%s%s: invalid level '%s' (emerg alert crit err warning notice info debug, or 1..8)",
			where, key, val);
	if (conf->nb_log >= VS_MAX_LOG_CONF)
		return fail(err, errlen, "%smore than %d log levels", where,
			    VS_MAX_LOG_CONF);
	l = &conf->log[conf->nb_log++];
	snprintf(l->pattern, sizeof(l->pattern), "%s", key);
	l->level = level;
	return 0;
}

/*
 * Sections of one key per line and no fixed key set ([fdb], [log]): read
 * whole, however many entries they have.
 */
static int
list_section(struct vs_conf *conf, struct rte_cfgfile *cfg, const char *sec,
	     const char *where, char *err, size_t errlen)
{
	struct rte_cfgfile_entry *ent;
	int n, j, ret = 0;

	n = rte_cfgfile_section_num_entries(cfg, sec);
	if (n <= 0)
		return 0;
	ent = calloc(n, sizeof(*ent));
	if (ent == NULL)
		return fail(err, errlen, "%sout of memory", where);
	n = rte_cfgfile_section_entries(cfg, sec, ent, n);
	for (j = 0; j < n && ret == 0; j++)
		ret = strcmp(sec, "fdb") == 0
			? fdb_entry(conf, ent[j].name, ent[j].value, where, err,
				    errlen)
			: log_entry(conf, ent[j].name, ent[j].value, where, err,
				    errlen);
	free(ent);
	return ret;
}

/*
 * rte_cfgfile skips lines it does not understand; a typo in a config file
 * must not pass silently, so every line is checked first.
 */
static int
check_ini_syntax(const char *file, char *err, size_t errlen)
{
	char line[1024];
	unsigned int n = 0;
	FILE *f;
	int ret = 0;

	f = fopen(file, "r");
	if (f == NULL) {
		fail(err, errlen, "--config '%s': cannot read the file: %s",
		     file, strerror(errno));
		return -ENOENT;
	}
	while (ret == 0 && fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *e;

		n++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			ret = fail(
				err, errlen,
				"--config '%s': line %u is longer than %zu bytes",
				file, n, sizeof(line) - 2);
			break;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strcspn(p, "\r\n");
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (p == e || *p == ';' || *p == '#')
			continue;
		if (*p == '[' && e[-1] == ']' && e - p > 2) {
			if (e - p - 2 >= CFG_NAME_LEN) {
				ret = fail(
					err, errlen,
					"--config '%s': line %u: a section name is at most %d bytes",
					file, n, CFG_NAME_LEN - 1);
				break;
			}
			continue;
		}
		if (*p != '=' && memchr(p, '=', e - p) != NULL) {
			char *eq = memchr(p, '=', e - p), *k = eq, *v = eq + 1;

			/* librte_cfgfile cuts longer ones short, silently. */
			while (k > p && (k[-1] == ' ' || k[-1] == '\t'))
				k--;
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			if (k - p >= CFG_NAME_LEN || e - v >= CFG_VALUE_LEN) {
				ret = fail(
					err, errlen,
					"--config '%s': line %u: a key is at most %d bytes, a value %d (give a longer list of remote, allowed-macs or trunks over several lines of that key)",
					file, n, CFG_NAME_LEN - 1,
					CFG_VALUE_LEN - 1);
				break;
			}
			continue;
		}
		ret = fail(
			err, errlen,
			"--config '%s': line %u: expected [section], key = value or a ; comment",
			file, n);
	}
	fclose(f);
	return ret;
}

/* Keys whose value is a list: their item separator, else 0. */
static char
list_sep(const char *key)
{
	if (strcmp(key, "remote") == 0 || strcmp(key, "allowed-macs") == 0)
		return '+';
	if (strcmp(key, "trunks") == 0)
		return ':';
	return 0;
}

/* A key of a section and its value. */
struct kv {
	const char *name;
	const char *val;
};

/*
 * The @p n entries of a section into @p kv, a list key given on several
 * lines (config/save writes a long list so) as one entry, its lines
 * joined in @p joined[j] (the caller frees it). @return the number of
 * entries, or -ENOMEM.
 */
static int
join_lists(const struct rte_cfgfile_entry *ent, int n, struct kv *kv,
	   char **joined)
{
	bool done[64] = { false };
	int j, k, out = 0;

	for (j = 0; j < n; j++) {
		char sep = list_sep(ent[j].name);
		size_t len = 0, l;

		if (done[j])
			continue;
		kv[out].name = ent[j].name;
		kv[out].val = ent[j].value;
		if (sep != 0) {
			for (k = j; k < n; k++)
				if (strcmp(ent[k].name, ent[j].name) == 0)
					len += strlen(ent[k].value) + 1;
			joined[out] = malloc(len);
			if (joined[out] == NULL)
				return -ENOMEM;
			strcpy(joined[out], ent[j].value);
			for (k = j + 1; k < n; k++)
				if (strcmp(ent[k].name, ent[j].name) == 0) {
					l = strlen(joined[out]);
					joined[out][l] = sep;
					strcpy(joined[out] + l + 1,
					       ent[k].value);
					done[k] = true;
				}
			kv[out].val = joined[out];
		}
		out++;
	}
	return out;
}

int
vs_conf_load_file(struct vs_conf *conf, const char *file, char *err,
		  size_t errlen)
{
	struct rte_cfgfile *cfg;
	char where[128], *joined[64] = { NULL };
	struct kv kv[64];
	int nsec, i, j, n, ret = 0;
	char **secs = NULL;

	ret = check_ini_syntax(file, err, errlen);
	if (ret < 0)
		return ret;
	cfg = rte_cfgfile_load(file, 0);
	if (cfg == NULL) {
		fail(err, errlen,
		     "--config '%s': cannot read or parse the file", file);
		return -ENOENT;
	}
	nsec = rte_cfgfile_num_sections(cfg, NULL, 0);
	secs = calloc(nsec ? nsec : 1, sizeof(*secs));
	if (secs == NULL) {
		ret = fail(err, errlen, "--config '%s': out of memory", file);
		goto out;
	}
	for (i = 0; i < nsec; i++) {
		secs[i] = malloc(CFG_NAME_LEN);
		if (secs[i] == NULL) {
			ret = fail(err, errlen, "--config '%s': out of memory",
				   file);
			goto out;
		}
	}
	rte_cfgfile_sections(cfg, secs, nsec);

	for (i = 0; i < nsec && ret == 0; i++) {
		struct rte_cfgfile_entry ent[64];
		struct vs_vhost_conf vc;
		struct vs_port_conf pc;
		int is_vhost = strncmp(secs[i], "vhost.", 6) == 0;
		int is_port = strncmp(secs[i], "port.", 5) == 0;
		int is_vxlan = strncmp(secs[i], "vxlan.", 6) == 0;

		if (!is_vhost && !is_port && !is_vxlan &&
		    strcmp(secs[i], "switch") != 0 &&
		    strcmp(secs[i], "fdb") != 0 &&
		    strcmp(secs[i], "log") != 0) {
			ret = fail(
				err, errlen,
				"--config '%s': unknown section [%s] (expected [switch], [vhost.NAME], [port.NAME], [vxlan.NAME], [fdb] or [log])",
				file, secs[i]);
			break;
		}
		if (strcmp(secs[i], "fdb") == 0 ||
		    strcmp(secs[i], "log") == 0) {
			snprintf(where, sizeof(where), "--config '%s': [%s] ",
				 file, secs[i]);
			ret = list_section(conf, cfg, secs[i], where, err,
					   errlen);
			continue;
		}
		n = rte_cfgfile_section_entries(cfg, secs[i], ent,
						RTE_DIM(ent));
		/* It stops at RTE_DIM(ent) without a word. */
		if (n < 0 ||
		    rte_cfgfile_section_num_entries(cfg, secs[i]) >
			    (int)RTE_DIM(ent)) {
			ret = fail(
				err, errlen,
				"--config '%s': section [%s] has too many keys",
				file, secs[i]);
			break;
		}
		snprintf(where, sizeof(where), "--config '%s': [%s] ", file,
			 secs[i]);
		for (j = 0; j < (int)RTE_DIM(joined); j++) {
			free(joined[j]);
			joined[j] = NULL;
		}
		n = join_lists(ent, n, kv, joined);
		if (n < 0) {
			ret = fail(err, errlen, "%sout of memory", where);
			break;
		}
		if (is_vxlan) {
			struct vs_vxlan_conf xc;

			vxlan_defaults(&xc);
			if (!valid_name(secs[i] + 6)) {
				ret = fail(err, errlen, "%sinvalid tunnel name",
					   where);
				break;
			}
			strcpy(xc.name, secs[i] + 6);
			for (j = 0; j < n && ret == 0; j++) {
				ret = vxlan_key(&xc, kv[j].name, kv[j].val,
						where, err, errlen);
				if (ret == -ENOENT)
					ret = port_key(&xc.keys, kv[j].name,
						       kv[j].val, where, err,
						       errlen);
				if (ret == -ENOENT)
					ret = fail(err, errlen,
						   "%sunknown key '%s'", where,
						   kv[j].name);
			}
			if (ret == 0)
				ret = vxlan_check(&xc, where, err, errlen);
			if (ret == 0)
				ret = add_vxlan(conf, &xc, err, errlen);
			continue;
		}
		if (is_port) {
			memset(&pc, 0, sizeof(pc));
			if (strlen(secs[i] + 5) == 0 ||
			    strlen(secs[i] + 5) >= sizeof(pc.port)) {
				ret = fail(err, errlen, "%sinvalid port name",
					   where);
				break;
			}
			strcpy(pc.port, secs[i] + 5);
			for (j = 0; j < n && ret == 0; j++) {
				ret = busyloop_key(conf, pc.port, kv[j].name,
						   kv[j].val, where, err,
						   errlen);
				if (ret != -ENOENT)
					continue;
				ret = port_key(&pc.keys, kv[j].name, kv[j].val,
					       where, err, errlen);
				if (ret == -ENOENT)
					ret = fail(err, errlen,
						   "%sunknown key '%s' (%s)",
						   where, kv[j].name,
						   vs_conf_port_keys_help);
			}
			if (ret == 0)
				ret = vs_conf_port_keys_check(&pc.keys, where,
							      err, errlen);
			if (ret == 0)
				ret = add_port(conf, &pc, err, errlen);
			continue;
		}
		if (!is_vhost) {
			for (j = 0; j < n && ret == 0; j++) {
				if (strcmp(kv[j].name, "metrics") == 0) {
					ret = vs_conf_parse_metrics(
						conf, kv[j].val, where, err,
						errlen);
					continue;
				}
				ret = set_num(conf, kv[j].name, kv[j].val,
					      where, err, errlen);
				if (ret == -ENOENT)
					ret = fail(err, errlen,
						   "%sunknown key '%s'", where,
						   kv[j].name);
			}
			continue;
		}
		memset(&vc, 0, sizeof(vc));
		vc.queues = 1;
		vc.sock_uid = -1;
		vc.sock_gid = -1;
		if (!valid_name(secs[i] + 6)) {
			ret = fail(err, errlen, "%sinvalid port name", where);
			break;
		}
		strcpy(vc.name, secs[i] + 6);
		for (j = 0; j < n && ret == 0; j++) {
			uint32_t q;

			if (strcmp(kv[j].name, "path") == 0) {
				if (strlen(kv[j].val) >= 108 || !kv[j].val[0])
					ret = fail(err, errlen,
						   "%sinvalid path '%s'", where,
						   kv[j].val);
				else
					strcpy(vc.path, kv[j].val);
			} else if (strcmp(kv[j].name, "mode") == 0) {
				if (strcmp(kv[j].val, "client") == 0)
					vc.client = true;
				else if (strcmp(kv[j].val, "server") == 0)
					vc.client = false;
				else /* the socket's permissions */
					ret = sock_key(&vc, kv[j].name,
						       kv[j].val, where, err,
						       errlen);
			} else if (strcmp(kv[j].name, "queues") == 0) {
				if (parse_u32(kv[j].val, 1, VS_MAX_QUEUES, &q))
					ret = fail(
						err, errlen,
						"%sinvalid queues '%s' (1..%d)",
						where, kv[j].val,
						VS_MAX_QUEUES);
				else
					vc.queues = q;
			} else {
				ret = sock_key(&vc, kv[j].name, kv[j].val,
					       where, err, errlen);
				if (ret == -ENOENT)
					ret = busyloop_key(
						conf, vc.name, kv[j].name,
						kv[j].val, where, err, errlen);
				if (ret == -ENOENT)
					ret = port_key(&vc.keys, kv[j].name,
						       kv[j].val, where, err,
						       errlen);
				if (ret == -ENOENT)
					ret = fail(err, errlen,
						   "%sunknown key '%s'", where,
						   kv[j].name);
			}
		}
		if (ret == 0 && vc.path[0] == '\0')
			ret = fail(err, errlen, "%smissing key 'path'", where);
		if (ret == 0)
			ret = vs_conf_port_keys_check(&vc.keys, where, err,
						      errlen);
		if (ret == 0)
			ret = add_vhost(conf, &vc, err, errlen);
	}
out:
	for (j = 0; j < (int)RTE_DIM(joined); j++)
		free(joined[j]);
	if (secs != NULL)
		for (i = 0; i < nsec; i++)
			free(secs[i]);
	free(secs);
	rte_cfgfile_close(cfg);
	return ret;
}

enum {
	OPT_VHOST = 256,
	OPT_PORT,
	OPT_VXLAN,
	OPT_CONFIG,
	OPT_CTL,
	OPT_METRICS,
	OPT_NUM, /* every option of num_opts[] */
};

void
vs_conf_usage(const char *prog)
{
	printf("Usage: %s [EAL options] -- [switch options]\n"
	       "  --vhost PATH[,client][,queues=N][,name=NAME][,KEY=VAL...]\n"
	       "                          vhost-user port (server mode unless client)\n"
	       "  --port PORT,KEY=VAL[,KEY=VAL...]\n"
	       "                          keys of any port, ethdevs included, by name\n"
	       "                          or id: offloads=on|off, mtu=N, vlan=N,\n"
	       "                          trunks=N[-M][:...], native=N, max-macs=N,\n"
	       "                          allowed-macs=MAC[+MAC...], flood-pps=N\n"
	       "  --vxlan NAME,vni=N,local=IP,remote=IP[+IP...],via=PORT[,dstport=N]\n"
	       "          [,ttl=N][,gw=IP][,KEY=VAL...]\n"
	       "                          VXLAN tunnel port over the ethdev via; the\n"
	       "                          addresses all IPv4 or all IPv6\n"
	       "  --config FILE           INI file with the same settings (see config/)\n"
	       "  --ctl PATH              control socket path\n"
	       "  --metrics [ADDR:]PORT   Prometheus metrics over HTTP at /metrics\n"
	       "                          (ADDR 127.0.0.1 unless given; [::1]:PORT)\n"
	       "  --burst N               packets per rx burst (%d)\n"
	       "  --mbufs N               mbufs per NUMA pool (0: computed)\n"
	       "  --fdb-size N            MAC table entries (%d)\n"
	       "  --fdb-aging SEC         MAC ageing time, 0 = never (%d)\n"
	       "  --tx-retries N          tx retries before a drop (%d)\n"
	       "  --busyloop-timeout USEC poll time before sleeping, 0 = always poll\n"
	       "  --tx-flush-interval USEC\n"
	       "                          after a send to a port, wait this long before\n"
	       "                          the next while frames gather (OVS's; 0)\n"
	       "  --tx-coalesce USEC      a frame to a guest waits up to this long for\n"
	       "                          more, one interrupt for all (0)\n"
	       "  --call-relay 0|1        guests' interrupts from a relay thread, so\n"
	       "                          that no frontend can block an lcore (1)\n"
	       "  --stats-period SEC      print per-port rates every SEC seconds\n"
	       "  -i, --interactive       command prompt\n"
	       "  -h, --help              this text\n",
	       prog, VS_DEF_BURST, VS_DEF_FDB_SIZE, VS_DEF_FDB_AGING,
	       VS_DEF_TX_RETRIES);
}

/*
 * Keys of one port given in several places (--vhost or [vhost.NAME], and
 * --port or [port.NAME]) must go together once merged, as the switch will
 * merge them: a usage error now rather than a failed start.
 */
static int
check_merged(const struct vs_conf *conf, char *err, size_t errlen)
{
	char where[VS_NAME_LEN + 32];
	uint16_t i, j;

	for (i = 0; i < conf->nb_port; i++) {
		struct vs_port_keys k = conf->port[i].keys;

		for (j = 0; j < conf->nb_vhost; j++)
			if (strcmp(conf->vhost[j].name, conf->port[i].port) ==
			    0) {
				k = conf->vhost[j].keys;
				vs_conf_port_keys_merge(&k,
							&conf->port[i].keys);
			}
		for (j = 0; j < conf->nb_vxlan; j++)
			if (strcmp(conf->vxlan[j].name, conf->port[i].port) ==
			    0) {
				k = conf->vxlan[j].keys;
				vs_conf_port_keys_merge(&k,
							&conf->port[i].keys);
			}
		snprintf(where, sizeof(where),
			 "--port '%s': ", conf->port[i].port);
		if (vs_conf_port_keys_check(&k, where, err, errlen) < 0)
			return -EINVAL;
	}
	return 0;
}

int
vs_conf_parse_args(struct vs_conf *conf, int argc, char **argv, char *err,
		   size_t errlen)
{
	static const struct option longopts[] = {
		{ "vhost", required_argument, NULL, OPT_VHOST },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "vxlan", required_argument, NULL, OPT_VXLAN },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "ctl", required_argument, NULL, OPT_CTL },
		{ "metrics", required_argument, NULL, OPT_METRICS },
		{ "burst", required_argument, NULL, OPT_NUM },
		{ "mbufs", required_argument, NULL, OPT_NUM },
		{ "fdb-size", required_argument, NULL, OPT_NUM },
		{ "fdb-aging", required_argument, NULL, OPT_NUM },
		{ "tx-retries", required_argument, NULL, OPT_NUM },
		{ "stats-period", required_argument, NULL, OPT_NUM },
		{ "busyloop-timeout", required_argument, NULL, OPT_NUM },
		{ "tx-flush-interval", required_argument, NULL, OPT_NUM },
		{ "tx-coalesce", required_argument, NULL, OPT_NUM },
		{ "call-relay", required_argument, NULL, OPT_NUM },
		{ "interactive", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vs_vhost_conf vc;
	struct vs_port_conf pc;
	int c, idx, ret;

	/* 0, not 1: glibc then also forgets its place in "-hi". */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ih", longopts, &idx)) != -1) {
		switch (c) {
		case OPT_VHOST:
			ret = vs_conf_parse_vhost(&vc, optarg, err, errlen);
			if (ret == 0)
				ret = add_vhost(conf, &vc, err, errlen);
			if (ret < 0)
				return ret;
			break;
		case OPT_PORT:
			ret = vs_conf_parse_port(&pc, optarg, err, errlen);
			if (ret == 0)
				ret = add_port(conf, &pc, err, errlen);
			if (ret < 0)
				return ret;
			break;
		case OPT_VXLAN: {
			struct vs_vxlan_conf xc;

			ret = vs_conf_parse_vxlan(&xc, optarg, err, errlen);
			if (ret == 0)
				ret = add_vxlan(conf, &xc, err, errlen);
			if (ret < 0)
				return ret;
			break;
		}
		case OPT_CONFIG:
			if (copy_path(conf->config_file, optarg, "--config",
				      err, errlen) < 0)
				return -EINVAL;
			ret = vs_conf_load_file(conf, optarg, err, errlen);
			if (ret < 0)
				return -EINVAL;
			break;
		case OPT_CTL:
			if (copy_path(conf->ctl_path, optarg, "--ctl", err,
				      errlen) < 0 ||
			    strlen(optarg) >= 108)
				return fail(err, errlen,
					    "--ctl: invalid path '%s'", optarg);
			break;
		case OPT_METRICS:
			if (vs_conf_parse_metrics(conf, optarg, "--", err,
						  errlen) < 0)
				return -EINVAL;
			break;
		case OPT_NUM: {
			char where[64];

			snprintf(where, sizeof(where), "--");
			ret = set_num(conf, longopts[idx].name, optarg, where,
				      err, errlen);
			if (ret < 0)
				return -EINVAL;
			break;
		}
		case 'i':
			conf->interactive = true;
			break;
		case 'h':
			return -EAGAIN;
		case ':':
			return fail(err, errlen, "option '%s' needs a value",
				    argv[optind - 1]);
		default:
			return fail(err, errlen, "unknown option '%s'",
				    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s'",
			    argv[optind]);
	return check_merged(conf, err, errlen);
}
