/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vring call relay (vs_vhost_call.c): librte_vhost writes eventfds of
 * ours, a thread of ours the frontends' call eventfds, so that no
 * frontend can block a forwarding lcore through its call eventfd.
 */
#ifndef VS_VHOST_CALL_H
#define VS_VHOST_CALL_H

#include <stdbool.h>
#include <stdint.h>

/** Interrupts of one vring (or all), as relayed. */
struct vs_call_stats {
	bool relay; /**< the vring's interrupts go through the relay */
	uint64_t relayed; /**< passed on to the frontend's eventfd */
	uint64_t full; /**< its counter held one not consumed yet: none added */
	uint64_t blocked; /**< a write that blocked, cut short (hostile) */
};

/** Start the relay thread. @return 0 or -errno. */
int vs_call_relay_start(void);

/** Stop it, and close every fd it holds. */
void vs_call_relay_stop(void);

/**
 * SET_VRING_CALL of (@p vid, @p vring) with the frontend's eventfd *@p fd
 * (the guard checked it is one): the relay keeps it and puts an eventfd
 * of its own in *@p fd, for librte_vhost. Any earlier one of the vring is
 * dropped. Without the relay (not started, no fd or slot left) *@p fd
 * stays as it was.
 */
void vs_call_relay_take(int vid, uint16_t vring, int *fd);

/** Forget @p vid's vring @p vring (-1: all of them): a NOFD
 * SET_VRING_CALL, or the connection is gone. */
void vs_call_relay_drop(int vid, int vring);

void vs_call_relay_totals(struct vs_call_stats *st);
void vs_call_relay_vring(int vid, uint16_t vring, struct vs_call_stats *st);

#endif
