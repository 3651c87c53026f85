"""The per-second topic id check: what the watch asks the stream to do (no broker)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from kmirror.errors import MirrorError
from kmirror.mirror import topic_watch
from kmirror.mirror.jobs import Scheduler
from kmirror.mirror.partitions import Key, Partitions
from kmirror.mirror.topic_watch import TOPIC_CHECK_S, TopicWatch
from kmirror.mirror.tracker import OffsetTracker
from kmirror.topics.lineage import MIRROR, SOURCE_RECREATED, UNVERIFIED, LineageGuard, Verdict

A0, A1, B0 = ("a", 0), ("a", 1), ("b", 0)


@dataclass
class FakeLineage:
    """Answers the cheap check with the verdicts a test sets (a topic left out: gone)."""

    verdicts: dict[str, Verdict] = field(default_factory=dict)
    fail: bool = False
    asked: list[set[str]] = field(default_factory=list)

    def check(self, topics: Iterable[str], full: bool = True) -> dict[str, Verdict]:
        assert not full
        self.asked.append(set(topics))
        if self.fail:
            raise MirrorError("source: no answer")
        return dict(self.verdicts)


@dataclass
class Actions:
    done: list[tuple[Any, ...]] = field(default_factory=list)

    def suspend(self, topic: str, keys: list[Key]) -> None:
        self.done.append(("suspend", topic, sorted(keys)))

    def resume(self, keys: list[Key]) -> None:
        self.done.append(("resume", sorted(keys)))

    def refuse(self, keys: list[Key], verdict: Verdict) -> None:
        self.done.append(("refuse", sorted(keys), verdict.message))


def _watch(*keys: Key) -> tuple[TopicWatch, FakeLineage, Actions, Partitions, OffsetTracker]:
    lineage, actions, parts, tracker = FakeLineage(), Actions(), Partitions(), OffsetTracker()
    parts.assign(keys)
    watch = TopicWatch(cast(LineageGuard, lineage), parts, tracker, "source 'src'", actions)
    return watch, lineage, actions, parts, tracker


def test_a_gone_topic_is_suspended_and_resumed_when_the_same_topic_is_back() -> None:
    watch, lineage, actions, parts, _ = _watch(A0, A1, B0)
    lineage.verdicts = {"b": Verdict("b", MIRROR)}  # topic a is gone
    watch.check(0.0)
    assert actions.done == [("suspend", "a", [A0, A1])]
    parts.suspend([A0, A1])  # (what the stream's action does)
    lineage.verdicts = {"a": Verdict("a", MIRROR), "b": Verdict("b", MIRROR)}
    watch.check(TOPIC_CHECK_S)
    assert actions.done[-1] == ("resume", [A0, A1])
    assert parts.may_send(A0)


def test_the_check_runs_at_most_once_a_second_and_survives_an_unanswered_source() -> None:
    watch, lineage, actions, _, _ = _watch(A0)
    lineage.fail = True
    watch.check(10.0)
    watch.check(10.5)  # not due yet
    assert len(lineage.asked) == 1 and actions.done == []
    lineage.fail = False
    lineage.verdicts = {"a": Verdict("a", MIRROR)}
    watch.check(11.0)
    assert len(lineage.asked) == 2 and actions.done == []


def test_a_refused_topic_is_refused_with_what_was_copied_since_the_last_good_check() -> None:
    watch, lineage, actions, parts, tracker = _watch(A0, A1)
    tracker.mark_committed({A0: 10, A1: 10})
    for key in (A0, A1):
        tracker.track(*key).consumed(19)
    lineage.verdicts = {"a": Verdict("a", MIRROR)}
    watch.check(0.0)  # vouches offset 19 of both
    tracker.track(*A0).consumed(25)
    lineage.verdicts = {"a": Verdict("a", SOURCE_RECREATED, "topic a was created again")}
    watch.check(TOPIC_CHECK_S)
    assert actions.done == [("refuse", [A0, A1], "topic a was created again")]
    message = watch.refusal_message([A0, A1], lineage.verdicts["a"])
    assert message == ("topic a was created again; copied since the last check that saw the "
                       "old topic, and so possibly from the new one: partition 0 offsets 20..25")
    parts.refuse([A0, A1], message)
    assert not parts.may_send(A0) and parts.committable({A0: 26}) == {}


def test_an_unverified_topic_goes_on_but_vouches_nothing() -> None:
    watch, lineage, actions, parts, tracker = _watch(A0)
    tracker.mark_committed({A0: 5})
    tracker.track(*A0).consumed(9)
    lineage.verdicts = {"a": Verdict("a", UNVERIFIED)}
    watch.check(0.0)
    assert actions.done == []
    part = parts.get(A0)
    assert part is not None and part.vouched is None
    assert "offsets 5..9" in watch.refusal_message([A0], Verdict("a", SOURCE_RECREATED, "x"))


def test_a_topic_created_again_with_its_target_topic_stops_while_assigned() -> None:
    watch, lineage, actions, _, _ = _watch(A0)
    lineage.verdicts = {"a": Verdict("a", MIRROR, new_source=True)}
    watch.check(0.0)
    [(kind, keys, message)] = actions.done
    assert kind == "refuse" and keys == [A0]
    assert "deleted and created again while mirroring, and its target topic too" in message


def _background(*keys: Key) -> tuple[TopicWatch, FakeLineage, Actions, Partitions,
                                     OffsetTracker, Scheduler]:
    lineage, actions, parts, tracker = FakeLineage(), Actions(), Partitions(), OffsetTracker()
    parts.assign(keys)
    jobs = Scheduler(lambda problem: None)
    watch = TopicWatch(cast(LineageGuard, lineage), parts, tracker, "source 'src'", actions,
                       jobs)
    jobs.start()
    return watch, lineage, actions, parts, tracker, jobs


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5.0
    while not condition():
        assert time.monotonic() < deadline, "the topic-ids job did not answer within 5 s"
        time.sleep(0.005)


def test_on_a_job_the_loop_never_waits_and_applies_the_answer_at_its_next_turn() -> None:
    watch, lineage, actions, parts, tracker, jobs = _background(A0, B0)
    try:
        tracker.mark_committed({A0: 10})
        tracker.track(*A0).consumed(19)
        lineage.verdicts = {"a": Verdict("a", MIRROR)}  # topic b is gone
        gate = threading.Event()
        check = lineage.check

        def slow_check(topics: Iterable[str], full: bool = True) -> dict[str, Verdict]:
            gate.wait(5.0)  # (a source slow to answer)
            return check(topics, full)

        lineage.check = slow_check  # type: ignore[method-assign]
        watch.check(0.0)  # handed to the job: nothing decided yet
        tracker.track(*A0).consumed(25)  # (read while the job asks)
        watch.check(0.5)
        assert actions.done == [] and lineage.asked == []
        gate.set()
        _until(lambda: len(lineage.asked) == 1)
        _until(lambda: (watch.check(0.6), actions.done)[1] != [])
        assert actions.done == [("suspend", "b", [B0])]
        part = parts.get(A0)
        assert part is not None and part.vouched == 19  # (what was read when it was asked)
    finally:
        jobs.stop()


def test_an_answer_about_a_partition_let_go_meanwhile_is_not_acted_on() -> None:
    watch, lineage, actions, parts, _, jobs = _background(A0, B0)
    try:
        lineage.verdicts = {}  # both topics gone
        watch.check(0.0)
        _until(lambda: len(lineage.asked) == 1)
        parts.let_go([B0])  # (revoked before the loop's next turn)
        _until(lambda: (watch.check(0.1), actions.done)[1] != [])
        assert actions.done == [("suspend", "a", [A0])]
    finally:
        jobs.stop()


def test_a_stream_with_many_partitions_checks_its_topics_in_turn(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topic_watch, "PARTITIONS_PER_CHECK", 4)
    keys = [(topic, p) for topic in ("a", "b", "c", "d", "e") for p in range(2)]
    watch, lineage, actions, _, _ = _watch(*keys)
    lineage.verdicts = {t: Verdict(t, MIRROR) for t in "abcde"}
    for second in range(4):
        watch.check(second * TOPIC_CHECK_S)
    # two topics of two partitions per check, on from where the last one stopped
    assert lineage.asked == [{"a", "b"}, {"c", "d"}, {"e", "a"}, {"b", "c"}]
    lineage.verdicts.pop("d")  # gone: noticed when its turn comes
    watch.check(4 * TOPIC_CHECK_S)
    assert actions.done == [("suspend", "d", [("d", 0), ("d", 1)])]


def test_a_topic_larger_than_a_check_is_checked_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topic_watch, "PARTITIONS_PER_CHECK", 4)
    keys = [("big", p) for p in range(6)] + [("small", 0)]
    watch, lineage, _, _, _ = _watch(*keys)
    lineage.verdicts = {"big": Verdict("big", MIRROR), "small": Verdict("small", MIRROR)}
    for second in range(3):
        watch.check(second * TOPIC_CHECK_S)
    assert lineage.asked == [{"big"}, {"small"}, {"big"}]
