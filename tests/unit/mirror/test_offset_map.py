"""Tests for the shallow stream's source -> target offset map (no broker needed)."""

from __future__ import annotations

from kmirror.mirror.paths.batch_state import OffsetMap


def test_every_record_of_a_forwarded_batch_maps_exactly() -> None:
    # Given two batches of partition 0 forwarded whole
    offsets = OffsetMap()
    offsets.record(("t", 0), source_base=100, target_base=40, count=10)
    offsets.record(("t", 0), source_base=110, target_base=50, count=5)
    # Then each record maps by its place in its batch
    assert offsets.target_offset(("t", 0), 100) == 40
    assert offsets.target_offset(("t", 0), 109) == 49
    assert offsets.target_offset(("t", 0), 112) == 52
    # And offsets outside any held batch, or of another partition, are unknown
    assert offsets.target_offset(("t", 0), 115) is None
    assert offsets.target_offset(("t", 0), 99) is None
    assert offsets.target_offset(("t", 1), 100) is None
    assert offsets.recorded == 2


def test_the_map_is_bounded_per_partition_and_forgets_revoked_partitions() -> None:
    offsets = OffsetMap(per_partition=3)
    for i in range(5):
        offsets.record(("t", 0), source_base=i * 10, target_base=i * 10 + 7, count=10)
    # Only the last 3 batches are held
    assert offsets.target_offset(("t", 0), 15) is None
    assert offsets.target_offset(("t", 0), 25) == 32
    offsets.forget([("t", 0)])
    assert offsets.target_offset(("t", 0), 45) is None
