"""The fault suite's workload and its independent checks (confluent-kafka directly, no kmirror).

- ``Scale``: the short (CI) or full (``KMIRROR_FAULTS=full``, ``make faults``) version.
- ``SequenceProducer``: a background thread writing sequence-numbered records steadily into a
  source topic (idempotent, ``acks=all``); record ``seq`` of partition ``p`` has key ``seq``,
  a value and headers derived from ``(topic, p, seq)``, and the current time as timestamp
  (kept per record, so every copy can be checked byte for byte).
- ``check_copy``: reads a whole topic and compares every record with what was produced:
  missing, mismatched, reordered (a sequence number arriving after a later one) and duplicates.
- small helpers for committed offsets, group members and result reporting.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from array import array
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from tests.helpers.kafka_io import end_offsets, topic_partitions


@dataclass(frozen=True)
class Scale:
    """How hard each case pushes."""

    name: str
    rate: int  # records per second, over all partitions
    partitions: int
    kills: int  # SIGKILLs of kmirror
    sigterms: int  # graceful stops of kmirror
    restarts: int  # broker restarts (source case, target case)
    down_s: float  # how long a restarted broker stays down
    freeze_s: float  # SIGSTOP of the target broker
    steady_s: float  # producing and mirroring before and after each fault
    proxy_s: float  # mirroring through the slow, lossy link

    @property
    def full(self) -> bool:
        return self.name == "full"


SHORT = Scale("short", rate=2000, partitions=4, kills=2, sigterms=2, restarts=1, down_s=2,
              freeze_s=10, steady_s=4, proxy_s=20)
FULL = Scale("full", rate=4000, partitions=4, kills=10, sigterms=5, restarts=3, down_s=10,
             freeze_s=30, steady_s=10, proxy_s=90)


def scale() -> Scale:
    """``KMIRROR_FAULTS=full`` selects the full version; anything else the short one."""
    return FULL if os.environ.get("KMIRROR_FAULTS", "short").strip().lower() == "full" else SHORT


# --- the records ---------------------------------------------------------------------------


def expected(topic: str, partition: int, seq: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Key, value and headers of record ``seq`` of ``partition`` (timestamps are kept aside)."""
    key = str(seq).encode()
    value = f"{topic}|p{partition}|seq{seq}|".encode() + bytes((seq + i) % 256 for i in range(64))
    headers = [("seq", key), ("partition", str(partition).encode()),
               ("bin", bytes([seq % 256, 0, 255]))]
    return key, value, headers


class SequenceProducer:
    """Writes ``rate`` records/s round-robin over the partitions until ``stop()``."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, rate: int) -> None:
        self.topic = topic
        self.partitions = partitions
        self.rate = rate
        self.timestamps = [array("q") for _ in range(partitions)]  # index = sequence number
        self.acked = [0] * partitions
        self.errors: list[str] = []
        self._stop = threading.Event()
        # Two producers: the even partitions get batches of tens of records (linger 100 ms),
        # the odd ones a record or two per batch (linger 0), so that the default path carries
        # both ways at once (batches whole and record by record).
        self._producers = [Producer({
            "bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
            "linger.ms": linger_ms, "message.timeout.ms": 600_000,
            "queue.buffering.max.messages": 1_000_000,
            "log_level": 2,  # broker restarts are expected: failures arrive as delivery reports
        }) for linger_ms in (100, 0)]
        self._thread = threading.Thread(target=self._run, name=f"producer-{topic}", daemon=True)
        self.started = 0.0
        self.stopped = 0.0

    @property
    def produced(self) -> int:
        """Records handed to the client so far."""
        return sum(len(t) for t in self.timestamps)

    def start(self) -> SequenceProducer:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def _on_delivery(self, err: object, msg: object) -> None:
        if err is not None:
            self.errors.append(f"delivery failed: {err}")
        else:
            self.acked[msg.partition()] += 1  # type: ignore[attr-defined]

    def _run(self) -> None:
        try:
            sent = 0
            while not self._stop.is_set():
                due = int((time.monotonic() - self.started) * self.rate)
                while sent < due and not self._stop.is_set():
                    partition = sent % self.partitions
                    seq = len(self.timestamps[partition])
                    key, value, headers = expected(self.topic, partition, seq)
                    ts = int(time.time() * 1000)
                    producer = self._producers[partition % 2]
                    try:
                        producer.produce(
                            self.topic, value=value, key=key, partition=partition,
                            timestamp=ts, headers=headers, on_delivery=self._on_delivery,
                        )
                    except BufferError:
                        producer.poll(0.05)
                        continue
                    self.timestamps[partition].append(ts)
                    sent += 1
                    if sent % 500 == 0:
                        self._poll()
                self._poll()
                time.sleep(0.005)
        except BaseException as exc:  # reported by stop(), never lost in the thread
            self.errors.append(f"producer thread: {exc!r}")

    def _poll(self) -> None:
        for producer in self._producers:
            producer.poll(0)

    def stop(self, timeout_s: float = 180) -> int:
        """Stop producing, wait for every acknowledgement; returns the number of records."""
        self._stop.set()
        self._thread.join(30)
        self.stopped = time.monotonic()
        deadline = time.monotonic() + timeout_s
        remaining = sum(p.flush(max(0.0, deadline - time.monotonic())) for p in self._producers)
        if remaining == 0:
            self._producers = []  # let the clients go
        assert remaining == 0, f"{remaining} records of the workload were never acknowledged"
        assert not self.errors, f"the workload producer failed: {self.errors[:5]}"
        assert self.acked == [len(t) for t in self.timestamps], (self.acked, self.produced)
        return self.produced


# --- reading a copy back --------------------------------------------------------------------


@dataclass
class CopyCheck:
    """What a topic holds compared with what the workload produced."""

    records: int = 0
    expected: int = 0
    missing: int = 0
    mismatched: int = 0
    reordered: int = 0
    duplicates: int = 0
    unknown: int = 0  # a key that is no sequence number of the workload
    problems: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.problems) < 10:
            self.problems.append(text)

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def check_copy(bootstrap: str, workload: SequenceProducer, timeout_s: float = 600) -> CopyCheck:
    """Read every partition of the workload's topic on ``bootstrap`` and check it.

    A record is *reordered* when its sequence number is seen for the first time while a smaller
    one has not been seen yet; a *duplicate* when its sequence number was seen before.
    """
    topic = workload.topic
    ends = retrying(lambda: end_offsets(bootstrap, topic))
    result = CopyCheck(expected=workload.produced)
    seen = [bytearray(len(t)) for t in workload.timestamps]
    next_new = [0] * workload.partitions
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"faults-check-{uuid.uuid4()}",
        "enable.auto.commit": False, "enable.partition.eof": True,
        "isolation.level": "read_committed",
    })
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        pending = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout_s
        while pending:
            assert time.monotonic() < deadline, f"reading {topic} at {bootstrap} timed out"
            for msg in consumer.consume(5000, 0.5):
                if msg.error():
                    if msg.error().code() == -191:  # _PARTITION_EOF
                        pending.discard(msg.partition())
                        continue
                    raise KafkaException(msg.error())
                p = msg.partition()
                if msg.offset() >= ends[p]:
                    pending.discard(p)
                    continue
                if msg.offset() + 1 >= ends[p]:
                    pending.discard(p)
                result.records += 1
                _check_one(result, workload, msg, seen[p], next_new)
    finally:
        consumer.close()
    for p, flags in enumerate(seen):
        absent = len(flags) - sum(flags)
        if absent:
            result.missing += absent
            result.note(f"partition {p}: {absent} sequence number(s) missing, the first "
                        f"{flags.index(0)}")
    return result


def _check_one(
    result: CopyCheck, workload: SequenceProducer, msg: object, flags: bytearray,
    next_new: list[int],
) -> None:
    p = msg.partition()  # type: ignore[attr-defined]
    where = f"partition {p} offset {msg.offset()}"  # type: ignore[attr-defined]
    try:
        seq = int(msg.key())  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        seq = -1
    if not 0 <= seq < len(flags):
        result.unknown += 1
        result.note(f"{where}: key {msg.key()!r} is no produced sequence number")  # type: ignore[attr-defined]
        return
    key, value, headers = expected(workload.topic, p, seq)
    ts_type, ts = msg.timestamp()  # type: ignore[attr-defined]
    got_headers = [(k, v) for k, v in (msg.headers() or [])]  # type: ignore[attr-defined]
    if (msg.key() != key or msg.value() != value  # type: ignore[attr-defined]
            or got_headers != headers
            or ts_type == 0 or ts != workload.timestamps[p][seq]):
        result.mismatched += 1
        result.note(f"{where}: seq {seq} differs from what was produced")
    if flags[seq]:
        result.duplicates += 1
        return
    flags[seq] = 1
    if seq != next_new[p]:
        result.reordered += 1
        result.note(f"{where}: seq {seq} arrived while seq {next_new[p]} was still due")
    while next_new[p] < len(flags) and flags[next_new[p]]:
        next_new[p] += 1


# --- the group and the target ---------------------------------------------------------------

T = TypeVar("T")


def retrying(what: Callable[[], T], timeout_s: float = 60) -> T:
    """``what()``, retried while brokers answer with errors (a topic just created, a broker
    just restarted: not leader, coordinator loading, ...)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return what()
        except (KafkaException, FutureTimeout):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)



def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offsets (negative where none), read with an admin request."""
    return retrying(lambda: _committed(bootstrap, group, topic, partitions))


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    client = AdminClient({"bootstrap.servers": bootstrap})
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p)
                                                   for p in range(partitions)])
    result = client.list_consumer_group_offsets([request])[group].result(30)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def member_partitions(bootstrap: str, group: str) -> list[list[int]]:
    """Partitions each member of the group owns (one list per member)."""
    return retrying(lambda: _member_partitions(bootstrap, group))


def _member_partitions(bootstrap: str, group: str) -> list[list[int]]:
    client = AdminClient({"bootstrap.servers": bootstrap})
    description = client.describe_consumer_groups([group])[group].result(30)
    return [sorted(tp.partition for tp in m.assignment.topic_partitions)
            for m in description.members]


def target_total(bootstrap: str, topic: str) -> int:
    """Records the target topic holds (0 while it does not exist)."""
    def total() -> int:
        if topic_partitions(bootstrap, topic) == 0:
            return 0
        return sum(end_offsets(bootstrap, topic).values())

    return retrying(total)


def highest_sequences(bootstrap: str, topic: str, partitions: int, tail: int = 5000
                      ) -> dict[int, int]:
    """The highest sequence number among the last committed records of each partition (-1:
    none at all).

    A mirror writes partition p in order (re-sends of a stretch come before new records), so
    every sequence number below a committed source offset must show up within the tail. The tail
    is ``tail`` offsets, widened (x4 each time) while it holds no committed record: with
    --exactly-once a killed mirror's open transaction is aborted, and its records (invisible to
    read_committed readers) can fill far more than ``tail`` offsets at the partition's end.
    """
    ends = retrying(lambda: end_offsets(bootstrap, topic))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"faults-tail-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    out = {p: -1 for p in range(partitions)}
    try:
        for p in range(partitions):
            end = ends.get(p, 0)
            window = tail
            while end > 0:
                start = max(0, end - window)
                out[p] = _highest_in(consumer, topic, p, start, end)
                if out[p] >= 0 or start == 0:
                    break
                window *= 4
    finally:
        consumer.close()
    return out


def _highest_in(consumer: Consumer, topic: str, partition: int, start: int, end: int) -> int:
    """The highest sequence number of the committed records in [start, end) (-1: none)."""
    consumer.assign([TopicPartition(topic, partition, start)])
    highest = -1
    deadline = time.monotonic() + 60
    position = start
    while position < end and time.monotonic() < deadline:
        for msg in consumer.consume(5000, 0.5):
            if msg.error():
                continue
            position = msg.offset() + 1
            highest = max(highest, int(msg.key()))
        # (past transaction markers too, which are never returned: --exactly-once)
        [now] = consumer.position([TopicPartition(topic, partition)])
        position = max(position, now.offset)
    return highest


# --- reporting ------------------------------------------------------------------------------


def report(case: str, mode: Scale, figures: dict[str, object]) -> None:
    """Print the case's figures; append them as a JSON line to $KMIRROR_FAULT_RESULTS if set."""
    line = {"case": case, "mode": mode.name, **figures,
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    details = {k: v for k, v in figures.items() if k not in ("records", "duplicates", "seconds")}
    print(f"\nfault case {case} ({mode.name}): {figures.get('records', 0):,} records, "
          f"{figures.get('duplicates', 0):,} duplicates, {figures.get('seconds', 0):.0f} s; "
          f"{json.dumps(details)}")
    path = os.environ.get("KMIRROR_FAULT_RESULTS")
    if path:
        with Path(path).open("a") as out:
            out.write(json.dumps(line) + "\n")
