"""TargetWriter over a fake producer (monkeypatched in place of confluent-kafka's): the two
waits (room in the queue, then the target's answer), per-record and checkpoint
acknowledgements, and refusals carried up with their meaning (RefusalKind)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import KafkaError

import kmirror.kafka.writer as writer_module
from kmirror.kafka.outcomes import RefusalKind
from kmirror.kafka.writer import QueueFull, TargetWriter


@dataclass
class Delivered:
    topic_: str
    partition_: int
    key_: bytes | None
    value_: bytes | None
    offset_: int

    def topic(self) -> str:
        return self.topic_

    def partition(self) -> int:
        return self.partition_

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_

    def offset(self) -> int:
        return self.offset_

    def timestamp(self) -> tuple[int, int]:
        return (1, 1000)


class FakeProducer:
    """Holds up to ``room`` records; ``poll`` answers them all (refusing values b'bad')."""

    room = 3

    def __init__(self, config: dict[str, Any]) -> None:
        self.report: Callable[..., None] | None = config.get("on_delivery")
        self.only_errors = bool(config.get("delivery.report.only.error"))
        self.queue: list[tuple[Delivered, Callable[..., None] | None]] = []
        self.offset = 0

    def produce(self, topic: str, value: bytes | None, key: bytes | None, partition: int,
                on_delivery: Callable[..., None] | None = None, **_: Any) -> None:
        if len(self.queue) >= self.room:
            raise BufferError("queue full")
        self.queue.append((Delivered(topic, partition, key, value, self.offset), on_delivery))
        self.offset += 1

    def poll(self, timeout: float = 0) -> int:
        waiting, self.queue = self.queue, []
        for msg, callback in waiting:
            err = (KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too large")
                   if msg.value() == b"bad" else None)
            report = callback or self.report
            if report is not None and (err is not None or not self.only_errors):
                report(err, msg)
        return len(waiting)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0

    def __len__(self) -> int:
        return len(self.queue)


@pytest.fixture(autouse=True)
def fake_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "Producer", FakeProducer)


class Track:
    def __init__(self) -> None:
        self.acks: list[int] = []
        self.targets: list[int | None] = []  # where each acknowledged record was written
        self.failures: list[int] = []

    def acked(self, offset: int, target: int | None = None) -> None:
        self.acks.append(offset)
        self.targets.append(target)

    def failed(self, offset: int) -> None:
        self.failures.append(offset)


def test_a_full_queue_is_queue_full_and_per_record_reports_reach_the_track() -> None:
    writer = TargetWriter({"bootstrap.servers": "x"}, 1, "target", per_record_acks=True)
    track = Track()
    for offset in range(3):
        writer.send("t", 0, b"k", b"bad" if offset == 1 else b"v", None, 5, track, offset)
    with pytest.raises(QueueFull):
        writer.send("t", 0, b"k", b"v", None, 5, track, 3)
    assert writer.queued() == 3 and not writer.all_acknowledged()
    writer.poll(0)
    assert track.acks == [0, 2] and track.failures == [1]
    assert track.targets == [0, 2]  # (the target offsets the delivery reports name)
    [failure] = writer.failures
    assert (failure.topic, failure.partition, failure.source_offset) == ("t", 0, 1)
    assert failure.kind is RefusalKind.TOO_LARGE and failure.code == "MSG_SIZE_TOO_LARGE"
    assert writer.all_acknowledged()


def test_checkpoint_mode_reports_refusals_only_with_what_identifies_them() -> None:
    writer = TargetWriter({"bootstrap.servers": "x"}, 1, "target", per_record_acks=False)
    track = Track()
    writer.send("t", 2, b"k1", b"v", None, 5, track, 10)
    writer.send("t", 2, b"k2", b"bad", None, 5, track, 11)
    writer.poll(0)
    assert track.acks == [] and track.failures == []  # (the checkpoint settles them)
    [refusal] = writer.refusals
    assert (refusal.topic, refusal.partition, refusal.key, refusal.size_bytes) == ("t", 2, b"k2", 5)
    assert refusal.kind is RefusalKind.TOO_LARGE
    assert writer.all_acknowledged()


def test_one_source_partition_always_goes_through_the_same_producer() -> None:
    writer = TargetWriter({"bootstrap.servers": "x"}, 4, "target", per_record_acks=True)
    chosen = {id(writer._producer_for("t", p)) for p in range(8) for _ in range(3)}
    assert len(chosen) <= 4
    assert writer._producer_for("t", 5) is writer._producer_for("t", 5)


def test_statistics_are_read_for_the_client_name_and_its_brokers_only() -> None:
    from kmirror.kafka.writer import _stats_value

    stats = json.dumps({"name": "kmirror#producer-1", "client_id": "k",
                        "brokers": {"b1": {"name": "127.0.0.1:9092/1", "txretries": 3},
                                    "b2": {"txretries": 4}},
                        "topics": {"brokers": {"partitions": {"0": {"txretries": 99}}}}},
                       separators=(",", ":"))
    assert _stats_value(stats, "name") == "kmirror#producer-1"
    assert _stats_value(stats, "brokers") == {"b1": {"name": "127.0.0.1:9092/1", "txretries": 3},
                                              "b2": {"txretries": 4}}
    assert _stats_value(stats, "eos") is None and _stats_value('{"brokers":{', "brokers") is None
