"""Tests for kmirror.offsets.syncs: the sync record format and translating one offset.

A sync (upstream U, downstream D) says the source record at U was written at D in the target.
A committed offset C is the next record the group would read, so it has read C - 1.
"""

from __future__ import annotations

import json

import pytest

from kmirror.offsets.syncs import (
    COARSE_SLOTS,
    FINE_SLOTS,
    OffsetSync,
    SyncStore,
    decode,
    encode,
    slots,
)


def sync(upstream: int, downstream: int, topic: str = "orders", partition: int = 0,
         target_topic: str = "east.orders", run: tuple[int, int] = (-1, -1)) -> OffsetSync:
    return OffsetSync("east", topic, partition, upstream, downstream, target_topic, *run)


# --------------------------------------------------------------------------- format


def test_encode_then_decode_gives_the_same_sync() -> None:
    original = sync(41, 1041)
    key, value = encode(original, "f7")
    assert decode(key, value) == original


def test_a_sync_with_a_verified_run_round_trips_too() -> None:
    original = sync(30, 125, run=(20, 115))
    assert decode(*encode(original, "f1")) == original


def test_the_key_names_the_partition_and_the_slot_so_compaction_keeps_one_per_slot() -> None:
    key, value = encode(sync(41, 1041), "c3")
    assert json.loads(key) == ["east", "orders", 0, "c3"]
    assert json.loads(value)["target_topic"] == "east.orders"


@pytest.mark.parametrize(("key", "value"), [
    (None, b"{}"),  # no key
    (b'["east","orders",0,"f1"]', None),  # a tombstone
    (b"not json", b"{}"),
    (b'["east","orders",0]', b'{"upstream":1,"downstream":2,"target_topic":"t"}'),
    (b'["east","orders",0,"f1"]', b'{"upstream":1}'),
    (b'["east","orders",0,"f1"]', b'{"upstream":1,"downstream":2,"target_topic":"t","run":7}'),
    (b'["east","orders",0,"f1"]', b"[1, 2]"),
    (b'["east","orders",0,"f1"]', b'{"upstream":1,"downstream":2,"target_topic":"t","run":[3]}'),
])
def test_records_kmirror_did_not_write_decode_to_none(key: bytes | None,
                                                      value: bytes | None) -> None:
    assert decode(key, value) is None


def test_slots_stay_within_the_two_rings() -> None:
    names = {name for now in range(0, 8 * 24 * 3600, 7) for name in slots(float(now))}
    assert len([n for n in names if n.startswith("f")]) == FINE_SLOTS
    assert len([n for n in names if n.startswith("c")]) == COARSE_SLOTS


# --------------------------------------------------------------------------- translate


def test_exact_between_two_syncs_that_advance_one_to_one() -> None:
    # Given syncs 10 -> 110 and 20 -> 120: every record in between was mirrored one to one
    store = SyncStore([sync(10, 110), sync(20, 120)])
    # When a group that read up to 14 is translated
    found = store.translate("orders", 0, 15)
    # Then it resumes at 115, exactly
    assert (found.downstream, found.exact, found.reread_at_most) == (115, True, 0)


def test_exact_at_the_record_after_the_last_sync_read() -> None:
    # Given only a sync 10 -> 110 (nothing known past it)
    store = SyncStore([sync(10, 110)])
    # When the group read exactly the synced record
    found = store.translate("orders", 0, 11)
    # Then it resumes right after its copy
    assert (found.downstream, found.exact, found.reread_at_most) == (111, True, 0)


def test_conservative_across_a_gap_with_its_bound() -> None:
    # Given syncs 10 -> 110 and 20 -> 118: two source offsets in between have no copy
    # (transaction markers, filtered records), so offsets in between cannot be mapped
    store = SyncStore([sync(10, 110), sync(20, 118)])
    # When a group that read up to 14 is translated
    found = store.translate("orders", 0, 15)
    # Then it resumes after the sync below (never skipping a record) and may read again
    # at most the records 11..14 of the source it read past the sync
    assert (found.downstream, found.exact, found.reread_at_most) == (111, False, 4)


def test_the_bound_is_also_limited_by_the_target_records_before_the_next_sync() -> None:
    # Given syncs 10 -> 110 and 30 -> 113: only two target records lie between them
    store = SyncStore([sync(10, 110), sync(30, 113)])
    found = store.translate("orders", 0, 25)
    assert (found.downstream, found.exact, found.reread_at_most) == (111, False, 2)


def test_exact_inside_a_verified_run_of_the_sync_above() -> None:
    # Given syncs 10 -> 110 and 30 -> 125, where 20..30 were verified one to one from 115
    store = SyncStore([sync(10, 110), sync(30, 125, run=(20, 115))])
    # When the group read up to 24 (inside the run): exact
    found = store.translate("orders", 0, 25)
    assert (found.downstream, found.exact, found.reread_at_most) == (120, True, 0)
    # When it read up to 14 (before the run): conservative, bounded
    found = store.translate("orders", 0, 15)
    assert (found.downstream, found.exact, found.reread_at_most) == (111, False, 4)


def test_conservative_past_the_newest_sync() -> None:
    store = SyncStore([sync(10, 110), sync(20, 120)])
    found = store.translate("orders", 0, 25)
    assert (found.downstream, found.exact, found.reread_at_most) == (121, False, 4)


def test_no_sync_yet_below_the_committed_offset() -> None:
    store = SyncStore([sync(10, 110)])
    found = store.translate("orders", 0, 5)
    assert found.downstream is None
    assert "no offset sync" in found.note


def test_a_partition_without_syncs_has_no_translation_and_no_target_topic() -> None:
    store = SyncStore([sync(10, 110)])
    assert store.translate("orders", 1, 50).downstream is None
    assert store.target_topic("orders", 1) is None
    assert store.partitions() == [("orders", 0)]


def test_a_later_sync_for_the_same_upstream_offset_replaces_the_earlier_one() -> None:
    store = SyncStore([sync(20, 120), sync(10, 110), sync(10, 111)])
    assert store.translate("orders", 0, 11).downstream == 112
