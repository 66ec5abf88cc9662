/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "vs_capture.h"
#include "vs_cmd.h"
#include "vs_ctl.h"
#include "vs_vxlan.h"
#include "vs_fdb.h"
#include "vs_sock.h"

RTE_LOG_REGISTER(vs_logtype_ctl, vswitch.ctl, INFO);
#define CTL_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vs_logtype_ctl, "vswitch.ctl: " fmt, \
		##__VA_ARGS__)

struct client {
	int fd;
	time_t last;
	size_t inlen;
	char *in; /* VS_CTL_MAX_REQUEST + 1 */
	char *out; /* pending reply bytes */
	size_t outlen, outoff;
	bool closing; /* close once out is sent */
};

static struct {
	int lfd;
	int epfd;
	int stopfd[2];
	pthread_t thread;
	bool running;
	/* The thread's rte_thread_register() result, for vs_ctl_start(). */
	sem_t started;
	int reg_errno;
	char path[108];
	struct client cl[VS_CTL_MAX_CLIENTS];
} ctl = { .lfd = -1, .epfd = -1, .stopfd = { -1, -1 } };

void
vs_ctl_default_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/vhost-switch.ctl", rte_eal_get_runtime_dir());
}

static void
client_close(struct client *c)
{
	epoll_ctl(ctl.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Queue @p s (plus a newline) for sending; takes ownership. */
static void
client_reply(struct client *c, char *s)
{
	size_t n = strlen(s);
	char *o;

	/* Drop what was sent first, so the copy below stays in bounds. */
	if (c->outoff) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
	}
	o = realloc(c->out, c->outlen + n + 1);
	if (o == NULL) {
		free(s);
		c->closing = true;
		return;
	}
	memcpy(o + c->outlen, s, n);
	o[c->outlen + n] = '\n';
	c->outlen += n + 1;
	c->out = o;
	free(s);
}

static void
client_flush(struct client *c)
{
	struct epoll_event ev = { .data.ptr = c };

	while (c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff,
				 c->outlen - c->outoff, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			client_close(c);
			return;
		}
		c->outoff += w;
	}
	if (c->outoff == c->outlen) {
		c->outoff = c->outlen = 0;
		if (c->closing) {
			client_close(c);
			return;
		}
	}
	/*
	 * A client that sends without reading its replies stops being read
	 * once VS_CTL_MAX_PENDING bytes wait for it: its replies cannot grow
	 * the switch's memory without bound.
	 */
	ev.events = (!c->closing && c->outlen - c->outoff < VS_CTL_MAX_PENDING
			     ? EPOLLIN
			     : 0) |
		(c->outlen ? EPOLLOUT : 0);
	epoll_ctl(ctl.epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static char *
error_reply(int code, const char *msg)
{
	char *s = NULL;
	json_t *r = json_pack("{s:s, s:n, s:{s:i, s:s}}", "jsonrpc", "2.0",
			      "id", "error", "code", code, "message", msg);

	if (r != NULL)
		s = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	return s ? s : strdup("{}");
}

static void
client_read(struct client *c)
{
	char *nl, *start;
	ssize_t r;

	r = recv(c->fd, c->in + c->inlen, VS_CTL_MAX_REQUEST + 1 - c->inlen, 0);
	if (r == 0 && c->outoff < c->outlen) {
		/* A half-close (nc -N): the replies still go, then close. */
		c->closing = true;
		client_flush(c);
		return;
	}
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (r < 0)
		return;
	c->last = time(NULL);
	c->inlen += r;
	start = c->in;
	while ((nl = memchr(start, '\n', c->in + c->inlen - start)) != NULL) {
		size_t len = nl - start;
		char *reply;

		if (len > 0 && start[len - 1] == '\r')
			len--;
		if (len > 0) {
			reply = vs_cmd_rpc(start, len);
			if (reply != NULL)
				client_reply(c, reply);
		}
		start = nl + 1;
	}
	c->inlen -= start - c->in;
	memmove(c->in, start, c->inlen);
	if (c->inlen > VS_CTL_MAX_REQUEST) {
		char msg[96];

		snprintf(msg, sizeof(msg),
			 "request longer than %d bytes; closing the connection",
			 VS_CTL_MAX_REQUEST);
		client_reply(c, error_reply(VS_RPC_INVALID_REQUEST, msg));
		c->closing = true;
		c->inlen = 0;
		CTL_LOG(NOTICE, "client sent a request over %d bytes: closed\n",
			VS_CTL_MAX_REQUEST);
	}
	client_flush(c);
}

static void
accept_client(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct client *c = NULL;
	unsigned int i;
	int fd;

	fd = accept4(ctl.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (i = 0; i < VS_CTL_MAX_CLIENTS; i++)
		if (ctl.cl[i].fd < 0) {
			c = &ctl.cl[i];
			break;
		}
	if (c != NULL)
		c->in = malloc(VS_CTL_MAX_REQUEST + 1);
	if (c == NULL || c->in == NULL) {
		char *s = error_reply(
			VS_RPC_FAILED,
			"too many control clients; try again later");

		if (send(fd, s, strlen(s), MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
			send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		free(s);
		close(fd);
		return;
	}
	c->fd = fd;
	c->last = time(NULL);
	ev.data.ptr = c;
	if (epoll_ctl(ctl.epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		client_close(c);
}

static void *
ctl_thread(void *arg)
{
	struct epoll_event evs[16];
	uint64_t next_age = 0, hz = rte_get_tsc_hz();
	time_t next_idle = 0;
	unsigned int i;
	int n, capturing = 0;

	/*
	 * An lcore id of our own: rte_hash's per-lcore free-slot caches
	 * (MAC table writes from fdb/add, fdb/del, flushes and ageing) index
	 * by it, and LCORE_ID_ANY would index past them. Without one this
	 * thread must not run: vs_ctl_start() fails.
	 */
	ctl.reg_errno = rte_thread_register() == 0 ? 0 : rte_errno;
	sem_post(&ctl.started);
	if (ctl.reg_errno != 0)
		return NULL;
	for (;;) {
		uint64_t now;

		/* A capture in progress is written every 10 ms. */
		n = epoll_wait(ctl.epfd, evs, RTE_DIM(evs),
			       capturing ? 10 : 200);
		for (i = 0; i < (unsigned int)(n > 0 ? n : 0); i++) {
			struct client *c = evs[i].data.ptr;

			if (c == NULL) {
				accept_client();
			} else if ((void *)c == (void *)ctl.stopfd) {
				goto out;
			} else {
				if (evs[i].events & EPOLLOUT)
					client_flush(c);
				if (c->fd >= 0 &&
				    (evs[i].events &
				     (EPOLLIN | EPOLLHUP | EPOLLERR)))
					client_read(c);
			}
		}
		/* The capture writer has a lock of its own (vs_capture.c). */
		capturing = vs_capture_poll();
		now = rte_get_tsc_cycles();
		if (now >= next_age) {
			/*
			 * Ageing runs as a command does: the prompt (main
			 * lcore) can flush or edit the table meanwhile, and
			 * the MAC table's control side runs one call at a time.
			 */
			vs_cmd_lock();
			vs_fdb_age(now);
			vs_vxlan_tick(now);
			vs_cmd_unlock();
			next_age = now + hz;
		}
		if (time(NULL) >= next_idle) {
			time_t t = time(NULL);

			for (i = 0; i < VS_CTL_MAX_CLIENTS; i++)
				if (ctl.cl[i].fd >= 0 &&
				    t - ctl.cl[i].last > VS_CTL_IDLE_S)
					client_close(&ctl.cl[i]);
			next_idle = t + 1;
		}
	}
out:
	rte_thread_unregister();
	return NULL;
}

int
vs_ctl_start(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	unsigned int i;
	mode_t um;
	int ret;

	for (i = 0; i < VS_CTL_MAX_CLIENTS; i++)
		ctl.cl[i].fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	ret = vs_sock_claim(path);
	if (ret < 0)
		return ret;
	ctl.lfd =
		socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl.lfd < 0)
		return -errno;
	strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	strlcpy(ctl.path, path, sizeof(ctl.path));
	/*
	 * bind() creates the socket file with mode 0777 & ~umask: with the
	 * umask at 0117 it is born 0660 (SPEC: mode 0660), never wider, not
	 * even for an instant as a chmod() after bind() would leave it. The
	 * umask is per process: no other thread of ours creates files while
	 * the switch starts (the forwarding lcores never do, the vhost
	 * sockets already exist, no command runs before this socket).
	 */
	um = umask(0117);
	ret = bind(ctl.lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(um);
	if (ret != 0 || listen(ctl.lfd, 64) != 0) {
		ret = -errno;
		goto fail;
	}
	ctl.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ctl.epfd < 0 || pipe2(ctl.stopfd, O_CLOEXEC) != 0) {
		ret = -errno;
		goto fail;
	}
	ev.data.ptr = NULL;
	epoll_ctl(ctl.epfd, EPOLL_CTL_ADD, ctl.lfd, &ev);
	ev.data.ptr = ctl.stopfd;
	epoll_ctl(ctl.epfd, EPOLL_CTL_ADD, ctl.stopfd[0], &ev);
	if (sem_init(&ctl.started, 0, 0) != 0) {
		ret = -errno;
		goto fail;
	}
	ret = rte_ctrl_thread_create(&ctl.thread, "vs-ctl", NULL, ctl_thread,
				     NULL);
	if (ret != 0) {
		sem_destroy(&ctl.started);
		ret = -ret;
		goto fail;
	}
	while (sem_wait(&ctl.started) != 0 && errno == EINTR)
		;
	sem_destroy(&ctl.started);
	if (ctl.reg_errno != 0) {
		pthread_join(ctl.thread, NULL);
		ret = -ctl.reg_errno;
		CTL_LOG(ERR,
			"cannot register the control thread with EAL: %s. It needs an lcore id of its own (the MAC table's per-lcore caches); EAL has RTE_MAX_LCORE=%d, one for each lcore of -l/--lcores and each registered thread\n",
			rte_strerror(ctl.reg_errno), RTE_MAX_LCORE);
		goto fail;
	}
	ctl.running = true;
	CTL_LOG(INFO, "control socket %s\n", path);
	return 0;
fail:
	vs_ctl_stop();
	return ret;
}

void
vs_ctl_stop(void)
{
	unsigned int i;

	if (ctl.running) {
		if (write(ctl.stopfd[1], "x", 1) != 1)
			CTL_LOG(WARNING, "cannot wake the control thread\n");
		pthread_join(ctl.thread, NULL);
		ctl.running = false;
	}
	for (i = 0; ctl.epfd >= 0 && i < VS_CTL_MAX_CLIENTS; i++)
		if (ctl.cl[i].fd >= 0)
			client_close(&ctl.cl[i]);
	if (ctl.lfd >= 0) {
		close(ctl.lfd);
		unlink(ctl.path);
	}
	if (ctl.epfd >= 0)
		close(ctl.epfd);
	for (i = 0; i < 2; i++)
		if (ctl.stopfd[i] >= 0)
			close(ctl.stopfd[i]);
	ctl.lfd = ctl.epfd = ctl.stopfd[0] = ctl.stopfd[1] = -1;
}
