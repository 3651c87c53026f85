"""SourceReader.poll_batch over a fake consumer (monkeypatched in place of confluent-kafka's):
records come up as plain tuples, and an error among them comes after the records before it,
the rest waiting for the next poll, so order is kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError

import kmirror.kafka.reader as reader_module
from kmirror.kafka.reader import SourceReader


@dataclass
class Message:
    topic_: str | None
    partition_: int
    offset_: int
    error_: KafkaError | None = None

    def topic(self) -> str | None:
        return self.topic_

    def partition(self) -> int:
        return self.partition_

    def offset(self) -> int:
        return self.offset_

    def key(self) -> bytes:
        return b"k%d" % self.offset_

    def value(self) -> bytes:
        return b"v"

    def headers(self) -> list[tuple[str, bytes]] | None:
        return [("h", b"1")] if self.offset_ % 2 else None

    def timestamp(self) -> tuple[int, int]:
        return (1, 1000 + self.offset_)

    def error(self) -> KafkaError | None:
        return self.error_


class FakeConsumer:
    batches: ClassVar[list[list[Message]]] = []  # what the next consume() calls return

    def __init__(self, config: dict[str, Any]) -> None:
        self.polls = 0

    def consume(self, n: int, timeout: float) -> list[Message]:
        return FakeConsumer.batches.pop(0) if FakeConsumer.batches else []

    def poll(self, timeout: float) -> Message | None:
        self.polls += 1
        return None


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch) -> SourceReader:
    monkeypatch.setattr(reader_module, "Consumer", FakeConsumer)
    return SourceReader({"bootstrap.servers": "x", "group.id": "g"}, "source")


def test_records_come_up_as_tuples(reader: SourceReader) -> None:
    FakeConsumer.batches = [[Message("t", 0, 5), Message("t", 1, 6)]]
    records, error = reader.poll_batch(10, 0.0)
    assert error is None
    assert records == [("t", 0, 5, b"k5", b"v", [("h", b"1")], 1005),
                       ("t", 1, 6, b"k6", b"v", None, 1006)]


def test_an_error_comes_after_the_records_before_it_and_the_rest_waits(
    reader: SourceReader,
) -> None:
    reset = KafkaError(KafkaError._AUTO_OFFSET_RESET, "out of range")
    fatal = KafkaError(KafkaError._FATAL, "fenced", fatal=True)
    FakeConsumer.batches = [[Message("t", 0, 1), Message("t", 1, -1, reset),
                             Message("t", 0, 2), Message(None, -1, -1, fatal),
                             Message("t", 0, 3)]]
    records, error = reader.poll_batch(10, 0.0)
    assert [r[2] for r in records] == [1]
    assert error is not None and error.offset_reset and (error.topic, error.partition) == ("t", 1)
    records, error = reader.poll_batch(10, 0.0)  # (what was held, without a new consume)
    assert [r[2] for r in records] == [2]
    assert error is not None and error.fatal and error.topic is None
    records, error = reader.poll_batch(10, 0.0)
    assert [r[2] for r in records] == [3] and error is None
    assert reader.poll_batch(10, 0.0) == ([], None)
