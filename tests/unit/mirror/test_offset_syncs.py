"""Tests for kmirror.mirror.offset_syncs: which exact (upstream, downstream) pairs are written.

No broker: the target's end offsets come from a dict the test moves, syncs are appended to a
list, and time is a fake clock. A sync is written only for a pair known to be exact, and at most
one per partition per FINE_SLOT_S seconds.
"""

from __future__ import annotations

from collections.abc import Mapping

from kmirror.mirror.offset_syncs import SyncRecorder
from kmirror.offsets.syncs import FINE_SLOT_S, OffsetSync

KEY = ("orders", 0)  # a source partition
TARGET_KEY = ("east.orders", 0)  # where it is mirrored


class FakeTarget:
    """End offsets of target partitions, as the test sets them; counts the reads."""

    def __init__(self, ends: Mapping[tuple[str, int], int] | None = None) -> None:
        self.ends: dict[tuple[str, int], int] = dict(ends or {})
        self.reads: list[list[tuple[str, int]]] = []

    def end_offsets(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        self.reads.append(list(keys))
        return {k: self.ends[k] for k in keys if k in self.ends}

    def grow(self, key: tuple[str, int], records: int) -> None:
        self.ends[key] += records


class FakeClock:
    def __init__(self, now_s: float = 1_000_000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def recorder(target: FakeTarget, clock: FakeClock | None = None
             ) -> tuple[SyncRecorder, list[OffsetSync]]:
    """A recorder for source cluster "src" mirroring topic T to "east.T"."""
    written: list[OffsetSync] = []
    syncs = SyncRecorder("src", lambda topic: f"east.{topic}", target.end_offsets,
                         written.append, clock or FakeClock())
    return syncs, written


def sync(upstream: int, downstream: int, run: tuple[int, int] = (-1, -1),
         key: tuple[str, int] = KEY) -> OffsetSync:
    return OffsetSync("src", key[0], key[1], upstream, downstream, f"east.{key[0]}", *run)


# --------------------------------------------------------------------------- checkpoint mode


def test_a_stretch_the_target_grew_by_exactly_gives_an_exact_sync_with_a_run() -> None:
    # Given a target partition that ends at 500 when the source partition is assigned
    target = FakeTarget({TARGET_KEY: 500})
    syncs, written = recorder(target)
    syncs.assigned([KEY])
    assert target.reads == [[TARGET_KEY]]  # the baseline is read at once, by target name
    # When 10 records from source offsets 40..49 are acknowledged, and the target grew by 10
    syncs.checkpointed(KEY, 10, 40, 49)
    target.grow(TARGET_KEY, 10)
    count = syncs.sync()
    # Then one sync says 49 is at 509, and that 40..49 went one to one from 500 on
    assert count == 1
    assert written == [sync(49, 509, run=(40, 500))]
    assert written[0].in_run(43) == 503


def test_several_checkpoints_before_a_sync_count_as_one_stretch() -> None:
    # Given two checkpoints (40..44, then 45..49) before the sync
    target = FakeTarget({TARGET_KEY: 500})
    syncs, written = recorder(target)
    syncs.assigned([KEY])
    syncs.checkpointed(KEY, 5, 40, 44)
    syncs.checkpointed(KEY, 5, 45, 49)
    target.grow(TARGET_KEY, 10)
    # When the sync runs
    syncs.sync()
    # Then the whole stretch is one verified run
    assert written == [sync(49, 509, run=(40, 500))]


def test_a_target_that_grew_by_more_gives_no_sync_and_the_next_stretch_starts_there() -> None:
    # Given a target partition another producer writes to as well
    target = FakeTarget({TARGET_KEY: 500})
    syncs, written = recorder(target)
    syncs.assigned([KEY])
    # When kmirror wrote 10 records but the partition grew by 13
    syncs.checkpointed(KEY, 10, 40, 49)
    target.grow(TARGET_KEY, 13)
    # Then no pair is known to be exact: nothing is written
    assert syncs.sync() == 0
    assert written == []
    # When the next stretch (50..54) is written with nobody else writing
    syncs.checkpointed(KEY, 5, 50, 54)
    target.grow(TARGET_KEY, 5)
    syncs.sync()
    # Then it is verified from the new end (513), not from the old baseline
    assert written == [sync(54, 517, run=(50, 513))]


def test_a_target_that_grew_by_less_gives_no_sync() -> None:
    # Given a target partition that lost records (or an end read too early)
    target = FakeTarget({TARGET_KEY: 500})
    syncs, written = recorder(target)
    syncs.assigned([KEY])
    syncs.checkpointed(KEY, 10, 40, 49)
    target.grow(TARGET_KEY, 9)
    # Then nothing is claimed
    assert syncs.sync() == 0
    assert written == []


def test_a_gap_in_source_offsets_gives_a_sync_without_a_run() -> None:
    # Given 3 records from source offsets 10..14 (two offsets are transaction markers)
    target = FakeTarget({TARGET_KEY: 0})
    syncs, written = recorder(target)
    syncs.assigned([KEY])
    syncs.checkpointed(KEY, 3, 10, 14)
    target.grow(TARGET_KEY, 3)
    # When the sync runs
    syncs.sync()
    # Then the last record's pair is exact, but no run is claimed over the gap
    assert written == [sync(14, 2)]
    assert written[0].run_upstream == -1
    assert written[0].in_run(12) is None


def test_a_gap_between_two_checkpoints_also_gives_no_run() -> None:
    target = FakeTarget({TARGET_KEY: 0})
    syncs, written = recorder(target)
    syncs.assigned([KEY])
    syncs.checkpointed(KEY, 3, 10, 12)
    syncs.checkpointed(KEY, 3, 20, 22)  # 13..19 not mirrored (filtered, or compacted away)
    target.grow(TARGET_KEY, 6)
    syncs.sync()
    assert written == [sync(22, 5)]


def test_no_records_written_means_no_sync() -> None:
    target = FakeTarget({TARGET_KEY: 500})
    syncs, written = recorder(target)
    syncs.assigned([KEY])
    target.grow(TARGET_KEY, 7)  # another producer only
    assert syncs.sync() == 0
    assert written == []


# --------------------------------------------------------------------------- one per slot


def test_back_to_back_stretches_are_written_once_per_slot_and_their_runs_join() -> None:
    # Given a first stretch 0..9 verified and written at t
    clock = FakeClock()
    start_s = clock.now_s
    target = FakeTarget({TARGET_KEY: 100})
    syncs, written = recorder(target, clock)
    syncs.assigned([KEY])
    syncs.checkpointed(KEY, 10, 0, 9)
    target.grow(TARGET_KEY, 10)
    assert syncs.sync() == 1
    assert written == [sync(9, 109, run=(0, 100))]
    # When the next stretch 10..19 is verified 2 s later
    clock.now_s = start_s + 2
    syncs.checkpointed(KEY, 10, 10, 19)
    target.grow(TARGET_KEY, 10)
    # Then nothing more is written within the same slot
    assert syncs.sync() == 0
    clock.now_s = start_s + FINE_SLOT_S - 0.5
    assert syncs.sync() == 0
    assert len(written) == 1
    # When the slot has passed
    clock.now_s = start_s + FINE_SLOT_S
    assert syncs.sync() == 1
    # Then the newest pair is written, its run reaching back over both stretches
    assert written[1] == sync(19, 119, run=(0, 100))
    # And nothing is written again for the same pair
    clock.now_s += 10 * FINE_SLOT_S
    assert syncs.sync() == 0
    assert len(written) == 2


def test_partitions_have_their_own_slots() -> None:
    # Given two partitions, the first just written
    clock = FakeClock()
    target = FakeTarget()
    syncs, written = recorder(target, clock)
    syncs.exact_pair(("orders", 0), 5, 105)
    syncs.sync()
    # When the second gets its first pair within the same slot
    clock.now_s += 1
    syncs.exact_pair(("orders", 1), 7, 207)
    syncs.sync()
    # Then it is written at once
    assert written == [sync(5, 105), sync(7, 207, key=("orders", 1))]


def test_the_last_pair_of_a_partition_let_go_is_written_within_the_slot() -> None:
    # Given two partitions written at t, each with a newer pair 1 s later (not due yet)
    clock = FakeClock()
    syncs, written = recorder(FakeTarget(), clock)
    other = ("orders", 1)
    syncs.exact_pair(KEY, 4_999, 4_999, run=(0, 0))
    syncs.exact_pair(other, 9, 209)
    assert syncs.sync() == 2
    clock.now_s += 1
    syncs.exact_pair(KEY, 9_999, 10_000, run=(5_000, 5_001))  # (a transaction marker between)
    syncs.exact_pair(other, 19, 219)
    assert syncs.sync() == 0
    # When the first is let go (revoked, or the mirror stops cleanly)
    assert syncs.sync(last_for=[KEY]) == 1
    # Then its newest pair is written at once (a group translated later resumes exactly where
    # the records ended, not at 4,999 with 5,000 records to read again); the other waits
    assert written[2:] == [sync(9_999, 10_000, run=(5_000, 5_001))]
    # And a pair already written is not written again
    assert syncs.sync(last_for=[KEY]) == 0


# --------------------------------------------------------------------------- exact_pair


def test_exact_pair_ignores_pairs_not_newer_than_the_newest() -> None:
    # Given a pair for source offset 10
    syncs, written = recorder(FakeTarget())
    syncs.exact_pair(KEY, 10, 110)
    # When an older and an equal upstream arrive (late acknowledgements)
    syncs.exact_pair(KEY, 5, 105)
    syncs.exact_pair(KEY, 10, 999)
    syncs.sync()
    # Then the newest pair stands
    assert written == [sync(10, 110)]


def test_exact_pair_joins_a_run_that_continues_the_previous_one() -> None:
    # Given a verified run 0..9 -> 100..109
    syncs, written = recorder(FakeTarget())
    syncs.exact_pair(KEY, 9, 109, run=(0, 100))
    # When the next run starts right after it on both sides
    syncs.exact_pair(KEY, 19, 119, run=(10, 110))
    syncs.sync()
    # Then one longer run is kept
    assert written == [sync(19, 119, run=(0, 100))]


def test_exact_pair_does_not_join_runs_with_a_hole_between_them() -> None:
    syncs, written = recorder(FakeTarget())
    syncs.exact_pair(KEY, 9, 109, run=(0, 100))
    syncs.exact_pair(KEY, 19, 120, run=(10, 111))  # one target offset in between
    syncs.sync()
    assert written == [sync(19, 120, run=(10, 111))]


# --------------------------------------------------------------------------- forget


def test_forget_drops_a_partition() -> None:
    # Given a partition with a pair waiting and a stretch counted
    target = FakeTarget({TARGET_KEY: 0})
    syncs, written = recorder(target)
    syncs.assigned([KEY])
    syncs.exact_pair(KEY, 3, 3)
    syncs.checkpointed(KEY, 5, 4, 8)
    target.grow(TARGET_KEY, 9)
    # When it is no longer owned
    syncs.forget([KEY])
    # Then nothing is written for it
    assert syncs.sync() == 0
    assert written == []


def test_a_late_checkpoint_for_a_forgotten_partition_writes_nothing() -> None:
    # Given a partition forgotten after a revocation
    target = FakeTarget({TARGET_KEY: 0})
    syncs, written = recorder(target)
    syncs.assigned([KEY])
    syncs.forget([KEY])
    # When acknowledgements of its last records still arrive (no baseline is known now)
    syncs.checkpointed(KEY, 5, 0, 4)
    target.grow(TARGET_KEY, 5)
    # Then no pair is claimed
    assert syncs.sync() == 0
    assert written == []


def test_forget_leaves_other_partitions_alone() -> None:
    syncs, written = recorder(FakeTarget())
    syncs.exact_pair(("orders", 0), 3, 103)
    syncs.exact_pair(("orders", 1), 4, 204)
    syncs.forget([("orders", 0), ("orders", 9)])
    syncs.sync()
    assert written == [sync(4, 204, key=("orders", 1))]


# --------------------------------------------------------------------------- target unreachable


def test_an_unreachable_target_writes_nothing_and_does_not_raise() -> None:
    # Given a target whose end offsets cannot be read
    target = FakeTarget()
    syncs, written = recorder(target)
    # When a partition is assigned, records are checkpointed and syncs are due
    syncs.assigned([KEY])
    syncs.checkpointed(KEY, 10, 0, 9)
    # Then nothing is written, and nothing raises
    assert syncs.sync() == 0
    assert syncs.sync() == 0
    assert written == []


def test_a_stretch_without_a_baseline_is_not_claimed_when_the_target_comes_back() -> None:
    # Given records written while the target's end could not be read
    target = FakeTarget()
    syncs, written = recorder(target)
    syncs.assigned([KEY])
    syncs.checkpointed(KEY, 10, 0, 9)
    syncs.sync()
    # When the target answers again (at 10)
    target.ends[TARGET_KEY] = 10
    # Then that stretch is not claimed (nothing says where it started)
    assert syncs.sync() == 0
    # And the next one is verified from there
    syncs.checkpointed(KEY, 5, 10, 14)
    target.grow(TARGET_KEY, 5)
    syncs.sync()
    assert written == [sync(14, 14, run=(10, 10))]


def test_a_stretch_spanning_a_failed_read_is_verified_as_a_whole() -> None:
    # Given a baseline of 500, then one end read that fails mid-way
    target = FakeTarget({TARGET_KEY: 500})
    syncs, written = recorder(target)
    syncs.assigned([KEY])
    syncs.checkpointed(KEY, 5, 0, 4)
    del target.ends[TARGET_KEY]
    assert syncs.sync() == 0
    # When the target answers again after 5 more records (10 since the baseline)
    syncs.checkpointed(KEY, 5, 5, 9)
    target.ends[TARGET_KEY] = 510
    syncs.sync()
    # Then both checkpoints count, from the baseline read before the failure
    assert written == [sync(9, 509, run=(0, 500))]


def test_a_sync_asks_only_for_partitions_written_since_the_last_read() -> None:
    # Given two partitions assigned, the second one's target not ready (no end offset)
    other, other_target = ("orders", 1), ("east.orders", 1)
    target = FakeTarget({TARGET_KEY: 500})
    syncs, written = recorder(target)
    syncs.assigned([KEY, other])
    assert target.reads == [[TARGET_KEY, other_target]]
    # When only the first one is written to
    syncs.checkpointed(KEY, 5, 0, 4)
    target.grow(TARGET_KEY, 5)
    syncs.sync()
    # Then the sync reads its end alone (at 10,000 partitions, thousands not ready yet were
    # asked for at every sync), and a later assignment reads the new partitions alone
    assert target.reads[1:] == [[TARGET_KEY]] and written == [sync(4, 504, run=(0, 500))]
    syncs.assigned([("orders", 2)])
    assert target.reads[2:] == [[("east.orders", 2)]]


def test_end_offsets_read_at_assignment_are_the_baselines_without_a_second_read() -> None:
    # Given two partitions assigned with the end offset of one's target read just before
    # (the target gate's answer); the other's target did not answer
    other, other_target = ("orders", 1), ("east.orders", 1)
    target = FakeTarget({TARGET_KEY: 500, other_target: 700})
    syncs, written = recorder(target)
    syncs.assigned([KEY, other], ends={KEY: 500})
    # Then the target is not asked again
    assert target.reads == []
    # And a stretch of the first is verified from that baseline; the other's first stretch
    # only gives it its baseline (nothing is claimed without one)
    syncs.checkpointed(KEY, 10, 0, 9)
    syncs.checkpointed(other, 10, 0, 9)
    target.grow(TARGET_KEY, 10)
    target.grow(other_target, 10)
    syncs.sync()
    assert written == [sync(9, 509, run=(0, 500))]
