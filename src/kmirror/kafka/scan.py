"""Reading one partition from a start offset to an end offset, in order, in batches.

For `kmirror verify`: no group is joined, nothing is committed. Records come out as plain
tuples ``(offset, key, value, headers, timestamp_ms)`` so the comparison needs no client types.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping

from confluent_kafka import Consumer, KafkaException, TopicPartition

from kmirror.errors import MirrorError
from kmirror.kafka.admin import client_logger

ScannedRecord = tuple[int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...], int]
BATCH = 10_000
IDLE_TIMEOUT_S = 30.0


class PartitionScanner:
    """A consumer (never in a group) that reads partitions one range at a time."""

    def __init__(self, settings: Mapping[str, str], label: str) -> None:
        self.label = label
        self._consumer = Consumer({
            **settings, "group.id": f"kmirror-verify-{uuid.uuid4()}",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest", "isolation.level": "read_committed",
            "enable.partition.eof": True, "fetch.queue.backoff.ms": 5,
            "queued.max.messages.kbytes": 65536, "logger": client_logger(),
        })

    def bounds(self, topic: str, partition: int) -> tuple[int, int]:
        """(log-start, log-end) offsets of a partition."""
        try:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=20
            )
        except KafkaException as exc:
            raise MirrorError(
                f"{self.label}: cannot read the offsets of {topic}[{partition}]: {exc}"
            ) from exc
        return int(low), int(high)

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int:
        """The first offset whose timestamp is at or after ``timestamp_ms`` (-1: none)."""
        found = self._consumer.offsets_for_times(
            [TopicPartition(topic, partition, timestamp_ms)], timeout=20
        )
        return int(found[0].offset)

    def records(
        self, topic: str, partition: int, start: int, end: int
    ) -> Iterator[ScannedRecord]:
        """Records with start <= offset < end, in offset order."""
        if start >= end:
            return
        consumer = self._consumer
        consumer.assign([TopicPartition(topic, partition, start)])
        idle = 0.0
        try:
            while True:
                # What is ready now; else wait for the first record (consume(n, t) alone
                # would wait the whole timeout for every short tail).
                batch = consumer.consume(BATCH, 0)
                if not batch:
                    first = consumer.poll(1.0)
                    batch = [first] if first is not None else []
                if not batch:
                    idle += 1.0
                    if idle >= IDLE_TIMEOUT_S:
                        raise MirrorError(
                            f"{self.label}: {topic}[{partition}] returned nothing for "
                            f"{IDLE_TIMEOUT_S:.0f} s before offset {end}"
                        )
                    continue
                idle = 0.0
                for msg in batch:
                    error = msg.error()
                    if error is not None:
                        if error.code() == -191:  # end of partition: stop at the real end
                            return
                        raise MirrorError(f"{self.label}: {topic}[{partition}]: {error.str()}")
                    offset = msg.offset()
                    if offset >= end:
                        return
                    headers = msg.headers()
                    yield (offset, msg.key(), msg.value(),
                           tuple(headers) if headers else (), msg.timestamp()[1])
                    if offset + 1 >= end:
                        return
        finally:
            consumer.unassign()

    def close(self) -> None:
        """Release the consumer."""
        self._consumer.close()
