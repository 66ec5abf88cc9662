/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_SAVE_H
#define VS_SAVE_H

/**
 * @file
 * The running configuration as data. config/save writes it as the INI file
 * --config reads; vs_save_reload() (SIGHUP) reads the --config file again
 * and applies the difference, as Snabb reconfigures: a configuration is
 * data and a reconfiguration is a diff.
 *
 * What a reload manages: the ports its file names ([vhost.NAME],
 * [vxlan.NAME], [port.NAME]), the static MAC entries of its [fdb], its
 * [log] levels and the [switch] values that can change at run time
 * (fdb-aging, busyloop-timeout). The file is the truth for what it names:
 * a port it named at start or at the last reload and no longer names is
 * deleted; a port from --vhost, --vxlan or port/add that the file never
 * named is left as it is (OVS keeps what its database does not mention
 * out of its hands in the same way).
 *
 * Everything here runs as a command runs (under vs_cmd_lock()), on a
 * thread with an lcore id: the MAC table is written.
 */

#include <stddef.h>
#include <stdint.h>

#include "vs_conf.h"

/**
 * Remember what the switch started with: the --config file, the [switch]
 * values that need a restart, and what the file names. Called by
 * vs_switch_start() once the ports exist.
 * @return 0 or -ENOMEM.
 */
int vs_save_init(const struct vs_conf *conf);

/** Set the [log] levels of @p conf (at start, before the ports). */
void vs_save_apply_log(const struct vs_conf *conf);

/**
 * Apply the busy-loop timeouts and static MAC entries of @p conf (at
 * start, once its ports exist).
 * @return 0, -ENXIO (a port that does not exist), -EINVAL (no such rx
 *   queue) or the MAC table's error, with a reason in @p err.
 */
int vs_save_apply_ports(const struct vs_conf *conf, char *err, size_t errlen);

/** log/set PATTERN LEVEL ran: config/save writes it in [log]. */
void vs_save_log_note(const char *pattern, uint32_t level);

/** What config/save wrote. */
struct vs_save_counts {
	unsigned int ports;
	unsigned int static_macs;
	unsigned int log_levels;
};

/**
 * Write the running configuration to @p file: to FILE.tmp, then renamed
 * over @p file (a reader sees the old file or the new one, whole).
 * @return 0 with what was written in @p cnt, or -errno with @p err.
 */
int vs_save_write(const char *file, struct vs_save_counts *cnt, char *err,
		  size_t errlen);

/**
 * Re-read the --config file and apply the difference (SIGHUP). Takes the
 * command lock. A file that does not parse, or names what cannot be, is
 * logged and nothing changes.
 * @return the number of changes, or -errno (nothing applied).
 */
int vs_save_reload(void);

/** Register config/save. */
int vs_save_cmd_register(void);

#endif /* VS_SAVE_H */
