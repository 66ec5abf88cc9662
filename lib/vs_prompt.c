/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmdline.h>
#include <cmdline_parse.h>
#include <cmdline_parse_string.h>
#include <cmdline_rdline.h>
#include <cmdline_socket.h>
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

static cmdline_parse_token_string_t tok_method =
	TOKEN_STRING_INITIALIZER(struct line, method, NULL);
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
	size_t len = 1;
	unsigned int i;
	char *methods;

	/* The method token completes on "name#name#..." (librte_cmdline). */
	for (i = 0; (c = vs_cmd_at(i)) != NULL; i++)
		len += strlen(c->name) + 1;
	methods = calloc(1, len);
	if (methods == NULL)
		return -ENOMEM;
	for (i = 0; (c = vs_cmd_at(i)) != NULL; i++) {
		if (i)
			strcat(methods, "#");
		strcat(methods, c->name);
	}
	tok_method.string_data.str = methods;

	cl = cmdline_stdin_new(ctx, "vhost-switch> ");
	if (cl == NULL) {
		free(methods);
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
	free(methods);
	return 0;
}
