"""The batch path's target side: forwarding batches whole, in order, exactly once.

Per partition, at most ``MAX_IN_FLIGHT`` batches are in flight, all on the one connection to
its target leader, where the broker handles them in order, under kmirror's own idempotent
producer id and per-partition sequences. A batch not acknowledged (connection lost, leader
moved, timeout) goes again with every later one of its partition, with the same sequence
numbers: the target acknowledges those it already has without writing them twice. A batch that
cannot go whole goes through the record writer once everything sent whole before it is
acknowledged (and the other way round), so the target receives the records in source order.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from kmirror.kafka.batches import FallbackReason, rewrite_for_produce
from kmirror.kafka.raw_io import KafkaCode, ProduceResult, WireError, decode_records
from kmirror.kafka.writer import QueueFull, SendFailure, TargetWriter
from kmirror.mirror.partitions import Key
from kmirror.mirror.paths import Loop
from kmirror.mirror.paths.batch_state import (
    MAX_IN_FLIGHT,
    MAX_REQUESTS_PER_BROKER,
    PRODUCE_TIMEOUT_MS,
    REASON_LABELS,
    RETRY_BACKOFF_S,
    SEQUENCE_WRAP,
    WHOLE,
    BatchItem,
    BatchPartition,
    OffsetMap,
    RecordPathSink,
)
from kmirror.mirror.tracker import PartitionTrack


class BatchSender:
    """Sends the fetched batches of every partition to the target (see the module docstring)."""

    def __init__(self, loop: Loop, writer: TargetWriter, dst: Any,
                 batch_parts: dict[Key, BatchPartition], warn: Callable[[str, str], None]
                 ) -> None:
        """``dst``: the raw connection to the target (kafka/raw_io.py); ``batch_parts``: the
        path's per-partition state, shared with its fetching side; ``warn``: throttled."""
        self.loop, self.writer, self.dst, self.warn = loop, writer, dst, warn
        self.batch_parts = batch_parts
        # The partitions whose queue may hold batches (all that do, maybe more): what
        # ``send_batches`` looks at, not 10,000 idle partitions fifty times a second.
        self.queued: dict[Key, None] = {}
        self.offset_map = OffsetMap()
        self.batches: Counter[str] = Counter()  # WHOLE or a reason label -> batches
        self.leaders: dict[Key, int] = {}  # target leader per source partition
        self.from_target: dict[str, str] = {}  # target topic -> source topic
        self.stale = True  # the target leaders need a metadata refresh
        self._producer: tuple[int, int] | None = None
        self.new_producer_id = False
        # The next sequence of partitions let go, for this producer id: one handed back later
        # goes on from there (from 0, the target answered OUT_OF_ORDER_SEQUENCE_NUMBER to each
        # partition a rebalance handed back, and the path took a new producer id every time).
        self._let_go_sequences: dict[Key, int] = {}
        self._requests = 0

    def start(self) -> None:
        """kmirror's own idempotent producer id on the target."""
        self._producer = self.dst.init_producer_id()

    def refresh_leaders(self, topics: set[str]) -> None:
        """Read where the target topics of these source topics are led (raises WireError)."""
        names = {self.loop.target_topic(t): t for t in topics}
        self.from_target.update(names)
        self.leaders = {  # by source partition
            (names[t], p): node
            for (t, p), node in self.dst.metadata(names).leaders.items() if t in names
        }
        self.stale = any(self.leaders.get(k, -1) < 0 for k in self.batch_parts)

    def busy(self, may_send: Callable[[Key], bool]) -> bool:
        """Anything fetched or sent that still waits for the target."""
        return any(p.queue or p.in_flight or p.on_record_path
                   for k, p in self.batch_parts.items() if may_send(k))

    def send_batches(self) -> bool:
        """Hand every batch that may go now to its path; True when anything went."""
        if self.new_producer_id:
            if self.dst.in_flight():
                return False
            self._renew_producer_id()
        now = time.monotonic()
        requests: dict[int, dict[Key, BatchItem]] = {}
        moved = False
        queued, may_send = self.queued, self.loop.parts.may_send
        for key in list(queued):
            part = self.batch_parts.get(key)
            if part is None or not part.queue:
                del queued[key]
                continue
            if not may_send(key) or part.retry_at > now:
                continue
            moved |= self._skip_and_fall_back(part)
            if not part.queue or part.queue[0].batch is None:
                continue
            item = part.queue[0]
            if (item.reason is not None or part.on_record_path
                    or len(part.in_flight) >= MAX_IN_FLIGHT):
                continue
            node = self.leaders.get(key, -1)
            if node < 0:
                self.stale = True
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

    def _skip_and_fall_back(self, part: BatchPartition) -> bool:
        """Take skipped batches and record-path batches off the head of the queue."""
        moved = False
        track = self.loop.tracker.track(*part.key)
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

    def _send_records(self, part: BatchPartition, item: BatchItem, track: PartitionTrack) -> bool:
        """Send a batch's records (from ``item.wanted`` on) through the record path."""
        assert item.batch is not None
        topic, partition = part.key
        sink = RecordPathSink(part, track)
        for record in decode_records(item.batch):
            if record.offset < item.wanted:
                continue
            try:
                self.writer.send(self.loop.target_topic(topic), partition, record.key, record.value,
                                 record.headers,
                                 record.timestamp_ms, sink, record.offset)
            except QueueFull:
                return False
            part.on_record_path += 1
            track.sent(record.offset)
            item.wanted = record.offset + 1
            self.loop.count(topic, 1, len(record.value or b""))
        return True

    def _produce(self, node: int, items: dict[Key, BatchItem]) -> None:
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
            track = self.loop.tracker.track(*key)
            track.sent(batch.base_offset)
            data[(self.loop.target_topic(key[0]), key[1])] = rewrite_for_produce(
                batch, producer_id, epoch, item.sequence)
        try:
            self.dst.produce(node, data, PRODUCE_TIMEOUT_MS,
                             lambda results, error: self._produced(request, items, results,
                                                                   error))
        except WireError as exc:
            self._produced(request, items, [], exc)

    def _produced(self, request: int, items: dict[Key, BatchItem], results: list[ProduceResult],
                  error: WireError | None) -> None:
        if error is not None:
            self.warn("produce", f"{error}; sending again")
            self.stale = True
            for key in items:
                self._again(key, request)
            return
        for result in results:
            key = (self.from_target.get(result.topic, result.topic), result.partition)
            item = items.get(key)
            part = self.batch_parts.get(key)
            if item is None or part is None or item.request != request or (
                    not part.in_flight or part.in_flight[0] is not item):
                continue  # revoked, or already queued again after an earlier failure
            code = result.error
            if code is None or code.duplicate:
                self._acknowledged(part, item, result.base_offset)
            elif code.too_large:
                item.reason = FallbackReason.TOO_LARGE
                self._again(key, request)
            elif code.needs_new_producer_id:
                self.warn("producer-id", f"target, topic {key[0]} partition {key[1]}: "
                           f"{code.name}; continuing with a new producer id")
                self.new_producer_id = True
                self._again(key, request)
            elif code.retriable or code.stale_metadata:
                self.stale = True
                self._again(key, request)
            else:
                self._refused(part, item, code, result.message)

    def _acknowledged(self, part: BatchPartition, item: BatchItem, target_base: int) -> None:
        batch = item.batch
        assert batch is not None
        part.in_flight.popleft()
        part.retries = 0
        part.queued_bytes -= batch.size_bytes
        track = self.loop.tracker.track(*part.key)
        if target_base >= 0:
            written_to: int | None = target_base + batch.last_offset_delta
        else:  # (a duplicate: written before, right after what was acknowledged before it)
            before = track.target_next
            written_to = None if before is None else before + batch.last_offset_delta
        track.acked(batch.base_offset, written_to)
        track.passed(batch.last_offset)
        if part.skipped_to > track.highest and not part.in_flight and (
                not part.queue or part.queue[0].last_offset > part.skipped_to):
            # Batches sent again after a failure lowered the track below a skipped batch
            # that came after them (see _again): every batch before it is acknowledged now.
            track.passed(part.skipped_to)
        if target_base >= 0:  # a duplicate's answer may not carry it
            self.offset_map.record(part.key, batch.base_offset, target_base, batch.records_count)
            if self.loop.syncs is not None:  # offset deltas travel with the batch: one to one
                self.loop.syncs.exact_pair(part.key, batch.last_offset,
                                      target_base + batch.last_offset_delta,
                                      run=(batch.base_offset, target_base))
        self.batches[WHOLE] += 1
        self.loop.count(part.key[0], batch.records_count, batch.size_bytes)
        if self.offset_map.recorded % 64 == 1 and batch.max_timestamp > 0:
            self.writer.add_latency_sample(time.time() - batch.max_timestamp / 1000)

    def _again(self, key: Key, request: int) -> None:
        """Queue the partition's unacknowledged batches again, in order, same sequences."""
        part = self.batch_parts.get(key)
        if part is None or not part.in_flight:
            return
        track = self.loop.tracker.track(*key)
        again = list(part.in_flight)
        part.in_flight.clear()
        part.next_sequence = again[0].sequence
        for item in again:
            assert item.batch is not None
            # (this also undoes a skipped batch's advance; _acknowledged restores it)
            track.withdrawn(item.batch.base_offset)
        part.queue.extendleft(reversed(again))
        self.queued[key] = None
        part.retry_at = time.monotonic() + min(RETRY_BACKOFF_S * 2 ** part.retries, 1.0)
        part.retries += 1
        self.loop.stats.retries += 1

    def _renew_producer_id(self) -> None:
        self._producer = self.dst.init_producer_id()
        self.new_producer_id = False
        self._let_go_sequences.clear()
        for part in self.batch_parts.values():
            part.next_sequence = 0

    def let_go(self, part: BatchPartition) -> None:
        """``part`` is no longer ours: remember where its sequence stands."""
        self._let_go_sequences[part.key] = part.next_sequence

    def next_sequence(self, key: Key) -> int:
        """The next sequence of a partition taken (again) by this producer id."""
        return self._let_go_sequences.pop(key, 0)

    def _refused(self, part: BatchPartition, item: BatchItem, code: KafkaCode,
                 message: str | None) -> None:
        batch = item.batch
        assert batch is not None
        self.loop.tracker.track(*part.key).failed(batch.base_offset)
        reason = (message or code.message or code.name).strip()
        self.writer.failures.append(SendFailure(  # (named by the target topic, as the writer's)
            self.loop.target_topic(part.key[0]), part.key[1], batch.base_offset,
            f"{reason} (a batch of {batch.records_count} records, offsets "
            f"{batch.base_offset}..{batch.last_offset}, {batch.size_bytes:,} bytes)",
            code.name, 0, code.refusal,
        ))
        part.queue.clear()
        part.in_flight.clear()
