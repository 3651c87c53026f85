"""Sample data for the demo: write records, read a few back (through the client seam)."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from kmirror.kafka.admin import Admin


def write_sample(bootstrap_servers: str, topic: str, count: int, partitions: int) -> None:
    """Create ``topic`` when missing and write ``count`` records with keys, headers, timestamps."""
    admin = Admin({"bootstrap.servers": bootstrap_servers}, "source")
    if topic not in admin.topics():
        admin.create_topic(topic, partitions, 1, {})
    producer = Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True,
                         "linger.ms": 20, "log_level": 0})
    for i in range(count):
        while True:
            try:
                producer.produce(
                    topic, value=f'{{"order": {i}, "amount": {i % 97}.50}}'.encode(),
                    key=f"customer-{i % 500}".encode(), partition=i % partitions,
                    headers=[("source", b"demo"), ("seq", str(i).encode())],
                )
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


def end_offsets(bootstrap_servers: str, topic: str) -> dict[int, int]:
    """High watermark per partition of ``topic``."""
    admin = Admin({"bootstrap.servers": bootstrap_servers}, "cluster")
    partitions = admin.topics().get(topic, 0)
    ends = admin.end_offsets([(topic, p) for p in range(partitions)])
    return {p: ends[(topic, p)] for p in range(partitions)}


def first_records(bootstrap_servers: str, topic: str, count: int) -> list[str]:
    """The first records of partition 0, one line each (key, value, headers, timestamp)."""
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": str(uuid.uuid4()),
                         "enable.auto.commit": False, "log_level": 0})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        lines = []
        for msg in consumer.consume(count, 10):
            if msg.error() is None:
                lines.append(
                    f"p{msg.partition()}@{msg.offset()} key={msg.key()!r} value={msg.value()!r} "
                    f"headers={msg.headers()} timestamp={msg.timestamp()[1]}"
                )
        return lines
    finally:
        consumer.close()
