/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_string_fns.h>

#include "vs_sock.h"

/* A unix stream socket, and @p sa addressing @p path: fd or -errno. */
static int
sock_for(const char *path, struct sockaddr_un *sa)
{
	int fd;

	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	strlcpy(sa->sun_path, path, sizeof(sa->sun_path));
	return fd;
}

int
vs_sock_claim(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = sock_for(path, &sa);
	if (fd < 0)
		return fd;
	ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (ret == 0)
		return -EADDRINUSE;
	return unlink(path) == 0 ? 0 : -errno;
}

int
vs_sock_probe_bind(const char *path)
{
	struct sockaddr_un sa;
	mode_t um;
	int fd, ret = 0;

	fd = sock_for(path, &sa);
	if (fd < 0)
		return fd;
	/*
	 * Born 0600 like the socket librte_vhost binds after it
	 * (vs_port_vhost_start()), whatever the process's umask: never a
	 * moment where the path is wider than its owner= / mode= allow.
	 */
	um = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		ret = -errno;
	umask(um);
	close(fd);
	if (ret == 0 && unlink(path) != 0)
		ret = -errno;
	return ret;
}
