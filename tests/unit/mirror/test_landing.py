"""Where a committed source position lands on the target (mirror/landing.py): each track
follows the target offset of its commit point from the target's end offset when the partition
was taken, through acknowledgements in order, early ones, retries and checkpoints; every commit
carries it in its metadata, except with a message handler."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.mirror.stream_fakes import FakeReader, FakeWriter, harness, record, settings_for

from kmirror.mirror import landing
from kmirror.mirror.partitions import Key
from kmirror.mirror.target_gate import CHECK_INTERVAL_S
from kmirror.mirror.tracker import OffsetTracker, PartitionTrack

A0, A1 = ("a", 0), ("a", 1)


def test_the_metadata_names_the_target_offset_and_nothing_else_is_read_as_one() -> None:
    assert landing.metadata(1234) == "kmirror:target=1234"
    assert landing.parse("kmirror:target=1234") == 1234
    for foreign in (None, "", "kmirror:target=", "kmirror:target=-1", "x kmirror:target=5",
                    "{'target': 5}"):
        assert landing.parse(foreign) is None


def taken_at(target_end: int) -> PartitionTrack:
    track = PartitionTrack("a", 0)
    track.consumed(9)  # (starts at source offset 10)
    track.lands_at(target_end)
    return track


def test_the_commit_point_lands_where_the_target_acknowledged_contiguously() -> None:
    track = taken_at(500)
    for offset in (10, 11, 12, 13):
        track.sent(offset)
    assert (track.commit_offset(), track.target_next) == (10, 500)
    track.acked(10, 500)
    assert (track.commit_offset(), track.target_next) == (11, 501)
    track.acked(12, 502)  # early: 11 is not acknowledged yet
    assert (track.commit_offset(), track.target_next) == (11, 501)
    track.acked(11, 501)
    assert (track.commit_offset(), track.target_next) == (13, 503)
    track.passed(20)  # a marker batch: no target offset
    track.acked(13, 503)
    assert (track.commit_offset(), track.target_next) == (21, 504)


def test_a_batch_lands_its_last_record_and_a_retried_one_moves_nothing() -> None:
    track = taken_at(500)
    track.sent(10)  # a batch of offsets 10-14
    track.sent(15)  # and the next, 15-19
    track.withdrawn(10)  # both sent again after a failure
    track.withdrawn(15)
    assert track.target_next == 500
    track.sent(10)
    track.acked(10, 504)
    track.passed(14)
    assert (track.commit_offset(), track.target_next) == (15, 505)


def test_a_checkpoint_counts_the_records_it_settles() -> None:
    track = taken_at(500)
    for offset in range(10, 15):
        track.sent(offset)
    track.acked_all()
    assert (track.commit_offset(), track.target_next) == (15, 505)


@pytest.mark.parametrize("how", ["no target offset", "aborted transaction", "never taken"])
def test_what_cannot_be_followed_leaves_the_landing_unknown(how: str) -> None:
    track = taken_at(500) if how != "never taken" else PartitionTrack("a", 0)
    track.sent(10)
    if how == "no target offset":
        track.acked(10)
    elif how == "aborted transaction":
        track.rewound_to(10)
    else:
        track.acked_all()
    assert track.target_next is None
    tracker = OffsetTracker()
    tracker.tracks[A0] = track
    assert tracker.landings([A0, A1]) == {}


def answering(ends: dict[Key, int]):  # type: ignore[no-untyped-def]
    """A target whose partitions in ``ends`` are led, at these end offsets."""
    return lambda keys, timeout_s: {k: ends[k] for k in keys if k in ends}


@pytest.mark.parametrize("per_record", [True, False], ids=["per-record acks", "checkpoints"])
def test_every_commit_says_where_its_position_lands_on_the_target(tmp_path: Path,
                                                                  per_record: bool) -> None:
    # Given a target holding 100 records in a0's partition and a1's not led yet
    reader = FakeReader(to_assign=[A0, A1])
    for key in (A0, A1):
        reader.log[key] = [record(*key, offset) for offset in range(3)]
    writer = FakeWriter(per_record_acks=per_record, target_ends={A0: 100, A1: 7})
    ends = {A0: 100}
    h = harness(settings_for(tmp_path), reader, writer, answering=answering(ends))
    # When the stream copies and commits
    h.turn(3)
    h.stream._commit()
    # Then the commit says where source offset 3 of a0 lands: after the 3 records copied
    assert reader.commits[-1] == {A0: 3}
    assert reader.commit_metadata[-1] == {A0: "kmirror:target=103"}
    # And a partition that waited for its target starts from the end offset read as it goes on
    ends[A1] = 7
    h.stream.gate.check(CHECK_INTERVAL_S)
    h.turn(3)
    h.stream._commit()
    assert reader.commits[-1] == {A1: 3}
    assert reader.commit_metadata[-1] == {A1: "kmirror:target=10"}
    assert writer.target_ends == {A0: 103, A1: 10}


def test_with_a_message_handler_commits_say_nothing_of_the_target(tmp_path: Path) -> None:
    reader = FakeReader(to_assign=[A0])
    reader.log[A0] = [record(*A0, offset) for offset in range(3)]
    writer = FakeWriter(per_record_acks=True)
    settings = settings_for(tmp_path, message_handler="json:drop_empty")
    h = harness(settings, reader, writer, answering=answering({A0: 0}))
    h.turn(3)
    h.stream._commit()
    assert reader.commits[-1] == {A0: 3} and reader.commit_metadata[-1] == {}
