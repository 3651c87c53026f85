"""The lag refresh's timestamp reads: cached per position, bounded per refresh."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest

from kmirror.mirror import lag_refresh
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


def test_a_costly_refresh_postpones_the_next_to_stay_under_its_share_of_a_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a refresh that costs 0.5 s of CPU (as 10,000 partitions did)
    now = {"cpu": 0.0, "wall": 100.0}
    monkeypatch.setattr(lag_refresh, "time", SimpleNamespace(
        process_time=lambda: now["cpu"], monotonic=lambda: now["wall"], time=lambda: 0.0))
    refresh = LagRefresh([], Monitor())
    runs = []

    def costly() -> None:
        runs.append(now["wall"])
        now["cpu"] += 0.5

    monkeypatch.setattr(refresh, "_run", costly)
    refresh.run()
    # Then the calls before 0.5 / CPU_SHARE seconds have passed keep the last snapshot
    now["wall"] += 0.5 / lag_refresh.CPU_SHARE - 1
    refresh.run()
    assert runs == [100.0]
    # And the first call after that refreshes
    now["wall"] += 1
    refresh.run()
    assert len(runs) == 2
