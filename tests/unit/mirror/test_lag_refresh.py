"""The lag refresh's timestamp reads: cached per position, bounded per refresh."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from kmirror.mirror.lag_refresh import TIMESTAMP_READS, LagRefresh
from kmirror.mirror.monitor import Monitor

Key = tuple[str, int]


class CountingGroups:
    """Every record was written at 1 s; counts the partitions asked."""

    def __init__(self) -> None:
        self.asked: list[Key] = []

    def timestamps_at(self, positions: Mapping[Key, int]) -> dict[Key, tuple[int, int]]:
        self.asked.extend(positions)
        return {k: (p, 1000) for k, p in positions.items()}


def test_timestamps_are_read_once_per_position_and_at_most_a_budget_per_refresh() -> None:
    groups = CountingGroups()
    plan: Any = SimpleNamespace(source=SimpleNamespace(alias="a"), groups=groups)
    refresh = LagRefresh([], Monitor())
    many = TIMESTAMP_READS + 500
    # Partition i is i + 1 records behind: the furthest behind are read first
    ends = {("t", i): 10 + i + 1 for i in range(many)}
    positions = dict.fromkeys(ends, 10)
    stamps = refresh._stamps(plan, positions, ends)
    assert len(groups.asked) == TIMESTAMP_READS
    assert min(p for _, p in groups.asked) == 500
    assert len(stamps) == TIMESTAMP_READS
    # The next refresh reads only the rest: positions unchanged, stamps unchanged
    groups.asked.clear()
    stamps = refresh._stamps(plan, positions, ends)
    assert sorted(p for _, p in groups.asked) == list(range(500))
    assert len(stamps) == many
    # A partition that moved is read again; one caught up is forgotten
    groups.asked.clear()
    moved = {**positions, ("t", 7): 12}
    del moved[("t", 8)]
    stamps = refresh._stamps(plan, moved, ends)
    assert groups.asked == [("t", 7)]
    assert stamps[("t", 7)] == (12, 1000) and ("t", 8) not in stamps
