/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_FMT_H
#define VS_FMT_H

/**
 * @file
 * Readable text for a command's JSON result, shared by vhost-switch-ctl
 * and the interactive prompt: a list of objects is a table with a column
 * per key; an object is "key: value" lines; nested values are inline.
 * Depends on jansson only, so the ctl client does not link DPDK.
 */

#include <stdio.h>

#include <jansson.h>

void vs_fmt_print(FILE *f, const json_t *result);

#endif /* VS_FMT_H */
