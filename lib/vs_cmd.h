/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_CMD_H
#define VS_CMD_H

/**
 * @file
 * The command registry. Each module declares its commands in one table
 * (name, usage, argument counts, help, handler) and registers it; three
 * front ends use the registry: the control socket (JSON-RPC), the
 * interactive prompt, and DPDK telemetry (read-only commands).
 *
 * A handler parses its string arguments, calls one typed vs_* function
 * and builds a JSON result; it never prints.
 */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define VS_CMD_MAX_ARGS 32

/* JSON-RPC 2.0 error codes (section 5.1 of the specification). */
#define VS_RPC_PARSE_ERROR -32700
#define VS_RPC_INVALID_REQUEST -32600
#define VS_RPC_METHOD_NOT_FOUND -32601
#define VS_RPC_INVALID_PARAMS -32602
#define VS_RPC_INTERNAL_ERROR -32603
/* Server errors: the request was valid but could not be carried out. */
#define VS_RPC_FAILED -32000

/**
 * A handler: @p argv holds @p argc arguments (already checked against the
 * table's counts). On success it sets @p *result and returns 0; otherwise
 * it writes a sentence a person can act on into @p err and returns a
 * VS_RPC_* code.
 */
typedef int (*vs_cmd_fn)(int argc, const char *const *argv, json_t **result,
			 char *err, size_t errlen);

struct vs_cmd {
	const char *name; /**< "port/show" */
	const char *usage; /**< "PORT" */
	const char *help; /**< One sentence. */
	int min_args;
	int max_args;
	/** Read-only: also a telemetry command "/vswitch/<tel>". */
	const char *tel;
	vs_cmd_fn fn;
};

/** Register @p n commands; the table must outlive the process. */
int vs_cmd_register(const struct vs_cmd *cmds, unsigned int n);

/** The command called @p name, or NULL. */
const struct vs_cmd *vs_cmd_find(const char *name);

/** Iterate: the i-th registered command, or NULL past the end. */
const struct vs_cmd *vs_cmd_at(unsigned int i);

/**
 * Run command @p name with its arguments: check the counts, call the
 * handler. Thread-safe against other calls (one command at a time).
 * After vs_cmd_close() every command is refused (VS_RPC_FAILED).
 * @return 0 with @p *result set, or a VS_RPC_* code with @p err set.
 */
int vs_cmd_exec(const char *name, int argc, const char *const *argv,
		json_t **result, char *err, size_t errlen);

/**
 * Run a section as a command runs: alone, against every command and every
 * other section. For code outside the forwarding lcores that reads what
 * commands free (the port table: port/del), e.g. the stats printers, or
 * that must not run beside a command (MAC ageing). Not recursive: never
 * call vs_cmd_exec() between the two.
 */
void vs_cmd_lock(void);
void vs_cmd_unlock(void);

/**
 * Refuse every command from now on ("the switch is shutting down"); returns
 * once the command running, if any, has finished. The switch calls it
 * before it frees ports and tables: DPDK's telemetry thread cannot be
 * stopped, and its /vswitch/ commands would otherwise read freed memory.
 */
void vs_cmd_close(void);

/** Accept commands again (the switch starting). */
void vs_cmd_open(void);

/**
 * Handle one JSON-RPC 2.0 request of @p len bytes and return the reply
 * (a JSON object, without newline; caller frees), or NULL for a
 * notification (a request without id), which gets no reply.
 */
char *vs_cmd_rpc(const char *req, size_t len);

/**
 * Register every read-only command that has a telemetry name as
 * "/vswitch/<name>" on DPDK's telemetry socket.
 * @return 0 or -errno.
 */
int vs_cmd_telemetry_register(void);

/** Helpers for handlers: a port argument, a formatted error. */
int vs_cmd_err(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int vs_cmd_parse_uint(const char *s, unsigned long max, unsigned long *v);

#endif /* VS_CMD_H */
