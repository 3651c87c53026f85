"""The lineage verdicts (which source topic a target topic copies) with fakes behind the
guard's seams."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from kmirror.errors import MirrorError
from kmirror.topics.lineage import (
    CLAIM,
    MIRROR,
    SOURCE_RECREATED,
    TARGET_DELETED,
    Lineage,
    LineageGuard,
    decode,
    judge,
)


class FakeCluster:
    def __init__(self, ids: dict[str, str]) -> None:
        self.ids = ids
        self.calls = 0

    def topic_ids(self, names: Iterable[str]) -> dict[str, str]:
        self.calls += 1
        return {n: self.ids[n] for n in names if n in self.ids}

    def topics(self) -> dict[str, int]:
        return {n: 2 for n in self.ids}

    def end_offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {k: 250 for k in partitions}


class FakeStore:
    def __init__(self, fail: bool = False) -> None:
        self.kept: dict[bytes, Lineage] = {}
        self.reads = 0
        self.fail = fail

    def read(self) -> dict[bytes, Lineage]:
        self.reads += 1
        return dict(self.kept)

    def write(self, lineages: Iterable[Lineage]) -> None:
        if self.fail:
            raise MirrorError("target cluster: cannot write to topic kmirror.source-topics")
        for lineage in lineages:
            self.kept[lineage.key()] = lineage


class Down(FakeCluster):
    def topic_ids(self, names: Iterable[str]) -> dict[str, str]:
        raise MirrorError("target cluster: cannot describe topic east.t: timed out")


def _guard(source: FakeCluster, target: FakeCluster, store: FakeStore,
           recreate: bool = False) -> LineageGuard:
    return LineageGuard(source, target, store, source_cluster=lambda: "src-id", source_alias="east",
                        label="source cluster 'east'", target_label="target cluster (t:9092)",
                        rename=lambda t: f"east.{t}", recreate_target=recreate,
                        clock=lambda: 1_800_000_000.0)


def _mirrored(refused: bool = False) -> tuple[FakeCluster, FakeCluster, FakeStore,
                                               LineageGuard]:
    """Topic t of the source mirrored into east.t, its lineage claimed (``refused``: the
    store refused to keep it)."""
    source, target = FakeCluster({"t": "S1"}), FakeCluster({"east.t": "T1"})
    store = FakeStore(fail=refused)
    guard = _guard(source, target, store)
    guard.check(["t"])
    if refused:
        with pytest.raises(MirrorError):
            guard.claim()
    else:
        guard.claim()
    return source, target, store, guard


@pytest.mark.parametrize(("stored", "target", "recreate", "want"), [
    (None, "T1", False, (CLAIM, False)),                       # first mirror
    (("S1", "T1"), "T1", False, (MIRROR, False)),              # as before
    (("S0", "T1"), "T1", False, (SOURCE_RECREATED, True)),     # source created again
    (("S1", "T0"), "T1", False, (CLAIM, False)),               # target created again by someone
    (("S1", "T1"), None, False, (TARGET_DELETED, False)),      # target deleted while mirroring
    (("S1", "T1"), None, True, (CLAIM, False)),                # ... and --recreate.target.topics
    (("S0", "T1"), None, False, (CLAIM, True)),                # both new: a fresh mirror
])
def test_judge_follows_the_table(stored: tuple[str, str] | None, target: str | None,
                                 recreate: bool, want: tuple[str, bool]) -> None:
    known = None if stored is None else Lineage("c", "east", "t", stored[0], "east.t",
                                                stored[1], 0)
    assert judge(known, "S1", target, recreate) == want


def test_a_first_mirror_is_claimed_once_the_target_topic_exists_then_judged_from_memory() -> None:
    source, target, store = FakeCluster({"t": "S1"}), FakeCluster({}), FakeStore()
    guard = _guard(source, target, store)
    # A topic never mirrored: claimed, but written only once its target topic exists
    assert guard.check(["t"])["t"].kind == CLAIM
    assert guard.claim() == [] and store.kept == {}
    target.ids["east.t"] = "T1"
    [written] = guard.claim()
    assert (written.source_topic_id, written.target_topic, written.target_topic_id,
            written.since_ms) == ("S1", "east.t", "T1", 1_800_000_000_000)
    # Then the next checks need no store read: the ids are as judged
    reads = store.reads
    assert guard.check(["t"])["t"].kind == MIRROR
    assert guard.check(["t"], full=False)["t"].kind == MIRROR
    assert store.reads == reads
    # And the cheap check does not even ask the target
    calls = target.calls
    guard.check(["t"], full=False)
    assert target.calls == calls


def test_a_source_topic_created_again_is_refused_with_what_the_target_holds() -> None:
    source, target, store, running = _mirrored()
    # When the source topic gets a new id: seen by the running guard's cheap check, and by a
    # restarted one (from the store)
    source.ids["t"] = "S2"
    for guard, full in ((running, False), (_guard(source, target, store), True)):
        verdict = guard.check(["t"], full=full)["t"]
        assert (verdict.kind, verdict.allowed, verdict.new_source) == (
            SOURCE_RECREATED, False, True)
        assert verdict.message is not None
        assert "topic t: the topic was deleted and created again" in verdict.message
        assert "its id was S1" in verdict.message and "it is now S2" in verdict.message
        assert "Target topic east.t in the target cluster (t:9092) holds 500 records" in (
            verdict.message)
        assert "kafka-topics.sh --delete --topic east.t" in verdict.message


def test_after_the_old_copy_is_deleted_the_new_topic_is_claimed_as_new() -> None:
    source, target, store, _ = _mirrored()
    source.ids["t"] = "S2"
    del target.ids["east.t"]
    verdict = _guard(source, target, store).check(["t"])["t"]
    assert (verdict.kind, verdict.new_source) == (CLAIM, True)  # starts over, not at offsets


def test_a_source_topic_that_is_gone_gets_no_verdict() -> None:
    guard = _guard(FakeCluster({}), FakeCluster({}), FakeStore())
    assert guard.check(["t"]) == {}


def test_without_a_writable_store_the_process_still_remembers() -> None:
    source, _, _, guard = _mirrored(refused=True)
    source.ids["t"] = "S2"
    assert guard.check(["t"], full=False)["t"].kind == SOURCE_RECREATED


def test_records_round_trip_and_unknown_formats_are_ignored() -> None:
    lineage = Lineage("c", "east", "t", "S1", "east.t", "T1", 5)
    key, value = lineage.encode()
    assert key == lineage.key()
    assert decode(value) == lineage
    assert decode(None) is None
    assert decode(b'{"v": 99}') is None
    assert decode(b"not json") is None


def test_a_target_that_does_not_answer_leaves_topics_unverified_and_asked_again() -> None:
    source, store = FakeCluster({"t": "S1"}), FakeStore()
    guard = _guard(source, Down({}), store)
    verdict = guard.check(["t"])["t"]
    assert (verdict.kind, verdict.allowed) == ("unverified", True)
    assert guard.target_problem is not None and "timed out" in guard.target_problem
    assert guard.claim() == []  # nothing was judged, so nothing is claimed
    # The cheap check asks again (the topic was never judged)
    guard._target = FakeCluster({"east.t": "T1"})
    assert guard.check(["t"], full=False)["t"].kind == "claim"


def test_a_new_source_id_is_refused_from_memory_while_the_target_does_not_answer() -> None:
    source, _, _, guard = _mirrored()
    guard._target = Down({})
    source.ids["t"] = "S2"
    verdict = guard.check(["t"], full=False)["t"]
    assert (verdict.kind, verdict.allowed) == (SOURCE_RECREATED, False)
    assert verdict.message is not None and "holds the records copied" in verdict.message


def test_an_unreadable_store_never_leads_to_a_claim_and_is_not_read_every_time() -> None:
    class Unreadable(FakeStore):
        def read(self) -> dict[bytes, Lineage]:
            self.reads += 1
            raise MirrorError("target cluster, topic kmirror.source-topics: not authorized")

    source, target, store = FakeCluster({"t": "S1"}), FakeCluster({"east.t": "T1"}), Unreadable()
    guard = _guard(source, target, store)
    assert guard.check(["t"])["t"].kind == "unverified"  # (a stored lineage may say otherwise)
    assert guard.claim() == [] and store.kept == {}
    guard.check(["t"])
    assert store.reads == 1  # asked again only after STORE_RETRY_S
    warnings: list[str] = []
    guard.keep(warnings.append)
    assert len(warnings) == 1 and "not authorized" in warnings[0]


def test_a_claim_the_target_refuses_is_written_at_the_next_call() -> None:
    _, _, store, guard = _mirrored(refused=True)
    store.fail = False
    [written] = guard.claim()
    assert written.source_topic_id == "S1" and store.kept


def test_a_target_topic_created_and_claimed_during_the_check_is_mirrored_not_refused() -> None:
    # Given a new topic the stream judges while the supervisor's topic refresh creates its
    # target topic and claims it: the claim is in the store the stream reads, but the target
    # topic was not there yet when the stream asked for the target's ids
    source, target = FakeCluster({"t": "S1"}), FakeCluster({})
    claimed = FakeStore()
    supervisor = _guard(source, target, claimed)

    class ClaimedDuringTheRead(FakeStore):
        def read(self) -> dict[bytes, Lineage]:
            if not claimed.kept:
                assert supervisor.check(["t"])["t"].kind == CLAIM
                target.ids["east.t"] = "T1"
                supervisor.claim()
            return dict(claimed.kept)

    stream = _guard(source, target, ClaimedDuringTheRead())
    # Then the topic is mirrored, not refused as a deleted target topic
    verdict = stream.check(["t"])["t"]
    assert (verdict.kind, verdict.allowed) == (MIRROR, True)
