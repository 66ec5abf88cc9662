#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A vhost-user frontend in Python, and a protocol fuzzer built on it.

The switch listens on a vhost-user socket (server mode, ``--vhost
SOCK,name=x``); this program connects as the frontend (the role QEMU or
virtio-user plays) and sends messages built from the structures of the
vhost-user protocol (QEMU docs/interop/vhost-user.rst, DPDK
lib/vhost/vhost_user.h):

    header   u32 request, u32 flags (version 0x1, reply 0x4, need-reply 0x8),
             u32 size; then ``size`` bytes of payload
    payload  u64                      features, vring index for KICK/CALL/ERR
             vhost_vring_state        {u32 index, u32 num}
             vhost_vring_addr         {u32 index, u32 flags, u64 desc, used,
                                       avail, log}
             vhost_memory             {u32 nregions, u32 pad, regions[8] of
                                       {u64 gpa, size, uaddr, mmap_offset}}
    fds      SCM_RIGHTS: one per memory region, one eventfd for KICK/CALL/ERR

Guest memory is a memfd (os.memfd_create) mapped here and by the switch;
the rings live in it, so this frontend is a real (small) virtio-net guest
too: it can send frames (guest TX ring) and receive them (guest RX ring).

Modes:

  fuzz   malformed and hostile message sequences, then valid bring-ups
         followed by corrupted rings; seeded and repeatable:
           vhostuser_fuzz.py fuzz --sock S --seed 7 --count 10000
         replays one case:  ... fuzz --sock S --seed 7 --case 123 -v
  guest  bring a device up and stream frames (or just sit there, never
         draining the rx ring) until killed:
           vhostuser_fuzz.py guest --sock S --mac 02:..:01 --dst ff:..:ff

Every case ends by closing its connections; after each case the fuzzer
checks that the switch process is alive (--pid) and that a fresh
connection gets a GET_FEATURES reply (a hung vhost-user thread shows up
here). A failure prints the seed and the case number to replay.
"""
import argparse
import errno
import json
import mmap
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time

# --- protocol constants -----------------------------------------------------

GET_FEATURES = 1
SET_FEATURES = 2
SET_OWNER = 3
RESET_OWNER = 4
SET_MEM_TABLE = 5
SET_LOG_BASE = 6
SET_LOG_FD = 7
SET_VRING_NUM = 8
SET_VRING_ADDR = 9
SET_VRING_BASE = 10
GET_VRING_BASE = 11
SET_VRING_KICK = 12
SET_VRING_CALL = 13
SET_VRING_ERR = 14
GET_PROTOCOL_FEATURES = 15
SET_PROTOCOL_FEATURES = 16
GET_QUEUE_NUM = 17
SET_VRING_ENABLE = 18
SEND_RARP = 19
NET_SET_MTU = 20
SET_BACKEND_REQ_FD = 21
IOTLB_MSG = 22
SET_VRING_ENDIAN = 23
GET_CONFIG = 24
SET_CONFIG = 25
CRYPTO_CREATE_SESS = 26
CRYPTO_CLOSE_SESS = 27
POSTCOPY_ADVISE = 28
POSTCOPY_LISTEN = 29
POSTCOPY_END = 30
GET_INFLIGHT_FD = 31
SET_INFLIGHT_FD = 32
GPU_SET_SOCKET = 33
RESET_DEVICE = 34
VRING_KICK = 35
GET_MAX_MEM_SLOTS = 36
ADD_MEM_REG = 37
REM_MEM_REG = 38
SET_STATUS = 39
GET_STATUS = 40

NAMES = {v: k for k, v in list(globals().items())
         if k.isupper() and isinstance(v, int) and 0 < v < 64}

# Requests whose reply the backend sends unasked.
REPLIES = {GET_FEATURES, GET_PROTOCOL_FEATURES, GET_VRING_BASE, GET_QUEUE_NUM,
           GET_CONFIG, GET_INFLIGHT_FD, GET_MAX_MEM_SLOTS, GET_STATUS,
           SET_LOG_BASE, POSTCOPY_ADVISE}

VERSION = 0x1
F_REPLY = 0x4
F_NEED_REPLY = 0x8
HDR = struct.Struct("<III")
VRING_NOFD = 0x100
MAX_PAYLOAD = 0x1000  # larger than any DPDK payload union: "invalid size"

# virtio feature bits
F_MRG_RXBUF = 1 << 15
F_STATUS = 1 << 16
F_CTRL_VQ = 1 << 17
F_MQ = 1 << 22
F_LOG_ALL = 1 << 26
F_INDIRECT = 1 << 28
F_EVENT_IDX = 1 << 29
F_PROTOCOL = 1 << 30
F_VERSION_1 = 1 << 32
F_IOMMU = 1 << 33
F_PACKED = 1 << 34
F_IN_ORDER = 1 << 35

# protocol feature bits
PF_MQ = 1 << 0
PF_LOG_SHMFD = 1 << 1
PF_RARP = 1 << 2
PF_REPLY_ACK = 1 << 3
PF_NET_MTU = 1 << 4
PF_BACKEND_REQ = 1 << 5
PF_STATUS = 1 << 16

# split ring
DESC = struct.Struct("<QIHH")  # addr, len, flags, next
D_NEXT, D_WRITE, D_INDIRECT = 1, 2, 4
NET_HDR_LEN = 12  # virtio_net_hdr_mrg_rxbuf: VERSION_1 or MRG_RXBUF

U64_EDGES = [0, 1, 0xfff, 0x1000, 0x7fffffffffffffff, 0x8000000000000000,
             0xfffffffffffff000, 0xffffffffffffffff, 0xffffffff,
             0x100000000]
U32_EDGES = [0, 1, 2, 3, 0x7f, 0x80, 0xff, 0x100, 0x101, 0x7fff, 0x8000,
             0x8001, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff]


def now():
    return time.monotonic()


class Closed(Exception):
    """The backend closed the connection (or reset it)."""


# --- one connection -----------------------------------------------------------

class Conn:
    """A frontend connection: messages out, replies in."""

    def __init__(self, path, timeout=5.0, guard=None):
        self.path = path
        self.guard = guard
        self.skipped = []
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.sent = 0
        self.timeout = timeout

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def raw(self, data, fds=()):
        """Send bytes (and fds) as they are."""
        try:
            if fds:
                socket.send_fds(self.s, [data], list(fds))
            else:
                self.s.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionRefusedError):
            raise Closed()
        except socket.timeout:
            raise Closed()
        except OSError as e:
            if e.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                raise Closed()
            raise

    def msg(self, req, payload=b"", flags=VERSION, fds=(), size=None):
        """One message; @size overrides the header's size field."""
        n = len(payload) if size is None else size
        if self.guard is not None:
            why = self.guard(req, payload, fds, n)
            if why:
                self.skipped.append("%s not sent (%s)" % (
                    NAMES.get(req, req), why))
                return
        self.raw(HDR.pack(req & 0xffffffff, flags & 0xffffffff,
                          n & 0xffffffff) + payload, fds)
        self.sent += 1
        if fds:
            KNOWN_LEAKS["fds"] += known_fd_leaks(req, payload, fds, n)

    def reply(self, timeout=None):
        """(request, flags, payload) of the next message from the backend,
        None on timeout; Closed when the connection went away."""
        self.s.settimeout(self.timeout if timeout is None else timeout)
        try:
            hdr = self._recv(HDR.size)
            req, flags, size = HDR.unpack(hdr)
            payload = self._recv(size) if size else b""
        except socket.timeout:
            return None
        except (ConnectionResetError, BrokenPipeError):
            raise Closed()
        finally:
            self.s.settimeout(self.timeout)
        return req, flags, payload

    def _recv(self, n):
        b = b""
        while len(b) < n:
            msg, fds, _, _ = socket.recv_fds(self.s, n - len(b), 8)
            for fd in fds:  # the backend never sends fds to a net frontend
                os.close(fd)
            if not msg:
                raise Closed()
            b += msg
        return b

    def drain(self):
        """Read whatever the backend sent, without waiting; Closed if it
        closed the connection."""
        while True:
            r, _, _ = select.select([self.s], [], [], 0)
            if not r:
                return
            try:
                data, fds, _, _ = socket.recv_fds(self.s, 4096, 8)
            except (ConnectionResetError, BrokenPipeError):
                raise Closed()
            for fd in fds:
                os.close(fd)
            if not data:
                raise Closed()

    def call(self, req, payload=b"", flags=VERSION, fds=(), timeout=None):
        """A request that has a reply; returns its payload."""
        before = len(self.skipped)
        self.msg(req, payload, flags, fds)
        if len(self.skipped) != before:
            raise TimeoutError("not sent")
        while True:
            r = self.reply(timeout)
            if r is None:
                raise TimeoutError("no reply to %s" % NAMES.get(req, req))
            if r[0] == req:
                return r[2]

    def u64(self, req, v, **kw):
        self.msg(req, struct.pack("<Q", v & (2**64 - 1)), **kw)

    def state(self, req, index, num, **kw):
        self.msg(req, struct.pack("<II", index & 0xffffffff,
                                  num & 0xffffffff), **kw)

    def addr(self, index, desc, used, avail, log=0, flags=0, **kw):
        self.msg(SET_VRING_ADDR, struct.pack(
            "<IIQQQQ", index & 0xffffffff, flags & 0xffffffff,
            desc & (2**64 - 1), used & (2**64 - 1), avail & (2**64 - 1),
            log & (2**64 - 1)), **kw)

    def mem_table(self, regions, fds, nregions=None, **kw):
        """@regions: (gpa, size, uaddr, mmap_offset) tuples."""
        n = len(regions) if nregions is None else nregions
        p = struct.pack("<II", n & 0xffffffff, 0)
        for r in regions:
            p += struct.pack("<QQQQ", *[x & (2**64 - 1) for x in r])
        self.msg(SET_MEM_TABLE, p, fds=fds, **kw)


def ping(path, timeout=10.0):
    """A new connection answers GET_FEATURES: the vhost-user thread runs."""
    c = Conn(path, timeout)
    try:
        p = c.call(GET_FEATURES, timeout=timeout)
        return struct.unpack("<Q", p[:8])[0]
    finally:
        c.close()


# --- guest memory and rings ---------------------------------------------------

class Mem:
    """A memfd region: guest physical address @gpa, frontend virtual
    address @uaddr (what SET_VRING_ADDR speaks), @size bytes."""

    def __init__(self, size=4 << 20, gpa=0x100000000, uaddr=0x7f5a00000000):
        self.size = size
        self.gpa = gpa
        self.uaddr = uaddr
        self.fd = os.memfd_create("vsfuzz", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, size)
        self.m = mmap.mmap(self.fd, size)

    def region(self):
        return (self.gpa, self.size, self.uaddr, 0)

    def close(self):
        try:
            self.m.close()
        except BufferError:
            pass
        os.close(self.fd)

    def u16(self, off):
        return struct.unpack_from("<H", self.m, off)[0]

    def put16(self, off, v):
        struct.pack_into("<H", self.m, off, v & 0xffff)


class Vring:
    """A split ring at offset @off of @mem: desc table, avail, used."""

    def __init__(self, mem, off, size):
        self.mem = mem
        self.size = size
        self.desc = off
        self.avail = off + 16 * size
        self.used = (self.avail + 6 + 2 * size + 4095) & ~4095
        self.end = (self.used + 6 + 8 * size + 4095) & ~4095
        self.avail_idx = 0
        self.used_seen = 0

    def ua(self, off):
        return self.mem.uaddr + off

    def addrs(self):
        return self.ua(self.desc), self.ua(self.used), self.ua(self.avail)

    def set_desc(self, i, addr, length, flags=0, nxt=0):
        DESC.pack_into(self.mem.m, self.desc + 16 * (i % self.size),
                       addr & (2**64 - 1), length & 0xffffffff,
                       flags & 0xffff, nxt & 0xffff)

    def push(self, head):
        """Make descriptor chain @head available."""
        self.mem.put16(self.avail + 4 + 2 * (self.avail_idx % self.size),
                       head)
        self.avail_idx = (self.avail_idx + 1) & 0xffff
        self.mem.put16(self.avail + 2, self.avail_idx)

    def used_idx(self):
        return self.mem.u16(self.used + 2)

    def used_entry(self, k):
        return struct.unpack_from("<II", self.mem.m,
                                  self.used + 4 + 8 * (k % self.size))

    def used_flags(self):
        return self.mem.u16(self.used)


class Device:
    """A virtio-net device on one connection: guest memory with a queue
    pair, brought up with the messages QEMU sends."""

    RX, TX = 0, 1

    def __init__(self, path, qsize=256, mem_size=4 << 20, timeout=5.0,
                 protocol=False, mac=None, guard=None, buf_size=2048,
                 extra_features=0):
        self.path = path
        # Feature bits asked for beyond VERSION_1 (e.g. the offloads).
        self.extra_features = extra_features
        self.guard = guard
        self.qsize = qsize
        self.protocol = protocol
        self.mem = Mem(mem_size)
        self.rings = [Vring(self.mem, 0, qsize)]
        self.rings.append(Vring(self.mem, self.rings[0].end, qsize))
        self.buf0 = (self.rings[1].end + 0xffff) & ~0xffff
        self.buf_size = buf_size
        assert self.buf0 + 2 * qsize * self.buf_size <= mem_size
        self.kick = [os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                     for _ in range(2)]
        self.callfd = [os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                       for _ in range(2)]
        self.c = None
        self.timeout = timeout
        self.features = 0
        self.offered = F_VERSION_1 | F_PROTOCOL  # until GET_FEATURES says
        self.tx_free = list(range(qsize))
        self.mac = mac

    def buf(self, ring, i):
        """Offset of buffer @i of @ring in guest memory."""
        return self.buf0 + (ring * self.qsize + i) * self.buf_size

    def gpa(self, off):
        return self.mem.gpa + off

    def connect(self):
        self.c = Conn(self.path, self.timeout, self.guard)
        return self.c

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None
        for fd in self.kick + self.callfd:
            try:
                os.close(fd)
            except OSError:
                pass
        self.kick = self.callfd = []
        self.mem.close()

    def steps(self):
        """The bring-up as a list of (name, fn) steps."""
        c = self.c
        st = []

        def get_features():
            self.offered = struct.unpack("<Q", c.call(GET_FEATURES)[:8])[0]
        st.append(("GET_FEATURES", get_features))
        if self.protocol:
            def prot():
                pf = struct.unpack("<Q", c.call(GET_PROTOCOL_FEATURES)[:8])[0]
                c.u64(SET_PROTOCOL_FEATURES, pf & (PF_MQ | PF_REPLY_ACK))
            st.append(("PROTOCOL_FEATURES", prot))
        st.append(("SET_OWNER", lambda: c.msg(SET_OWNER)))

        def set_features():
            want = F_VERSION_1 | (F_PROTOCOL if self.protocol else 0) | \
                self.extra_features
            self.features = want & self.offered
            c.u64(SET_FEATURES, self.features)
        st.append(("SET_FEATURES", set_features))
        st.append(("SET_MEM_TABLE", lambda: c.mem_table(
            [self.mem.region()], [self.mem.fd])))
        for q in (self.RX, self.TX):
            r = self.rings[q]
            st.append(("SET_VRING_NUM %d" % q,
                       lambda q=q: c.state(SET_VRING_NUM, q, self.qsize)))
            st.append(("SET_VRING_BASE %d" % q,
                       lambda q=q: c.state(SET_VRING_BASE, q, 0)))
            st.append(("SET_VRING_ADDR %d" % q,
                       lambda q=q, r=r: c.addr(q, *r.addrs())))
            st.append(("SET_VRING_CALL %d" % q, lambda q=q: c.u64(
                SET_VRING_CALL, q, fds=[self.callfd[q]])))
            st.append(("SET_VRING_KICK %d" % q, lambda q=q: c.u64(
                SET_VRING_KICK, q, fds=[self.kick[q]])))
        if self.protocol:
            for q in (self.RX, self.TX):
                st.append(("SET_VRING_ENABLE %d" % q, lambda q=q: c.state(
                    SET_VRING_ENABLE, q, 1)))
        return st

    def post_rx(self):
        """Give every rx descriptor to the backend (device-writable)."""
        r = self.rings[self.RX]
        for i in range(self.qsize):
            r.set_desc(i, self.gpa(self.buf(self.RX, i)), self.buf_size,
                       D_WRITE)
            r.push(i)
        self.notify(self.RX)

    def up(self, rx=True):
        """Bring the device up; with @rx, post the rx buffers first."""
        if self.c is None:
            self.connect()
        if rx:
            self.post_rx()
        for _, fn in self.steps():
            fn()
        self.c.drain()
        return self

    def notify(self, q):
        """Kick the backend unless it said it polls (VRING_USED_F_NO_NOTIFY)."""
        if self.kick and not (self.rings[q].used_flags() & 1):
            try:
                os.eventfd_write(self.kick[q], 1)
            except OSError:
                pass

    def reclaim(self):
        r = self.rings[self.TX]
        u = r.used_idx()
        while r.used_seen != u:
            i, _ = r.used_entry(r.used_seen)
            if i < self.qsize:
                self.tx_free.append(i)
            r.used_seen = (r.used_seen + 1) & 0xffff
        return len(self.tx_free)

    def send(self, frames, hdrs=None):
        """Put frames on the guest TX ring; returns how many went. hdrs:
        a virtio_net_hdr (12 bytes) per frame, zeros by default."""
        r = self.rings[self.TX]
        self.reclaim()
        n = 0
        for k, f in enumerate(frames):
            if not self.tx_free:
                break
            i = self.tx_free.pop()
            off = self.buf(self.TX, i)
            data = (hdrs[k] if hdrs else bytes(NET_HDR_LEN)) + f
            self.mem.m[off:off + len(data)] = data
            r.set_desc(i, self.gpa(off), len(data))
            r.push(i)
            n += 1
        if n:
            self.notify(self.TX)
        return n

    def received(self, repost=True, with_hdr=False):
        """Frames the backend put on the guest RX ring since last time
        (with_hdr: (virtio_net_hdr, frame) pairs)."""
        r = self.rings[self.RX]
        out = []
        u = r.used_idx()
        while r.used_seen != u:
            i, ln = r.used_entry(r.used_seen)
            if i < self.qsize and NET_HDR_LEN <= ln <= self.buf_size:
                off = self.buf(self.RX, i) + NET_HDR_LEN
                f = bytes(self.mem.m[off:off + ln - NET_HDR_LEN])
                if with_hdr:
                    f = (bytes(self.mem.m[off - NET_HDR_LEN:off]), f)
                out.append(f)
            r.used_seen = (r.used_seen + 1) & 0xffff
            if repost and i < self.qsize:
                r.push(i)
        if out and repost:
            self.notify(self.RX)
        return out

    def wait_running(self, timeout=10.0):
        """True once the backend consumed a frame from the TX ring (its
        new_device ran and an lcore polls us)."""
        r = self.rings[self.TX]
        frame = b"\xff" * 6 + b"\x02\x00\x00\xfe\xfe\xfe" + b"\x88\xb5" + \
            bytes(46)
        before = r.used_idx()
        if not self.send([self.mac_frame(frame)]):
            return False
        end = now() + timeout
        while now() < end:
            if r.used_idx() != before:
                return True
            time.sleep(0.002)
        return False

    def mac_frame(self, f):
        if self.mac is None:
            return f
        return f[:6] + mac_bytes(self.mac) + f[12:]


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def eth_frame(dst, src, n, size=64, ethertype=0x88b5):
    """A frame of @size bytes (no FCS), payload = counter @n."""
    body = struct.pack(">Q", n) * ((size - 14 + 7) // 8)
    return mac_bytes(dst) + mac_bytes(src) + struct.pack(">H", ethertype) + \
        body[:size - 14]


# --- the fuzzer ---------------------------------------------------------------

def _file_size(fd):
    """Size of a regular file (memfd, hugetlbfs), None for anything else."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_size if (st.st_mode & 0o170000) == 0o100000 else None


def known_bug_guard(req, payload, fds, size):
    """With --avoid-known, messages that hit a known librte_vhost crash
    are not sent (the reproducers stay in REPROS and in the tests):

    region-past-eof  a memory (or log) region reaching past the end of its
                     file: mapped anyway, SIGBUS at the first touch;
    short-mem-table  a SET_MEM_TABLE whose size does not cover its
                     regions: the rest is stale stack bytes;
    inflight-alloc   GET_INFLIGHT_FD sizes, maps and zeroes num_queues x
                     queue_size worth of shared memory unchecked (up to
                     ~64 GiB) on the vhost-user thread: allowed up to 4 MiB.
    """
    if req == SET_MEM_TABLE:
        if size < 8 or len(payload) < 8:
            return None  # nregions unread/garbage: 8 regions max, fds...
        n = struct.unpack_from("<I", payload)[0]
        if n > 8:
            return None  # rejected before any use
        if size < 8 + 32 * n or len(payload) < 8 + 32 * n:
            return "short-mem-table"
        for i in range(min(n, len(fds))):
            gpa, msize, ua, off = struct.unpack_from("<QQQQ", payload,
                                                     8 + 32 * i)
            fsz = _file_size(fds[i])
            if fsz is None or msize == 0 or off + msize >= 2**64 or \
                    off >= 2**63:
                continue  # mmap fails, or rejected before it
            if off + msize > fsz:
                return "region-past-eof"
    elif req == GET_INFLIGHT_FD and len(payload) >= 20 and size >= 20:
        nq, qs = struct.unpack_from("<HH", payload, 16)
        if nq * (16 * qs + 64) > (4 << 20):
            return "inflight-alloc"
    elif req == SET_LOG_BASE and len(payload) >= 16 and fds:
        msize, off = struct.unpack_from("<QQ", payload)
        fsz = _file_size(fds[0])
        if fsz is not None and 0 < msize and off + msize < 2**64 and \
                off + msize > fsz:
            return "region-past-eof"
    return None


# fds the backend may keep forever because of known librte_vhost 22.11 leaks
# (see known_fd_leaks); the fuzz test allows the switch's fd count to grow
# by at most this much.
KNOWN_LEAKS = {"fds": 0}
VHOST_MAX_VRING = 256
INDEXED = {SET_VRING_NUM, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_ENABLE,
           SET_VRING_ADDR}


def known_fd_leaks(req, payload, fds, size):
    """How many of @fds librte_vhost 22.11 never closes for this message:

    fd-leak-index      a message refused by vhost_user_check_and_alloc_
                       queue_pair() (vring index >= 256; SET_INFLIGHT_FD
                       with num_queues 0 or > 256) returns before any
                       handler: none of its fds is closed;
    fd-leak-inflight   SET_INFLIGHT_FD's error paths (bad size, mmap
                       failure) return without closing its fd;
    fd-leak-mem-table  SET_MEM_TABLE takes a region's fd, then fails to map
                       it (size 0, offset overflow, an fd that is not
                       memory): free_mem_region() closes only mapped ones.
    """
    n = len(fds)
    if size > MAX_PAYLOAD:
        return 0  # refused while reading: fds closed
    if req in INDEXED and len(payload) >= 4 and size >= 4:
        if struct.unpack_from("<I", payload)[0] >= VHOST_MAX_VRING:
            return n
    if req == SET_INFLIGHT_FD:
        return n
    if req == SET_MEM_TABLE and len(payload) >= 8 and size >= 8:
        nr = struct.unpack_from("<I", payload)[0]
        if not 1 <= nr <= 8 or nr != n or len(payload) < 8 + 32 * nr:
            return 0  # refused before the fds are taken
        for i in range(nr):
            gpa, msize, ua, off = struct.unpack_from("<QQQQ", payload,
                                                     8 + 32 * i)
            if _file_size(fds[i]) is None or msize == 0 or \
                    off + msize >= 2**64 or off >= 2**63:
                return n - i
    return 0


class SwitchGone(Exception):
    pass


class Fuzzer:
    """Cases drawn from random.Random("SEED:CASE"): case @i of seed @s is
    the same sequence every time, so it can be replayed alone."""

    def __init__(self, path, seed, pid=None, feed=None, verbose=False,
                 ping_every=1, timeout=5.0, log=None, kinds=None,
                 avoid_known=False, stall_dump=None):
        self.path = path
        self.stall_dump = stall_dump
        self.guard = known_bug_guard if avoid_known else None
        self.seed = seed
        self.pid = pid
        self.verbose = verbose
        self.ping_every = ping_every
        self.timeout = timeout
        self.logf = log
        self.sent = 0
        self.cases = 0
        self.closed_by_backend = 0
        self.kind_counts = {}
        self.feed = feed  # a Device on another port that floods to us
        self.feed_n = 0
        self.kinds = kinds or list(CASES)
        self.weights = [CASES[k][1] for k in self.kinds]
        self.desc = []

    # -- helpers for cases --
    def note(self, s):
        self.desc.append(s)

    def log(self, s):
        if self.verbose:
            print(s, flush=True)
        if self.logf:
            self.logf.write(s + "\n")
            self.logf.flush()

    def alive(self):
        if self.pid is None:
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                return f.read().split(")")[-1].split()[0] not in "ZX"
        except OSError:
            return False

    def dump_stacks(self):
        """Every thread's backtrace of the switch, while it is stuck."""
        if not self.stall_dump or self.pid is None:
            return None
        try:
            p = subprocess.run(["gdb", "-p", str(self.pid), "-batch", "-ex",
                                "thread apply all bt 30"],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            return repr(e)
        with open(self.stall_dump, "ab") as f:
            f.write(p.stdout)
        return self.stall_dump

    def check(self, i):
        if not self.alive():
            raise SwitchGone("switch process %d is gone after case %d "
                             "(replay: --seed %s --case %d)" % (
                                 self.pid, i, self.seed, i))
        if not self.ping_every or i % self.ping_every:
            return
        t0 = now()
        try:
            ping(self.path, timeout=10)
            return
        except (OSError, TimeoutError, Closed) as e:
            first = e
        if not self.alive():
            raise SwitchGone("switch process %d died in case %d "
                             "(replay: --seed %s --case %d)" % (
                                 self.pid, i, self.seed, i))
        # Stuck now: take the stacks while it lasts, then wait a bit more.
        where = self.dump_stacks()
        try:
            ping(self.path, timeout=20)
            late = "answered after %.1f s" % (now() - t0)
        except (OSError, TimeoutError, Closed) as e:
            late = "still silent after %.1f s (%r)" % (now() - t0, e)
        raise SwitchGone("vhost-user socket %s did not answer GET_FEATURES "
                         "within 10 s after case %d (%r); %s; stacks: %s "
                         "(replay: --seed %s --case %d)" % (
                             self.path, i, first, late, where, self.seed, i))

    def feed_some(self, n=8):
        """Broadcast frames from the feeder port: they reach our port's
        guest RX ring (and the corrupted ones)."""
        if self.feed is None:
            return
        frames = [eth_frame("ff:ff:ff:ff:ff:ff", self.feed.mac,
                            self.feed_n + k) for k in range(n)]
        self.feed_n += self.feed.send(frames)

    def run_case(self, i):
        rng = random.Random("%s:%d" % (self.seed, i))
        kind = rng.choices(self.kinds, self.weights)[0]
        self.desc = []
        ctx = Ctx(self, rng)
        before = ctx.sent_total()
        try:
            CASES[kind][0](ctx)
        except Closed:
            self.closed_by_backend += 1
            ctx.note("backend closed the connection")
        except (TimeoutError, socket.timeout):
            ctx.note("timeout")
        except ConnectionRefusedError:
            ctx.note("connection refused")
        finally:
            sent = ctx.sent_total()  # before cleanup() drops connections
            ctx.cleanup()
        self.sent += sent - before
        self.cases += 1
        self.kind_counts[kind] = self.kind_counts.get(kind, 0) + 1
        self.log("case %d %s: %s" % (i, kind, "; ".join(self.desc)))
        return kind

    def run(self, count=None, cases=None, first=0, deadline=None):
        i = first
        while True:
            if count is not None and self.sent >= count:
                break
            if cases is not None and i - first >= cases:
                break
            if deadline is not None and now() >= deadline:
                break
            self.run_case(i)
            self.check(i)
            i += 1
        return i

    def summary(self):
        return {"seed": self.seed, "cases": self.cases,
                "known_fd_leaks": KNOWN_LEAKS["fds"],
                "messages": self.sent,
                "closed_by_backend": self.closed_by_backend,
                "kinds": self.kind_counts}


class Ctx:
    """What one case has open: connections, memory, fds; closed at the end."""

    def __init__(self, fz, rng):
        self.fz = fz
        self.r = rng
        self.conns = []
        self.devs = []
        self.mems = []
        self.fds = []
        self._sent = 0

    def note(self, s):
        self.fz.note(s)

    def sent_total(self):
        return self._sent + sum(c.sent for c in self.conns) + \
            sum(d.c.sent for d in self.devs if d.c is not None)

    def conn(self):
        c = Conn(self.fz.path, self.fz.timeout, self.fz.guard)
        self.conns.append(c)
        return c

    def dev(self, **kw):
        kw.setdefault("protocol", self.r.random() < 0.5)
        kw.setdefault("qsize", self.r.choice([64, 128, 256]))
        d = Device(self.fz.path, timeout=self.fz.timeout,
                   guard=self.fz.guard, **kw)
        self.devs.append(d)
        return d

    def mem(self, size=1 << 20):
        m = Mem(size, gpa=self.r.choice([0, 0x100000000, 0x1000]),
                uaddr=0x7f5a00000000 + self.r.randrange(64) * (1 << 24))
        self.mems.append(m)
        return m

    def efd(self):
        fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.fds.append(fd)
        return fd

    def odd_fd(self):
        """An fd that is not what the message wants."""
        k = self.r.randrange(5)
        if k == 0:
            fd = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        elif k == 1:
            a, b = os.pipe2(os.O_CLOEXEC)
            self.fds.append(b)
            fd = a
        elif k == 2:
            fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        elif k == 3:
            s1, s2 = socket.socketpair()
            fd = s1.detach()
            self.fds.append(s2.detach())
        else:
            fd = os.memfd_create("vsfuzz-small", os.MFD_CLOEXEC)
            os.ftruncate(fd, self.r.choice([0, 1, 4096]))
        self.fds.append(fd)
        return fd

    def u64(self):
        r = self.r.random()
        if r < 0.4:
            return self.r.choice(U64_EDGES)
        if r < 0.7:
            return self.r.getrandbits(64)
        return self.r.getrandbits(self.r.randrange(1, 48))

    def u32(self):
        r = self.r.random()
        if r < 0.5:
            return self.r.choice(U32_EDGES)
        return self.r.getrandbits(32)

    def vring_index(self):
        r = self.r.random()
        if r < 0.5:
            return self.r.randrange(4)
        if r < 0.8:
            return self.r.choice([255, 256, 257, 511, 0x7fff, 0xffff,
                                  0x10000, 0xffffffff, 127, 128, 129])
        return self.r.getrandbits(32)

    def qsize(self):
        return self.r.choice([0, 1, 2, 3, 7, 100, 255, 256, 257, 1000, 1024,
                              4096, 32768, 32769, 65535, 65536, 0x7fffffff,
                              0xffffffff])

    def cleanup(self):
        for c in self.conns + [d.c for d in self.devs if d.c is not None]:
            for x in c.skipped:
                self.note(x)
        for c in self.conns:
            c.close()
        for d in self.devs:
            d.close()
        for m in self.mems:
            m.close()
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def maybe_drain(self, c):
        c.drain()


# --- the cases ------------------------------------------------------------------

def prelude(ctx, c, upto):
    """The first @upto steps of a valid bring-up on a fresh device whose
    connection is @c (or a new one)."""
    d = ctx.dev()
    d.c = c if c is not None else d.connect()
    steps = d.steps()
    if isinstance(upto, str):
        upto = [n for n, _ in steps].index(upto) + 1
    for name, fn in steps[:upto]:
        fn()
    return d, steps


def case_garbage(ctx):
    """Random bytes, a random header, or a header with random size."""
    c = ctx.conn()
    k = ctx.r.randrange(4)
    if k == 0:
        n = ctx.r.choice([1, 5, 11, 12, 13, 64, 300, 5000])
        ctx.note("%d random bytes" % n)
        c.raw(bytes(ctx.r.getrandbits(8) for _ in range(n)))
        c.sent += 1
    elif k == 1:
        req = ctx.u32()
        ctx.note("random header req=%#x" % req)
        c.msg(req, bytes(ctx.r.getrandbits(8) for _ in range(
            ctx.r.randrange(64))), flags=ctx.u32())
    elif k == 2:
        req = ctx.r.randrange(1, 41)
        size = ctx.r.choice([MAX_PAYLOAD, 0x1000, 0x10000, 0xffffffff,
                             0x7fffffff, 0x80000000, 4097, 1 << 20])
        ctx.note("%s size=%#x and 64 bytes" % (NAMES.get(req, req), size))
        c.msg(req, bytes(64), size=size)
    else:
        # Many small valid-looking messages back to back in one write.
        msgs = b""
        for _ in range(ctx.r.randrange(2, 20)):
            req = ctx.r.randrange(1, 45)
            pl = bytes(ctx.r.getrandbits(8) for _ in range(
                ctx.r.choice([0, 8, 40])))
            msgs += HDR.pack(req, VERSION, len(pl)) + pl
            c.sent += 1
        ctx.note("%d messages in one write" % (c.sent))
        c.raw(msgs)
    time.sleep(0.001)
    c.drain()


def case_bad_flags(ctx):
    """Each message of a bring-up with a random flags word."""
    d, steps = prelude(ctx, ctx.conn(), 0)
    k = ctx.r.randrange(len(steps))
    flags = ctx.r.choice([0, 2, 3, 0xff, F_REPLY | VERSION, F_NEED_REPLY,
                          F_NEED_REPLY | VERSION, 0xffffffff,
                          ctx.r.getrandbits(32)])
    ctx.note("step %s with flags %#x" % (steps[k][0], flags))
    orig = d.c.msg

    def badflags(req, payload=b"", fl=VERSION, fds=(), size=None):
        return orig(req, payload, flags, fds, size)
    for i, (name, fn) in enumerate(steps):
        if i == k:
            d.c.msg = badflags
            try:
                fn()
            except TimeoutError:
                ctx.note("no reply")
            d.c.msg = orig
        else:
            fn()
    d.c.drain()


def case_unknown_request(ctx):
    """Requests the backend does not know (or does not serve)."""
    c = ctx.conn()
    for _ in range(ctx.r.randrange(1, 6)):
        req = ctx.r.choice([0, 23, 33, 35, 41, 42, 63, 64, 100, 255, 256,
                            0x7fffffff, 0xffffffff, ctx.u32(),
                            GET_CONFIG, SET_CONFIG, CRYPTO_CREATE_SESS,
                            CRYPTO_CLOSE_SESS, POSTCOPY_ADVISE,
                            POSTCOPY_LISTEN, POSTCOPY_END, IOTLB_MSG,
                            GET_INFLIGHT_FD, SET_INFLIGHT_FD, RESET_DEVICE,
                            ADD_MEM_REG, REM_MEM_REG, GET_MAX_MEM_SLOTS,
                            SET_BACKEND_REQ_FD, SET_STATUS, GET_STATUS,
                            SET_LOG_BASE, SET_LOG_FD, NET_SET_MTU,
                            SEND_RARP])
        pl = bytes(ctx.r.getrandbits(8) for _ in range(
            ctx.r.choice([0, 8, 16, 24, 40, 64, 256, 268, 300])))
        fds = [ctx.efd()] if ctx.r.random() < 0.3 else []
        if ctx.r.random() < 0.3:
            fds.append(ctx.odd_fd())
        ctx.note("request %s (%d bytes, %d fds)" % (
            NAMES.get(req, hex(req)), len(pl), len(fds)))
        c.msg(req, pl, flags=VERSION | (F_NEED_REPLY if ctx.r.random() < 0.3
                                        else 0), fds=fds)
        time.sleep(0.0005)
        c.drain()


def case_vring_index(ctx):
    """Every per-vring request with an index out of range."""
    c = ctx.conn()
    d, steps = prelude(ctx, c, ctx.r.randrange(0, 6))
    for _ in range(ctx.r.randrange(1, 5)):
        idx = ctx.vring_index()
        req = ctx.r.choice([SET_VRING_NUM, SET_VRING_BASE, GET_VRING_BASE,
                            SET_VRING_ENABLE, SET_VRING_ADDR, SET_VRING_KICK,
                            SET_VRING_CALL, SET_VRING_ERR])
        ctx.note("%s index %#x" % (NAMES[req], idx))
        if req == SET_VRING_ADDR:
            c.addr(idx, *d.rings[0].addrs(),
                   fds=[ctx.efd()] if ctx.r.random() < 0.2 else [])
        elif req in (SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR):
            if ctx.r.random() < 0.5:
                c.u64(req, idx, fds=[ctx.efd()])
            else:
                c.u64(req, idx | VRING_NOFD)
        else:
            fds = [ctx.efd()] if ctx.r.random() < 0.2 else []
            c.state(req, idx, ctx.r.choice([0, 1, 256]), fds=fds)
        time.sleep(0.0005)
        c.drain()


def case_vring_num(ctx):
    """Ring sizes that are not a power of two, zero, or huge; then the rest
    of the bring-up as if nothing happened."""
    c = ctx.conn()
    d, steps = prelude(ctx, c, "SET_MEM_TABLE")
    for q in (0, 1):
        n = ctx.qsize() if ctx.r.random() < 0.8 else d.qsize
        ctx.note("vring %d num %#x" % (q, n))
        c.state(SET_VRING_NUM, q, n)
        c.state(SET_VRING_BASE, q, ctx.r.choice([0, 0, n, n + 1, 0xffff,
                                                 ctx.u32()]))
        c.addr(q, *d.rings[q].addrs())
        c.u64(SET_VRING_CALL, q, fds=[d.callfd[q]])
        c.u64(SET_VRING_KICK, q, fds=[d.kick[q]])
        if d.protocol:
            c.state(SET_VRING_ENABLE, q, 1)
    time.sleep(0.01)
    c.drain()
    d.wait_running(0.05)


def case_vring_addr(ctx):
    """Ring addresses outside every region, straddling its end, unaligned,
    overlapping each other, or wrapping around."""
    c = ctx.conn()
    d, steps = prelude(ctx, c, 0)
    for name, fn in steps:
        if name.startswith("SET_VRING_ADDR"):
            q = int(name.split()[-1])
            r = d.rings[q]
            base = d.mem.uaddr
            end = base + d.mem.size
            choices = [
                ("outside", lambda: ctx.r.choice(
                    [0, 8, base - 4096, end, end + 4096, 2**64 - 4096,
                     ctx.u64()])),
                ("straddle", lambda: end - ctx.r.choice([1, 2, 8, 16, 100])),
                ("unaligned", lambda: base + ctx.r.randrange(1, 4096) | 1),
                ("same", lambda: base),
            ]
            vals = list(r.addrs())
            for k in range(3):
                if ctx.r.random() < 0.5:
                    what, f = ctx.r.choice(choices)
                    vals[k] = f()
                    ctx.note("vring %d %s addr %s %#x" % (
                        q, ("desc", "used", "avail")[k], what, vals[k]))
            log = ctx.u64() if ctx.r.random() < 0.2 else 0
            fl = 1 if ctx.r.random() < 0.2 else 0  # VHOST_VRING_F_LOG
            c.addr(q, vals[0], vals[1], vals[2], log, fl)
        else:
            fn()
    time.sleep(0.01)
    c.drain()
    d.wait_running(0.05)


def case_mem_table(ctx):
    """SET_MEM_TABLE with zero, too many, zero-sized, overlapping or
    huge regions, offsets past the file, and missing, extra or wrong fds;
    then the rest of the bring-up."""
    c = ctx.conn()
    d, steps = prelude(ctx, c, 0)
    k = ctx.r.randrange(10)
    m = d.mem
    regions = [m.region()]
    fds = [m.fd]
    nregions = None
    if k == 0:
        regions, fds = [], []
        ctx.note("no regions")
    elif k == 1:
        n = ctx.r.choice([9, 16, 255, 0xffffffff])
        ctx.note("nregions=%d with %d regions" % (n, min(n, 8)))
        mm = [ctx.mem(4096) for _ in range(min(n, 8))]
        regions = [x.region() for x in mm]
        fds = [x.fd for x in mm]
        nregions = n
    elif k == 2:
        ctx.note("zero-sized region")
        regions = [(m.gpa, 0, m.uaddr, 0)] + \
            ([m.region()] if ctx.r.random() < 0.5 else [])
        fds = [m.fd] * len(regions)
    elif k == 3:
        ctx.note("overlapping regions")
        m2 = ctx.mem(m.size)
        regions = [m.region(), (m.gpa + 4096, m2.size, m.uaddr + 4096, 0)]
        fds = [m.fd, m2.fd]
    elif k == 4:
        off = ctx.r.choice([m.size, m.size * 2, 2**63, 2**64 - 4096,
                            ctx.u64()])
        ctx.note("mmap_offset %#x" % off)
        regions = [(m.gpa, m.size, m.uaddr, off)]
    elif k == 5:
        size = ctx.r.choice([2**64 - 1, 2**63, 2**64 - m.gpa, 1 << 40,
                             ctx.u64()])
        ctx.note("memory_size %#x" % size)
        regions = [(m.gpa, size, m.uaddr, 0)]
    elif k == 6:
        ctx.note("%s fds" % ("no" if ctx.r.random() < 0.5 else "extra"))
        fds = [] if ctx.r.random() < 0.5 else \
            [m.fd] + [ctx.efd() for _ in range(ctx.r.randrange(1, 8))]
    elif k == 7:
        ctx.note("an fd that is not memory")
        fds = [ctx.odd_fd()]
    elif k == 8:
        gpa = ctx.r.choice([2**64 - 4096, 2**64 - m.size // 2])
        uaddr = ctx.r.choice([m.uaddr, 2**64 - 4096])
        ctx.note("gpa %#x uaddr %#x (wraps)" % (gpa, uaddr))
        regions = [(gpa, m.size, uaddr, 0)]
    else:
        ctx.note("two regions, same fd, second at an offset")
        regions = [(m.gpa, m.size // 2, m.uaddr, 0),
                   (m.gpa + m.size // 2, m.size // 2,
                    m.uaddr + m.size // 2, m.size // 2)]
        fds = [m.fd, m.fd]
    for name, fn in steps:
        if name == "SET_MEM_TABLE":
            c.mem_table(regions, fds, nregions=nregions)
        else:
            fn()
    time.sleep(0.01)
    c.drain()
    d.wait_running(0.05)


def case_bad_fds(ctx):
    """KICK/CALL/ERR with a missing fd, an fd and the no-fd flag, two fds,
    or an fd that is not an eventfd; fds on requests that take none."""
    c = ctx.conn()
    d, steps = prelude(ctx, c, 0)
    k = ctx.r.randrange(len(steps))
    for i, (name, fn) in enumerate(steps):
        if i != k:
            fn()
            continue
        what = ctx.r.randrange(5)
        req = ctx.r.choice([SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR])
        q = ctx.r.randrange(2)
        if what == 0:
            ctx.note("%s %d without fd" % (NAMES[req], q))
            c.u64(req, q)
        elif what == 1:
            ctx.note("%s %d with fd and NOFD" % (NAMES[req], q))
            c.u64(req, q | VRING_NOFD, fds=[ctx.efd()])
        elif what == 2:
            ctx.note("%s %d with 2..8 fds" % (NAMES[req], q))
            c.u64(req, q, fds=[ctx.efd() for _ in range(
                ctx.r.randrange(2, 9))])
        elif what == 3:
            ctx.note("%s %d with a non-eventfd fd" % (NAMES[req], q))
            c.u64(req, q, fds=[ctx.odd_fd()])
        else:
            ctx.note("fds on %s" % name)
            saved = c.msg

            def withfds(req, payload=b"", flags=VERSION, fds=(), size=None):
                return saved(req, payload, flags,
                             list(fds) + [ctx.efd()], size)
            c.msg = withfds
            try:
                fn()
            except TimeoutError:
                pass
            c.msg = saved
    time.sleep(0.01)
    c.drain()
    d.wait_running(0.05)


def case_out_of_order(ctx):
    """The bring-up's messages shuffled, some repeated or dropped, plus
    RESET_OWNER / GET_VRING_BASE at random points."""
    c = ctx.conn()
    d, steps = prelude(ctx, c, 0)
    seq = steps[:]
    ctx.r.shuffle(seq)
    extra = [("RESET_OWNER", lambda: c.msg(RESET_OWNER)),
             ("GET_VRING_BASE 0", lambda: c.call(
                 GET_VRING_BASE, struct.pack("<II", 0, 0))),
             ("GET_VRING_BASE 1", lambda: c.call(
                 GET_VRING_BASE, struct.pack("<II", 1, 0))),
             ("SET_VRING_ENABLE 0 0", lambda: c.state(
                 SET_VRING_ENABLE, 0, 0)),
             ("SET_VRING_ENABLE 1 1", lambda: c.state(
                 SET_VRING_ENABLE, 1, 1)),
             ("GET_QUEUE_NUM", lambda: c.call(GET_QUEUE_NUM)),
             ("SET_FEATURES random", lambda: c.u64(SET_FEATURES,
                                                   ctx.u64())),
             ("SEND_RARP", lambda: c.u64(SEND_RARP, 0x0200000000ab))]
    for _ in range(ctx.r.randrange(0, 4)):
        seq.insert(ctx.r.randrange(len(seq) + 1), ctx.r.choice(extra))
    for _ in range(ctx.r.randrange(0, 3)):
        if seq:
            seq.pop(ctx.r.randrange(len(seq)))
    ctx.note(" ".join(n.replace(" ", "") for n, _ in seq))
    for name, fn in seq:
        try:
            fn()
        except TimeoutError:
            ctx.note("no reply to %s" % name)
    time.sleep(0.005)
    c.drain()
    d.wait_running(0.05)


def case_truncated(ctx):
    """A message cut short (header, or part of the payload), then the
    connection is closed."""
    c = ctx.conn()
    d, steps = prelude(ctx, c, ctx.r.randrange(0, 8))
    req = ctx.r.choice([SET_MEM_TABLE, SET_VRING_ADDR, SET_VRING_NUM,
                        SET_FEATURES, SET_VRING_KICK, GET_VRING_BASE])
    payload = {SET_MEM_TABLE: 8 + 32, SET_VRING_ADDR: 40}.get(req, 8)
    cut = ctx.r.randrange(0, HDR.size + payload)
    data = HDR.pack(req, VERSION, payload) + bytes(payload)
    ctx.note("%s cut at %d of %d bytes" % (NAMES[req], cut, len(data)))
    c.raw(data[:cut])
    c.sent += 1
    # The backend reads a payload with one blocking read(): the close is
    # what ends it.
    time.sleep(ctx.r.choice([0, 0, 0.001, 0.01]))


def case_disconnect(ctx):
    """A valid bring-up closed after step k (the device may be up)."""
    d, steps = prelude(ctx, None, 0)
    k = ctx.r.randrange(len(steps) + 1)
    ctx.note("close after %d of %d steps" % (k, len(steps)))
    for name, fn in steps[:k]:
        fn()
    if k == len(steps):
        d.post_rx()
        d.wait_running(1.0)
    time.sleep(ctx.r.choice([0, 0.001, 0.01]))


def case_mutate(ctx):
    """A valid bring-up with one message's payload mutated: a bit flipped,
    a field set to an edge value, or the size field off by a bit."""
    d, steps = prelude(ctx, None, 0)
    k = ctx.r.randrange(len(steps))
    c = d.c
    orig = c.msg
    how = ctx.r.randrange(4)

    def mutated(req, payload=b"", flags=VERSION, fds=(), size=None):
        p = bytearray(payload)
        if how == 0 and p:
            b = ctx.r.randrange(len(p) * 8)
            p[b // 8] ^= 1 << (b % 8)
            ctx.note("%s bit %d flipped" % (NAMES.get(req, req), b))
        elif how == 1 and len(p) >= 4:
            off = ctx.r.randrange(0, len(p) - 3) & ~3
            v = ctx.u32()
            struct.pack_into("<I", p, off, v)
            ctx.note("%s u32 at %d = %#x" % (NAMES.get(req, req), off, v))
        elif how == 2:
            n = len(p) + ctx.r.choice([-8, -4, -1, 1, 4, 8])
            n = max(0, n)
            ctx.note("%s size %d for %d bytes" % (NAMES.get(req, req), n,
                                                   len(p)))
            if n > len(p):
                p += bytes(n - len(p))  # more bytes: the stream stays framed
                return orig(req, bytes(p), flags, fds, n)
            return orig(req, bytes(p[:n]), flags, fds, n)
        else:
            p = bytearray(bytes(ctx.r.getrandbits(8) for _ in range(len(p))))
            ctx.note("%s payload random" % NAMES.get(req, req))
        return orig(req, bytes(p), flags, fds, size)
    for i, (name, fn) in enumerate(steps):
        if i == k:
            c.msg = mutated
            try:
                fn()
            except TimeoutError:
                ctx.note("no reply")
            c.msg = orig
        else:
            fn()
    time.sleep(0.005)
    c.drain()
    d.post_rx()
    d.wait_running(0.05)


def case_two_frontends(ctx):
    """Two devices on the same socket (a migration on one host), brought up
    in turn, closed in either order; sometimes a third."""
    n = ctx.r.choice([2, 2, 3])
    devs = []
    for k in range(n):
        d = ctx.dev(mac="02:00:00:00:fe:%02x" % k)
        d.up()
        devs.append(d)
    ok = [d.wait_running(2.0) for d in devs[-1:]]
    order = list(range(n))
    ctx.r.shuffle(order)
    ctx.note("%d devices, running=%s, close order %s" % (n, ok, order))
    for k in order:
        devs[k].c.close()
        time.sleep(ctx.r.choice([0, 0.002, 0.02]))


def corrupt_ring(ctx, d):
    """Hostile descriptors in the guest TX ring (and RX ring)."""
    tx = d.rings[Device.TX]
    rx = d.rings[Device.RX]
    m = d.mem
    q = d.qsize
    what = ctx.r.randrange(12)
    start = tx.avail_idx
    if what == 0:
        addr = ctx.r.choice([0, m.gpa - 4096, m.gpa + m.size,
                             m.gpa + m.size - 8, 2**64 - 16, ctx.u64()])
        ctx.note("tx desc addr %#x" % addr)
        tx.set_desc(0, addr, ctx.r.choice([64, 1514, 4096]))
        tx.push(0)
    elif what == 1:
        n = ctx.r.randrange(1, 4)
        ctx.note("tx chain loop of %d" % n)
        for i in range(n):
            tx.set_desc(i, d.gpa(d.buf(1, i)), 64, D_NEXT, (i + 1) % n)
        tx.push(0)
    elif what == 2:
        ln = ctx.r.choice([0, 1, 11, 12, 13, 0xffff, 0x10000, 0x7fffffff,
                           0xffffffff])
        ctx.note("tx desc len %#x" % ln)
        tx.set_desc(0, d.gpa(d.buf(1, 0)), ln)
        tx.push(0)
    elif what == 3:
        jump = ctx.r.choice([q + 1, 2 * q, 0x8000, 0xffff, 0x7fff])
        ctx.note("tx avail idx jumps by %#x" % jump)
        tx.avail_idx = (tx.avail_idx + jump) & 0xffff
        m.put16(tx.avail + 2, tx.avail_idx)
    elif what == 4:
        idx = ctx.r.choice([q, q + 1, 0xffff, 0x8000])
        ctx.note("tx avail entry -> desc %#x" % idx)
        tx.push(idx)
    elif what == 5:
        nxt = ctx.r.choice([q, 0xffff, q - 1])
        ctx.note("tx next -> %#x" % nxt)
        tx.set_desc(0, d.gpa(d.buf(1, 0)), 64, D_NEXT, nxt)
        tx.push(0)
    elif what == 6:
        # Indirect table: outside memory, len not a multiple of 16, huge,
        # or an indirect descriptor that points to itself.
        k = ctx.r.randrange(4)
        tbl = d.buf(1, 1)
        if k == 0:
            ctx.note("tx indirect table outside memory")
            tx.set_desc(0, m.gpa + m.size + 4096, 64, D_INDIRECT)
        elif k == 1:
            ctx.note("tx indirect len 17")
            tx.set_desc(0, d.gpa(tbl), 17, D_INDIRECT)
        elif k == 2:
            ctx.note("tx indirect len huge")
            tx.set_desc(0, d.gpa(tbl), 0xfffffff0, D_INDIRECT)
        else:
            ctx.note("tx indirect loop")
            DESC.pack_into(m.m, tbl, d.gpa(tbl), 16, D_INDIRECT | D_NEXT, 0)
            DESC.pack_into(m.m, tbl + 16, d.gpa(tbl), 32, D_NEXT, 0)
            tx.set_desc(0, d.gpa(tbl), 32, D_INDIRECT)
        tx.push(0)
    elif what == 7:
        ctx.note("tx: long chain of tiny descriptors")
        for i in range(q):
            tx.set_desc(i, d.gpa(d.buf(1, 0)) + i, 1,
                        D_NEXT if i < q - 1 else 0, i + 1)
        tx.push(0)
    elif what == 8:
        ctx.note("rx descriptors outside memory / read-only / len 0")
        for i in range(q):
            k = ctx.r.randrange(4)
            if k == 0:
                rx.set_desc(i, m.gpa + m.size + i * 4096, 2048, D_WRITE)
            elif k == 1:
                rx.set_desc(i, d.gpa(d.buf(0, i)), 2048, 0)
            elif k == 2:
                rx.set_desc(i, d.gpa(d.buf(0, i)), 0, D_WRITE)
            else:
                rx.set_desc(i, d.gpa(d.buf(0, i)), 4, D_WRITE | D_NEXT,
                            ctx.r.randrange(q + 2))
            rx.push(i)
    elif what == 9:
        jump = ctx.r.choice([q + 1, 0x8000, 0xffff])
        ctx.note("rx avail idx jumps by %#x" % jump)
        rx.avail_idx = (rx.avail_idx + jump) & 0xffff
        m.put16(rx.avail + 2, rx.avail_idx)
    elif what == 10:
        ctx.note("rx: desc chain loop")
        for i in range(3):
            rx.set_desc(i, d.gpa(d.buf(0, i)), 8, D_WRITE | D_NEXT,
                        (i + 1) % 3)
        rx.push(0)
    else:
        ctx.note("random bytes over both rings")
        for r in (tx, rx):
            for off in range(r.desc, r.end, 8):
                if ctx.r.random() < 0.3:
                    struct.pack_into("<Q", m.m, off, ctx.r.getrandbits(64))
    ctx.fz.feed_some(ctx.r.choice([1, 8, 32]))
    if ctx.r.random() < 0.5:
        # Frames after the damage: the backend must still make progress or
        # stop cleanly, never crash.
        d.tx_free = list(range(q))
        d.send([eth_frame("ff:ff:ff:ff:ff:ff", "02:00:00:00:fe:fe", k)
                for k in range(4)])
    return start


def case_ring(ctx):
    """Bring a device up properly, check it runs, then corrupt its rings
    while the switch polls them; several rounds; then close."""
    d = ctx.dev(mac="02:00:00:00:fe:fe")
    d.up()
    running = d.wait_running(3.0)
    ctx.note("running=%s" % running)
    for _ in range(ctx.r.randrange(1, 4)):
        corrupt_ring(ctx, d)
        time.sleep(ctx.r.choice([0.001, 0.01, 0.05]))
    d.received()
    if ctx.r.random() < 0.3:
        # Mid-traffic control messages: stop a ring, re-point it.
        q = ctx.r.randrange(2)
        ctx.note("GET_VRING_BASE %d while running" % q)
        try:
            d.c.call(GET_VRING_BASE, struct.pack("<II", q, 0), timeout=2)
        except TimeoutError:
            pass


def case_features(ctx):
    """SET_FEATURES / SET_PROTOCOL_FEATURES with bits nobody offered, twice,
    or after the device is up (IOMMU, packed, LOG_ALL...)."""
    d = ctx.dev()
    d.c = d.connect()
    steps = d.steps()
    for name, fn in steps:
        fn()
    bits = ctx.r.choice([F_IOMMU, F_PACKED, F_LOG_ALL, F_MQ | F_CTRL_VQ,
                         F_EVENT_IDX | F_IN_ORDER, 2**64 - 1, ctx.u64(),
                         F_MRG_RXBUF | F_INDIRECT])
    ctx.note("SET_FEATURES %#x after bring-up" % bits)
    d.c.u64(SET_FEATURES, d.features | bits)
    if ctx.r.random() < 0.5:
        pf = ctx.r.choice([PF_STATUS, PF_BACKEND_REQ, PF_LOG_SHMFD,
                           2**64 - 1, ctx.u64()])
        ctx.note("SET_PROTOCOL_FEATURES %#x" % pf)
        d.c.u64(SET_PROTOCOL_FEATURES, pf)
    if ctx.r.random() < 0.5:
        st = ctx.r.choice([0, 1, 3, 7, 0xf, 0x40, 0x80, 0xff])
        ctx.note("SET_STATUS %#x" % st)
        d.c.u64(SET_STATUS, st)
    time.sleep(0.005)
    d.c.drain()
    d.post_rx()
    d.wait_running(0.05)


def case_log(ctx):
    """SET_LOG_BASE / SET_LOG_FD with odd fds, sizes and offsets."""
    c = ctx.conn()
    d, steps = prelude(ctx, c, 4)
    m = ctx.mem(ctx.r.choice([4096, 1 << 16]))
    size = ctx.r.choice([0, 1, 4096, m.size, m.size * 16, 2**64 - 1,
                         ctx.u64()])
    off = ctx.r.choice([0, 1, 4096, m.size, 2**64 - 1, ctx.u64()])
    fds = ctx.r.choice([[m.fd], [], [m.fd, ctx.efd()], [ctx.odd_fd()]])
    ctx.note("SET_LOG_BASE size %#x offset %#x, %d fds" % (size, off,
                                                          len(fds)))
    c.msg(SET_LOG_BASE, struct.pack("<QQ", size, off), fds=fds)
    if ctx.r.random() < 0.5:
        c.msg(SET_LOG_FD, b"", fds=[ctx.efd()])
    time.sleep(0.005)
    c.drain()


def case_many_connections(ctx):
    """Connections opened and closed in bulk, some half-way through a
    bring-up."""
    n = ctx.r.randrange(8, 64)
    ctx.note("%d connections" % n)
    cs = [ctx.conn() for _ in range(n)]
    for c in cs:
        if ctx.r.random() < 0.3:
            c.msg(GET_FEATURES)
            c.msg(SET_OWNER)
    ctx.r.shuffle(cs)
    for c in cs:
        c.close()


# name: (function, weight)
CASES = {
    "garbage": (case_garbage, 8),
    "bad_flags": (case_bad_flags, 4),
    "unknown_request": (case_unknown_request, 6),
    "vring_index": (case_vring_index, 6),
    "vring_num": (case_vring_num, 6),
    "vring_addr": (case_vring_addr, 6),
    "mem_table": (case_mem_table, 8),
    "bad_fds": (case_bad_fds, 6),
    "out_of_order": (case_out_of_order, 6),
    "truncated": (case_truncated, 4),
    "disconnect": (case_disconnect, 6),
    "mutate": (case_mutate, 10),
    "two_frontends": (case_two_frontends, 2),
    "ring": (case_ring, 8),
    "features": (case_features, 4),
    "log": (case_log, 3),
    "many_connections": (case_many_connections, 1),
}


# --- reproducers of bugs found ----------------------------------------------------

def repro_region_past_eof(path):
    """A memory region that is larger than its file: memfd of 1 MiB,
    memory_size 2 MiB; the rings sit in the second MiB. librte_vhost
    mmap()s the region without comparing it with the file size (mapping
    past EOF succeeds) and the switch takes SIGBUS at its first touch of
    a ring (numa_realloc()'s get_mempolicy() / the dequeue)."""
    d = Device(path, qsize=64, mem_size=4 << 20)
    d.connect()
    real = 1 << 20
    os.ftruncate(d.mem.fd, real)  # the file is 1 MiB ...
    d.mem.size = 2 << 20          # ... the region says 2 MiB
    off = real + 4096             # rings past the end of the file
    d.rings = [Vring(d.mem, off, 64)]
    d.rings.append(Vring(d.mem, d.rings[0].end, 64))
    for _, fn in d.steps():
        fn()
    return d


def repro_short_mem_table(path):
    """SET_MEM_TABLE whose size field is 4 bytes short of its one region:
    librte_vhost never checks msg.size against nregions, so the region's
    mmap_offset ends in whatever the previous message left in the
    handler's (uninitialized, on-stack) message buffer. Here that is a
    SET_VRING_ADDR whose log address 0x3f00000000 lies in the same bytes;
    the short table (a new guest physical address, so it is not "not
    changed") maps its region at file offset 0x3f00000000, past the end
    of the 4 MiB memfd, and SET_VRING_KICK's first ring access is a
    SIGBUS. (Fuzzing found it with garbage from older messages.)"""
    d = Device(path, qsize=64)
    c = d.connect()
    steps = d.steps()
    names = [n for n, _ in steps]
    k = names.index("SET_MEM_TABLE")
    for n, fn in steps[:k + 1]:
        fn()
    c.addr(0, *d.rings[0].addrs(), log=0x3f00000000)
    gpa, size, uaddr, off = d.mem.region()
    region = struct.pack("<II", 1, 0) + struct.pack(
        "<QQQQ", gpa + (1 << 30), size, uaddr, off)
    c.msg(SET_MEM_TABLE, region[:-4], fds=[d.mem.fd])
    for n, fn in steps[k + 1:]:
        fn()
    return d


def repro_stalled_payload(path):
    """A header that announces 40 payload bytes, and no payload: the
    vhost-user thread (one for every socket of the process) sits in a
    blocking read() until this connection closes; meanwhile no other
    guest can connect, and disconnects go unnoticed. Returns the open
    connection (close it to release the thread)."""
    c = Conn(path)
    c.raw(HDR.pack(SET_VRING_ADDR, VERSION, 40))
    return c


KNOWN_CRASHES = ("region-past-eof", "short-mem-table", "inflight-alloc")
def repro_inflight_huge(path, num_queues=600, queue_size=1024):
    """GET_INFLIGHT_FD for 600 queues (a device has 256 vrings at most) of
    1024 entries, on a device that never negotiated INFLIGHT_SHMFD: the
    backend should refuse (mmap_size 0); librte_vhost 22.11 creates,
    maps and zeroes a ~9.4 MiB memfd and returns it. The size grows with
    num_queues x queue_size: 1024 x 32768 is 512 MiB and a 14 s stall of
    the vhost-user thread; 65535 x 65535 about 64 GiB. Returns the
    connection; .inflight holds (mmap_size, fd size) of the reply."""
    c = Conn(path, timeout=60)
    c.msg(GET_INFLIGHT_FD, struct.pack("<QQHHI", 0, 0, num_queues,
                                       queue_size, 0))
    try:
        msg, fds, _, _ = socket.recv_fds(c.s, HDR.size + 24, 8)
    except OSError:
        msg, fds = b"", []
    if len(msg) < HDR.size:
        # Refused: the backend closed the connection without a reply.
        for fd in fds:
            os.close(fd)
        c.inflight = (None, None)
        print("GET_INFLIGHT_FD %d x %d: connection closed, no reply" % (
            num_queues, queue_size))
        return c
    _, _, size = HDR.unpack(msg[:HDR.size])
    mmap_size = struct.unpack_from("<Q", msg, HDR.size)[0] \
        if size >= 8 and len(msg) >= HDR.size + 8 else None
    fsz = os.fstat(fds[0]).st_size if fds else None
    for fd in fds:
        os.close(fd)
    c.inflight = (mmap_size, fsz)
    print("GET_INFLIGHT_FD %d x %d: reply mmap_size %s, fd of %s bytes" % (
        num_queues, queue_size, mmap_size, fsz))
    return c


REPROS = {
    "inflight-huge": repro_inflight_huge,
    "region-past-eof": repro_region_past_eof,
    "short-mem-table": repro_short_mem_table,
    "stalled-payload": repro_stalled_payload,
}


# --- guest mode -------------------------------------------------------------------

def run_guest(a):
    """A small guest: bring up, then send @a.rate frames/s to @a.dst (0:
    as fast as the ring takes them), and drain rx unless --no-drain."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *x: stop.append(1))
    signal.signal(signal.SIGINT, lambda *x: stop.append(1))
    d = None
    while d is None and not stop:
        try:
            d = Device(a.sock, qsize=a.qsize, protocol=a.protocol,
                       mac=a.mac).up(rx=not a.no_rx_buffers)
        except (OSError, Closed, TimeoutError):
            d = None
            time.sleep(0.1)
    print("guest: up", flush=True)
    n = rx = 0
    t0 = now()
    last = t0
    while not stop:
        if a.dst and (a.count == 0 or n < a.count):
            if a.rate:
                due = int((now() - t0) * a.rate) - n
            else:
                due = 32
            if due > 0:
                n += d.send([eth_frame(a.dst, a.mac, n + k, a.size)
                             for k in range(min(due, 64))])
        if not a.no_drain:
            rx += len(d.received())
        if now() - last >= 1.0:
            print("guest: tx=%d rx=%d" % (n, rx), flush=True)
            last = now()
        try:
            d.c.drain()
        except Closed:
            print("guest: backend closed", flush=True)
            break
        time.sleep(a.sleep)
    print("guest: tx=%d rx=%d" % (n, rx), flush=True)
    d.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    f = sub.add_parser("fuzz")
    f.add_argument("--sock", required=True)
    f.add_argument("--seed", default="1")
    f.add_argument("--count", type=int, default=1000,
                   help="messages to send (default 1000)")
    f.add_argument("--case", type=int, help="replay this case alone")
    f.add_argument("--first", type=int, default=0)
    f.add_argument("--pid", type=int, help="the switch, checked after "
                   "every case")
    f.add_argument("--feed-sock", help="a second switch port: a valid "
                   "device there floods frames toward the fuzzed one")
    f.add_argument("--kinds", help="comma-separated case kinds (%s)" %
                   ",".join(CASES))
    f.add_argument("--avoid-known", action="store_true",
                   help="do not send what hits a known crash (%s)" %
                   ", ".join(KNOWN_CRASHES))
    f.add_argument("--ping-every", type=int, default=1)
    f.add_argument("--stall-dump", help="when the switch stops answering, "
                   "append gdb backtraces of its threads to this file")
    f.add_argument("--timeout", type=float, default=5.0)
    f.add_argument("--seconds", type=float, help="stop after this long")
    f.add_argument("--log", help="write every case's description here")
    f.add_argument("-v", "--verbose", action="store_true")
    g = sub.add_parser("guest")
    g.add_argument("--sock", required=True)
    g.add_argument("--mac", default="02:00:00:00:00:99")
    g.add_argument("--dst", help="send frames to this MAC")
    g.add_argument("--rate", type=float, default=0)
    g.add_argument("--count", type=int, default=0)
    g.add_argument("--size", type=int, default=64)
    g.add_argument("--qsize", type=int, default=256)
    g.add_argument("--sleep", type=float, default=0.0005)
    g.add_argument("--protocol", action="store_true")
    g.add_argument("--no-drain", action="store_true",
                   help="never read the rx ring (a stuck guest)")
    g.add_argument("--no-rx-buffers", action="store_true")
    r = sub.add_parser("repro", help="replay a reproducer: " +
                       ", ".join(REPROS))
    r.add_argument("name", choices=sorted(REPROS))
    r.add_argument("--sock", required=True)
    r.add_argument("--hold", type=float, default=3.0,
                   help="seconds to keep the connection open")
    a = ap.parse_args()
    if a.mode == "guest":
        return run_guest(a)
    if a.mode == "repro":
        obj = REPROS[a.name](a.sock)
        time.sleep(a.hold)
        try:
            ping(a.sock, timeout=5)
            print("repro %s: the socket still answers" % a.name)
        except (OSError, TimeoutError, Closed) as e:
            print("repro %s: the socket does not answer: %r" % (a.name, e))
        obj.close()
        return 0

    logf = open(a.log, "a") if a.log else None
    feed = None
    if a.feed_sock:
        feed = Device(a.feed_sock, mac="02:00:00:00:fd:01").up()
        if not feed.wait_running(20):
            print("fuzz: the feeder device on %s does not run" % a.feed_sock,
                  file=sys.stderr)
            return 2
    fz = Fuzzer(a.sock, a.seed, pid=a.pid, feed=feed, verbose=a.verbose,
                ping_every=a.ping_every, timeout=a.timeout, log=logf,
                kinds=a.kinds.split(",") if a.kinds else None,
                avoid_known=a.avoid_known, stall_dump=a.stall_dump)
    t0 = now()
    try:
        if a.case is not None:
            fz.run_case(a.case)
            fz.check(a.case)
        else:
            fz.run(count=a.count, first=a.first,
                   deadline=t0 + a.seconds if a.seconds else None)
    except SwitchGone as e:
        print("fuzz: FAILED: %s" % e, flush=True)
        print("fuzz: last case: %s" % "; ".join(fz.desc), flush=True)
        print(json.dumps(fz.summary()), flush=True)
        return 1
    s = fz.summary()
    s["seconds"] = round(now() - t0, 1)
    print(json.dumps(s), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
