"""Tests for kmirror.mirror.tracker: which source offsets may be committed (no broker needed).

The invariant under test (module docstring of tracker.py): the committed offset of a source
partition is the first record the target has not acknowledged, or the offset after the last one
consumed once everything is acknowledged; nothing at or past a failed record is ever committed.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from kmirror.mirror.tracker import OffsetTracker, PartitionTrack

KEY = ("orders", 0)


def sent_all(track: PartitionTrack, offsets: list[int]) -> None:
    for offset in offsets:
        track.sent(offset)


# --------------------------------------------------------------------------- PartitionTrack


def test_nothing_consumed_commits_nothing() -> None:
    # Given a fresh track
    track = PartitionTrack("orders", 0)
    # Then there is no commit point and nothing in flight
    assert track.commit_offset() is None
    assert track.in_flight == 0


def test_sent_but_unacked_commits_the_first_sent_offset() -> None:
    # Given records 0..2 sent and none acknowledged
    track = PartitionTrack("orders", 0)
    sent_all(track, [0, 1, 2])
    # Then the commit point is the first unacknowledged record (re-read it after a restart)
    assert track.commit_offset() == 0
    assert track.in_flight == 3


def test_sent_from_a_later_start_offset() -> None:
    # Given a partition resumed at offset 100 (a previous run committed 100)
    track = PartitionTrack("orders", 0)
    sent_all(track, [100, 101])
    # Then the commit point never goes back to 0
    assert track.commit_offset() == 100
    track.acked(100)
    assert track.commit_offset() == 101


def test_in_order_acks_advance_to_first_unacked() -> None:
    # Given records 0..4 sent
    track = PartitionTrack("orders", 0)
    sent_all(track, [0, 1, 2, 3, 4])
    # When they are acknowledged in order
    for offset in range(5):
        track.acked(offset)
        # Then each ack moves the commit point to the next unacknowledged record
        assert track.commit_offset() == offset + 1
    # And when all are acknowledged the commit point is highest + 1
    assert track.commit_offset() == 5
    assert track.in_flight == 0


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_out_of_order_acks_are_held_until_earlier_ones_arrive(order: tuple[int, ...]) -> None:
    # Given records 0..3 sent
    track = PartitionTrack("orders", 0)
    sent_all(track, [0, 1, 2, 3])
    acked: set[int] = set()
    for offset in order:
        # When acknowledgements arrive in any order
        track.acked(offset)
        acked.add(offset)
        # Then the commit point is always the smallest offset not yet acknowledged
        first_unacked = min(set(range(4)) - acked, default=4)
        assert track.commit_offset() == first_unacked
    assert track.commit_offset() == 4
    assert not track.early  # nothing left held


def test_in_flight_counts_unacked_records_with_in_order_acks() -> None:
    track = PartitionTrack("orders", 0)
    sent_all(track, [0, 1, 2])
    track.acked(0)
    assert track.in_flight == 2


def test_in_flight_does_not_count_early_acks() -> None:
    # Given 0, 1, 2 sent and 2 acknowledged before 0 and 1
    track = PartitionTrack("orders", 0)
    sent_all(track, [0, 1, 2])
    track.acked(2)
    # Then two records are still unacknowledged
    assert track.in_flight == 2


def test_early_ack_is_held_then_released() -> None:
    # Given 0, 1, 2 sent and 2 acknowledged first
    track = PartitionTrack("orders", 0)
    sent_all(track, [0, 1, 2])
    track.acked(2)
    # Then nothing moves: 0 and 1 are still unacknowledged
    assert track.commit_offset() == 0
    # When 1 arrives, still held by 0
    track.acked(1)
    assert track.commit_offset() == 0
    # When 0 arrives, 1 and 2 are released together
    track.acked(0)
    assert track.commit_offset() == 3
    assert track.in_flight == 0


def test_failed_offset_caps_commit_forever() -> None:
    # Given 0..4 sent, 0 acknowledged, 1 refused by the target
    track = PartitionTrack("orders", 0)
    sent_all(track, [0, 1, 2, 3, 4])
    track.acked(0)
    track.failed(1)
    assert track.commit_offset() == 1
    # When every later record is acknowledged (early acks)
    for offset in (2, 3, 4):
        track.acked(offset)
        # Then the commit point never passes the failed record
        assert track.commit_offset() == 1
    # And even more records consumed later do not move it
    track.sent(5)
    track.acked(5)
    track.consumed(6)
    assert track.commit_offset() == 1


def test_failed_offset_caps_even_if_acked_later() -> None:
    # Given a record that failed and then (wrongly, or on a retry) got an ack anyway
    track = PartitionTrack("orders", 0)
    sent_all(track, [0, 1, 2])
    track.failed(1)
    for offset in (0, 1, 2):
        track.acked(offset)
    # Then nothing at or past the failed record is committed
    assert track.commit_offset() == 1


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        ([3], 3),
        ([3, 1], 1),  # a lower failure lowers the cap
        ([1, 3], 1),  # a higher failure does not raise it
        ([2, 2], 2),
    ],
)
def test_lowest_failure_wins(failures: list[int], expected: int) -> None:
    track = PartitionTrack("orders", 0)
    sent_all(track, [0, 1, 2, 3, 4])
    for offset in failures:
        track.failed(offset)
    for offset in range(5):
        if offset not in failures:
            track.acked(offset)
    assert track.failed_offset == expected
    assert track.commit_offset() == expected


def test_failure_after_an_earlier_unacked_record_keeps_the_earlier_point() -> None:
    # Given 0 unacknowledged and 3 failed: the commit point is 0, not 3
    track = PartitionTrack("orders", 0)
    sent_all(track, [0, 1, 2, 3])
    track.failed(3)
    assert track.commit_offset() == 0


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_one_offset_emitting_k_records_needs_k_acks(k: int) -> None:
    # Given a handler that emitted k records for source offset 7, then one for offset 8
    track = PartitionTrack("orders", 0)
    for _ in range(k):
        track.sent(7)
    track.sent(8)
    assert track.in_flight == k + 1
    # When only k - 1 of offset 7's records are acknowledged
    for _ in range(k - 1):
        track.acked(7)
        # Then offset 7 is not committed past
        assert track.commit_offset() == 7
    # When the last one is acknowledged
    track.acked(7)
    assert track.commit_offset() == 8
    track.acked(8)
    assert track.commit_offset() == 9


def test_k_records_with_next_offset_acked_early() -> None:
    # Given 3 records sent for offset 7 and one for 8, with 8 acknowledged first
    track = PartitionTrack("orders", 0)
    sent_all(track, [7, 7, 7, 8])
    track.acked(8)
    track.acked(7)
    track.acked(7)
    # Then one of 7's records is still unacknowledged
    assert track.commit_offset() == 7
    track.acked(7)
    assert track.commit_offset() == 9


def test_dropped_record_with_nothing_pending_advances() -> None:
    # Given a handler that dropped the records at 0 and 1 (nothing sent)
    track = PartitionTrack("orders", 0)
    track.consumed(0)
    assert track.commit_offset() == 1
    track.consumed(1)
    assert track.commit_offset() == 2
    assert track.in_flight == 0


def test_dropped_record_behind_a_pending_one_waits() -> None:
    # Given 0 sent (unacknowledged) and 1 dropped by the handler
    track = PartitionTrack("orders", 0)
    track.sent(0)
    track.consumed(1)
    # Then the commit point stays at 0
    assert track.commit_offset() == 0
    # When 0 is acknowledged, the commit point moves past the dropped record too
    track.acked(0)
    assert track.commit_offset() == 2


@pytest.mark.parametrize(
    ("offsets", "acks", "expected"),
    [
        # transaction markers leave gaps in the source offsets
        ([0, 1, 5, 9], [0, 1, 5, 9], 10),
        ([0, 1, 5, 9], [0, 1], 5),
        ([0, 1, 5, 9], [0, 1, 5], 9),
        ([0, 1, 5, 9], [9, 5, 1], 0),
        ([0, 1, 5, 9], [9, 5, 1, 0], 10),
        ([3, 10], [3], 10),
    ],
)
def test_source_offsets_with_gaps(offsets: list[int], acks: list[int], expected: int) -> None:
    track = PartitionTrack("orders", 0)
    sent_all(track, offsets)
    for offset in acks:
        track.acked(offset)
    assert track.commit_offset() == expected


# --------------------------------------------------------------------------- OffsetTracker


def test_tracker_with_no_tracks_has_nothing_to_commit() -> None:
    tracker = OffsetTracker()
    assert tracker.to_commit() == {}
    assert tracker.in_flight == 0


def test_track_is_created_once_per_partition() -> None:
    tracker = OffsetTracker()
    first = tracker.track("orders", 0)
    assert tracker.track("orders", 0) is first
    assert tracker.track("orders", 1) is not first
    assert (first.topic, first.partition) == ("orders", 0)


def test_assigned_partition_without_records_is_not_committed() -> None:
    # Given a partition tracked (assigned) but nothing consumed yet
    tracker = OffsetTracker()
    tracker.track(*KEY)
    # Then there is nothing to commit for it
    assert tracker.to_commit() == {}


def test_to_commit_returns_only_moved_offsets() -> None:
    # Given two partitions with acknowledged records
    tracker = OffsetTracker()
    a, b = tracker.track("orders", 0), tracker.track("orders", 1)
    sent_all(a, [0, 1])
    sent_all(b, [10])
    a.acked(0)
    b.acked(10)
    # When the commit offsets are taken and marked committed
    offsets = tracker.to_commit()
    assert offsets == {("orders", 0): 1, ("orders", 1): 11}
    tracker.mark_committed(offsets)
    # Then nothing moved, nothing to commit
    assert tracker.to_commit() == {}
    # When only partition 0 moves
    a.acked(1)
    # Then only partition 0 is returned
    assert tracker.to_commit() == {("orders", 0): 2}
    tracker.mark_committed({("orders", 0): 2})
    assert tracker.to_commit() == {}


def test_to_commit_with_keys_selects_partitions_and_ignores_unknown_ones() -> None:
    tracker = OffsetTracker()
    for partition in (0, 1):
        track = tracker.track("orders", partition)
        track.sent(0)
        track.acked(0)
    assert tracker.to_commit([("orders", 1), ("ghost", 3)]) == {("orders", 1): 1}
    assert tracker.to_commit([]) == {}


def test_failed_partition_is_not_committed_past_the_failure() -> None:
    tracker = OffsetTracker()
    track = tracker.track(*KEY)
    sent_all(track, [0, 1, 2])
    track.acked(0)
    track.failed(1)
    track.acked(2)
    assert tracker.to_commit() == {KEY: 1}
    tracker.mark_committed({KEY: 1})
    track.sent(3)
    track.acked(3)
    assert tracker.to_commit() == {}


def test_forget_drops_tracks_and_committed_offsets() -> None:
    # Given a partition whose offset 5 was committed
    tracker = OffsetTracker()
    track = tracker.track(*KEY)
    track.sent(4)
    track.acked(4)
    tracker.mark_committed(tracker.to_commit())
    assert tracker.committed == {KEY: 5}
    # When it is revoked and forgotten
    tracker.forget([KEY, ("never", 9)])
    # Then its state is gone
    assert KEY not in tracker.tracks
    assert KEY not in tracker.committed
    assert tracker.to_commit() == {}
    # And when it is assigned again, it starts fresh (no stale "already committed" filter)
    again = tracker.track(*KEY)
    assert again is not track
    again.sent(2)
    assert tracker.to_commit() == {KEY: 2}


def test_in_flight_sums_every_partition() -> None:
    tracker = OffsetTracker()
    sent_all(tracker.track("a", 0), [0, 1, 2])
    sent_all(tracker.track("b", 1), [7, 7])
    tracker.track("a", 0).acked(0)
    assert tracker.in_flight == 4


# --------------------------------------------------------------------------- property-style


def _random_run(seed: int, failure_rate: float) -> None:
    """Consume, send (0..3 records per offset) and ack in a random interleaving.

    A model keeps the multiset of unacknowledged sends; after every step the tracker's commit
    point must equal the model's (first unacknowledged, or highest + 1, capped by the lowest
    failure), never exceed the smallest unacknowledged sent offset, and never go backwards.
    """
    rng = random.Random(seed)
    track = PartitionTrack("orders", 0)
    unacked: Counter[int] = Counter()  # model: sends not acknowledged (failed ones stay)
    in_flight: list[int] = []  # sends the "producer" may still ack or fail
    failed: list[int] = []
    offset = rng.randrange(0, 50)
    highest = -1
    previous: int | None = None
    to_consume = rng.randrange(20, 120)

    def check() -> None:
        nonlocal previous
        got = track.commit_offset()
        if highest < 0:
            assert got is None
            return
        assert got is not None
        expected = min(unacked) if unacked else highest + 1
        if failed:
            expected = min(expected, min(failed))
        assert got == expected, (seed, got, expected)
        if unacked:
            assert got <= min(unacked)  # the no-loss invariant
        if failed:
            assert got <= min(failed)
        if previous is not None:
            assert got >= previous, "commit point went backwards"
        previous = got

    while to_consume or in_flight:
        if to_consume and (not in_flight or rng.random() < 0.5):
            # consume one source record; transactions leave offset gaps
            offset += rng.choice([1, 1, 1, 2, 5])
            highest = offset
            copies = rng.choice([0, 1, 1, 1, 2, 3])
            if copies == 0:
                track.consumed(offset)
            for _ in range(copies):
                track.sent(offset)
                unacked[offset] += 1
                in_flight.append(offset)
            to_consume -= 1
        else:
            # the producer reports one send, in any order
            done = in_flight.pop(rng.randrange(len(in_flight)))
            if rng.random() < failure_rate:
                track.failed(done)
                failed.append(done)
            else:
                track.acked(done)
                unacked[done] -= 1
                if unacked[done] == 0:
                    del unacked[done]
        check()

    if not failed:
        # everything acknowledged: the commit point is the offset after the last consumed
        assert not unacked
        assert track.commit_offset() == highest + 1
        assert not track.early
    else:
        assert track.commit_offset() == min(min(failed), min(unacked))


@pytest.mark.parametrize("seed", range(40))
def test_random_interleavings_never_commit_past_unacked(seed: int) -> None:
    _random_run(seed, failure_rate=0.0)


@pytest.mark.parametrize("seed", range(40))
def test_random_interleavings_with_failures_never_commit_past_failure(seed: int) -> None:
    _random_run(seed, failure_rate=0.05)


def test_a_checkpoint_acknowledges_everything_sent_but_never_past_a_refusal() -> None:
    # Given records 10..19 sent, and the record at 14 refused (reported before the checkpoint)
    track = PartitionTrack("t", 0)
    for offset in range(10, 20):
        track.sent(offset)
    track.acked(12)  # a stray early acknowledgement (per-record mode leftovers) is dropped too
    track.failed(14)
    # When the checkpoint says every record sent has its outcome
    track.acked_all()
    # Then nothing is in flight, and the commit point stops at the refused record
    assert track.in_flight == 0
    assert track.commit_offset() == 14


def test_a_checkpoint_without_refusals_commits_after_the_last_record_sent() -> None:
    track = PartitionTrack("t", 0)
    for offset in range(5):
        track.sent(offset)
    assert track.commit_offset() == 0  # nothing known to be acknowledged yet
    track.acked_all()
    assert track.commit_offset() == 5


# --- the operations the paths use to move a track (tracker.py is the only code that does) ---


def test_passed_never_moves_backwards_and_waits_for_earlier_entries() -> None:
    track = PartitionTrack("t", 0)
    track.sent(10)
    track.passed(20)  # a skipped batch after the one in flight
    assert track.commit_offset() == 10
    track.passed(15)
    assert track.highest == 20
    track.acked(10)
    assert track.commit_offset() == 21


def test_moved_to_keeps_records_in_flight_below_the_commit_point() -> None:
    track = PartitionTrack("t", 0)
    track.sent(5)
    track.moved_to(100)  # a gap: reading goes on at 100
    assert track.commit_offset() == 5
    track.acked(5)
    assert track.commit_offset() == 100


def test_withdrawn_entries_are_sent_again_and_nothing_past_them_counts() -> None:
    track = PartitionTrack("t", 0)
    track.sent(10)
    track.passed(19)
    track.sent(20)
    track.passed(29)
    track.withdrawn(10)
    track.withdrawn(20)
    assert track.in_flight == 0 and track.commit_offset() == 10
    track.sent(10)
    assert track.commit_offset() == 10


def test_rewound_to_voids_everything_sent() -> None:
    track = PartitionTrack("t", 0)
    for offset in (3, 4, 5):
        track.sent(offset)
    track.rewound_to(3)
    assert track.in_flight == 0 and track.commit_offset() == 3 and track.next_offset == 3


def test_next_to_read_after_the_highest_consumed_else_the_committed_offset() -> None:
    tracker = OffsetTracker()
    assert tracker.next_to_read(("t", 0)) is None
    tracker.mark_committed({("t", 0): 7})
    assert tracker.next_to_read(("t", 0)) == 7
    tracker.track("t", 0)
    assert tracker.next_to_read(("t", 0)) == 7  # nothing consumed yet
    tracker.track("t", 0).consumed(11)
    assert tracker.next_to_read(("t", 0)) == 12
