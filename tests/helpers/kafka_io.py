"""Independent Kafka I/O for tests: confluent-kafka used directly, never kmirror's own code.

What kmirror writes is always checked with these helpers, so a bug in kmirror's client layer
cannot hide itself.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

Header = tuple[str, bytes | None]


@dataclass(frozen=True)
class Record:
    """One record as a test writes or reads it."""

    key: bytes | None
    value: bytes | None
    partition: int
    timestamp_ms: int | None = None
    headers: tuple[Header, ...] = ()
    offset: int = -1

    def content(self) -> tuple[object, ...]:
        """Everything a mirror must carry over unchanged (not the offset)."""
        return (self.partition, self.key, self.value, self.timestamp_ms, self.headers)


@dataclass(frozen=True)
class Clusters:
    """Addresses of the session's local clusters."""

    source: str
    target: str
    info: dict[str, object] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def admin(bootstrap: str) -> AdminClient:
    """A plain AdminClient."""
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(
    bootstrap: str, name: str, partitions: int, config: dict[str, str] | None = None
) -> None:
    """Create a topic and wait until its metadata is visible."""
    client = admin(bootstrap)  # keep the client alive until the future resolves
    futures = client.create_topics([NewTopic(name, partitions, 1, config=config or {})])
    futures[name].result(30)
    wait_for_partitions(bootstrap, name, partitions)


def add_partitions(bootstrap: str, name: str, total: int) -> None:
    """Grow a topic to ``total`` partitions."""
    client = admin(bootstrap)
    client.create_partitions([NewPartitions(name, total)])[name].result(30)
    wait_for_partitions(bootstrap, name, total)


def wait_for_partitions(bootstrap: str, name: str, partitions: int, timeout_s: float = 30) -> None:
    """Block until the topic shows ``partitions`` partitions in metadata."""
    client = admin(bootstrap)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        topic = client.list_topics(name, timeout=10).topics.get(name)
        if topic is not None and topic.error is None and len(topic.partitions) == partitions:
            return
        time.sleep(0.2)
    raise AssertionError(f"topic {name} did not reach {partitions} partitions")


def cluster_metadata(bootstrap: str) -> tuple[str, list[str]]:
    """The cluster's id and its brokers' addresses (``host:port``), as the cluster reports them."""
    metadata = admin(bootstrap).list_topics(timeout=10)
    brokers = [f"{b.host}:{b.port}" for b in metadata.brokers.values()]
    return str(metadata.cluster_id), brokers


def topic_partitions(bootstrap: str, name: str) -> int:
    """Partition count of a topic (0 when missing)."""
    topic = admin(bootstrap).list_topics(name, timeout=10).topics.get(name)
    if topic is None or topic.error is not None:
        return 0
    return len(topic.partitions)


def produce(
    bootstrap: str, topic: str, records: Iterable[Record], extra: dict[str, object] | None = None
) -> int:
    """Write records (explicit partitions, timestamps and headers) and wait for every ack."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "linger.ms": 5, **(extra or {})})
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    count = 0
    for record in records:
        while True:
            try:
                producer.produce(
                    topic, value=record.value, key=record.key, partition=record.partition,
                    timestamp=record.timestamp_ms or 0, headers=list(record.headers) or None,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.05)
        count += 1
    remaining = producer.flush(60)
    assert remaining == 0 and not failures, f"produce failed: {remaining} unsent, {failures[:3]}"
    return count


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """High watermark per partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4()}"})
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                metadata = consumer.list_topics(topic, timeout=10).topics[topic]
                return {
                    p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in metadata.partitions
                }
            except KafkaException as exc:
                # A just-created topic may briefly have no leader: retry retriable errors, and
                # NOT_LEADER_FOR_PARTITION, which librdkafka does not flag retriable here.
                error = exc.args[0]
                again = error.retriable() or error.code() in (
                    KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE)
                if not again or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()


def read_all(
    bootstrap: str, topic: str, expected: int | None = None, timeout_s: float = 60,
    isolation: str = "read_committed",
) -> list[Record]:
    """Every record of the topic, partition by partition, in offset order.

    Reads up to the end offsets taken at the start (or until ``expected`` records arrived).
    """
    ends = end_offsets(bootstrap, topic)
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}",
        "enable.auto.commit": False, "isolation.level": isolation,
        "enable.partition.eof": True,
    })
    out: dict[int, list[Record]] = {p: [] for p in ends}
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        pending = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    if msg.error().code() == -191:  # _PARTITION_EOF
                        pending.discard(msg.partition())
                        continue
                    raise KafkaException(msg.error())
                out[msg.partition()].append(_record(msg))
                if msg.offset() + 1 >= ends[msg.partition()]:
                    pending.discard(msg.partition())
            if expected is not None and sum(map(len, out.values())) >= expected:
                break
    finally:
        consumer.close()
    return [r for p in sorted(out) for r in out[p]]


def _record(msg: object) -> Record:
    ts_type, ts = msg.timestamp()  # type: ignore[attr-defined]
    headers = tuple(msg.headers() or ())  # type: ignore[attr-defined]
    return Record(
        key=msg.key(), value=msg.value(), partition=msg.partition(),  # type: ignore[attr-defined]
        timestamp_ms=ts if ts_type != 0 else None, headers=headers,
        offset=msg.offset(),  # type: ignore[attr-defined]
    )


def committed(bootstrap: str, group: str, topic: str, partitions: Sequence[int]) -> dict[int, int]:
    """The group's committed offsets (-1001 where none)."""
    return {p: offset for p, (offset, _) in committed_with_metadata(
        bootstrap, group, topic, partitions).items()}


def committed_with_metadata(bootstrap: str, group: str, topic: str,
                            partitions: Iterable[int]) -> dict[int, tuple[int, str | None]]:
    """The group's committed offsets (-1001 where none), each with its commit metadata."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: (tp.offset, tp.metadata) for tp in tps}
    finally:
        consumer.close()
