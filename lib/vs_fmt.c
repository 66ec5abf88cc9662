/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "vs_fmt.h"

#define MAX_COLS 64

/*
 * An object of scalars as "k=v,k=v" (one word: a table's columns stay
 * split by spaces), else NULL. Caller frees.
 */
static char *
pairs(const json_t *v)
{
	const json_t *e;
	const char *k;
	char *s = NULL, *t;

	json_object_foreach((json_t *)v, k, e)
	{
		char *x;

		if (json_is_object(e) || json_is_array(e))
			goto fail;
		x = json_is_string(e) ? strdup(json_string_value(e))
				      : json_dumps(e, JSON_ENCODE_ANY);
		if (x == NULL || strpbrk(x, " ,=") != NULL ||
		    asprintf(&t, "%s%s%s=%s", s ? s : "", s ? "," : "", k, x) <
			    0) {
			free(x);
			goto fail;
		}
		free(x);
		free(s);
		s = t;
	}
	return s != NULL ? s : strdup("-");
fail:
	free(s);
	return NULL;
}

/*
 * A scalar as text; an object of scalars as k=v pairs; other containers
 * as compact JSON. Caller frees.
 */
static char *
text(const json_t *v)
{
	char *s;

	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_null(v))
		return strdup("-");
	if (json_is_real(v)) {
		if (asprintf(&s, "%.2f", json_real_value(v)) < 0)
			return NULL;
		return s;
	}
	if (json_is_array(v)) {
		/* A list of strings reads best space-separated. */
		size_t i, len = 0;
		const json_t *e;

		json_array_foreach(v, i, e) if (
			!json_is_string(
				e)) return json_dumps(v,
						      JSON_COMPACT |
							      JSON_ENCODE_ANY);
		json_array_foreach(v, i, e) len +=
			strlen(json_string_value(e)) + 1;
		s = calloc(1, len + 1);
		if (s == NULL)
			return NULL;
		json_array_foreach(v, i, e)
		{
			if (i)
				strcat(s, " ");
			strcat(s, json_string_value(e));
		}
		return s;
	}
	if (json_is_object(v) && (s = pairs(v)) != NULL)
		return s;
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void
print_table(FILE *f, const json_t *a)
{
	const char *cols[MAX_COLS];
	size_t width[MAX_COLS];
	size_t ncols = 0, i, c;
	const json_t *row, *v;
	const char *k;

	/* Columns: the keys of every row, in first-seen order. */
	json_array_foreach(a, i, row)
	{
		json_object_foreach((json_t *)row, k, v)
		{
			for (c = 0; c < ncols; c++)
				if (strcmp(cols[c], k) == 0)
					break;
			if (c == ncols && ncols < MAX_COLS) {
				cols[ncols] = k;
				width[ncols++] = strlen(k);
			}
		}
	}
	json_array_foreach(a, i, row)
	{
		for (c = 0; c < ncols; c++) {
			char *s = text(json_object_get(row, cols[c]));

			if (s != NULL && strlen(s) > width[c])
				width[c] = strlen(s);
			free(s);
		}
	}
	for (c = 0; c < ncols; c++)
		fprintf(f, "%-*s%s", c + 1 < ncols ? (int)width[c] : 0, cols[c],
			c + 1 < ncols ? "  " : "\n");
	json_array_foreach(a, i, row)
	{
		for (c = 0; c < ncols; c++) {
			const json_t *cell = json_object_get(row, cols[c]);
			char *s = cell ? text(cell) : strdup("");
			int right = json_is_number(cell);

			/* Numbers right-aligned; no padding at line end. */
			fprintf(f, right ? "%*s%s" : "%-*s%s",
				right || c + 1 < ncols ? (int)width[c] : 0,
				s ? s : "", c + 1 < ncols ? "  " : "\n");
			free(s);
		}
	}
}

void
vs_fmt_print(FILE *f, const json_t *r)
{
	const json_t *v;
	const char *k;
	size_t i, w = 0;

	if (json_is_array(r) && json_array_size(r) > 0 &&
	    json_is_object(json_array_get(r, 0))) {
		print_table(f, r);
		return;
	}
	if (json_is_array(r)) {
		json_array_foreach(r, i, v)
		{
			char *s = text(v);

			fprintf(f, "%s\n", s ? s : "");
			free(s);
		}
		return;
	}
	if (!json_is_object(r)) {
		char *s = text(r);

		fprintf(f, "%s\n", s ? s : "");
		free(s);
		return;
	}
	json_object_foreach((json_t *)r, k, v) if (strlen(k) > w) w = strlen(k);
	json_object_foreach((json_t *)r, k, v)
	{
		if (json_is_object(v)) {
			const char *k2;
			const json_t *v2;

			fprintf(f, "%-*s :", (int)w, k);
			json_object_foreach((json_t *)v, k2, v2)
			{
				char *s = text(v2);

				fprintf(f, " %s=%s", k2, s ? s : "");
				free(s);
			}
			fprintf(f, "\n");
			continue;
		}
		char *s = text(v);

		fprintf(f, "%-*s : %s\n", (int)w, k, s ? s : "");
		free(s);
	}
}
