# SPDX-License-Identifier: BSD-3-Clause
"""A minimal JSON-RPC 2.0 client for the switch's control socket."""
import itertools
import json
import socket


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__("%d: %s" % (code, message))
        self.code = code
        self.message = message


class Ctl:
    _ids = itertools.count(1)

    def __init__(self, path, timeout=10.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def call(self, method, *params):
        rid = next(self._ids)
        req = {"jsonrpc": "2.0", "id": rid, "method": method,
               "params": [str(p) for p in params]}
        self.s.sendall(json.dumps(req).encode() + b"\n")
        reply = json.loads(self.f.readline())
        assert reply.get("id") == rid, reply
        if "error" in reply:
            raise RpcError(reply["error"]["code"], reply["error"]["message"])
        return reply["result"]

    def close(self):
        self.f.close()
        self.s.close()


def call(path, method, *params):
    c = Ctl(path)
    try:
        return c.call(method, *params)
    finally:
        c.close()
