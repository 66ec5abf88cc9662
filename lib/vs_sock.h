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

/**
 * Bind a throwaway unix socket at @p path (free: see vs_sock_claim()) and
 * remove it again: whether a listening socket can be made there (the
 * directory exists, is writable, the name fits sun_path). It exists for
 * an instant, mode 0600 (umask 0177 around bind()).
 *
 * librte_vhost 22.11 must never meet a path it cannot bind: a failed
 * bind() in rte_vhost_driver_start() closes the socket's fd, and
 * rte_vhost_driver_unregister() then closes the same fd number again,
 * by then maybe another thread's connection (found by test_fuzz.py).
 *
 * @return 0 or -errno of socket(), bind() or unlink().
 */
int vs_sock_probe_bind(const char *path);

#endif /* VS_SOCK_H */
