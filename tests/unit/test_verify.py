"""The comparison behind `kmirror verify`, on in-memory sequences, and the walk of one
partition over in-memory scanners (no broker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kmirror.topics.naming import PROVENANCE_HEADER
from kmirror.verify import (
    PartitionResult,
    ScannedRecord,
    compare,
    plan_partitions,
    totals,
    verdict,
    verify_partition,
)


def _records(n: int) -> list[tuple[int, tuple[object, ...]]]:
    return [(i, (f"k{i}".encode(), f"v{i}".encode(), (("h", b"1"),), 1000 + i)) for i in range(n)]


def _run(source: list[tuple[int, tuple[object, ...]]],
         target: list[tuple[int, tuple[object, ...]]]) -> dict[str, int]:
    result = compare(PartitionResult("t", 0), source, target)
    return result.counts()


def _target(contents: list[tuple[object, ...]]) -> list[tuple[int, tuple[object, ...]]]:
    return list(enumerate(contents))


SRC = _records(10)
C = [c for _, c in SRC]


@pytest.mark.parametrize(
    ("name", "target", "expected"),
    [
        ("faithful", C, {"matched": 10}),
        ("one removed", C[:4] + C[5:], {"matched": 9, "missing": 1}),
        ("tail missing", C[:7], {"matched": 7, "missing": 3}),
        ("value altered", C[:3] + [(b"k3", b"CHANGED", (("h", b"1"),), 1003)] + C[4:],
         {"matched": 9, "mismatched": 1}),
        ("header altered", C[:3] + [(b"k3", b"v3", (("h", b"2"),), 1003)] + C[4:],
         {"matched": 9, "mismatched": 1}),
        ("timestamp altered", C[:3] + [(b"k3", b"v3", (("h", b"1"),), 9)] + C[4:],
         {"matched": 9, "mismatched": 1}),
        ("one duplicated", C[:5] + [C[4]] + C[5:], {"matched": 10, "duplicates": 1}),
        ("a resent stretch", C[:8] + C[5:], {"matched": 10, "duplicates": 3}),
        ("two swapped", C[:3] + [C[4], C[3]] + C[5:], {"matched": 9, "reordered": 1}),
        ("one moved late", C[:2] + C[3:8] + [C[2]] + C[8:], {"matched": 9, "reordered": 1}),
        ("extra at the end", [*C, (b"x", b"y", (), 1)], {"matched": 10, "extra": 1}),
        ("empty target", [], {"missing": 10}),
    ],
)
def test_each_kind_of_damage_is_counted_exactly(
    name: str, target: list[tuple[object, ...]], expected: dict[str, int]
) -> None:
    counts = _run(SRC, _target(target))
    want = {k: 0 for k in counts} | expected
    assert counts == want, name


def test_verdict_fails_on_loss_and_strict_also_on_duplicates() -> None:
    clean = {"matched": 5, "missing": 0, "mismatched": 0, "duplicates": 2, "reordered": 0,
             "extra": 0}
    assert verdict(clean, strict=False) == 0
    assert verdict(clean, strict=True) == 1
    assert verdict({**clean, "missing": 1}, strict=False) == 1


def test_totals_sum_partitions() -> None:
    a = compare(PartitionResult("t", 0), SRC, _target(C))
    b = compare(PartitionResult("t", 1), SRC, _target(C[:9]))
    assert totals([a, b])["matched"] == 19 and totals([a, b])["missing"] == 1


def test_large_partition_in_bounded_memory() -> None:
    # 300,000 records with a resend of 1,000 in the middle: counted, without holding it all
    n = 300_000
    source = ((i, (i,)) for i in range(n))
    target = ((i, (i,)) for i in [*range(150_000), *range(149_000, n)])
    result = compare(PartitionResult("t", 0), source, target)
    assert result.matched == n and result.duplicates == 1000 and result.missing == 0


# --------------------------------------------------------------------------- the walk
class FakeScanner:
    """One cluster's partitions in memory: (topic, partition) -> (log start, records)."""

    def __init__(self, logs: dict[tuple[str, int], tuple[int, list[ScannedRecord]]]) -> None:
        self.logs = logs

    def bounds(self, topic: str, partition: int) -> tuple[int, int]:
        start, records = self.logs[(topic, partition)]
        return start, start + len(records)

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int:
        _start, records = self.logs[(topic, partition)]
        return next((o for o, *_, ts in records if ts >= timestamp_ms), -1)

    def records(self, topic: str, partition: int, start: int, end: int
                ) -> Iterator[ScannedRecord]:
        _start, records = self.logs[(topic, partition)]
        yield from (r for r in records if start <= r[0] < end)


def _log(start: int, n: int, first_value: int = 0,
         headers: tuple[tuple[str, bytes | None], ...] = ()) -> list[ScannedRecord]:
    return [(start + i, b"k", f"v{first_value + i}".encode(), headers, 1000 + first_value + i)
            for i in range(n)]


def test_a_partition_missing_on_the_target_counts_every_source_record() -> None:
    source = FakeScanner({("t", 0): (0, _log(0, 5))})
    advanced: list[int] = []
    result = verify_partition(source, FakeScanner({}), {"t": 0}, "t", ("t", 0, (0, 5)), None,
                              advanced.append)
    assert result.missing == 5 and result.matched == 0
    assert result.first_problem == "partition 0 does not exist on the target (topic t)"
    assert advanced == [5]


def test_provenance_marks_are_ignored_and_progress_is_reported() -> None:
    mark = ((PROVENANCE_HEADER, b"east"),)
    source = FakeScanner({("t", 0): (0, _log(0, 3))})
    target = FakeScanner({("east.t", 0): (0, _log(0, 3, headers=mark))})
    plan = plan_partitions(source, {"t": 1})
    assert plan == [("t", 0, (0, 3))]
    advanced: list[int] = []
    result = verify_partition(source, target, {"east.t": 1}, "east.t", plan[0], None,
                              advanced.append)
    assert result.counts()["matched"] == 3 and sum(result.counts().values()) == 3
    assert (result.source_range, result.target_range) == ((0, 3), (0, 3))
    assert sum(advanced) == 3


def test_records_the_source_no_longer_holds_are_skipped_on_the_target() -> None:
    # Given retention removed the source's first 4 records, which the target still holds
    source = FakeScanner({("t", 0): (4, _log(4, 3, first_value=4))})
    target = FakeScanner({("t", 0): (0, _log(0, 7))})
    result = verify_partition(source, target, {"t": 1}, "t", ("t", 0, (4, 7)), None,
                              lambda _n: None)
    assert result.matched == 3 and result.extra == 0 and result.missing == 0
    assert result.notes == ["the source no longer holds offsets below 4 (retention); compared "
                            "from there, skipping 4 older target record(s)"]


def test_from_timestamp_compares_only_records_from_then() -> None:
    source = FakeScanner({("t", 0): (0, _log(0, 6))})
    target = FakeScanner({("t", 0): (0, _log(0, 6))})
    result = verify_partition(source, target, {"t": 1}, "t", ("t", 0, (0, 6)), 1003,
                              lambda _n: None)
    assert (result.source_range, result.target_range) == ((3, 6), (3, 6))
    assert result.matched == 3 and result.notes == []
