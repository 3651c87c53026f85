"""Partition states: what may be sent and committed (the INVARIANT of mirror/partitions.py)."""

from __future__ import annotations

from kmirror.mirror.partitions import Partitions, State

A, B, C = ("t", 0), ("t", 1), ("u", 0)


def _parts(*keys: tuple[str, int]) -> Partitions:
    parts = Partitions()
    parts.assign(keys)
    return parts


def test_assigned_partitions_mirror_send_and_commit() -> None:
    parts = _parts(A, B)
    assert parts.may_send(A) and parts.may_send(B)
    assert parts.committable({A: 5, B: 7}) == {A: 5, B: 7}
    assert sorted(parts.mirroring) == [A, B] and len(parts) == 2


def test_partitions_not_held_neither_send_nor_commit() -> None:
    parts = _parts(A)
    assert not parts.may_send(C)
    assert parts.committable({A: 1, C: 2}) == {A: 1}


def test_a_stopped_partition_commits_but_sends_nothing() -> None:
    # Given a partition whose record the target refused
    parts = _parts(A, B)
    assert parts.stop(A, "refused at 10")
    # Then it sends nothing more, still commits (its track holds the point below the refusal)
    assert not parts.may_send(A) and parts.is_stopped(A)
    assert parts.committable({A: 10}) == {A: 10}
    assert parts.stopped == {A: "refused at 10"}
    # And a second refusal does not stop it again
    assert not parts.stop(A, "again")
    assert parts.mirroring == [B]


def test_a_suspended_partition_neither_sends_nor_commits_until_it_is_back() -> None:
    parts = _parts(A, B)
    assert parts.suspend([A, B]) == [A, B]
    assert parts.suspend([A]) == []  # already suspended
    assert not parts.may_send(A) and parts.committable({A: 3, B: 4}) == {}
    assert parts.is_assigned(A) and len(parts) == 2
    assert parts.unsuspend([A]) == [A]
    assert parts.may_send(A) and parts.committable({A: 3, B: 4}) == {A: 3}


def test_a_stopped_partition_suspended_stays_stopped_when_back() -> None:
    parts = _parts(A)
    parts.stop(A, "refused")
    parts.suspend([A])
    assert parts.committable({A: 1}) == {}
    parts.unsuspend([A])
    assert not parts.may_send(A) and parts.committable({A: 1}) == {A: 1}


def test_a_refused_partition_is_held_never_committed_and_not_counted_as_assigned() -> None:
    # Given a partition refused by its lineage (held before assignment, or while assigned)
    parts = _parts(A)
    parts.vouch(A, 41)
    parts.refuse([A, C], "re-created")
    # Then nothing is sent or committed, and it counts as let go
    assert not parts.may_send(A) and not parts.may_send(C)
    assert parts.committable({A: 1, C: 1}) == {}
    assert not parts.is_assigned(A) and parts.assigned == [] and len(parts) == 0
    assert parts.stopped == {A: "re-created", C: "re-created"}
    part = parts.get(A)
    assert part is not None and part.state is State.REFUSED and part.vouched is None
    # And a revocation forgets it
    parts.let_go([A, C])
    assert parts.get(A) is None and parts.stopped == {}


def test_vouch_remembers_the_highest_offset_seen_with_the_topic_id() -> None:
    parts = _parts(A)
    parts.vouch(A, 99)
    parts.vouch(C, 5)  # not held: ignored
    part = parts.get(A)
    assert part is not None and part.vouched == 99 and parts.get(C) is None


def test_stopped_refused_and_assigned_agree_as_partitions_come_and_go() -> None:
    # Given one partition stopped by a refusal and one then refused by its lineage
    parts = _parts(A, B, C)
    parts.stop(A, "refused at 3")
    parts.stop(B, "refused at 4")
    parts.refuse([B], "re-created")
    # Then each is counted once, where it now stands
    assert parts.stopped == {A: "refused at 3", B: "re-created"}
    assert sorted(parts.assigned) == [A, C] and len(parts) == 2
    # When the group assigns them afresh (a later rebalance) they mirror again
    parts.assign([A, B])
    assert parts.stopped == {} and sorted(parts.assigned) == [A, B, C] and len(parts) == 3
    assert parts.may_send(A) and parts.may_send(B)
    # And partitions let go leave no trace
    parts.stop(C, "refused at 9")
    parts.let_go([C])
    assert parts.stopped == {} and len(parts) == 2
