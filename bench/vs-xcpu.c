/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vs-xcpu: the round trip of one cache line between two CPUs, in ns.
 *
 * scripts/bench runs it before every PVP cell (guest and switch paused)
 * between the guest's CPU and the datapath's. A PVP loop moves every
 * frame's cache lines between those two CPUs (the guest writes a buffer,
 * the switch copies it), so its rate follows this figure: on this
 * project's VM host the same plain loop runs at ~55 ns a frame when the
 * round trip is ~100 ns and at ~95 when it is ~450 (the host places the
 * two vCPUs near or far). doc/performance.md, "Session 13".
 *
 *   vs-xcpu [CPU_A CPU_B [ROUNDS]]     default 0 1 200000
 *
 * Prints the median of 5 runs of ROUNDS/5 round trips: "xcpu_rt_ns N".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 5

static struct {
	_Alignas(64) atomic_uint turn; /* the line that moves */
	_Alignas(64) atomic_uint quit;
} shared;

static long rounds;

static int
pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *
peer(void *arg)
{
	int cpu = *(int *)arg;
	unsigned int want = 1;

	if (pin(cpu) != 0)
		return (void *)1;
	/* Answer every odd value with the next even one. */
	while (!atomic_load_explicit(&shared.quit, memory_order_relaxed)) {
		if (atomic_load_explicit(&shared.turn, memory_order_acquire) ==
		    want) {
			atomic_store_explicit(&shared.turn, want + 1,
					      memory_order_release);
			want += 2;
		}
	}
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	int a = 0, b = 1, err;
	double ns[RUNS];
	unsigned int v = 0;
	pthread_t t;
	long i;

	if (argc != 1 && argc != 3 && argc != 4) {
		fprintf(stderr, "usage: %s [CPU_A CPU_B [ROUNDS]]\n", argv[0]);
		return 2;
	}
	if (argc >= 3) {
		a = atoi(argv[1]);
		b = atoi(argv[2]);
	}
	rounds = argc == 4 ? atol(argv[3]) : 200000;
	if (a == b || rounds < RUNS) {
		fprintf(stderr, "vs-xcpu: two different CPUs, >= %d rounds\n",
			RUNS);
		return 2;
	}
	if (pin(a) != 0) {
		fprintf(stderr, "vs-xcpu: cannot run on CPU %d\n", a);
		return 1;
	}
	err = pthread_create(&t, NULL, peer, &b);
	if (err != 0) {
		fprintf(stderr, "vs-xcpu: %s\n", strerror(err));
		return 1;
	}
	for (int r = 0; r < RUNS; r++) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < rounds / RUNS; i++) {
			atomic_store_explicit(&shared.turn, ++v,
					      memory_order_release);
			++v;
			while (atomic_load_explicit(&shared.turn,
						    memory_order_acquire) != v)
				;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ns[r] = ((t1.tv_sec - t0.tv_sec) * 1e9 +
			 (t1.tv_nsec - t0.tv_nsec)) /
			(double)(rounds / RUNS);
	}
	atomic_store(&shared.quit, 1);
	pthread_join(t, NULL);
	qsort(ns, RUNS, sizeof(ns[0]), cmp);
	printf("xcpu_rt_ns %.1f\n", ns[RUNS / 2]);
	return 0;
}
