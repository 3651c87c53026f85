"""Loopback ports for local clusters: keep a cluster's stored ports while they are free.

A cluster that keeps its ports keeps its addresses across a restart, so clients and mirrors
configured against it carry on; only a port taken by something else is replaced.
"""

from __future__ import annotations

import contextlib
import socket


def choose_ports(state: dict[str, object]) -> tuple[int, int]:
    """Keep the stored ports when both are free, else pick new free loopback ports."""
    port, controller_port = state.get("port"), state.get("controller_port")
    if (
        isinstance(port, int) and isinstance(controller_port, int)
        and port != controller_port and port_free(port) and port_free(controller_port)
    ):
        return port, controller_port
    port, controller_port = free_ports(2)
    return port, controller_port


def choose_extra_ports(state: dict[str, object], names: tuple[str, ...],
                       taken: tuple[int, ...] = ()) -> dict[str, int]:
    """Keep the stored extra listener ports when free, else new ones; none of them is one of
    ``taken`` (the cluster's other ports) or another's."""
    out: dict[str, int] = {}
    for name in names:
        port = state.get(name)
        used = (*taken, *out.values())
        out[name] = (port if isinstance(port, int) and port not in used and port_free(port)
                     else free_ports(1, avoid=used)[0])
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
    return free_ports(1)[0]


def free_ports(count: int, avoid: tuple[int, ...] = ()) -> list[int]:
    """``count`` distinct loopback ports the system reports free, none of ``avoid``: held open
    together while chosen (one after another, the system gave the same port twice and a broker
    refused to start with both listeners on it)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port not in avoid and port not in ports:
                ports.append(port)
        return ports
