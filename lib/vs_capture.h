/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_CAPTURE_H
#define VS_CAPTURE_H

/**
 * @file
 * Packet capture of one port's rx and tx into a pcapng file: the
 * forwarding lcores copy frames into a ring (when a capture is on: one
 * pointer test per burst otherwise); the control thread writes them, with
 * the direction in each Enhanced Packet Block's flags (inbound = switch
 * RX, outbound = switch TX).
 */

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

struct vs_port;
struct vs_capture;

/* Frames copied per call at most (the largest burst). */
#define VS_CAPTURE_MAX_BURST 512

enum vs_capture_dir {
	VS_CAPTURE_RX = 1, /* pcapng epb_flags: inbound */
	VS_CAPTURE_TX = 2, /* outbound */
};

/**
 * Start capturing @p port into @p file, for at most @p count frames (0 =
 * until capture/stop). The file is created (mode 0640); an existing one is
 * refused unless @p overwrite, and then only a regular file, truncated.
 * A symbolic link as the last component is never followed.
 * @return 0, -EBUSY (already capturing), -EEXIST (exists, no overwrite),
 * -ELOOP (a symbolic link), -EINVAL (not a regular file), another -errno
 * opening the file, -ENOMEM.
 */
int vs_capture_start(struct vs_port *port, const char *file, uint64_t count,
		     bool overwrite);

/**
 * Stop, write what is left, close the file.
 * @return frames written, or -ENOENT (no capture on that port).
 */
int64_t vs_capture_stop(struct vs_port *port);

/** Write what the lcores queued (control thread). @return 1 if any capture is on. */
int vs_capture_poll(void);

/** Datapath: copy @p n frames of @p port's @p dir into the capture. */
void vs_capture_burst(struct vs_capture *c, struct rte_mbuf **pkts, uint16_t n,
		      enum vs_capture_dir dir);

/** Frames written so far and the file, for port/show. */
int vs_capture_info(const struct vs_port *port, uint64_t *written,
		    const char **file);

/** Register capture/start and capture/stop. */
int vs_capture_cmd_register(void);

#endif /* VS_CAPTURE_H */
