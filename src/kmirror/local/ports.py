"""Loopback ports for local clusters: keep a cluster's stored ports while they are free.

A cluster that keeps its ports keeps its addresses across a restart, so clients and mirrors
configured against it carry on; only a port taken by something else is replaced.
"""

from __future__ import annotations

import socket


def choose_ports(state: dict[str, object]) -> tuple[int, int]:
    """Keep the stored ports when both are free, else pick new free loopback ports."""
    port, controller_port = state.get("port"), state.get("controller_port")
    if (
        isinstance(port, int) and isinstance(controller_port, int)
        and port_free(port) and port_free(controller_port)
    ):
        return port, controller_port
    return free_port(), free_port()


def choose_extra_ports(state: dict[str, object], names: tuple[str, ...]) -> dict[str, int]:
    """Keep the stored extra listener ports when free, else new ones."""
    out = {}
    for name in names:
        port = state.get(name)
        out[name] = port if isinstance(port, int) and port_free(port) else free_port()
    return out


def port_free(port: int) -> bool:
    """Whether the broker could bind this loopback port now."""
    with socket.socket() as sock:
        # As the broker binds: a port whose old connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port the system reports free (it may be taken again before the broker binds)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
