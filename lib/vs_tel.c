/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Telemetry front end of the command registry: "/vswitch/<tel>,ARG,ARG"
 * runs the command and converts its JSON result into rte_tel_data.
 *
 * Telemetry holds two levels: a dict or array at the top, whose values may
 * be one container (a dict of scalars or an array of scalars), and an
 * array cannot hold dicts. Deeper values are flattened into keys with '/'
 * ("remotes/0/ip"), and a list of objects in the top dict becomes one
 * container per element ("tunnels/0"). Telemetry has no booleans or
 * floats: booleans become 0/1, floats strings.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_string_fns.h>
#include <rte_telemetry.h>

#include "vs_cmd.h"

#define TEL_PREFIX "/vswitch/"

static int
add_scalar_dict(struct rte_tel_data *d, const char *k, json_t *v)
{
	char buf[RTE_TEL_MAX_STRING_LEN];
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		/* Telemetry strings hold 127 bytes: cut, don't lose the key. */
		strlcpy(buf, json_string_value(v), sizeof(buf));
		return rte_tel_data_add_dict_string(d, k, buf);
	case JSON_INTEGER:
		if (json_integer_value(v) >= 0)
			return rte_tel_data_add_dict_u64(d, k,
							 json_integer_value(v));
		return rte_tel_data_add_dict_int(d, k, json_integer_value(v));
	case JSON_REAL:
		snprintf(buf, sizeof(buf), "%.2f", json_real_value(v));
		return rte_tel_data_add_dict_string(d, k, buf);
	case JSON_TRUE:
		return rte_tel_data_add_dict_int(d, k, 1);
	case JSON_FALSE:
		return rte_tel_data_add_dict_int(d, k, 0);
	case JSON_NULL:
		return rte_tel_data_add_dict_string(d, k, "");
	default:
		s = json_dumps(v, JSON_COMPACT);
		strlcpy(buf, s ? s : "", sizeof(buf));
		free(s);
		return rte_tel_data_add_dict_string(d, k, buf);
	}
}

static int
fill_array(struct rte_tel_data *d, json_t *a)
{
	size_t i;
	json_t *v;
	int ret = 0;
	bool strings = json_array_size(a) == 0 ||
		!json_is_integer(json_array_get(a, 0));

	rte_tel_data_start_array(
		d, strings ? RTE_TEL_STRING_VAL : RTE_TEL_U64_VAL);
	json_array_foreach(a, i, v)
	{
		if (i >= RTE_TEL_MAX_ARRAY_ENTRIES)
			break;
		if (strings) {
			char buf[RTE_TEL_MAX_STRING_LEN];

			strlcpy(buf,
				json_is_string(v) ? json_string_value(v) : "",
				sizeof(buf));
			ret = rte_tel_data_add_array_string(d, buf);
		} else
			ret = rte_tel_data_add_array_u64(d,
							 json_integer_value(v));
		if (ret != 0)
			return ret;
	}
	return 0;
}

/*
 * Value @p v under key @p k of a container dict, flattened: an object's
 * members and an array's elements go in as keys "k/member" and "k/0"
 * (telemetry keys may hold '/'), as deep as they go. A full dict keeps
 * what it has: the control socket has the rest.
 */
static int
add_flat(struct rte_tel_data *d, const char *k, json_t *v)
{
	char key[RTE_TEL_MAX_STRING_LEN];
	const char *m;
	json_t *e;
	size_t i;
	int ret;

	if (!json_is_object(v) && !json_is_array(v)) {
		ret = add_scalar_dict(d, k, v);
		return ret == -ENOSPC ? 0 : ret;
	}
	if (json_is_object(v)) {
		json_object_foreach(v, m, e)
		{
			snprintf(key, sizeof(key), "%s/%s", k, m);
			ret = add_flat(d, key, e);
			if (ret != 0)
				return ret;
		}
		return 0;
	}
	json_array_foreach(v, i, e)
	{
		snprintf(key, sizeof(key), "%s/%zu", k, i);
		ret = add_flat(d, key, e);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* A container: a dict whose deeper values are flattened (add_flat()). */
static int
fill_flat(struct rte_tel_data *d, json_t *o)
{
	const char *k;
	json_t *v;
	int ret;

	rte_tel_data_start_dict(d);
	json_object_foreach(o, k, v)
	{
		ret = add_flat(d, k, v);
		if (ret != 0)
			return ret;
	}
	return 0;
}

static bool
is_scalar_array(json_t *a)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v) if (json_is_object(v) ||
					json_is_array(v)) return false;
	return true;
}

static int
add_container(struct rte_tel_data *d, const char *k, json_t *v)
{
	struct rte_tel_data *c = rte_tel_data_alloc();
	int ret;

	if (c == NULL)
		return -ENOMEM;
	ret = json_is_object(v) ? fill_flat(c, v) : fill_array(c, v);
	if (ret == 0)
		ret = rte_tel_data_add_dict_container(d, k, c, 0);
	if (ret != 0)
		rte_tel_data_free(c);
	return ret;
}

/*
 * The top dict: objects and arrays of scalars become containers; an array
 * of objects becomes one container per element, "key/0", "key/1", ...
 * (DPDK 22.11 telemetry arrays cannot hold dicts).
 */
static int
fill_dict(struct rte_tel_data *d, json_t *o)
{
	char key[RTE_TEL_MAX_STRING_LEN];
	const char *k;
	json_t *v, *e;
	size_t i;
	int ret = 0;

	rte_tel_data_start_dict(d);
	json_object_foreach(o, k, v)
	{
		if (json_is_array(v) && !is_scalar_array(v)) {
			json_array_foreach(v, i, e)
			{
				snprintf(key, sizeof(key), "%s/%zu", k, i);
				ret = json_is_object(e)
					? add_container(d, key, e)
					: add_scalar_dict(d, key, e);
				if (ret != 0)
					return ret;
			}
			continue;
		}
		ret = json_is_object(v) || json_is_array(v)
			? add_container(d, k, v)
			: add_scalar_dict(d, k, v);
		if (ret != 0)
			return ret;
	}
	return 0;
}

static int
json_to_tel(struct rte_tel_data *d, json_t *r)
{
	size_t i;
	json_t *v;
	int ret;

	if (json_is_object(r))
		return fill_dict(d, r);
	if (!json_is_array(r)) {
		char *s = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);

		ret = rte_tel_data_string(d, s ? s : "");
		free(s);
		return ret;
	}
	if (json_array_size(r) == 0 || !json_is_object(json_array_get(r, 0)))
		return fill_array(d, r);
	/*
	 * DPDK 22.11 telemetry arrays cannot hold dicts: a list of objects
	 * becomes a dict keyed by position ("0", "1", ...).
	 */
	rte_tel_data_start_dict(d);
	json_array_foreach(r, i, v)
	{
		struct rte_tel_data *c;
		char key[16];

		/* A telemetry dict holds 256 entries; the socket has all. */
		if (i >= RTE_TEL_MAX_DICT_ENTRIES)
			break;
		c = rte_tel_data_alloc();
		if (c == NULL)
			return -ENOMEM;
		snprintf(key, sizeof(key), "%zu", i);
		ret = fill_flat(c, v);
		if (ret == 0)
			ret = rte_tel_data_add_dict_container(d, key, c, 0);
		if (ret != 0) {
			rte_tel_data_free(c);
			return ret;
		}
	}
	return 0;
}

static int
tel_cb(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const char *argv[VS_CMD_MAX_ARGS];
	char buf[256], err[256];
	const struct vs_cmd *c = NULL;
	json_t *res = NULL;
	unsigned int i;
	char *tok, *save = NULL;
	int argc = 0, ret;

	for (i = 0; vs_cmd_at(i) != NULL; i++) {
		const struct vs_cmd *k = vs_cmd_at(i);

		if (k->tel != NULL &&
		    strcmp(cmd + strlen(TEL_PREFIX), k->tel) == 0) {
			c = k;
			break;
		}
	}
	if (c == NULL)
		return -EINVAL;
	if (params != NULL) {
		strlcpy(buf, params, sizeof(buf));
		for (tok = strtok_r(buf, ",", &save);
		     tok != NULL && argc < VS_CMD_MAX_ARGS;
		     tok = strtok_r(NULL, ",", &save))
			argv[argc++] = tok;
	}
	ret = vs_cmd_exec(c->name, argc, argv, &res, err, sizeof(err));
	if (ret != 0) {
		/* Telemetry has no error object: say it in a dict. */
		rte_tel_data_start_dict(d);
		err[RTE_TEL_MAX_STRING_LEN - 1] = '\0';
		ret = rte_tel_data_add_dict_string(d, "error", err);
		return ret == 0 ? 0 : -EINVAL;
	}
	ret = json_to_tel(d, res);
	json_decref(res);
	return ret == 0 ? 0 : -EINVAL;
}

int
vs_cmd_telemetry_register(void)
{
	char name[64], help[RTE_TEL_MAX_STRING_LEN];
	const struct vs_cmd *c;
	unsigned int i;
	int ret;

	for (i = 0; (c = vs_cmd_at(i)) != NULL; i++) {
		if (c->tel == NULL)
			continue;
		snprintf(name, sizeof(name), TEL_PREFIX "%s", c->tel);
		snprintf(help, sizeof(help), "%s%s%s: %s", name,
			 c->usage[0] ? "," : "", c->usage, c->help);
		ret = rte_telemetry_register_cmd(name, tel_cb, help);
		if (ret != 0)
			return ret;
	}
	return 0;
}
