/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_CTL_H
#define VS_CTL_H

/**
 * @file
 * The control socket: JSON-RPC 2.0, one request per line, over a unix
 * stream socket (mode 0660 from its creation), served by one control
 * thread that never touches the datapath's hot state except through the
 * vs_* functions. The same thread runs the periodic housekeeping: MAC
 * ageing once a second, under the command lock (vs_cmd_lock()), and the
 * capture writer, under the capture lock. It is a DPDK control thread
 * registered with EAL, so it has an lcore id (rte_hash's per-lcore caches
 * need one).
 */

/** Longest request line accepted; longer ones get an error and a close. */
#define VS_CTL_MAX_REQUEST 65536
/** Reply bytes waiting for a client before its requests are not read. */
#define VS_CTL_MAX_PENDING (1 << 20)
/** Clients served at once; more are answered with an error and closed. */
#define VS_CTL_MAX_CLIENTS 64
/** A client silent for this long is closed. */
#define VS_CTL_IDLE_S 300

/**
 * Default control socket path for this EAL file prefix:
 * <runtime dir>/vhost-switch.ctl (next to dpdk_telemetry.v2).
 */
void vs_ctl_default_path(char *buf, size_t len);

/**
 * Create the socket at @p path and start the control thread.
 * A live socket there (another switch) is refused with -EADDRINUSE; a
 * stale one is removed; a non-socket is never removed (-EEXIST).
 * A control thread that EAL cannot register (no lcore id left: -ENOMEM)
 * is not run: the error is logged and returned.
 * @return 0 or -errno.
 */
int vs_ctl_start(const char *path);

/** Stop the thread, close every client, remove the socket. */
void vs_ctl_stop(void);

#endif /* VS_CTL_H */
