"""The comparison behind `kmirror verify`, on in-memory sequences (no broker)."""

from __future__ import annotations

import pytest

from kmirror.verify import PartitionResult, compare, totals, verdict


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
