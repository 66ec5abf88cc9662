/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_METRICS_H
#define VS_METRICS_H

/**
 * @file
 * The metrics endpoint (--metrics): GET /metrics answers every counter of
 * the switch in the Prometheus text exposition format (version 0.0.4):
 * ports (packets, bytes, drops by reason, offloads), forwarding lcores
 * (busy, idle and asleep cycles, sleeps, wake-ups), the MAC table, mbufs
 * in use and VXLAN tunnels.
 *
 * HTTP is libmicrohttpd's, on its own thread (MHD's internal polling
 * thread). A scrape reads the ports under the command lock (vs_cmd_lock()),
 * as a command does, since port/del frees a port only under it; the text is
 * rendered after the lock is released, and sent from memory.
 */

#include <stdint.h>

/**
 * Listen on @p addr (numeric IPv4 or IPv6), TCP port @p port, and serve.
 * @return 0, -EADDRINUSE, -EADDRNOTAVAIL, -EACCES, -EALREADY (running),
 *   -EINVAL (bad address), -ENOMEM, or another -errno of socket(), bind()
 *   or listen(); the reason is logged.
 */
int vs_metrics_start(const char *addr, uint16_t port);

/**
 * Stop serving: closes the listening socket and waits for the scrape in
 * progress, if any. Call before ports are freed. Idempotent.
 */
void vs_metrics_stop(void);

#endif /* VS_METRICS_H */
