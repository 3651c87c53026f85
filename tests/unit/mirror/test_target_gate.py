"""Partitions wait for their target partitions (mirror/target_gate.py): nothing is sent for a
partition whose target partition is not led yet, and it starts on its own as soon as it is,
from its first record, whatever the others do. Real brokers: the 10,000-partition run of
bench/scale.py (docs/benchmarks.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.unit.mirror.stream_fakes import FakeReader, FakeWriter, harness, record, settings_for

from kmirror.errors import MirrorError
from kmirror.mirror import target_gate
from kmirror.mirror.partitions import Key, Partitions
from kmirror.mirror.target_gate import CHECK_INTERVAL_S, TargetGate

A0, A1, B0 = ("a", 0), ("a", 1), ("b", 0)


class Target:
    """Which target partitions are led; every question asked."""

    def __init__(self, led: set[Key]) -> None:
        self.led = led
        self.asked: list[list[Key]] = []
        self.down = False

    def answering(self, keys: list[Key], timeout_s: float) -> dict[Key, int]:
        self.asked.append(sorted(keys))
        if self.down:
            raise MirrorError("target cluster: does not answer")
        return {k: 0 for k in keys if k in self.led}


class Actions:
    def __init__(self) -> None:
        self.went_on: list[list[Key]] = []

    def go_on(self, keys: list[Key]) -> None:
        self.went_on.append(sorted(keys))


def _gate(target: Target) -> tuple[TargetGate, Partitions, Actions]:
    parts, actions = Partitions(), Actions()
    # (target topics are named "copy.<source topic>": the gate asks for the target's names)
    gate = TargetGate(target.answering, parts, lambda k: (f"copy.{k[0]}", k[1]), actions)
    return gate, parts, actions


def test_partitions_whose_target_is_not_led_wait_and_each_goes_on_once_it_is() -> None:
    target = Target({("copy.a", 0)})
    gate, parts, actions = _gate(target)
    parts.assign([A0, A1, B0])
    assert gate.admit([A0, A1, B0]) == [A1, B0]
    assert target.asked == [[("copy.a", 0), ("copy.a", 1), ("copy.b", 0)]]
    assert parts.may_send(A0) and not parts.may_send(A1) and not parts.may_send(B0)
    assert parts.committable({A1: 0}) == {A1: 0}  # (nothing sent: its start may be committed)
    # Asked again at the interval, only for those waiting
    gate.check(0.0)
    assert target.asked[-1] == [("copy.a", 1), ("copy.b", 0)] and actions.went_on == []
    target.led.add(("copy.b", 0))
    gate.check(CHECK_INTERVAL_S / 2)  # (not yet due)
    assert len(target.asked) == 2
    gate.check(CHECK_INTERVAL_S)
    assert actions.went_on == [[B0]] and parts.may_send(B0) and not parts.may_send(A1)
    # A target that does not answer keeps them waiting (asked again later)
    target.down = True
    gate.check(2 * CHECK_INTERVAL_S)
    assert actions.went_on == [[B0]] and parts.waiting == {A1}
    target.down = False
    target.led.add(("copy.a", 1))
    gate.check(3 * CHECK_INTERVAL_S)
    assert actions.went_on == [[B0], [A1]] and parts.waiting == set()
    # Nothing waits: nothing is asked
    gate.check(10.0)
    assert len(target.asked) == 5


def test_a_partition_let_go_while_waiting_is_not_asked_for_any_more() -> None:
    target = Target(set())
    gate, parts, actions = _gate(target)
    parts.assign([A0, A1])
    gate.admit([A0, A1])
    parts.let_go([A0])
    gate.check(0.0)
    assert target.asked[-1] == [("copy.a", 1)]
    target.led.update({("copy.a", 0), ("copy.a", 1)})
    gate.check(1.0)
    assert actions.went_on == [[A1]]


def test_a_stream_sends_nothing_for_a_waiting_partition_and_all_of_it_once_ready(
        tmp_path: Path) -> None:
    # Given two partitions, the target partition of the second one not led yet
    reader = FakeReader(to_assign=[A0, A1])
    for key in (A0, A1):
        reader.log[key] = [record(*key, offset) for offset in range(3)]
    writer = FakeWriter()
    target = Target({A0})
    h = harness(settings_for(tmp_path), reader, writer, answering=target.answering)
    # When the stream runs
    h.turn(3)
    # Then the first is copied; the second waits, paused, and nothing of it is committed past
    # its start
    assert [o for o, _ in writer.written[A0]] == [0, 1, 2] and A1 not in writer.written
    assert A1 in reader.paused
    h.stream._commit()
    assert reader.commits[-1] == {A0: 3}
    # And once its target partition is led, it is copied from its first record, in order
    target.led.add(A1)
    h.stream.gate.check(1.0)
    h.turn(3)
    assert [o for o, _ in writer.written[A1]] == [0, 1, 2] and A1 not in reader.paused
    h.stream._commit()
    assert reader.commits[-1] == {A1: 3}


def test_many_waiting_partitions_are_asked_for_in_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(target_gate, "PARTITIONS_PER_CHECK", 2)
    target = Target(set())
    gate, parts, _ = _gate(target)
    keys = [(t, p) for t in ("a", "b", "c") for p in range(2)]
    parts.assign(keys)
    gate.admit(keys)  # (all asked at once at assignment)
    for i in range(3):
        gate.check(i * CHECK_INTERVAL_S)
    # each check asks one topic's two partitions, in turn
    assert target.asked[1:] == [[("copy.a", 0), ("copy.a", 1)], [("copy.b", 0), ("copy.b", 1)],
                                [("copy.c", 0), ("copy.c", 1)]]


def test_partitions_waiting_a_minute_are_named_in_a_warning_once_a_minute(
        caplog: pytest.LogCaptureFixture) -> None:
    target = Target(set())
    gate, parts, _ = _gate(target)
    parts.assign([A0, A1])
    gate.admit([A0, A1])
    with caplog.at_level(logging.WARNING, logger="kmirror.stream"):
        for i in range(int(2.5 * target_gate.WAIT_WARN_S / CHECK_INTERVAL_S)):
            gate.check(i * CHECK_INTERVAL_S)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].startswith("2 partition(s) still wait for their target partitions (for 60")
    assert "target topic copy.a partition 0" in warnings[0]
