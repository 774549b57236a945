"""Ports for servers a test starts in another process (an exporter, Prometheus, Azurite).

Asking the kernel for a free port (bind to port 0, close, hand the number on) races: until
the child binds it, the same number can be handed out again, to a later call in this process
or to a test in another pytest-xdist worker, and a test then scrapes somebody else's server.
So each worker draws from its own block of ports below the kernel's ephemeral range (where
no port-0 bind or outgoing connection lands) and never hands out a number twice in a row.
"""

from __future__ import annotations

import itertools
import os
import socket

_FIRST = 10_000  # below /proc/sys/net/ipv4/ip_local_port_range (32768 on Linux)
_BLOCK = 2_000  # ports per worker: 11 workers fit under 32768
_WORKERS = 11


def _worker() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw3"; absent when run serially
    digits = name.removeprefix("gw")
    return int(digits) % _WORKERS if digits.isdigit() else 0


_start = _FIRST + _worker() * _BLOCK
# Start where an earlier run of this worker most likely did not, then go round the block.
_candidates = itertools.cycle([_start + (os.getpid() + i) % _BLOCK for i in range(_BLOCK)])


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now and this worker has not just handed out."""
    for _ in range(_BLOCK):
        port = next(_candidates)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use, or in TIME_WAIT from an earlier test
            return port
    raise RuntimeError(f"no free port in {_start}..{_start + _BLOCK - 1}")
