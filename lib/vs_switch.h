/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_SWITCH_H
#define VS_SWITCH_H

/**
 * @file
 * The switch as a whole: pools, ports, MAC table and forwarding lcores,
 * brought up from a struct vs_conf after rte_eal_init() and torn down in
 * reverse. One switch per process (EAL is per process).
 */

#include <stdio.h>

#include "vs_conf.h"

/**
 * Create pools, ports (every probed ethdev, then the vhost ports of
 * @p conf), the MAC table, and start the forwarding lcores.
 * @return 0, or -errno with the reason logged.
 */
int vs_switch_start(const struct vs_conf *conf);

/**
 * Add a vhost-user port at run time: register, poll, start.
 * @return the port id, or -errno (-EEXIST: name or path in use).
 */
int vs_switch_port_add(const struct vs_vhost_conf *vc, char *err,
		       size_t errlen);

/**
 * Delete a vhost-user port at run time: unpublish, wait for the lcores
 * (RCU), close the socket, forget its MACs.
 * @return 0, -ENOENT, -ENOTSUP (not a vhost-user port).
 */
int vs_switch_port_del(const char *name_or_id);

/**
 * Add VXLAN tunnel port @p xc at run time (port/add vxlan).
 * @return its port id, or -errno with a reason in @p err.
 */
int vs_switch_vxlan_add(const struct vs_vxlan_conf *xc, char *err,
			size_t errlen);

/** Register version, help, info, shutdown, port/add, port/del. */
int vs_switch_cmd_register(void);

/**
 * Print one line per port with rates since the previous call (and totals),
 * as testpmd's --stats-period does.
 */
void vs_switch_print_rates(FILE *f);

/** Print the totals of every port, drops by reason, and mbufs in use. */
void vs_switch_print_stats(FILE *f);

/**
 * Graceful stop: lcores stop after flushing their tx buffers; the final
 * counters go to @p f (unless NULL); vhost sockets are closed and
 * removed, ethdevs stopped and closed, pools freed.
 */
void vs_switch_stop(FILE *f);

#endif /* VS_SWITCH_H */
