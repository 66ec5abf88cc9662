/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_PROMPT_H
#define VS_PROMPT_H

/**
 * @file
 * The interactive prompt (-i): every registered command, with tab
 * completion of method names (librte_cmdline), output as vhost-switch-ctl
 * prints it. "quit" or end of input ends it.
 */

#include <signal.h>

/**
 * Run the prompt on stdin/stdout until "quit", end of input or
 * @p *stop becomes non-zero; @p idle is called about every 100 ms.
 * @return 0, or -errno if the prompt cannot start.
 */
int vs_prompt_run(volatile sig_atomic_t *stop, void (*idle)(void));

#endif /* VS_PROMPT_H */
