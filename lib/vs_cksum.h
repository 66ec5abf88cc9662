/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_CKSUM_H
#define VS_CKSUM_H

/**
 * @file
 * The IPv4 header checksum check of the decapsulation's fast path, in a
 * header of its own (no DPDK) so that bench/vs-ip4sum-check.c tests this
 * very function.
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/*
 * Whether the 20-byte IPv4 header at @p p sums to 0xffff (its checksum is
 * right), as rte_raw_cksum() would say, in fewer instructions: 2^16 is
 * 1 modulo 0xffff, so the one's complement sum of the ten 16-bit words is
 * 0xffff exactly when the plain sum of the header as two 64-bit words and
 * one 32-bit word is a non-zero multiple of 0xffff (RFC 1071), in either
 * byte order. A carry out of 64 bits, 2^64, is 1 modulo 0xffff too: it
 * goes back in at the bottom, and the sum is 0 only for a header of
 * zeros. test_malformed_vxlan_counted sends 1300 headers with wrong
 * checksums; bench/vs-ip4sum-check.c compares it with the RFC 1071 sum
 * on 50 million headers.
 */
static inline bool
ip4_sum20_ok(const void *p)
{
	uint64_t a, b, s, t;
	uint32_t c;

	memcpy(&a, p, sizeof(a));
	memcpy(&b, (const uint8_t *)p + 8, sizeof(b));
	memcpy(&c, (const uint8_t *)p + 16, sizeof(c));
	if (__builtin_add_overflow(a, b, &s))
		s++; /* at most 2^64 - 2 before: no second carry */
	if (__builtin_add_overflow(s, (uint64_t)c, &t))
		t++;
	return t != 0 && t % 0xffff == 0;
}

#endif /* VS_CKSUM_H */
