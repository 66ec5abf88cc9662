/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user message guard (vs_vhost_guard.c): refuses frontend
 * messages librte_vhost 22.11 would act on unsafely. Counters by reason.
 */
#ifndef VS_VHOST_GUARD_H
#define VS_VHOST_GUARD_H

#include <stdbool.h>
#include <stdint.h>

/* X(name, description) */
#define VS_GUARD_REASONS(X) \
	X(short, "payload shorter than the request's structure") \
	X(bad_fd, "missing, extra or unusable file descriptor") \
	X(past_eof, "memory range past the end of its file") \
	X(bad_region, "zero-sized, wrapping or overlapping memory region") \
	X(bad_value, "value out of range") \
	X(not_negotiated, "request of a protocol feature not negotiated") \
	X(not_eventfd, "vring kick, call or error fd that is not an eventfd")

enum vs_guard_reason {
#define X(n, d) VS_GUARD_##n,
	VS_GUARD_REASONS(X)
#undef X
		VS_GUARD_MAX
};

/** Attach the guard to a new vhost-user connection (new_connection). */
int vs_vhost_guard_attach(int vid);

/** Whether the guard runs (it knows librte_vhost's message layout). */
bool vs_vhost_guard_active(void);

/** Messages refused for @p r since start, all ports. */
uint64_t vs_vhost_guard_refused(enum vs_guard_reason r);

const char *vs_vhost_guard_reason_name(enum vs_guard_reason r);

/**
 * Count a refused message on the port of @p vid (vs_port_vhost.c).
 * @return the port's name for the log, or "?".
 */
const char *vs_port_vhost_refused(int vid);

#endif
