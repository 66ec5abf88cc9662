/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmdline.h>
#include <cmdline_parse.h>
#include <cmdline_parse_string.h>
#include <cmdline_rdline.h>
#include <cmdline_socket.h>
#include <rte_common.h>
#include <rte_string_fns.h>

#include "vs_cmd.h"
#include "vs_fmt.h"
#include "vs_prompt.h"

struct line {
	cmdline_fixed_string_t method;
	cmdline_multi_string_t args;
};

static void
run(struct line *l, bool with_args)
{
	char *argv[VS_CMD_MAX_ARGS + 1];
	char err[512];
	json_t *res = NULL;
	int argc = 0, ret;

	if (with_args) {
		argc = rte_strsplit(l->args, strlen(l->args), argv,
				    RTE_DIM(argv), ' ');
		if (argc > VS_CMD_MAX_ARGS) {
			printf("error: at most %d arguments\n",
			       VS_CMD_MAX_ARGS);
			return;
		}
	}
	ret = vs_cmd_exec(l->method, argc, (const char *const *)argv, &res, err,
			  sizeof(err));
	if (ret != 0)
		printf("error: %s\n", err);
	else
		vs_fmt_print(stdout, res);
	json_decref(res);
	fflush(stdout);
}

static void
run_noargs(void *parsed, struct cmdline *cl, void *data)
{
	run(parsed, false);
}

static void
run_args(void *parsed, struct cmdline *cl, void *data)
{
	run(parsed, true);
}

static void
quit(void *parsed, struct cmdline *cl, void *data)
{
	cmdline_quit(cl);
}

/*
 * The method token: any word but "quit" parses (an unknown method gets the
 * registry's "unknown method" error, not cmdline's "Command not found"),
 * and TAB completes on the registered names. cmdline's string token cannot
 * do both: with a list of names it refuses other words, and a second,
 * catch-all instruction would make every known method ambiguous.
 */
static const char **method_names;
static int nb_method_names;

static int
method_parse(cmdline_parse_token_hdr_t *tk, const char *buf, void *res,
	     unsigned int ressize)
{
	unsigned int n = 0;

	RTE_SET_USED(tk);
	if (buf == NULL)
		return -1;
	while (!cmdline_isendoftoken(buf[n]))
		n++;
	if (n == 0 || (n == 4 && strncmp(buf, "quit", 4) == 0))
		return -1;
	if (res != NULL) {
		if (n >= ressize || n >= sizeof(cmdline_fixed_string_t))
			return -1;
		memcpy(res, buf, n);
		((char *)res)[n] = '\0';
	}
	return (int)n;
}

static int
method_nb(cmdline_parse_token_hdr_t *tk)
{
	RTE_SET_USED(tk);
	return nb_method_names;
}

static int
method_elt(cmdline_parse_token_hdr_t *tk, int idx, char *dst, unsigned int size)
{
	RTE_SET_USED(tk);
	if (idx < 0 || idx >= nb_method_names ||
	    strlcpy(dst, method_names[idx], size) >= size)
		return -1;
	return 0;
}

static int
method_help(cmdline_parse_token_hdr_t *tk, char *dst, unsigned int size)
{
	RTE_SET_USED(tk);
	strlcpy(dst, "METHOD", size);
	return 0;
}

static struct cmdline_token_ops method_ops = {
	.parse = method_parse,
	.complete_get_nb = method_nb,
	.complete_get_elt = method_elt,
	.get_help = method_help,
};

static cmdline_parse_token_hdr_t tok_method = {
	.ops = &method_ops,
	.offset = offsetof(struct line, method),
};
static cmdline_parse_token_string_t tok_args =
	TOKEN_STRING_INITIALIZER(struct line, args, TOKEN_STRING_MULTI);
static cmdline_parse_token_string_t tok_quit =
	TOKEN_STRING_INITIALIZER(struct line, method, "quit");

static cmdline_parse_inst_t inst_noargs = {
	.f = run_noargs,
	.help_str = "METHOD: run a method ('help' lists them)",
	.tokens = { (void *)&tok_method, NULL },
};
static cmdline_parse_inst_t inst_args = {
	.f = run_args,
	.help_str = "METHOD ARGS...: run a method with arguments",
	.tokens = { (void *)&tok_method, (void *)&tok_args, NULL },
};
static cmdline_parse_inst_t inst_quit = {
	.f = quit,
	.help_str = "quit: stop the switch",
	.tokens = { (void *)&tok_quit, NULL },
};

static cmdline_parse_ctx_t ctx[] = {
	&inst_quit,
	&inst_noargs,
	&inst_args,
	NULL,
};

int
vs_prompt_run(volatile sig_atomic_t *stop, void (*idle)(void))
{
	const struct vs_cmd *c;
	struct cmdline *cl;
	unsigned int i;

	for (i = 0; vs_cmd_at(i) != NULL; i++)
		;
	method_names = calloc(i + 1, sizeof(*method_names));
	if (method_names == NULL)
		return -ENOMEM;
	for (i = 0; (c = vs_cmd_at(i)) != NULL; i++)
		method_names[i] = c->name;
	nb_method_names = (int)i;

	cl = cmdline_stdin_new(ctx, "vhost-switch> ");
	if (cl == NULL) {
		free(method_names);
		return -ENOMEM;
	}
	while (!*stop) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		int n = poll(&pfd, 1, 100);

		if (n > 0 && cmdline_poll(cl) == RDLINE_EXITED)
			break;
		if (n < 0 && errno != EINTR)
			break;
		if (idle != NULL)
			idle();
	}
	cmdline_stdin_exit(cl);
	printf("\n");
	free(method_names);
	method_names = NULL;
	nb_method_names = 0;
	return 0;
}
