/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_CONF_H
#define VS_CONF_H

/**
 * @file
 * Switch options: the command line after EAL's "--" and the INI file of
 * --config. Both fill one struct vs_conf; the command line wins where both
 * set a value. Parsing never exits: it returns -EINVAL and a one-line
 * message naming the option and the value, and main() decides what to do.
 */

#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <string.h>

#define VS_MAX_VHOST_CONF 256
#define VS_NAME_LEN 32
/** A numeric IPv6 address and its NUL (INET6_ADDRSTRLEN). */
#define VS_ADDR_LEN 46

/**
 * The keys every port takes, whatever its kind: on --vhost, on --port, in a
 * [vhost.NAME] or [port.NAME] section, on port/add and at run time with
 * port/set. @c given says which were set; the others keep their value.
 */
#define VS_KEY_OFFLOADS (1u << 0)
#define VS_KEY_MTU (1u << 1)
#define VS_KEY_VLAN (1u << 2)
#define VS_KEY_TRUNKS (1u << 3)
#define VS_KEY_NATIVE (1u << 4)
#define VS_KEY_MAX_MACS (1u << 5)
#define VS_KEY_ALLOWED_MACS (1u << 6)
#define VS_KEY_FLOOD_PPS (1u << 7)

#define VS_VLAN_MAX 4094
#define VS_MAX_ALLOWED_MACS 16

struct vs_port_keys {
	uint32_t given; /**< VS_KEY_* present */
	bool no_offloads; /**< offloads=off: no checksum/segmentation offload */
	uint16_t mtu; /**< mtu=N; vhost 0: the guest's (VIRTIO_NET_F_MTU) */
	uint16_t vlan; /**< vlan=N: access port of VLAN N; 0 none */
	bool trunk_list; /**< trunks= given a list (else every VLAN) */
	uint64_t trunks[64]; /**< bit per VLAN id 0..4095 */
	uint16_t native; /**< native=N; 0 none */
	uint32_t max_macs; /**< 0: no limit */
	uint16_t nb_allowed; /**< allowed-macs=; 0: any source */
	uint8_t allowed[VS_MAX_ALLOWED_MACS][6];
	uint32_t flood_pps; /**< 0: no storm control */
};

/** One --vhost PATH[,client][,queues=N][,name=NAME][,KEY=VAL...]. */
struct vs_vhost_conf {
	char path[PATH_MAX];
	char name[VS_NAME_LEN];
	bool client;
	uint16_t queues; /**< Queue pairs offered to the guest. */
	/**
	 * Server sockets: owner=, group=, mode= (-1, -1, 0: as created).
	 * The socket is born 0600 and gets them before anyone else can
	 * connect.
	 */
	int32_t sock_uid;
	int32_t sock_gid;
	uint32_t sock_mode;
	struct vs_port_keys keys;
};

/** One --port PORT,KEY=VAL[,KEY=VAL...] or [port.NAME] section. */
struct vs_port_conf {
	char port[VS_NAME_LEN]; /**< name or decimal id */
	struct vs_port_keys keys;
};

#define VS_MAX_PORT_CONF 64

#define VS_VXLAN_MAX_REMOTES 16
#define VS_MAX_VXLAN_CONF 64

/**
 * An underlay address of a tunnel, of its tunnel's family (struct
 * vs_vxlan_conf's family), in network byte order. An IPv4 address fills
 * v4 and leaves the other 12 bytes zero, so that two addresses of one
 * family compare with memcmp().
 */
union vs_ipaddr {
	uint32_t v4;
	uint8_t v6[16];
};

/** True if @p a is all zero: no address. */
static inline bool
vs_ipaddr_is_zero(const union vs_ipaddr *a)
{
	static const union vs_ipaddr zero;

	return memcmp(a, &zero, sizeof(*a)) == 0;
}

/**
 * @p a of @p family (AF_INET or AF_INET6) as text in @p buf
 * (VS_ADDR_LEN bytes). @return @p buf ("?" for another family).
 */
const char *vs_ipaddr_str(int family, const union vs_ipaddr *a, char *buf);

/**
 * One --vxlan NAME,vni=N,local=IP,remote=IP[+IP...],via=PORT[,dstport=N]
 * [,ttl=N][,gw=IP][,KEY=VAL...] or [vxlan.NAME] section. The addresses are
 * all IPv4 or all IPv6 (@p family).
 */
struct vs_vxlan_conf {
	char name[VS_NAME_LEN];
	uint32_t vni;
	uint8_t family; /**< AF_INET or AF_INET6; 0 before an address */
	union vs_ipaddr local;
	union vs_ipaddr gw; /**< zero: remotes are on the underlay's subnet */
	uint16_t nb_remote;
	union vs_ipaddr remote[VS_VXLAN_MAX_REMOTES];
	char via[VS_NAME_LEN]; /**< the underlay ethdev: name or id */
	uint16_t dstport; /**< host order; 4789 */
	uint8_t ttl; /**< IPv4 TTL or IPv6 hop limit */
	struct vs_port_keys keys;
};

/**
 * A busy-loop timeout from the config file: "busyloop-timeout = USEC"
 * (every rx queue) or "busyloop-timeout.QUEUE = USEC" in a [vhost.NAME] or
 * [port.NAME] section. Applied in file order, after the ports exist.
 */
struct vs_busyloop_conf {
	char port[VS_NAME_LEN]; /**< name or decimal id */
	int16_t queue; /**< -1: every rx queue */
	uint32_t usec;
};

#define VS_MAX_BUSYLOOP_CONF 256

/** A static MAC table entry: "MAC[.VLAN] = PORT" in section [fdb]. */
struct vs_fdb_conf {
	uint8_t mac[6];
	uint16_t vlan;
	char port[VS_NAME_LEN]; /**< name or decimal id */
};

/* The MAC table's static entries a file may hold; rte_cfgfile has no limit. */
#define VS_MAX_FDB_CONF 1024

/**
 * A log level: "PATTERN = LEVEL" in section [log], as log/set takes them
 * (a glob over rte_log type names; emerg..debug or 1..8). In file order.
 */
struct vs_log_conf {
	char pattern[64]; /**< CFG_NAME_LEN of rte_cfgfile */
	uint32_t level; /**< RTE_LOG_EMERG (1) .. RTE_LOG_DEBUG (8) */
};

#define VS_MAX_LOG_CONF 64

/** MTU bounds: the IPv4 minimum and a 9000-byte jumbo frame's payload. */
#define VS_MTU_MIN 68
#define VS_MTU_MAX 9702

/** --tx-flush-interval's bound, as OVS's other_config:tx-flush-interval. */
#define VS_MAX_TX_FLUSH_US 1000000

struct vs_conf {
	uint16_t burst; /**< Packets per rx burst. */
	uint32_t mbufs; /**< Mbufs per NUMA pool; 0 = computed. */
	uint32_t fdb_size; /**< MAC table capacity. */
	uint32_t fdb_aging; /**< Seconds; 0 = never age. */
	uint32_t tx_retries; /**< Extra tx attempts before a drop. */
	uint32_t call_relay; /**< 1: guests' interrupts through the relay */
	uint32_t stats_period; /**< Seconds between rate lines; 0 = off. */
	uint32_t busyloop_us; /**< Default busy-loop timeout, us. */
	/** Longest wait of a frame in a tx buffer, us; 0 = none. */
	uint32_t tx_flush_us;
	/** How long a guest's first buffered frame waits, us; 0 = none. */
	uint32_t tx_coalesce_us;
	char config_file[PATH_MAX];
	char ctl_path[PATH_MAX];
	/** --metrics: numeric address (IPv4 or IPv6) and TCP port; 0 = off. */
	char metrics_addr[VS_ADDR_LEN];
	uint16_t metrics_port;
	bool interactive;
	uint16_t nb_vhost;
	struct vs_vhost_conf vhost[VS_MAX_VHOST_CONF];
	uint16_t nb_port;
	struct vs_port_conf port[VS_MAX_PORT_CONF];
	uint16_t nb_vxlan;
	struct vs_vxlan_conf vxlan[VS_MAX_VXLAN_CONF];
	/* Config file only: what config/save writes besides the ports. */
	uint16_t nb_busyloop;
	struct vs_busyloop_conf busyloop[VS_MAX_BUSYLOOP_CONF];
	uint16_t nb_fdb;
	struct vs_fdb_conf fdb[VS_MAX_FDB_CONF];
	uint16_t nb_log;
	struct vs_log_conf log[VS_MAX_LOG_CONF];
};

/** Fill @p conf with the defaults documented in doc/guide.md. */
void vs_conf_defaults(struct vs_conf *conf);

/**
 * Parse the switch options (argv[0] is the program name, as after
 * rte_eal_init()). A --config FILE is read where it appears, so later
 * options override it.
 *
 * @return 0, or -EINVAL with a one-line reason in @p err.
 */
int vs_conf_parse_args(struct vs_conf *conf, int argc, char **argv, char *err,
		       size_t errlen);

/**
 * Read an INI file (rte_cfgfile) into @p conf.
 *
 * @return 0, -ENOENT if it cannot be read, -EINVAL on a bad key or value;
 *   a one-line reason in @p err.
 */
int vs_conf_load_file(struct vs_conf *conf, const char *file, char *err,
		      size_t errlen);

/**
 * Parse one vhost port spec "PATH[,client][,queues=N][,name=NAME]".
 *
 * @return 0, or -EINVAL with a reason in @p err.
 */
int vs_conf_parse_vhost(struct vs_vhost_conf *vc, const char *spec, char *err,
			size_t errlen);

/**
 * Parse one port spec "PORT,KEY=VAL[,KEY=VAL...]" (--port).
 *
 * @return 0, or -EINVAL with a reason in @p err.
 */
int vs_conf_parse_port(struct vs_port_conf *pc, const char *spec, char *err,
		       size_t errlen);

/**
 * Parse one "KEY=VAL" of the port keys into @p keys (port/set). @p where
 * prefixes the message.
 *
 * @return 0, -ENOENT for a key that is not a port key, or -EINVAL with a
 *   reason in @p err.
 */
int vs_conf_port_key(struct vs_port_keys *keys, const char *kv,
		     const char *where, char *err, size_t errlen);

/**
 * Check the VLAN keys of @p keys go together (vlan= excludes trunks= and
 * native=). @return 0, or -EINVAL with a reason in @p err.
 */
int vs_conf_port_keys_check(const struct vs_port_keys *keys, const char *where,
			    char *err, size_t errlen);

/** Keys given in @p from replace those of @p to. */
void vs_conf_port_keys_merge(struct vs_port_keys *to,
			     const struct vs_port_keys *from);

/** Print a trunk list as "10-20:30" into @p buf. */
void vs_conf_trunks_fmt(const uint64_t *trunks, char *buf, size_t len);

/** The port keys, for messages: "offloads=on|off, mtu=N, ...". */
extern const char vs_conf_port_keys_help[];

/**
 * Parse one tunnel spec "NAME,vni=N,local=IP,remote=IP[+IP...],via=PORT
 * [,dstport=N][,ttl=N][,gw=IP][,KEY=VAL...]" (--vxlan, port/add vxlan).
 *
 * @return 0, or -EINVAL with a reason in @p err.
 */
int vs_conf_parse_vxlan(struct vs_vxlan_conf *xc, const char *spec, char *err,
			size_t errlen);

/**
 * Parse a metrics endpoint "PORT", "ADDR:PORT" or "[ADDR6]:PORT" (--metrics,
 * metrics = in [switch]) into @p conf; "PORT" alone binds 127.0.0.1.
 *
 * @return 0, or -EINVAL with a reason in @p err.
 */
int vs_conf_parse_metrics(struct vs_conf *conf, const char *spec,
			  const char *where, char *err, size_t errlen);

/**
 * A log level by name ("debug") or number ("8"), as log/set takes it.
 * @return RTE_LOG_EMERG..RTE_LOG_DEBUG (1..8), or 0 when invalid.
 */
uint32_t vs_conf_log_level(const char *s);

/** The name of log level @p level (1..8), e.g. "debug"; "?" otherwise. */
const char *vs_conf_log_level_name(uint32_t level);

/** The usage text, for --help. */
void vs_conf_usage(const char *prog);

#endif /* VS_CONF_H */
