"""Shallow iteration: a stream that forwards the source's record batches whole.

The group membership, the assignment and the offset commits stay with the librdkafka
consumer of the record path (its partitions are paused: it never fetches). Records move as
raw batches instead (``kmirror.kafka.raw_io``): fetched from the source leader, cut into
batches, and each batch that the target can take as it is goes out in a Produce request with
its header adapted (``kmirror.kafka.batches.rewrite_for_produce``) under kmirror's own
idempotent producer id, so a re-sent batch is recognised by the target and not written twice.

A batch that cannot go whole (it starts before the wanted offset, compaction left holes in
its offsets, it carries LogAppendTime or a delete horizon, or the target finds it too large)
goes through the record path: its records are decoded and sent by the ``TargetWriter``. A
partition uses one path at a time: before switching, everything sent on the other path has
been acknowledged, so the target receives the records in source order.

Per partition, at most ``MAX_IN_FLIGHT`` batches are in flight, all on the one connection to
its target leader, where the broker handles them in order. When a batch is not acknowledged
(connection lost, leader moved, timeout) it and every later batch of the partition are sent
again with the same sequence numbers: the target acknowledges the ones it already has without
writing them twice.

Commits: a forwarded batch counts as one entry of the partition's track at its base offset
(nothing at or after it is committed before its acknowledgement) and moves the track to its
last offset when acknowledged, exactly like its records would have on the record path.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from kmirror.config.settings import MirrorSettings, SourceCluster
from kmirror.errors import MirrorError
from kmirror.kafka.admin import Admin
from kmirror.kafka.batches import (
    FallbackReason,
    ReadCommittedFilter,
    RecordBatch,
    fallback_reason,
    iter_batches,
    rewrite_for_produce,
)
from kmirror.kafka.raw_io import (
    READ_COMMITTED,
    FetchedPartition,
    KafkaCode,
    ProduceResult,
    RawIO,
    WireError,
    decode_records,
)
from kmirror.kafka.reader import Key
from kmirror.kafka.wire_auth import wire_security
from kmirror.kafka.writer import QueueFull, SendFailure
from kmirror.mirror.report import StreamReport
from kmirror.mirror.stream import BATCH_RECORDS, MirrorStream
from kmirror.mirror.tracker import PartitionTrack

_log = logging.getLogger("kmirror.shallow")

MAX_IN_FLIGHT = 5  # per partition: the target keeps the last 5 batches per producer for dedup
MAX_REQUESTS_PER_BROKER = 5
QUEUED_BYTES_PER_PARTITION = 4 << 20  # fetched and not yet sent: the fetch pauses above it
METADATA_BACKOFF_S = 0.5
RETRY_BACKOFF_S = 0.2
PRODUCE_TIMEOUT_MS = 30_000
SEQUENCE_WRAP = 2**31
NO_LIMIT = 2**31 - 1
WARN_INTERVAL_S = 10.0
FETCH_RETRY_BACKOFF_S = 1.0
CONSUMER_SERVE_INTERVAL_S = 0.05  # the paused consumer only keeps the membership alive
OFFSET_MAP_PER_PARTITION = 1000
_TOO_LARGE = {"MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"}
_NEW_PRODUCER_ID = {"UNKNOWN_PRODUCER_ID", "OUT_OF_ORDER_SEQUENCE_NUMBER",
                    "INVALID_PRODUCER_EPOCH"}
_SOURCE_METADATA = {"NOT_LEADER_FOR_PARTITION", "NOT_LEADER_OR_FOLLOWER",
                    "UNKNOWN_TOPIC_OR_PARTITION", "LEADER_NOT_AVAILABLE", "FENCED_LEADER_EPOCH",
                    "UNKNOWN_LEADER_EPOCH", "OFFSET_NOT_AVAILABLE", "KAFKA_STORAGE_ERROR"}

# How each fallback reason is counted and shown (the summary line and the metric's label).
REASON_LABELS = {
    FallbackReason.STARTS_BEFORE_WANTED: "starts mid-batch",
    FallbackReason.OFFSET_HOLES: "compacted",
    FallbackReason.TOO_LARGE: "too large",
    FallbackReason.LOG_APPEND_TIME: "log-append time",
    FallbackReason.DELETE_HORIZON: "delete horizon",
}
WHOLE = "whole"


@dataclass(eq=False)
class _Item:
    """A fetched batch waiting for its path: whole, record path, or skipped (not data)."""

    batch: RecordBatch | None  # None: skipped (control batch, aborted transaction)
    last_offset: int
    reason: FallbackReason | None = None
    wanted: int = 0  # record path: first offset to send (earlier ones are mirrored already)
    sequence: int = -1
    request: int = -1  # the produce request that carries it


@dataclass
class _Partition:
    key: Key
    position: int  # next source offset to fetch
    queue: deque[_Item] = field(default_factory=deque)
    in_flight: deque[_Item] = field(default_factory=deque)  # whole batches, in send order
    on_record_path: int = 0  # records sent through the writer, not acknowledged yet
    next_sequence: int = 0
    queued_bytes: int = 0
    fetch_max_bytes: int = 0
    retry_at: float = 0.0
    node: int = -1  # the target broker its batches in flight went to
    retries: int = 0  # sent again since the last acknowledgement (backoff grows)
    skipped_to: int = -1  # last offset of the latest skipped batch (marker, aborted data)


class _RecordPathSink:
    """AckSink of a record sent through the writer for a shallow partition."""

    __slots__ = ("part", "track")

    def __init__(self, part: _Partition, track: PartitionTrack) -> None:
        self.part, self.track = part, track

    def acked(self, offset: int) -> None:
        self.part.on_record_path -= 1
        self.track.acked(offset)

    def failed(self, offset: int) -> None:
        self.part.on_record_path -= 1
        self.track.failed(offset)


class OffsetMap:
    """Exact source -> target offset pairs, one per forwarded batch (bounded per partition).

    A forwarded batch keeps its records' relative offsets, so every record of it maps:
    target = target_base + (source - source_base)."""

    def __init__(self, per_partition: int = OFFSET_MAP_PER_PARTITION) -> None:
        self._pairs: dict[Key, deque[tuple[int, int, int]]] = {}
        self._size = per_partition
        self.recorded = 0

    def record(self, key: Key, source_base: int, target_base: int, count: int) -> None:
        """A batch of ``count`` records at ``source_base`` was written at ``target_base``."""
        pairs = self._pairs.get(key)
        if pairs is None:
            pairs = self._pairs[key] = deque(maxlen=self._size)
        pairs.append((source_base, target_base, count))
        self.recorded += 1

    def target_offset(self, key: Key, source_offset: int) -> int | None:
        """The target offset of a record forwarded whole, when its batch is still held."""
        for base, target_base, count in reversed(self._pairs.get(key, ())):
            if base <= source_offset < base + count:
                return target_base + source_offset - base
        return None

    def forget(self, keys: Iterable[Key]) -> None:
        """Drop the pairs of partitions no longer owned."""
        for key in keys:
            self._pairs.pop(key, None)


class ShallowStream(MirrorStream):
    """A mirror stream on the batch path (``--shallow``)."""

    def __init__(
        self,
        settings: MirrorSettings,
        source: SourceCluster,
        stream_index: int,
        report: Callable[[StreamReport], None],
        should_stop: Callable[[], bool],
    ) -> None:
        super().__init__(settings, source, stream_index, report, should_stop)
        self.reader.pause_on_assign = True
        client = source.client
        client_id = f"kmirror-{source.alias}-{stream_index}-shallow"
        self.io = RawIO()
        self.src = self.io.cluster(source.bootstrap_servers, client_id, self.label,
                                   security=wire_security(client))
        self.dst = self.io.cluster(settings.target["bootstrap.servers"], client_id, "target",
                                   security=wire_security(settings.target))
        self.max_wait_ms = min(int(client.get("fetch.wait.max.ms", "500")), 500)
        self.fetch_max_bytes = int(client.get("fetch.max.bytes", "16777216"))
        self.partition_max_bytes = int(client.get("max.partition.fetch.bytes", "1048576"))
        self.isolation = (READ_COMMITTED if client.get("isolation.level", "read_committed")
                          == "read_committed" else 0)
        self.batch_parts: dict[Key, _Partition] = {}
        self.offset_map = OffsetMap()
        self.batches: Counter[str] = Counter()  # WHOLE or a reason label -> batches
        self._reported_batches: Counter[str] = Counter()
        self._src_leaders: dict[Key, int] = {}
        self._dst_leaders: dict[Key, int] = {}
        self._from_target: dict[str, str] = {}  # target topic -> source topic
        self._src_stale = self._dst_stale = True
        self._next_metadata = 0.0
        self._fetching: set[int] = set()  # source brokers with a fetch in flight
        self._producer: tuple[int, int] | None = None
        self._new_producer_id = False
        self._requests = 0
        self._checked_compression: set[str] = set()
        self._target_admin = Admin(settings.target_admin_settings, "target")
        self._closing = False
        self._warned: dict[str, float] = {}
        self._fetch_retry_at: dict[int, float] = {}

    # --- group callbacks ----------------------------------------------------------------------

    def _assigned(self, keys: list[Key]) -> None:
        super()._assigned(keys)  # the reader paused them: the consumer never fetches
        self._warn_on_recompression({self.target_topic(topic) for topic, _ in keys})
        committed = self.tracker.committed
        missing = [k for k in keys if k not in committed]
        starts = dict(committed)
        if missing:
            for key, (low, high) in self.reader.watermarks(missing).items():
                starts[key] = low if self.reset_to_earliest else high
        for key in keys:
            self.batch_parts[key] = _Partition(key, starts[key],
                                               fetch_max_bytes=self.partition_max_bytes)
            self.tracker.track(*key).consumed(starts[key] - 1)
        self._src_stale = self._dst_stale = True

    def resume(self, keys: list[Key]) -> None:
        """Nothing to do: fetching goes on at each partition's own position (the consumer
        stays paused)."""

    def _let_go(self, keys: Iterable[Key]) -> None:
        keys = list(keys)
        for key in keys:
            self.batch_parts.pop(key, None)
        self.offset_map.forget(keys)
        super()._let_go(keys)

    def _warn_on_recompression(self, topics: set[str]) -> None:
        new = sorted(topics - self._checked_compression)
        if not new:
            return
        self._checked_compression.update(new)
        try:
            found = self._target_admin.topic_config(new, "compression.type")
        except MirrorError as exc:
            _log.warning("cannot check compression.type of the target topics: %s", exc)
            return
        for topic, codec in sorted(found.items()):
            if codec not in ("producer", None):
                _log.warning(
                    "target topic %s has compression.type=%s: the target broker recompresses "
                    "every forwarded batch not already in %s, which costs the CPU --shallow "
                    "saves; set compression.type=producer on the target topic to keep batches "
                    "as they are", topic, codec, codec,
                )

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> int:
        """Mirror batches until told to stop; 0 after a clean drain, 1 after a failure."""
        next_refresh = next_commit = next_report = next_serve = 0.0
        try:
            self._producer = self.dst.init_producer_id()
            while not self._should_stop() and self._error is None:
                now = time.monotonic()
                if now >= next_refresh:
                    self._refresh_subscription()
                    next_refresh = now + self.settings.topic_refresh_interval_ms / 1000
                self.topic_watch.check(now)
                if now >= next_serve:
                    self._serve_consumer()
                    next_serve = now + CONSUMER_SERVE_INTERVAL_S
                self._refresh_metadata()
                self._fetch()
                sent = self._send_batches()
                self.io.poll(0 if sent else 0.02)
                self._expire()
                self.writer.poll(0)
                self._check_failures()
                now = time.monotonic()
                if now >= next_commit:
                    self._commit()
                    next_commit = now + self.settings.offset_commit_interval_ms / 1000
                if now >= next_report:
                    self._report()
                    next_report = now + 1.0
            return self._shutdown()
        except (MirrorError, WireError) as exc:
            self._error = str(exc)
            return self._shutdown()

    def _serve_consumer(self) -> None:
        """Keep the group membership alive and run rebalance callbacks; nothing is fetched
        (every partition is paused as it is assigned; anything returned anyway is dropped:
        its offsets are fetched again on the batch path)."""
        fetched = set()
        for msg in self.reader.poll_batch(BATCH_RECORDS, 0):
            if msg.error() is not None:
                self._consume_error(msg)
            else:
                fetched.add((msg.topic(), msg.partition()))
        if fetched:
            self.reader.pause(fetched)

    def _refresh_metadata(self) -> None:
        if not (self._src_stale or self._dst_stale) or time.monotonic() < self._next_metadata:
            return
        self._next_metadata = time.monotonic() + METADATA_BACKOFF_S
        topics = {topic for topic, _ in self.batch_parts}
        if not topics:
            self._src_stale = self._dst_stale = False
            return
        try:
            if self._src_stale:
                self._src_leaders = self.src.metadata(topics).leaders
                self._src_stale = any(self._src_leaders.get(k, -1) < 0 for k in self.batch_parts)
            if self._dst_stale:
                names = {self.target_topic(t): t for t in topics}
                self._from_target.update(names)
                self._dst_leaders = {  # by source partition
                    (names[t], p): node
                    for (t, p), node in self.dst.metadata(names).leaders.items() if t in names
                }
                self._dst_stale = any(self._dst_leaders.get(k, -1) < 0 for k in self.batch_parts)
        except WireError as exc:
            self._warn("metadata", f"{exc}; retrying")

    # --- fetching -----------------------------------------------------------------------------

    def _fetch(self) -> None:
        by_node: dict[int, dict[Key, int]] = {}
        for key, part in self.batch_parts.items():
            if (not self.parts.may_send(key)
                    or part.queued_bytes >= QUEUED_BYTES_PER_PARTITION):
                continue
            node = self._src_leaders.get(key, -1)
            if node >= 0 and node not in self._fetching and (
                    self._fetch_retry_at.get(node, 0.0) <= time.monotonic()):
                by_node.setdefault(node, {})[key] = part.position
        for node, positions in by_node.items():
            limit = max(self.batch_parts[k].fetch_max_bytes for k in positions)
            try:
                self.src.fetch(
                    node, positions, max_wait_ms=self.max_wait_ms, max_bytes=self.fetch_max_bytes,
                    partition_max_bytes=limit, isolation_level=self.isolation,
                    callback=partial(self._fetched, node),
                )
                self._fetching.add(node)
            except WireError as exc:
                self._warn("fetch", f"{exc}; retrying")
                self._fetch_retry_at[node] = time.monotonic() + FETCH_RETRY_BACKOFF_S
                self._src_stale = True

    def _fetched(self, node: int, result: list[FetchedPartition],
                 error: WireError | None) -> None:
        self._fetching.discard(node)
        if error is not None and self._closing:
            return
        if error is not None:
            self._warn("fetch", f"{error}; fetching again")
            self._fetch_retry_at[node] = time.monotonic() + FETCH_RETRY_BACKOFF_S
            self._src_stale = True
            return
        for fetched in result:
            key = (fetched.topic, fetched.partition)
            part = self.batch_parts.get(key)
            if (part is None or fetched.fetch_offset != part.position
                    or not self.parts.may_send(key)):
                continue  # revoked, stopped, held, or an answer for an old position
            if fetched.error is not None:
                self._fetch_error(part, fetched)
            else:
                self._take_batches(part, fetched)

    def _fetch_error(self, part: _Partition, fetched: FetchedPartition) -> None:
        code = fetched.error
        assert code is not None
        where = f"{self.label}, topic {fetched.topic} partition {fetched.partition}"
        if code.name == "OFFSET_OUT_OF_RANGE":
            restart = self.source_gap(part.key, part.position)  # raises with --on.source.gap fail
            if self.parts.is_stopped(part.key):
                return  # the topic was created again: stopped, not moved
            part.position = restart
            self.tracker.track(*part.key).moved_to(restart)
        elif code.retriable or code.name in _SOURCE_METADATA:
            self._src_stale = True
        else:
            raise MirrorError(f"{where}: fetch refused: {code.name} {code.message}".rstrip())

    def _take_batches(self, part: _Partition, fetched: FetchedPartition) -> None:
        keep = ReadCommittedFilter(fetched.aborted).keeps if self.isolation else None
        records = fetched.records
        took = False
        for batch in iter_batches(records):
            if batch.next_offset <= part.position:
                if keep is not None:
                    keep(batch)  # the filter sees every batch, in order
                continue
            took = True
            if (keep is not None and not keep(batch)) or batch.is_control:
                part.queue.append(_Item(None, batch.last_offset))
            else:
                reason = fallback_reason(batch, part.position, NO_LIMIT)
                part.queue.append(_Item(batch, batch.last_offset, reason, part.position))
                part.queued_bytes += batch.size_bytes
            part.position = batch.next_offset
        if not took and len(records) >= 12:
            # One batch larger than the per-partition limit: ask for all of it next time.
            needed = 12 + int.from_bytes(records[8:12], "big")
            part.fetch_max_bytes = max(part.fetch_max_bytes, needed)

    # --- sending ------------------------------------------------------------------------------

    def _send_batches(self) -> bool:
        """Hand every batch that may go now to its path; True when anything went."""
        if self._new_producer_id:
            if self.dst.in_flight():
                return False
            self._renew_producer_id()
        now = time.monotonic()
        requests: dict[int, dict[Key, _Item]] = {}
        moved = False
        for key, part in self.batch_parts.items():
            if not part.queue or not self.parts.may_send(key) or part.retry_at > now:
                continue
            moved |= self._skip_and_fall_back(part)
            if not part.queue or part.queue[0].batch is None:
                continue
            item = part.queue[0]
            if (item.reason is not None or part.on_record_path
                    or len(part.in_flight) >= MAX_IN_FLIGHT):
                continue
            node = self._dst_leaders.get(key, -1)
            if node < 0:
                self._dst_stale = True
                continue
            if part.in_flight and node != part.node:
                continue  # the leader moved: the batches in flight are answered first
            if self.dst.in_flight(node) >= MAX_REQUESTS_PER_BROKER:
                continue
            requests.setdefault(node, {})[key] = item
        for node, items in requests.items():
            self._produce(node, items)
            moved = True
        return moved

    def _skip_and_fall_back(self, part: _Partition) -> bool:
        """Take skipped batches and record-path batches off the head of the queue."""
        moved = False
        track = self.tracker.track(*part.key)
        while part.queue:
            item = part.queue[0]
            if item.batch is None:
                part.queue.popleft()
                track.passed(item.last_offset)
                part.skipped_to = max(part.skipped_to, item.last_offset)
                moved = True
                continue
            if item.reason is None or part.in_flight:
                return moved
            if not self._send_records(part, item, track):
                return moved  # the writer's queue is full: the rest later, in order
            part.queue.popleft()
            part.queued_bytes -= item.batch.size_bytes
            self.batches[REASON_LABELS[item.reason]] += 1
            track.passed(item.last_offset)
            moved = True
        return moved

    def _send_records(self, part: _Partition, item: _Item, track: PartitionTrack) -> bool:
        """Send a batch's records (from ``item.wanted`` on) through the record path."""
        assert item.batch is not None
        topic, partition = part.key
        sink = _RecordPathSink(part, track)
        for record in decode_records(item.batch):
            if record.offset < item.wanted:
                continue
            try:
                self.writer.send(self.target_topic(topic), partition, record.key, record.value,
                                 record.headers,
                                 record.timestamp_ms, sink, record.offset)
            except QueueFull:
                return False
            part.on_record_path += 1
            track.sent(record.offset)
            item.wanted = record.offset + 1
            self._count(topic, 1, len(record.value or b""))
        return True

    def _produce(self, node: int, items: dict[Key, _Item]) -> None:
        assert self._producer is not None
        producer_id, epoch = self._producer
        self._requests += 1
        request = self._requests
        data = {}
        for key, item in items.items():
            part = self.batch_parts[key]
            batch = item.batch
            assert batch is not None
            part.queue.popleft()
            item.sequence, item.request = part.next_sequence, request
            part.next_sequence = (item.sequence + batch.last_offset_delta + 1) % SEQUENCE_WRAP
            part.in_flight.append(item)
            part.node = node
            track = self.tracker.track(*key)
            track.sent(batch.base_offset)
            data[(self.target_topic(key[0]), key[1])] = rewrite_for_produce(
                batch, producer_id, epoch, item.sequence)
        try:
            self.dst.produce(node, data, PRODUCE_TIMEOUT_MS,
                             lambda results, error: self._produced(request, items, results,
                                                                   error))
        except WireError as exc:
            self._produced(request, items, [], exc)

    def _produced(self, request: int, items: dict[Key, _Item], results: list[ProduceResult],
                  error: WireError | None) -> None:
        if error is not None:
            self._warn("produce", f"{error}; sending again")
            self._dst_stale = True
            for key in items:
                self._again(key, request)
            return
        for result in results:
            key = (self._from_target.get(result.topic, result.topic), result.partition)
            item = items.get(key)
            part = self.batch_parts.get(key)
            if item is None or part is None or item.request != request or (
                    not part.in_flight or part.in_flight[0] is not item):
                continue  # revoked, or already queued again after an earlier failure
            code = result.error
            if code is None or code.name == "DUPLICATE_SEQUENCE_NUMBER":
                self._acknowledged(part, item, result.base_offset)
            elif code.name in _TOO_LARGE:
                item.reason = FallbackReason.TOO_LARGE
                self._again(key, request)
            elif code.name in _NEW_PRODUCER_ID:
                self._warn("producer-id", f"target, topic {key[0]} partition {key[1]}: "
                           f"{code.name}; continuing with a new producer id")
                self._new_producer_id = True
                self._again(key, request)
            elif code.retriable or code.name in _SOURCE_METADATA:
                self._dst_stale = True
                self._again(key, request)
            else:
                self._refused(part, item, code, result.message)

    def _acknowledged(self, part: _Partition, item: _Item, target_base: int) -> None:
        batch = item.batch
        assert batch is not None
        part.in_flight.popleft()
        part.retries = 0
        part.queued_bytes -= batch.size_bytes
        track = self.tracker.track(*part.key)
        track.acked(batch.base_offset)
        track.passed(batch.last_offset)
        if part.skipped_to > track.highest and not part.in_flight and (
                not part.queue or part.queue[0].last_offset > part.skipped_to):
            # Batches sent again after a failure lowered the track below a skipped batch
            # that came after them (see _again): every batch before it is acknowledged now.
            track.passed(part.skipped_to)
        if target_base >= 0:  # a duplicate's answer may not carry it
            self.offset_map.record(part.key, batch.base_offset, target_base, batch.records_count)
            if self.syncs is not None:  # offset deltas travel with the batch: one to one
                self.syncs.exact_pair(part.key, batch.last_offset,
                                      target_base + batch.last_offset_delta,
                                      run=(batch.base_offset, target_base))
        self.batches[WHOLE] += 1
        self._count(part.key[0], batch.records_count, batch.size_bytes)
        if self.offset_map.recorded % 64 == 1 and batch.max_timestamp > 0:
            self.writer.add_latency_sample(time.time() - batch.max_timestamp / 1000)

    def _again(self, key: Key, request: int) -> None:
        """Queue the partition's unacknowledged batches again, in order, same sequences."""
        part = self.batch_parts.get(key)
        if part is None or not part.in_flight:
            return
        track = self.tracker.track(*key)
        again = list(part.in_flight)
        part.in_flight.clear()
        part.next_sequence = again[0].sequence
        for item in again:
            assert item.batch is not None
            # (this also undoes a skipped batch's advance; _acknowledged restores it)
            track.withdrawn(item.batch.base_offset)
        part.queue.extendleft(reversed(again))
        part.retry_at = time.monotonic() + min(RETRY_BACKOFF_S * 2 ** part.retries, 1.0)
        part.retries += 1
        self.stats.retries += 1

    def _renew_producer_id(self) -> None:
        self._producer = self.dst.init_producer_id()
        self._new_producer_id = False
        for part in self.batch_parts.values():
            part.next_sequence = 0

    def _refused(self, part: _Partition, item: _Item, code: KafkaCode,
                 message: str | None) -> None:
        batch = item.batch
        assert batch is not None
        self.tracker.track(*part.key).failed(batch.base_offset)
        reason = (message or code.message or code.name).strip()
        self.writer.failures.append(SendFailure(  # (named by the target topic, as the writer's)
            self.target_topic(part.key[0]), part.key[1], batch.base_offset,
            f"{reason} (a batch of {batch.records_count} records, offsets "
            f"{batch.base_offset}..{batch.last_offset}, {batch.size_bytes:,} bytes)",
            code.name, 0,
        ))
        part.queue.clear()
        part.in_flight.clear()

    def _count(self, topic: str, records: int, size: int) -> None:
        self.stats.records += records
        self.stats.bytes += size
        counts = self.stats.by_topic.get(topic)
        if counts is None:
            counts = self.stats.by_topic[topic] = [0, 0]
        counts[0] += records
        counts[1] += size

    def _warn(self, kind: str, message: str) -> None:
        """A warning at most every WARN_INTERVAL_S per kind (an outage repeats them fast)."""
        now = time.monotonic()
        if now >= self._warned.get(kind, 0.0):
            self._warned[kind] = now + WARN_INTERVAL_S
            _log.warning("%s", message)

    def _expire(self) -> None:
        self.src.expire()
        self.dst.expire()

    # --- what the base loop calls -------------------------------------------------------------

    def _sync_positions(self) -> None:
        """Nothing to do: skipped batches already move the tracks (the paused consumer's own
        positions mean nothing here)."""

    def _drain(self, timeout_s: float) -> None:
        """Send what was fetched and wait for every acknowledgement (nothing more is fetched)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._error is None:
            busy = any(p.queue or p.in_flight or p.on_record_path
                       for k, p in self.batch_parts.items()
                       if self.parts.may_send(k))
            if not busy:
                return
            self._refresh_metadata()
            sent = self._send_batches()
            self.io.poll(0 if sent else 0.02)
            self._expire()
            self.writer.poll(0)
            try:
                self._check_failures()
            except MirrorError as exc:
                self._error = str(exc)

    def _report(self, finished: bool = False) -> None:
        self.stats.shallow_batches = dict(self.batches - self._reported_batches)
        self._reported_batches = Counter(self.batches)
        super()._report(finished)
        if finished:
            whole = self.batches[WHOLE]
            fallback = sum(n for label, n in self.batches.items() if label != WHOLE)
            reasons = ", ".join(f"{n} {label}" for label, n in sorted(self.batches.items())
                                if label != WHOLE)
            _log.info(
                "stream %d shallow: %d batches forwarded whole, %d through the record path%s",
                self.index, whole, fallback, f" ({reasons})" if reasons else "",
            )

    def _shutdown(self) -> int:
        try:
            return super()._shutdown()
        finally:
            self._closing = True
            self.src.close()
            self.dst.close()
            self.io.close()
