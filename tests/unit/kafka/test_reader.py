"""SourceReader.poll_batch over a fake consumer (monkeypatched in place of confluent-kafka's):
records come up as the client's messages seen through SourceRecord, and an error among them
comes after the records before it, the rest waiting for the next poll, so order is kept."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError, Message

import kmirror.kafka.reader as reader_module
from kmirror.kafka.reader import SourceReader, SourceRecord


def message(topic: str | None, partition: int, offset: int,
            error: KafkaError | None = None) -> Message:
    """A client message as the consumer would return it (confluent-kafka's own type)."""
    if error is not None:
        return Message(topic=topic, partition=partition, offset=offset, error=error)
    return Message(topic=topic, partition=partition, offset=offset, key=b"k%d" % offset,
                   value=b"v", headers=[("h", b"1")] if offset % 2 else None,
                   timestamp=(1, 1000 + offset))


def fields(record: SourceRecord) -> tuple[Any, ...]:
    return (record.topic(), record.partition(), record.offset(), record.key(), record.value(),
            record.headers(), record.timestamp()[1])


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


def test_records_come_up_with_their_fields(reader: SourceReader) -> None:
    FakeConsumer.batches = [[message("t", 0, 5), message("t", 1, 6)]]
    records, error = reader.poll_batch(10, 0.0)
    assert error is None
    assert [fields(r) for r in records] == [("t", 0, 5, b"k5", b"v", [("h", b"1")], 1005),
                       ("t", 1, 6, b"k6", b"v", None, 1006)]


def test_an_error_comes_after_the_records_before_it_and_the_rest_waits(
    reader: SourceReader,
) -> None:
    reset = KafkaError(KafkaError._AUTO_OFFSET_RESET, "out of range")
    fatal = KafkaError(KafkaError._FATAL, "fenced", fatal=True)
    FakeConsumer.batches = [[message("t", 0, 1), message("t", 1, -1, reset),
                             message("t", 0, 2), message(None, -1, -1, fatal),
                             message("t", 0, 3)]]
    records, error = reader.poll_batch(10, 0.0)
    assert [r.offset() for r in records] == [1]
    assert error is not None and error.offset_reset and (error.topic, error.partition) == ("t", 1)
    records, error = reader.poll_batch(10, 0.0)  # (what was held, without a new consume)
    assert [r.offset() for r in records] == [2]
    assert error is not None and error.fatal and error.topic is None
    records, error = reader.poll_batch(10, 0.0)
    assert [r.offset() for r in records] == [3] and error is None
    assert reader.poll_batch(10, 0.0) == ([], None)
