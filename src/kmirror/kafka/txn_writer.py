"""The target side with ``--exactly-once``: one transactional producer per source partition.

Records of a source partition and the position after them are committed in one transaction in
the target cluster: ``send_offsets_to_transaction`` stores the position as a committed offset of
the *positions group* (``kmirror-positions.<source alias>.<group>``) on the target partition,
so records and position become visible together or not at all (Kafka's KIP-98/KIP-447
machinery; MirrorMaker 2 keeps its positions in the target since KIP-656/KIP-618 the same way).

Fencing: the transactional id names the source partition
(``kmirror.<alias>.<group>.<topic>.<partition>``). Whoever owns the partition next calls
``init_transactions`` with the same id, which aborts the previous owner's open transaction and
makes every later write or commit of the previous owner fail (``fenced``). So two processes that
both believe they own a partition can never both commit: the older one is refused.

Why one producer per partition and not per stream: the group that assigns source partitions lives
in the source cluster, so the target's transaction coordinator cannot check assignments
(KIP-447's group-generation fencing needs both in one cluster). A transactional id per partition
is what makes a move of one partition fence exactly its previous owner.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from kmirror.errors import MirrorError
from kmirror.kafka.admin import client_logger
from kmirror.kafka.outcomes import refusal_kind
from kmirror.kafka.writer import AckSink, QueueFull, SendFailure

_log = logging.getLogger("kmirror.txn_writer")
Key = tuple[str, int]
TXN_CALL_TIMEOUT_S = 60.0


class TransactionAborted(MirrorError):
    """A transaction had to be aborted (its records are not visible); the partitions named
    restart from their last committed position."""

    def __init__(self, message: str, keys: Iterable[Key]) -> None:
        super().__init__(message)
        self.keys = list(keys)


class Fenced(MirrorError):
    """Another process took over the partition (same transactional id, newer epoch)."""


class TransactionalWriter:
    """Transactional producers to the target, one per owned source partition."""

    per_record_acks = True  # no checkpoints: records count once their transaction commits

    def __init__(self, settings: Mapping[str, str], connection: Mapping[str, str], label: str,
                 transactional_prefix: str, positions_group: str) -> None:
        """``settings``: the producer's; ``connection``: connection and security settings only
        (for the consumer that reads stored positions)."""
        self.label, self.prefix = label, transactional_prefix
        self.positions_group = positions_group
        self.fatal: str | None = None
        self.failures: list[SendFailure] = []
        self.refusals: list[Any] = []  # unused: every refusal is a SendFailure here
        self.last_acked: dict[Key, tuple[int, int]] | None = None
        self.max_messages = int(settings.get("queue.buffering.max.messages", "100000"))
        self._config: dict[str, Any] = {
            **settings, "logger": client_logger(), "error_cb": self._on_error,
        }
        # Per target partition, the records of the open transaction: [first source offset,
        # its target offset, last source offset, its target offset, records]; handed out as
        # ``committed_runs`` once the transaction committed (for offset syncs).
        self._runs: dict[Key, list[int]] = {}
        self.committed_runs: dict[Key, list[int]] = {}
        self._config.pop("message.timeout.ms", None)  # bounded by the transaction timeout
        self._producers: dict[Key, Any] = {}  # target key -> producer
        self._dirty: set[Key] = set()  # target keys written since their last commit
        self._positions = Consumer({
            **connection, "group.id": positions_group, "enable.auto.commit": False,
            "isolation.level": "read_committed", "logger": client_logger(),
        })
        self._metadata = self._positions.consumer_group_metadata()
        self._latency: list[float] = []

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.fatal = error.str()
        else:
            _log.debug("%s: %s", self.label, error.str())

    # --- ownership ----------------------------------------------------------------------------

    def claim(self, key: Key) -> None:
        """Start writing target partition ``key``: fence any previous owner, open a
        transaction."""
        if key in self._producers:
            return
        topic, partition = key
        producer = Producer({
            **self._config,
            "transactional.id": f"{self.prefix}.{topic}.{partition}",
            "client.id": f"{self._config.get('client.id', 'kmirror')}-{partition}",
        })
        try:
            producer.init_transactions(TXN_CALL_TIMEOUT_S)
            producer.begin_transaction()
        except KafkaException as exc:
            raise MirrorError(
                f"{self.label}, topic {topic} partition {partition}: cannot start a "
                f"transaction: {exc.args[0].str()}; the target needs transactions (a cluster "
                "of at least transaction.state.log.min.isr brokers) and, with ACLs, Write and "
                f"Describe on TransactionalId {self.prefix}.*"
            ) from exc
        self._producers[key] = producer

    def stored_positions(self, keys: Iterable[Key]) -> dict[Key, int]:
        """The positions committed with earlier transactions (only committed ones)."""
        tps = [TopicPartition(t, p) for t, p in keys]
        if not tps:
            return {}
        try:
            found = self._positions.committed(tps, timeout=TXN_CALL_TIMEOUT_S)
        except KafkaException as exc:
            raise MirrorError(f"{self.label}: cannot read the positions of group "
                              f"{self.positions_group}: {exc}") from exc
        return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}

    def release(self, keys: Iterable[Key], abort: bool = False) -> None:
        """Stop writing these partitions (after ``commit`` of their last records, or aborting
        them when ``abort``)."""
        for key in keys:
            producer = self._producers.pop(key, None)
            self._dirty.discard(key)
            self._runs.pop(key, None)
            if producer is None:
                continue
            try:
                if abort:
                    producer.abort_transaction(10)
                producer.flush(0)
            except KafkaException as exc:  # fenced or failed already: nothing left to save
                _log.debug("%s: letting go of %s: %s", self.label, key, exc)

    # --- writing ------------------------------------------------------------------------------

    def send(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
             headers: list[tuple[str, bytes | None]] | None, timestamp_ms: int, sink: AckSink,
             source_offset: int) -> None:
        """Queue one record in the partition's open transaction; QueueFull when full."""
        target = (topic, partition)
        producer = self._producers.get(target)
        if producer is None:
            raise MirrorError(f"{self.label}: no transaction open for topic {topic} partition "
                              f"{partition} (not claimed)")
        try:
            producer.produce(topic, value, key, partition,
                             on_delivery=partial(self._delivered, sink, source_offset),
                             timestamp=timestamp_ms if timestamp_ms > 0 else 0,
                             headers=headers)
        except BufferError as exc:
            raise QueueFull from exc
        except KafkaException as exc:
            error = exc.args[0]
            sink.failed(source_offset)
            self.failures.append(SendFailure(topic, partition, source_offset, error.str(),
                                             error.name(), kind=refusal_kind(error.name())))
            return
        self._dirty.add(target)

    def _delivered(self, sink: AckSink, source_offset: int, err: Any, msg: Any) -> None:
        if err is None:
            key = (msg.topic(), msg.partition())
            run = self._runs.get(key)
            if run is None:
                self._runs[key] = [source_offset, msg.offset(), source_offset, msg.offset(), 1]
            else:
                run[2], run[3] = source_offset, msg.offset()
                run[4] += 1
            return
        sink.failed(source_offset)
        size = len(msg.key() or b"") + len(msg.value() or b"")
        self.failures.append(SendFailure(msg.topic(), msg.partition(), source_offset,
                                         err.str(), err.name(), size, refusal_kind(err.name())))

    def commit(self, positions: Mapping[Key, int]) -> list[Key]:
        """Commit each partition's transaction with its next source position; returns the
        target keys committed. A partition whose transaction had to be aborted raises
        ``TransactionAborted`` (after the others were committed); a fenced one ``Fenced``."""
        committed, aborted = [], []
        fenced: str | None = None
        for key, position in positions.items():
            producer = self._producers.get(key)
            if producer is None:
                continue
            try:
                self._commit_one(producer, key, position)
                committed.append(key)
            except Fenced as exc:
                fenced = str(exc)
            except TransactionAborted as exc:
                aborted.extend(exc.keys)
        if fenced:
            raise Fenced(fenced)
        if aborted:
            raise TransactionAborted(
                f"{self.label}: transactions of {len(aborted)} partition(s) were aborted; "
                "they restart from their last committed position", aborted)
        return committed

    def _commit_one(self, producer: Any, key: Key, position: int) -> None:
        topic, partition = key
        where = f"{self.label}, topic {topic} partition {partition}"
        deadline = time.monotonic() + TXN_CALL_TIMEOUT_S
        while True:
            try:
                producer.flush(TXN_CALL_TIMEOUT_S)  # serves the delivery reports first
                producer.send_offsets_to_transaction(
                    [TopicPartition(topic, partition, position)], self._metadata,
                    TXN_CALL_TIMEOUT_S)
                producer.commit_transaction(TXN_CALL_TIMEOUT_S)
                break
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                    KafkaError.INVALID_PRODUCER_EPOCH) or (
                        error.fatal() and "fenced" in error.str().lower()):
                    raise Fenced(
                        f"{where}: fenced: another kmirror process now owns this partition "
                        f"(transactional id {self.prefix}.{topic}.{partition}); this one "
                        "stops writing it"
                    ) from exc
                if error.txn_requires_abort():
                    self._runs.pop(key, None)
                    producer.abort_transaction(TXN_CALL_TIMEOUT_S)
                    producer.begin_transaction()
                    self._dirty.discard(key)
                    raise TransactionAborted(f"{where}: {error.str()}", [key]) from exc
                if error.retriable() and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                raise MirrorError(f"{where}: transaction commit failed: {error.str()}") from exc
        producer.begin_transaction()
        self._dirty.discard(key)
        run = self._runs.pop(key, None)
        if run is not None:
            self.committed_runs[key] = run

    # --- the TargetWriter surface the stream uses --------------------------------------------

    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve delivery reports (refusals only)."""
        first = True
        for producer in list(self._producers.values()):
            producer.poll(timeout_s if first else 0)
            first = False
        if first and timeout_s:
            time.sleep(timeout_s)

    def flush(self, timeout_s: float) -> int:
        """Send everything queued (not a commit); how many records are still queued."""
        return sum(p.flush(timeout_s) for p in list(self._producers.values()))

    def queued(self) -> int:
        """Records queued or in flight over every producer."""
        return sum(len(p) for p in self._producers.values())

    def queue_fill(self) -> float:
        """The fullest producer's queue fill ratio."""
        return max((len(p) for p in self._producers.values()), default=0) / max(
            1, self.max_messages)

    def all_acknowledged(self) -> bool:
        """Nothing queued."""
        return self.queued() == 0

    def add_latency_sample(self, latency_s: float) -> None:
        """A replication latency seen at a commit."""
        self._latency.append(latency_s)

    def take_latency_samples(self) -> list[float]:
        """Samples since the last call."""
        samples, self._latency = self._latency, []
        return samples

    def take_retries(self) -> int:
        """Not counted per producer here."""
        return 0

    def close(self, timeout_s: float = 10.0) -> None:
        """Abort what is still open (its records were never committed) and let go."""
        self.release(list(self._producers), abort=True)
        self._positions.close()
