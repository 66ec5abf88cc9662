/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-switch launcher: vhost-switch [EAL options] -- [switch options].
 * It parses, starts the switch, and keeps the main lcore for housekeeping
 * (the stats line, SIGUSR1's counters, SIGHUP's reload of the --config
 * file; MAC ageing is the control thread's) until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef VS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include <rte_devargs.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_errno.h>
#include <rte_log.h>

#include "vs_cmd.h"
#include "vs_conf.h"
#include "vs_prompt.h"
#include "vs_save.h"
#include "vs_switch.h"

/* Usage errors exit 2, like getopt-based tools and as SPEC section 2 says. */
#define EXIT_USAGE 2

static volatile sig_atomic_t quit_signal;
static volatile sig_atomic_t dump_stats;
static volatile sig_atomic_t reload_config;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump_stats = 1;
	else if (sig == SIGHUP)
		reload_config = 1;
	else
		quit_signal = sig;
}

/*
 * The counters, between markers a script can wait for. The printers read
 * the ports under the command lock (a port/del on the control thread cannot
 * free one under them).
 */
static void
print_stats(void)
{
	printf("vhost-switch: stats begin\n");
	vs_switch_print_stats(stdout);
	printf("vhost-switch: stats end\n");
	fflush(stdout);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double next_stats;
static unsigned int stats_period;

/* Main-lcore duties, about every 100 ms. */
static void
housekeeping(void)
{
	double t = now_s();

	if (dump_stats) {
		dump_stats = 0;
		print_stats();
	}
	/* SIGHUP: the --config file again, applied as a diff (vs_save.h). */
	if (reload_config) {
		reload_config = 0;
#ifdef VS_HAVE_SYSTEMD
		/* systemctl reload returns once READY=1 comes back. */
		sd_notify(0, "RELOADING=1");
#endif
		vs_save_reload();
#ifdef VS_HAVE_SYSTEMD
		sd_notify(0, "READY=1");
#endif
	}
	if (stats_period && t >= next_stats) {
		vs_switch_print_rates(stdout);
		next_stats = t + stats_period;
	}
}

/* "vhost-switch -h" (before "--") shows the switch's options too. */
static void
usage_hook(const char *prog)
{
	printf("Usage: %s [EAL options] -- [switch options]\n\n"
	       "Switch options (after --):\n",
	       prog);
	vs_conf_usage(prog);
	printf("\nEAL options:\n");
}

/* Every --vdev became an ethdev; say which did not. */
static int
check_vdevs(void)
{
	struct rte_devargs *da;
	uint16_t pid;
	int bad = 0;

	RTE_EAL_DEVARGS_FOREACH("vdev", da)
	{
		if (rte_eth_dev_get_port_by_name(da->name, &pid) == 0)
			continue;
		fprintf(stderr,
			"vhost-switch: --vdev %s%s%s: the device did not probe (see the EAL messages above)\n",
			da->name, da->args != NULL && da->args[0] ? "," : "",
			da->args != NULL ? da->args : "");
		bad = 1;
	}
	return bad;
}

int
main(int argc, char **argv)
{
	static struct vs_conf conf;
	struct sigaction sa = { .sa_handler = on_signal };
	char err[512];
	int ret;

	rte_set_application_usage_hook(usage_hook);
	/*
	 * Under systemd (JOURNAL_STREAM: stdout and stderr are the journal's)
	 * EAL's default log stream would put every line in the journal twice,
	 * once from stdout and once from syslog(): one copy, on stderr.
	 */
	if (getenv("JOURNAL_STREAM") != NULL)
		rte_openlog_stream(stderr);
	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "vhost-switch: EAL initialization failed: %s\n",
			rte_strerror(rte_errno));
		return rte_errno == EINVAL ? EXIT_USAGE : EXIT_FAILURE;
	}
	argc -= ret;
	argv += ret;
	argv[0] = (char *)"vhost-switch";

	vs_conf_defaults(&conf);
	ret = vs_conf_parse_args(&conf, argc, argv, err, sizeof(err));
	if (ret == -EAGAIN) {
		vs_conf_usage("vhost-switch");
		rte_eal_cleanup();
		return 0;
	} else if (ret < 0) {
		fprintf(stderr, "vhost-switch: %s\n", err);
		rte_eal_cleanup();
		return EXIT_USAGE;
	}

	/*
	 * EAL logs a --vdev that fails to probe and goes on without it; a
	 * switch missing a port it was told to have must not start.
	 */
	if (check_vdevs() != 0) {
		rte_eal_cleanup();
		return EXIT_FAILURE;
	}

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ret = vs_switch_start(&conf);
	if (ret < 0) {
		fprintf(stderr, "vhost-switch: cannot start: %s\n",
			rte_strerror(-ret));
		rte_eal_cleanup();
		/* No forwarding lcore (the -l list), a --port naming no port. */
		return ret == -ENODEV || ret == -ENXIO ? EXIT_USAGE
						       : EXIT_FAILURE;
	}
	printf("vhost-switch: ready\n");
	fflush(stdout);
#ifdef VS_HAVE_SYSTEMD
	/* Type=notify (vhost-switch@.service); a no-op outside systemd. */
	sd_notifyf(0, "READY=1\nMAINPID=%lu", (unsigned long)getpid());
#endif

	next_stats = now_s() + conf.stats_period;
	stats_period = conf.stats_period;
	if (conf.interactive) {
		ret = vs_prompt_run(&quit_signal, housekeeping);
		if (ret < 0)
			fprintf(stderr, "vhost-switch: no prompt: %s\n",
				strerror(-ret));
		if (!quit_signal)
			quit_signal = SIGTERM; /* "quit" or end of input */
	}
	while (!quit_signal) {
		usleep(100 * 1000);
		housekeeping();
	}

	/*
	 * From here on every command is refused (telemetry's thread runs on
	 * until exit): said before "stopping", so a client that sees that line
	 * knows no command will run again.
	 */
	vs_cmd_close();
#ifdef VS_HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	printf("vhost-switch: %s, stopping\n", strsignal(quit_signal));
	fflush(stdout);
	printf("vhost-switch: stats begin\n");
	vs_switch_stop(stdout);
	printf("vhost-switch: stats end\n");
	rte_eal_cleanup();
	printf("vhost-switch: stopped\n");
	return 0;
}
