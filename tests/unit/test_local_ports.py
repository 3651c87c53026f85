"""Loopback ports for local clusters (local/ports.py): never the same port for two listeners."""

from __future__ import annotations

import pytest

from kmirror.local import ports


def test_new_ports_are_distinct_even_when_the_system_offers_one_twice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a system that offers the same free port twice, then another (seen: a broker that
    # refused to start with both listeners on one port)
    offered = iter([40001, 40001, 40002, 40001, 40003])

    class Offering:
        def __init__(self) -> None:
            self.port = 0

        def __enter__(self) -> Offering:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def bind(self, address: tuple[str, int]) -> None:
            self.port = next(offered)

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(ports.socket, "socket", lambda *a: Offering())
    # Then a cluster's two ports differ, and an extra listener takes neither
    assert ports.choose_ports({}) == (40001, 40002)
    assert ports.choose_extra_ports({}, ("ssl_port",), taken=(40001, 40002)) == {
        "ssl_port": 40003}


def test_stored_ports_are_kept_only_when_free_and_distinct() -> None:
    [a, b] = ports.free_ports(2)
    assert a != b
    assert ports.choose_ports({"port": a, "controller_port": b}) == (a, b)
    kept = ports.choose_ports({"port": a, "controller_port": a})
    assert kept[0] != kept[1]
