"""Tests for kmirror.offsets.clusters: offset syncs read from the target's records as bytes
(the codec of kmirror.offsets.syncs over OffsetsClient.read_topic), no broker."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kmirror.offsets.clusters import read_syncs
from kmirror.offsets.syncs import SYNC_TOPIC, encode
from tests.unit.offsets.fakes import sync

Record = tuple[bytes | None, bytes | None]


class FakeTopic:
    """A target whose topics hold raw records; each read starts where ``start`` says."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.asked: list[tuple[str, dict[int, int] | None]] = []

    def read_topic(self, topic: str, on_record: Callable[[bytes | None, bytes | None], None],
                   start: Mapping[int, int] | None = None) -> dict[int, int]:
        self.asked.append((topic, None if start is None else dict(start)))
        first = (start or {}).get(0, 0)
        for key, value in self.records[first:]:
            on_record(key, value)
        return {0: len(self.records)}


def test_syncs_round_trip_and_other_records_are_left_out() -> None:
    # Given the sync topic holds two syncs, a tombstone and a record kmirror did not write
    first, second = sync(10, 110), sync(20, 120, partition=1)
    target = FakeTopic([encode(first, "f1"), (b"k", None), (b"not json", b"{}"),
                        encode(second, "c2")])
    # When the syncs are read from the beginning
    read = read_syncs(target)
    # Then the two syncs come back, in order, with where to read on from
    assert read.syncs == [first, second]
    assert read.next_offsets == {0: 4}
    assert target.asked == [(SYNC_TOPIC, None)]


def test_reading_on_starts_where_the_last_read_stopped() -> None:
    target = FakeTopic([encode(sync(10, 110), "f1")])
    done = read_syncs(target)
    target.records.append(encode(sync(20, 120), "f2"))
    again = read_syncs(target, done.next_offsets)
    assert again.syncs == [sync(20, 120)]
    assert again.next_offsets == {0: 2}
    assert target.asked[-1] == (SYNC_TOPIC, {0: 1})
