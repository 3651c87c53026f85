"""The target side: a pool of idempotent producers writing source records unchanged.

Backpressure and durability are two separate waits: ``send`` raises ``QueueFull`` when the
producer's bounded queue has no room (the caller pauses the source), and acknowledgements come
back through delivery reports, served by ``poll`` and ``flush``. One source partition always
goes through the same producer, so its order holds.

Two ways to learn of acknowledgements:

- **per record** (``per_record_acks=True``): each record's delivery report reaches its
  ``AckSink``. Exact at every moment, and costs a Python call and a message object per record.
- **checkpoints** (the default for the plain record path): only refusals are reported
  (``delivery.report.only.error``), each as a ``Refusal``. ``all_acknowledged`` is true once
  every record handed to the producers has had its delivery report served (``len(producer)``
  counts queued, in-flight and unserved reports). At that moment every record sent before it
  and not refused was acknowledged by the target, whatever order the acknowledgements came
  in, so the caller may treat all of them as acknowledged.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from kmirror.kafka.admin import client_logger
from kmirror.kafka.outcomes import RefusalKind, refusal_kind

_log = logging.getLogger("kmirror.writer")


class AckSink(Protocol):
    """Receives the outcome of each record sent for a source partition."""

    def acked(self, offset: int, target: int | None = None) -> None:
        """The target acknowledged the record sent for this source offset (written at
        ``target``)."""
        ...

    def failed(self, offset: int) -> None:
        """The target refused the record sent for this source offset."""
        ...


METADATA_WAIT_S = 60.0
LATENCY_SAMPLE_EVERY = 64  # one acknowledgement in 64 feeds the latency histogram
MAX_LATENCY_SAMPLES = 2000
STATISTICS_INTERVAL_MS = 30_000  # (the send retries counter moves this often)
_NOT_YET_KNOWN = (KafkaError._UNKNOWN_PARTITION, KafkaError._UNKNOWN_TOPIC)


class QueueFull(Exception):
    """The producer queue has no room: poll, and pause the source until it has."""


@dataclass(frozen=True)
class Refusal:
    """A record the target refused, as the checkpoint mode learns of it: without its source
    offset (the caller finds that), with what identifies it among the records in flight."""

    topic: str
    partition: int
    key: bytes | None
    size_bytes: int
    timestamp_ms: int
    reason: str
    code: str
    kind: RefusalKind = RefusalKind.OTHER


@dataclass(frozen=True)
class SendFailure:
    """A record the target refused: where, and why."""

    topic: str
    partition: int
    source_offset: int
    reason: str
    code: str  # the client's (or Kafka's) error name, as shown to the user
    size_bytes: int = 0  # key + value, when known: names the culprit of a too-large batch
    kind: RefusalKind = RefusalKind.OTHER


class TargetWriter:
    """``num_producers`` producers to the target cluster; partitions are spread by hash."""

    def __init__(
        self, settings: Mapping[str, str], num_producers: int, label: str, *,
        per_record_acks: bool = True,
    ) -> None:
        self.label = label
        self.fatal: str | None = None
        self.per_record_acks = per_record_acks
        config: dict[str, Any] = {
            **settings, "logger": client_logger(), "error_cb": self._on_error,
            # librdkafka's statistics carry the retry count per broker (for the metrics). They
            # also describe every partition the producer knows: 8.6 MB at 10,000 partitions,
            # every 5 s cost a producer 0.6 % of a core idle; every 30 s, 0.1 %.
            "statistics.interval.ms": settings.get("statistics.interval.ms",
                                                   str(STATISTICS_INTERVAL_MS)),
            "stats_cb": self._on_stats,
        }
        if not per_record_acks:
            # Successes are counted by the client and never reach Python; refusals do.
            config |= {"delivery.report.only.error": True, "on_delivery": self._refused}
        self.refusals: list[Refusal] = []
        self._producers = [
            Producer({**config, "client.id": f"{settings.get('client.id', 'kmirror')}-{i}"})
            for i in range(num_producers)
        ]
        self._by_partition: dict[tuple[str, int], Any] = {}
        self.failures: list[SendFailure] = []
        self._unknown_since: dict[tuple[str, int], float] = {}
        self._acks = 0
        self._retries_by_client: dict[str, int] = {}
        self._retries_reported = 0
        self._latency: list[float] = []
        # Per-record mode: the newest (source offset, target offset) acknowledged per target
        # partition, for offset syncs (None: not wanted).
        self.last_acked: dict[tuple[str, int], tuple[int, int]] | None = None
        self.max_messages = int(settings.get("queue.buffering.max.messages", "100000"))
        self.max_kbytes = int(settings.get("queue.buffering.max.kbytes", "1048576"))

    def _producer_for(self, topic: str, partition: int) -> Any:
        key = (topic, partition)
        producer = self._by_partition.get(key)
        if producer is None:
            index = zlib.crc32(f"{topic}\0{partition}".encode()) % len(self._producers)
            producer = self._by_partition[key] = self._producers[index]
        return producer

    def send(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes | None]] | None,
        timestamp_ms: int,
        sink: AckSink,
        source_offset: int,
    ) -> None:
        """Queue one record for target partition ``partition``; raise QueueFull when full.

        A record the client refuses outright (larger than message.max.bytes, unknown
        partition) is reported as a failure for its sink, exactly as a broker refusal is.
        """
        producer = self._producer_for(topic, partition)
        try:
            if self.per_record_acks:
                producer.produce(
                    topic, value, key, partition,
                    on_delivery=partial(self._delivered, sink, source_offset),
                    timestamp=timestamp_ms if timestamp_ms > 0 else 0,
                    headers=headers,
                )
            else:
                producer.produce(
                    topic, value, key, partition,
                    timestamp=timestamp_ms if timestamp_ms > 0 else 0, headers=headers,
                )
        except BufferError as exc:
            raise QueueFull from exc
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() in _NOT_YET_KNOWN and self._wait_for_metadata(producer, topic,
                                                                          partition):
                raise QueueFull from exc  # retried in order once the metadata knows it
            self._fail(sink, topic, partition, source_offset, error)
            return
        if self._unknown_since:
            self._unknown_since.pop((topic, partition), None)

    def _wait_for_metadata(self, producer: Any, topic: str, partition: int) -> bool:
        """A just-created topic or partition: refresh metadata; True while worth waiting."""
        first = self._unknown_since.setdefault((topic, partition), time.monotonic())
        try:
            producer.list_topics(topic, timeout=5)
        except KafkaException:
            pass
        return time.monotonic() - first < METADATA_WAIT_S

    def _delivered(self, sink: AckSink, source_offset: int, err: Any, msg: Any) -> None:
        if err is None:
            sink.acked(source_offset, msg.offset())
            if self.last_acked is not None:
                self.last_acked[(msg.topic(), msg.partition())] = (source_offset, msg.offset())
            self._acks += 1
            if self._acks % LATENCY_SAMPLE_EVERY == 0:
                timestamp_ms = msg.timestamp()[1]
                if timestamp_ms > 0 and len(self._latency) < MAX_LATENCY_SAMPLES:
                    self._latency.append(time.time() - timestamp_ms / 1000)
        else:
            size = len(msg.key() or b"") + len(msg.value() or b"")
            self._fail(sink, msg.topic(), msg.partition(), source_offset, err, size)

    def _refused(self, err: Any, msg: Any) -> None:
        key, value = msg.key(), msg.value()
        self.refusals.append(Refusal(
            msg.topic(), msg.partition(), key, len(key or b"") + len(value or b""),
            msg.timestamp()[1], err.str(), err.name(), refusal_kind(err.name()),
        ))

    def all_acknowledged(self) -> bool:
        """True when every record sent so far has had its outcome (acknowledged, or refused
        and listed in ``refusals``). Unserved delivery reports count as queued, so call after
        ``poll`` or ``flush``; a False only costs the caller a flush."""
        return self.queued() == 0

    def add_latency_sample(self, latency_s: float) -> None:
        """A replication latency observed by the caller (checkpoint mode)."""
        if len(self._latency) < MAX_LATENCY_SAMPLES:
            self._latency.append(latency_s)

    def _fail(
        self, sink: AckSink, topic: str, partition: int, source_offset: int, error: Any,
        size_bytes: int = 0,
    ) -> None:
        sink.failed(source_offset)
        code = error.name() if isinstance(error, KafkaError) else str(error)
        reason = error.str() if isinstance(error, KafkaError) else str(error)
        self.failures.append(SendFailure(topic, partition, source_offset, reason, code,
                                         size_bytes, refusal_kind(code)))

    def take_latency_samples(self) -> list[float]:
        """Replication latencies (target ack - source timestamp, s) sampled since last call."""
        samples, self._latency = self._latency, []
        return samples

    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve delivery reports (acknowledgements) of every producer."""
        first = True
        for producer in self._producers:
            producer.poll(timeout_s if first else 0)
            first = False

    def flush(self, timeout_s: float) -> int:
        """Wait for every queued record's acknowledgement; return how many are still queued."""
        remaining = 0
        for producer in self._producers:
            remaining += producer.flush(timeout_s)
        return remaining

    def queued(self) -> int:
        """Records queued or in flight, over every producer."""
        return sum(len(p) for p in self._producers)

    def queue_fill(self) -> float:
        """The fullest producer's queue fill ratio (0..1) by record count."""
        return max(len(p) for p in self._producers) / max(1, self.max_messages)

    def _on_stats(self, stats_json: str) -> None:
        # Only the client's name and its brokers are decoded: the statistics also list every
        # topic and partition the producer knows (at 10,000 partitions, decoding all of them
        # every 5 s was a visible share of an idle stream's CPU).
        name, brokers = _stats_value(stats_json, "name"), _stats_value(stats_json, "brokers")
        if not isinstance(name, str) or not isinstance(brokers, dict):
            return
        self._retries_by_client[name] = sum(int(b.get("txretries", 0))
                                            for b in brokers.values())

    def take_retries(self) -> int:
        """Produce requests retried (by the client, re-choosing the broker) since last call."""
        total = sum(self._retries_by_client.values())
        delta, self._retries_reported = total - self._retries_reported, total
        return max(0, delta)

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.fatal = error.str()
        else:
            _log.debug("%s: %s", self.label, error.str())

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush what can be flushed; producers are released when garbage collected."""
        self.flush(timeout_s)
        self._producers.clear()
        self._by_partition.clear()


class SyncWriter:
    """Writes offset syncs (small JSON records) to the target's sync topic, in the background.

    A sync that cannot be written is not worth stopping the mirror for: the first failure is
    logged as a warning (translation just gets coarser), later ones at debug level.
    """

    def __init__(self, settings: Mapping[str, str], topic: str) -> None:
        self.topic = topic
        self._warned = False
        self._producer = Producer({
            **settings, "logger": client_logger(), "linger.ms": 200,
            "client.id": f"{settings.get('client.id', 'kmirror')}-syncs",
            "on_delivery": self._delivered,
        })

    def write(self, key: bytes, value: bytes) -> None:
        """Queue one sync record."""
        try:
            self._producer.produce(self.topic, value, key)
        except (BufferError, KafkaException) as exc:
            self._warn(str(exc))
        self._producer.poll(0)

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self._warn(err.str())

    def _warn(self, reason: str) -> None:
        if not self._warned:
            self._warned = True
            _log.warning("cannot write offset syncs to the target topic %s (%s): kmirror "
                         "offsets translate will be coarser; --emit.offset.syncs false turns "
                         "them off", self.topic, reason)
        else:
            _log.debug("offset sync not written: %s", reason)

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued."""
        self._producer.flush(timeout_s)


_DECODER = json.JSONDecoder()


def _stats_value(stats_json: str, key: str) -> object:
    """The value of one top-level key of librdkafka's statistics (its first keys are the
    top-level ones: "name" first, "brokers" before "topics"), None when absent or broken."""
    at = stats_json.find(f'"{key}":')
    if at < 0:
        return None
    start = at + len(key) + 3
    while start < len(stats_json) and stats_json[start].isspace():
        start += 1
    try:
        return _DECODER.raw_decode(stats_json, start)[0]
    except ValueError:
        return None
