"""Fakes of the ports a stream works through (kafka/reader.py, kafka/writer.py, the topic
plan, the lineage), for unit tests of the loop and the record path. No broker: a fake group
assigns partitions at the next poll, a fake log holds each source partition's records, and a
fake target acknowledges what it holds when told to."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from kmirror.config.settings import MirrorSettings, load_mirror_settings
from kmirror.kafka.admin import Admin
from kmirror.kafka.outcomes import RefusalKind
from kmirror.kafka.reader import ConsumeError, GroupListener, SourceReader, SourceRecord
from kmirror.kafka.writer import AckSink, QueueFull, Refusal, TargetWriter
from kmirror.mirror.paths import Path as DeliveryPath
from kmirror.mirror.paths.acks import CheckpointAcks, RecordAcks
from kmirror.mirror.paths.record import RecordPath
from kmirror.mirror.report import StreamReport
from kmirror.mirror.stream import MirrorStream, StreamClients
from kmirror.offsets.syncs import OffsetSync
from kmirror.topics.lineage import MIRROR, LineageGuard, Verdict
from kmirror.topics.plan import TopicSync

Key = tuple[str, int]


def settings_for(tmp_path: Path, **options: Any) -> MirrorSettings:
    """Validated settings from small config files (nothing is contacted)."""
    source = tmp_path / "source.properties"
    source.write_text("bootstrap.servers=127.0.0.1:1\ngroup.id=g\n")
    target = tmp_path / "target.properties"
    target.write_text("bootstrap.servers=127.0.0.1:2\n")
    return load_mirror_settings(consumer_configs=[str(source)], producer_config=str(target),
                                include=".*", exclude=None, **options)


@dataclass(frozen=True)
class FakeRecord:
    """A consumed record with the accessors of kafka/reader.py's SourceRecord."""

    topic_: str
    partition_: int
    offset_: int
    value_: bytes
    headers_: list[tuple[str, bytes | None]] | None = None

    def topic(self) -> str:
        return self.topic_

    def partition(self) -> int:
        return self.partition_

    def offset(self) -> int:
        return self.offset_

    def key(self) -> bytes:
        return b"k%d" % self.offset_

    def value(self) -> bytes:
        return self.value_

    def headers(self) -> list[tuple[str, bytes | None]] | None:
        return self.headers_

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_000 + self.offset_)


def record(topic: str, partition: int, offset: int, value: bytes = b"v",
           headers: list[tuple[str, bytes | None]] | None = None) -> SourceRecord:
    return FakeRecord(topic, partition, offset, value, headers)


@dataclass
class FakeReader:
    """A consumer over in-memory partitions, in one group that assigns at the next poll."""

    log: dict[Key, list[SourceRecord]] = field(default_factory=dict)
    to_assign: list[Key] = field(default_factory=list)
    to_revoke: list[Key] = field(default_factory=list)
    errors: list[ConsumeError] = field(default_factory=list)
    group_offsets: dict[Key, int] = field(default_factory=dict)
    position: dict[Key, int] = field(default_factory=dict)
    paused: set[Key] = field(default_factory=set)
    assigned: set[Key] = field(default_factory=set)
    commits: list[dict[Key, int]] = field(default_factory=list)
    commit_metadata: list[dict[Key, str]] = field(default_factory=list)
    group_metadata: dict[Key, str] = field(default_factory=dict)  # with group_offsets
    subscribed: list[str] = field(default_factory=list)
    fatal: str | None = None
    pause_on_assign: bool = False
    closed: bool = False
    listener: GroupListener | None = None

    def bind(self, listener: GroupListener) -> None:
        self.listener = listener

    def topics(self, timeout_s: float = 10.0) -> dict[str, int]:
        found: dict[str, int] = {}
        for topic, partition in self.log:
            found[topic] = max(found.get(topic, 0), partition + 1)
        return found

    def subscribe(self, topics: list[str]) -> bool:
        changed = sorted(topics) != self.subscribed
        self.subscribed = sorted(topics)
        return changed

    def poll_batch(self, max_records: int, timeout_s: float
                   ) -> tuple[list[SourceRecord], ConsumeError | None]:
        assert self.listener is not None
        if self.to_revoke:
            keys, self.to_revoke = self.to_revoke, []
            self.listener.revoked(keys)
            self.assigned.difference_update(keys)
        if self.to_assign:
            keys, self.to_assign = self.to_assign, []
            held, starts = self.listener.before_assign(keys)
            for key in keys:
                self.position[key] = starts.get(key, self.group_offsets.get(key, 0))
            self.assigned.update(keys)
            if self.pause_on_assign or held:
                self.paused.update(keys if self.pause_on_assign else held)
            self.listener.assigned([k for k in keys if k not in held])
        if self.errors:
            return [], self.errors.pop(0)
        out: list[SourceRecord] = []
        for key in sorted(self.assigned - self.paused):
            for rec in self.log.get(key, []):
                if rec.offset() >= self.position[key] and len(out) < max_records:
                    out.append(rec)
                    self.position[key] = rec.offset() + 1
        return out, None

    def pause(self, keys: Iterable[Key]) -> None:
        self.paused.update(keys)

    def resume(self, keys: Iterable[Key]) -> None:
        self.paused.difference_update(keys)

    def seek(self, key: Key, offset: int) -> None:
        self.position[key] = offset

    def commit(self, offsets: Mapping[Key, int],
               metadata: Mapping[Key, str] | None = None) -> dict[Key, int]:
        self.commits.append(dict(offsets))
        self.commit_metadata.append(dict(metadata or {}))
        for key in offsets:
            self.group_metadata[key] = (metadata or {}).get(key, "")
        self.group_offsets.update(offsets)
        return dict(offsets)

    def committed_with_metadata(self, keys: Iterable[Key], timeout_s: float = 30.0
                                ) -> dict[Key, tuple[int, str]]:
        return {k: (self.group_offsets[k], self.group_metadata.get(k, ""))
                for k in keys if k in self.group_offsets}

    def positions(self, keys: Iterable[Key]) -> dict[Key, int]:
        return {k: self.position[k] for k in keys if k in self.position}

    def watermarks(self, keys: Iterable[Key], timeout_s: float = 30.0
                   ) -> dict[Key, tuple[int, int]]:
        out = {}
        for key in keys:
            offsets = [r.offset() for r in self.log.get(key, [])]
            out[key] = (min(offsets, default=0), max(offsets, default=-1) + 1)
        return out

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeWriter:
    """The target's producers: hold what is sent until ``deliver``; a bounded queue."""

    per_record_acks: bool = False
    capacity: int = 1_000
    max_messages: int = 1_000
    in_flight: list[tuple[str, int, int, AckSink, bytes | None]] = field(default_factory=list)
    written: dict[Key, list[tuple[int, bytes | None]]] = field(default_factory=dict)
    refuse: set[int] = field(default_factory=set)  # source offsets the target refuses
    refusals: list[Refusal] = field(default_factory=list)
    failures: list[Any] = field(default_factory=list)
    last_acked: dict[Key, tuple[int, int]] | None = None
    fatal: str | None = None
    auto: bool = True  # deliver on every poll
    target_ends: dict[Key, int] = field(default_factory=dict)  # next target offset (else 0)

    def send(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
             headers: Any, timestamp_ms: int, sink: AckSink, source_offset: int) -> None:
        if len(self.in_flight) >= self.capacity:
            raise QueueFull
        self.in_flight.append((topic, partition, source_offset, sink, value))

    def deliver(self) -> None:
        """The target answers everything in flight, in order."""
        waiting, self.in_flight = self.in_flight, []
        for topic, partition, offset, sink, value in waiting:
            if offset in self.refuse:
                if self.per_record_acks:
                    sink.failed(offset)
                else:
                    self.refusals.append(Refusal(topic, partition, b"k%d" % offset,
                                                 len(value or b""), 1_000 + offset,
                                                 "too large", "MSG_SIZE_TOO_LARGE",
                                                 RefusalKind.TOO_LARGE))
                continue
            self.written.setdefault((topic, partition), []).append((offset, value))
            target = self.target_ends.get((topic, partition), 0)
            self.target_ends[(topic, partition)] = target + 1
            if self.per_record_acks:
                sink.acked(offset, target)

    def poll(self, timeout_s: float = 0.0) -> None:
        if self.auto:
            self.deliver()

    def flush(self, timeout_s: float) -> int:
        self.deliver()
        return 0

    def queued(self) -> int:
        return len(self.in_flight)

    def all_acknowledged(self) -> bool:
        return not self.in_flight

    def queue_fill(self) -> float:
        return len(self.in_flight) / self.capacity

    def add_latency_sample(self, latency_s: float) -> None:
        pass

    def take_latency_samples(self) -> list[float]:
        return []

    def take_retries(self) -> int:
        return 0


@dataclass
class FakeTopics:
    ensured: list[dict[str, int]] = field(default_factory=list)

    def ensure(self, needed: dict[str, int], existing_ok: bool = False) -> None:
        self.ensured.append(dict(needed))

    def forget(self, topics: list[str]) -> None:
        pass


@dataclass
class FakeLineage:
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    def check(self, topics: Iterable[str], full: bool = True) -> dict[str, Verdict]:
        return {t: self.verdicts.get(t, Verdict(t, MIRROR)) for t in topics}

    def keep(self, warn: Any) -> None:
        pass


@dataclass
class Harness:
    """A stream over fakes, with what it reported."""

    stream: MirrorStream
    reader: FakeReader
    writer: FakeWriter
    reports: list[StreamReport]
    stop: list[bool]

    def turn(self, times: int = 1) -> None:
        """Run the loop's body ``times`` times (as ``run`` does, without its stop check)."""
        for _ in range(times):
            self.stream.topic_watch.check(0.0)
            if not self.stream.path.step(0.0):
                self.stream.check_failures()


def harness(settings: MirrorSettings, reader: FakeReader, writer: FakeWriter,
            handler: Any = None, locate: Any = None, compose: Any = None,
            answering: Any = None, takeover_logs: Any = None) -> Harness:
    """A stream over fakes: on the record path with checkpoint or per-record
    acknowledgements, or on the path ``compose`` builds; ``answering``: which target
    partitions are ready (mirror/target_gate.py; None: all); ``takeover_logs``: what a
    takeover reads (FakeLogs; None: never checked)."""
    reports: list[StreamReport] = []
    stop = [False]

    def record_path(stream: MirrorStream) -> DeliveryPath:
        target = cast(TargetWriter, writer)
        acks = (RecordAcks(stream, target) if writer.per_record_acks else
                CheckpointAcks(stream, target, locate or (lambda *args: {})))
        return RecordPath(stream, acks, handler, "source", settings.target_alias)

    clients = StreamClients(
        reader=cast(SourceReader, reader), writer=cast(TargetWriter, writer),
        target_admin=cast(Admin, None), topics=cast(TopicSync, FakeTopics()),
        lineage=cast(LineageGuard, FakeLineage()), sync_writer=None, answering=answering,
        takeover_logs=None if takeover_logs is None else (lambda: takeover_logs),
    )
    stream = MirrorStream(settings, settings.sources[0], 0, reports.append,
                          lambda: stop[0], clients, compose or record_path)
    return Harness(stream, reader, writer, reports, stop)


ScannedRecord = tuple[int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...], int]


def scanned(record: SourceRecord, at: int | None = None) -> ScannedRecord:
    """``record`` as kafka/scan.py reads it, at offset ``at`` (default its own: a target
    copy at another offset)."""
    return (record.offset() if at is None else at, record.key(), record.value(),
            tuple(record.headers() or ()), record.timestamp()[1])


@dataclass
class FakeLogs:
    """What a takeover reads (mirror/resume.py's Logs): the source from a FakeReader's log,
    the target from ``target`` (records by target partition, in offset order)."""

    reader: FakeReader
    target: dict[Key, list[ScannedRecord]] = field(default_factory=dict)
    ends: dict[Key, int] = field(default_factory=dict)  # answering target partitions
    offset_syncs: list[OffsetSync] = field(default_factory=list)
    closed: int = 0

    def target_ends(self, target_keys: list[Key]) -> dict[Key, int]:
        return {k: self.ends[k] for k in target_keys if k in self.ends}

    def target_scan(self, starts: Mapping[Key, int], take: Any, deadline: float) -> set[Key]:
        return _scan({k: self.target.get(k, []) for k in starts}, starts, take, deadline)

    def source_low(self, key: Key) -> int:
        records = self.reader.log.get(key, [])
        return records[0].offset() if records else 0

    def source_scan(self, starts: Mapping[Key, int], take: Any, deadline: float) -> set[Key]:
        return _scan({k: [scanned(r) for r in self.reader.log.get(k, [])] for k in starts},
                     starts, take, deadline)

    def syncs(self, key: Key, target_topic: str) -> list[OffsetSync]:
        return [s for s in self.offset_syncs if (s.topic, s.partition) == key]

    def close(self) -> None:
        self.closed += 1


def _scan(logs: Mapping[Key, list[ScannedRecord]], starts: Mapping[Key, int],
          take: Any, deadline: float) -> set[Key]:
    """A scan over in-memory partitions: each is read to its end or until ``take`` is done
    (none once ``deadline`` passed)."""
    if time.monotonic() > deadline:
        return set()
    for key, records in logs.items():
        for record in records:
            if record[0] >= starts[key] and not take(key, record):
                break
    return set(starts)
