"""Client-side pieces of the benchmark harness: a paced producer and a latency reader.

Replication latency is measured tool-neutrally: the paced producer writes each record's send
time (µs since the epoch) into its value; the target topic uses ``LogAppendTime``, so every
record read back from the target carries the moment the target broker appended it. Both clocks
are this host's, so ``append time − send time`` is the end-to-end replication latency whatever
the mirror in between.
"""

from __future__ import annotations

import struct
import threading
import time
import uuid

from confluent_kafka import (
    OFFSET_END,
    Consumer,
    IsolationLevel,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

_QUIET = {"log_level": 0}
_SEND_TIME = struct.Struct(">q")


class PacedProducer:
    """Writes ``rate_per_s`` records/s round-robin over a topic's partitions, in a thread."""

    def __init__(
        self, bootstrap_servers: str, topic: str, partitions: int, rate_per_s: int,
        record_size: int,
    ) -> None:
        self._producer = Producer({
            "bootstrap.servers": bootstrap_servers, "linger.ms": 1, "acks": "all",
            "enable.idempotence": True, **_QUIET,
        })
        self._topic = topic
        self._partitions = partitions
        self._rate_per_s = rate_per_s
        self._padding = b"x" * max(0, record_size - _SEND_TIME.size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced-producer", daemon=True)
        self.sent = 0

    def start(self) -> None:
        """Begin producing."""
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self._rate_per_s)
            while self.sent < due:
                value = _SEND_TIME.pack(time.time_ns() // 1000) + self._padding
                try:
                    self._producer.produce(
                        self._topic, value=value, partition=self.sent % self._partitions
                    )
                except BufferError:
                    break
                self.sent += 1
            self._producer.poll(0)
            time.sleep(0.001)

    def stop(self) -> None:
        """Stop producing and wait for every record to be acknowledged."""
        self._stop.set()
        self._thread.join()
        self._producer.flush(30)


class AppendLatencyReader:
    """Reads a LogAppendTime topic from its current end; collects append − send latencies."""

    def __init__(self, bootstrap_servers: str, topic: str, partitions: int) -> None:
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap_servers, "group.id": f"kmirror-bench-{uuid.uuid4()}",
            "enable.auto.commit": False, "fetch.wait.max.ms": 5, **_QUIET,
        })
        self._consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in range(partitions)])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="latency-reader", daemon=True)
        self._recording = False
        self.latencies_ms: list[float] = []
        self.read = 0

    def start(self) -> None:
        """Begin reading (latencies are kept only between ``record`` and ``stop``)."""
        self._thread.start()

    def record(self) -> None:
        """Keep latencies from now on (after the warm-up)."""
        self._recording = True

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(1000, 0.1):
                if message.error() is not None or message.value() is None:
                    continue
                self.read += 1
                if not self._recording:
                    continue
                sent_us = _SEND_TIME.unpack_from(message.value())[0]
                appended_ms = message.timestamp()[1]
                self.latencies_ms.append(appended_ms - sent_us / 1000.0)

    def stop(self) -> None:
        """Stop reading and close the consumer."""
        self._stop.set()
        self._thread.join()
        self._consumer.close()


class RecordCounter:
    """How many records a topic holds (sum of its partitions' last stable offsets), polled
    cheaply. Transaction markers count too: a few per commit, nothing next to the records."""

    def __init__(self, bootstrap_servers: str, topic: str, partitions: int) -> None:
        self._admin = AdminClient({"bootstrap.servers": bootstrap_servers, **_QUIET})
        self._request = {TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)}
        self._last = 0

    def count(self) -> int:
        """The current count; the previous one while an answer fails (a new topic's leaders
        are not known for its first moments), so an error never reads as progress."""
        # Read committed: a transactional tool's records count once committed (its open
        # transaction's are not on the target for any read_committed reader yet).
        futures = self._admin.list_offsets(self._request, request_timeout=10,
                                           isolation_level=IsolationLevel.READ_COMMITTED)
        try:
            self._last = sum(max(0, f.result().offset) for f in futures.values())
        except KafkaException:
            pass  # a lasting error shows as a stall, which the harness reports
        return self._last
