/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The command registry and the JSON-RPC 2.0 envelope around it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>

#include "vs_cmd.h"

/* Every module's table together stays well under this. */
#define VS_CMD_MAX 128

static const struct vs_cmd *cmds[VS_CMD_MAX];
static unsigned int nb_cmds;
/*
 * Commands change switch state: run one at a time, from any front end
 * (control thread, prompt on the main lcore, DPDK's telemetry thread), and
 * whatever else reads what commands free, outside the forwarding lcores
 * (the stats printers; MAC ageing, which must not run beside fdb/flush),
 * takes it too. A port is
 * freed only under this lock (port/del) or after vs_cmd_close() (shutdown),
 * so no holder of the lock can see one go.
 */
static pthread_mutex_t exec_lock = PTHREAD_MUTEX_INITIALIZER;
/* Set under exec_lock by vs_cmd_close(): every command is refused. */
static bool closed;

int
vs_cmd_register(const struct vs_cmd *t, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (nb_cmds == VS_CMD_MAX)
			return -ENOSPC;
		if (vs_cmd_find(t[i].name) != NULL)
			return -EEXIST;
		cmds[nb_cmds++] = &t[i];
	}
	return 0;
}

const struct vs_cmd *
vs_cmd_find(const char *name)
{
	unsigned int i;

	for (i = 0; i < nb_cmds; i++)
		if (strcmp(cmds[i]->name, name) == 0)
			return cmds[i];
	return NULL;
}

const struct vs_cmd *
vs_cmd_at(unsigned int i)
{
	return i < nb_cmds ? cmds[i] : NULL;
}

int
vs_cmd_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

int
vs_cmd_parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || *v > max)
		return -EINVAL;
	return 0;
}

static void
usage_line(const struct vs_cmd *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", c->name, c->usage[0] ? " " : "", c->usage);
}

int
vs_cmd_exec(const char *name, int argc, const char *const *argv,
	    json_t **result, char *err, size_t errlen)
{
	const struct vs_cmd *c = vs_cmd_find(name);
	char usage[256];
	int ret;

	*result = NULL;
	if (c == NULL)
		return vs_cmd_err(err, errlen, VS_RPC_METHOD_NOT_FOUND,
				  "unknown method '%.64s' (try 'help')", name);
	if (argc < c->min_args || argc > c->max_args) {
		usage_line(c, usage, sizeof(usage));
		return vs_cmd_err(
			err, errlen, VS_RPC_INVALID_PARAMS,
			"%s takes %d to %d argument(s), got %d; usage: %s",
			c->name, c->min_args, c->max_args, argc, usage);
	}
	pthread_mutex_lock(&exec_lock);
	if (closed)
		ret = vs_cmd_err(err, errlen, VS_RPC_FAILED,
				 "the switch is shutting down: %s was not run",
				 c->name);
	else
		ret = c->fn(argc, argv, result, err, errlen);
	pthread_mutex_unlock(&exec_lock);
	if (ret == 0 && *result == NULL)
		*result = json_null();
	return ret;
}

void
vs_cmd_lock(void)
{
	pthread_mutex_lock(&exec_lock);
}

void
vs_cmd_unlock(void)
{
	pthread_mutex_unlock(&exec_lock);
}

void
vs_cmd_close(void)
{
	/* Waits for the command that is running, if any. */
	pthread_mutex_lock(&exec_lock);
	closed = true;
	pthread_mutex_unlock(&exec_lock);
}

void
vs_cmd_open(void)
{
	pthread_mutex_lock(&exec_lock);
	closed = false;
	pthread_mutex_unlock(&exec_lock);
}

static json_t *
rpc_error(json_t *id, int code, const char *msg)
{
	return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
			 id ? id : json_null(), "error", "code", code,
			 "message", msg);
}

char *
vs_cmd_rpc(const char *req, size_t len)
{
	const char *argv[VS_CMD_MAX_ARGS];
	char numbuf[VS_CMD_MAX_ARGS][32];
	char err[512] = "";
	json_t *msg, *id = NULL, *method, *params, *ver, *reply, *res;
	json_error_t jerr;
	size_t i;
	int argc = 0, code;
	char *out;

	msg = json_loadb(req, len, JSON_REJECT_DUPLICATES, &jerr);
	if (msg == NULL) {
		snprintf(err, sizeof(err),
			 "parse error: %s (line %d, column %d)", jerr.text,
			 jerr.line, jerr.column);
		reply = rpc_error(NULL, VS_RPC_PARSE_ERROR, err);
		goto out;
	}
	if (json_is_array(msg)) {
		reply = rpc_error(
			NULL, VS_RPC_INVALID_REQUEST,
			"batch requests are not supported: send one request object per line");
		goto out;
	}
	if (!json_is_object(msg)) {
		reply = rpc_error(
			NULL, VS_RPC_INVALID_REQUEST,
			"a request is a JSON object with jsonrpc, method, params and id");
		goto out;
	}
	id = json_object_get(msg, "id");
	if (id != NULL && !json_is_string(id) && !json_is_integer(id) &&
	    !json_is_null(id)) {
		reply = rpc_error(NULL, VS_RPC_INVALID_REQUEST,
				  "id must be a string, an integer or null");
		goto out;
	}
	ver = json_object_get(msg, "jsonrpc");
	if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0")) {
		reply = rpc_error(id, VS_RPC_INVALID_REQUEST,
				  "\"jsonrpc\": \"2.0\" is required");
		goto out;
	}
	method = json_object_get(msg, "method");
	if (!json_is_string(method)) {
		reply = rpc_error(
			id, VS_RPC_INVALID_REQUEST,
			"\"method\" must be a string, e.g. \"port/list\"");
		goto out;
	}
	params = json_object_get(msg, "params");
	if (params != NULL && !json_is_array(params) && !json_is_null(params)) {
		reply = rpc_error(
			id, VS_RPC_INVALID_PARAMS,
			"\"params\" must be an array of strings or numbers");
		goto out;
	}
	if (json_array_size(params) > VS_CMD_MAX_ARGS) {
		snprintf(err, sizeof(err), "at most %d params",
			 VS_CMD_MAX_ARGS);
		reply = rpc_error(id, VS_RPC_INVALID_PARAMS, err);
		goto out;
	}
	for (i = 0; i < json_array_size(params); i++) {
		json_t *p = json_array_get(params, i);

		if (json_is_string(p)) {
			argv[argc++] = json_string_value(p);
		} else if (json_is_integer(p) && json_integer_value(p) >= 0) {
			snprintf(numbuf[i], sizeof(numbuf[i]),
				 "%" JSON_INTEGER_FORMAT,
				 json_integer_value(p));
			argv[argc++] = numbuf[i];
		} else {
			snprintf(
				err, sizeof(err),
				"param %zu must be a string or a non-negative integer",
				i + 1);
			reply = rpc_error(id, VS_RPC_INVALID_PARAMS, err);
			goto out;
		}
	}
	code = vs_cmd_exec(json_string_value(method), argc, argv, &res, err,
			   sizeof(err));
	if (code != 0)
		reply = rpc_error(id, code, err);
	else
		reply = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id",
				  id ? id : json_null(), "result", res);
	/* JSON-RPC 2.0 section 4.1: a notification gets no reply. */
	if (id == NULL && reply != NULL) {
		json_decref(reply);
		json_decref(msg);
		return NULL;
	}
out:
	/*
	 * JSON-RPC 2.0 section 4.1: a notification (an object without "id")
	 * gets no reply, not even an error.
	 */
	if (json_is_object(msg) && json_object_get(msg, "id") == NULL) {
		json_decref(reply);
		json_decref(msg);
		return NULL;
	}
	out = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	json_decref(reply);
	json_decref(msg);
	if (out == NULL)
		out = strdup(
			"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,\"message\":\"out of memory\"}}");
	return out;
}
