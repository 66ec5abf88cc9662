/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VS_SOCK_H
#define VS_SOCK_H

/**
 * Make @p path free for a listening unix socket, the way one owner per
 * socket (the kernel's VHOST_SET_OWNER) requires: a live socket there
 * belongs to another process and is refused; a dead one (a crash's
 * leftover) is removed; anything that is not a socket, a symlink included
 * (lstat: never followed), is not ours to remove.
 *
 * @return 0 (free now), -EADDRINUSE (live socket), -EEXIST (not a
 *   socket), or -errno.
 */
int vs_sock_claim(const char *path);

#endif /* VS_SOCK_H */
