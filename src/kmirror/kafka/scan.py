"""Reading one partition from a start offset to an end offset, in order, in batches.

For `kmirror verify`, and for reading kmirror's own topics back (``read_to_end``): no group is
joined, nothing is committed. Records come out as plain tuples ``(offset, key, value, headers,
timestamp_ms)`` so nothing above needs client types.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from kmirror.errors import MirrorError
from kmirror.kafka.admin import client_logger
from kmirror.kafka.client_errors import PARTITION_EOF, translated

ScannedRecord = tuple[int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...], int]
BATCH = 10_000
IDLE_TIMEOUT_S = 30.0


class PartitionScanner:
    """A consumer (never in a group) that reads partitions one range at a time."""

    def __init__(self, settings: Mapping[str, str], label: str,
                 fetch_wait_ms: int | None = None, isolation: str = "read_committed") -> None:
        self.label = label
        self._consumer = Consumer({
            **settings, "group.id": f"kmirror-verify-{uuid.uuid4()}",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest", "isolation.level": isolation,
            "enable.partition.eof": True, "fetch.queue.backoff.ms": 5,
            "queued.max.messages.kbytes": 65536, "logger": client_logger(),
            # ``fetch_wait_ms`` (verify: 10): a fetch left waiting for new records (500 ms by
            # default) delays the next partition's offset query, which the broker answers after
            # it on the same connection (~0.5 s per partition: 85 min to verify 10,000
            # partitions; 11 ms per partition with 10). Not for kmirror's own topics: one
            # offset-sync read with it came back short once, not explained yet.
            **({"fetch.wait.max.ms": fetch_wait_ms} if fetch_wait_ms is not None else {}),
        })

    def bounds(self, topic: str, partition: int) -> tuple[int, int]:
        """(log-start, log-end) offsets of a partition."""
        try:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=20
            )
        except KafkaException as exc:
            raise translated(
                MirrorError, f"{self.label}: cannot read the offsets of {topic}[{partition}]: "
                f"{exc}", exc,
            ) from exc
        return int(low), int(high)

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int:
        """The first offset whose timestamp is at or after ``timestamp_ms`` (-1: none)."""
        try:
            found = self._consumer.offsets_for_times(
                [TopicPartition(topic, partition, timestamp_ms)], timeout=20
            )
        except KafkaException as exc:
            raise translated(
                MirrorError, f"{self.label}: cannot find the offset of time {timestamp_ms} in "
                f"{topic}[{partition}]: {exc}", exc,
            ) from exc
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
                batch = _ready(consumer, 1.0)
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
                        if error.code() == PARTITION_EOF:  # stop at the real end
                            return
                        raise translated(
                            MirrorError, f"{self.label}: {topic}[{partition}]: {error.str()}",
                            error)
                    offset = msg.offset()
                    if offset >= end:
                        return
                    yield _scanned(msg)
                    if offset + 1 >= end:
                        return
        finally:
            consumer.unassign()

    def scan(self, starts: Mapping[tuple[str, int], int],
             take: Callable[[tuple[str, int], ScannedRecord], bool],
             deadline: float) -> set[tuple[str, int]]:
        """Read many partitions at once, each from its start offset, in offset order within
        each: every record goes to ``take(partition, record)`` until it returns False (that
        partition is done) or the partition ends (its end as it is now). Returns the
        partitions done or ended before ``deadline`` (``time.monotonic()``); the others were
        not read to their end."""
        consumer = self._consumer
        if not starts:
            return set()
        assigned = [TopicPartition(t, p, o) for (t, p), o in starts.items()]
        consumer.assign(assigned)
        # (a partition paused by an earlier scan stays paused through unassign and assign)
        consumer.resume(assigned)
        finished: set[tuple[str, int]] = set()
        try:
            while len(finished) < len(starts) and time.monotonic() < deadline:
                batch = _ready(consumer, min(1.0, max(0.0, deadline - time.monotonic())))
                done = []
                for msg in batch:
                    key = (msg.topic(), msg.partition())
                    if key in finished:
                        continue
                    error = msg.error()
                    if error is not None:
                        if error.code() != PARTITION_EOF:
                            raise translated(MirrorError, f"{self.label}: {key[0]}[{key[1]}]: "
                                             f"{error.str()}", error)
                    elif take(key, _scanned(msg)):
                        continue
                    finished.add(key)
                    done.append(TopicPartition(*key))
                if done:
                    consumer.pause(done)
        finally:
            consumer.unassign()
        return finished

    def close(self) -> None:
        """Release the consumer."""
        self._consumer.close()


def _ready(consumer: Consumer, wait_s: float) -> list[Any]:
    """What the consumer has ready now, else the first message within ``wait_s`` (consume(n,
    t) alone would wait the whole timeout for every short tail)."""
    batch: list[Any] = consumer.consume(BATCH, 0)
    if batch:
        return batch
    first = consumer.poll(wait_s)
    return [first] if first is not None else []


def _scanned(msg: Any) -> ScannedRecord:
    headers = msg.headers()
    return (msg.offset(), msg.key(), msg.value(), tuple(headers) if headers else (),
            msg.timestamp()[1])


def read_to_end(
    settings: Mapping[str, str], label: str, topic: str, partitions: Iterable[int],
    on_record: Callable[[bytes | None, bytes | None], None],
    start: Mapping[int, int] | None = None,
) -> dict[int, int]:
    """Every record of ``partitions`` of ``topic`` from ``start`` (per partition; default its
    log start) up to its end offset as it is now, in offset order, handed to
    ``on_record(key, value)``; returns per partition the offset to read on from next time.

    For kmirror's own compacted topics (offset syncs, lineages): the caller decodes."""
    next_offsets = dict(start or {})
    scanner = PartitionScanner(settings, label)
    try:
        for partition in partitions:
            low, high = scanner.bounds(topic, partition)
            position = max(low, next_offsets.get(partition, low))
            for offset, key, value, _headers, _ts in scanner.records(
                topic, partition, position, high
            ):
                on_record(key, value)
                position = offset + 1
            next_offsets[partition] = position
    finally:
        scanner.close()
    return next_offsets


def locate_records(
    settings: Mapping[str, str], label: str, topic: str, partition: int, start: int, end: int,
    wanted: Sequence[tuple[bytes | None, int, int]],
) -> dict[int, int]:
    """Offsets of records in ``[start, end)`` matching ``wanted`` (key, key + value bytes,
    timestamp ms or -1 for unknown), matched in order: index in ``wanted`` → offset. Unmatched
    ones are left out.

    For naming the records a target refused when only their contents came back."""
    found: dict[int, int] = {}
    if not wanted or start >= end:
        return found
    scanner = PartitionScanner(settings, label)
    try:
        index = 0
        for offset, key, value, _headers, timestamp_ms in scanner.records(
            topic, partition, start, end
        ):
            want_key, want_size, want_timestamp = wanted[index]
            size = len(key or b"") + len(value or b"")
            if key == want_key and size == want_size and want_timestamp in (-1, timestamp_ms):
                found[index] = offset
                index += 1
                if index == len(wanted):
                    break
    except MirrorError:
        pass  # the caller falls back to a lower bound
    finally:
        scanner.close()
    return found
