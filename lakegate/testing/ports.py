"""Free loopback ports for servers started by tests and benchmarks (never a fixed port: runs may overlap)."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_range(size: int) -> str:
    """``first-last``: ``size`` consecutive ports nothing listens on (e.g. for Flink's metrics reporter)."""
    for _ in range(50):
        first = free_port()
        if first + size < 65535 and all(_unused(p) for p in range(first, first + size)):
            return f"{first}-{first + size - 1}"
    raise RuntimeError(f"no {size} consecutive free ports on 127.0.0.1")


def _unused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0
