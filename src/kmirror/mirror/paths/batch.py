"""The batch path (``--shallow``): the source's record batches forwarded whole.

The group membership, the assignment and the offset commits stay with the stream's consumer
(its partitions are paused: it never fetches). Records move as raw batches instead
(``kmirror.kafka.raw_io``): fetched from the source leader, cut into batches, and each batch
that the target can take as it is goes out in a Produce request with its header adapted
(``kmirror.kafka.batches.rewrite_for_produce``) under kmirror's own idempotent producer id, so
a re-sent batch is recognised by the target and not written twice.

A batch that cannot go whole (it starts before the wanted offset, compaction left holes in
its offsets, it carries LogAppendTime or a delete horizon, or the target finds it too large)
goes through the record writer: its records are decoded and sent one by one. A partition uses
one way at a time: before switching, everything sent the other way has been acknowledged, so
the target receives the records in source order.

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
from functools import partial
from typing import Any

from kmirror.config.settings import MirrorSettings, SourceCluster
from kmirror.errors import MirrorError
from kmirror.kafka.admin import Admin
from kmirror.kafka.batches import (
    Codec,
    FallbackReason,
    ReadCommittedFilter,
    RecordBatch,
    fallback_reason,
    iter_batches,
)
from kmirror.kafka.raw_io import (
    READ_COMMITTED,
    FetchedPartition,
    RawIO,
    WireError,
)
from kmirror.kafka.wire_auth import wire_security
from kmirror.kafka.writer import TargetWriter
from kmirror.mirror.partitions import Key
from kmirror.mirror.paths import Loop
from kmirror.mirror.paths.acks import record_syncs
from kmirror.mirror.paths.batch_send import BatchSender
from kmirror.mirror.paths.batch_state import (
    CONSUMER_SERVE_INTERVAL_S,
    FETCH_RETRY_BACKOFF_S,
    METADATA_BACKOFF_S,
    NO_LIMIT,
    QUEUED_BYTES_PER_PARTITION,
    REASON_LABELS,
    WARN_INTERVAL_S,
    WHOLE,
    BatchItem,
    BatchPartition,
)
from kmirror.mirror.paths.choice import Seen
from kmirror.mirror.report import StreamReport

_log = logging.getLogger("kmirror.shallow")
BATCH_RECORDS = 5000
LOOK_BACK = 256  # offsets before a record-path partition's position that a look starts at
LOOK_BYTES = 32 << 10  # what a look fetches per partition
LOOK_BATCHES = 64  # batches a look summarises at most
# How long a broker may hold a fetch after its last answer brought no records, while nothing
# waits to be sent: records still end the wait at once; a partition added meanwhile (a move,
# a new assignment) waits for the next fetch. An idle mirror of 10,000 partitions built and
# sent its fetch twice a second (a few percent of a core; and each waiting fetch is a watch in
# the broker's purgatory).
IDLE_MAX_WAIT_MS = 2000
# Reasons that say a partition's batches would keep falling back (not a one-off like a start
# in mid-batch, or a batch the target finds too large).
_LASTING = frozenset((FallbackReason.OFFSET_HOLES, FallbackReason.LOG_APPEND_TIME,
                      FallbackReason.DELETE_HORIZON, FallbackReason.OTHER_CODEC))


def batch_path(loop: Loop, settings: MirrorSettings, source: SourceCluster,
               writer: TargetWriter, target_admin: Admin) -> BatchPath:
    """The batch path of one stream, with its raw connections to both clusters."""
    client = source.client
    client_id = f"kmirror-{source.alias}-{loop.index}-shallow"
    io = RawIO()
    src = io.cluster(source.bootstrap_servers, client_id, loop.label,
                     security=wire_security(client))
    dst = io.cluster(settings.target["bootstrap.servers"], client_id, "target",
                     security=wire_security(settings.target))
    return BatchPath(
        loop, writer, target_admin, io, src, dst,
        max_wait_ms=min(int(client.get("fetch.wait.max.ms", "500")), 500),
        fetch_max_bytes=int(client.get("fetch.max.bytes", "16777216")),
        partition_max_bytes=int(client.get("max.partition.fetch.bytes", "1048576")),
        isolation=(READ_COMMITTED if client.get("isolation.level", "read_committed")
                   == "read_committed" else 0),
    )


class BatchPath:
    """Batches forwarded whole (see the module docstring)."""

    def __init__(self, loop: Loop, writer: TargetWriter, target_admin: Admin, io: Any,
                 src: Any, dst: Any, *, max_wait_ms: int, fetch_max_bytes: int,
                 partition_max_bytes: int, isolation: int) -> None:
        """``writer``: the record writer (per-record acknowledgements) for the batches that
        cannot go whole; ``io``, ``src``, ``dst``: the raw connections (kafka/raw_io.py)."""
        self.loop, self.writer, self._target_admin = loop, writer, target_admin
        loop.reader.pause_on_assign = True  # the consumer never fetches
        self.io, self.src, self.dst = io, src, dst
        self.max_wait_ms, self.fetch_max_bytes = max_wait_ms, fetch_max_bytes
        self.partition_max_bytes, self.isolation = partition_max_bytes, isolation
        self.batch_parts: dict[Key, BatchPartition] = {}
        self._warned: dict[str, float] = {}
        self.sender = BatchSender(loop, writer, dst, self.batch_parts, self._warn)
        self._reported_batches: Counter[str] = Counter()
        self._src_leaders: dict[Key, int] = {}
        self._src_nodes: set[int] = set()  # the leaders among them
        self._src_stale = True
        self._next_metadata = 0.0
        self._next_serve = 0.0
        self._fetching: set[int] = set()  # source brokers with a fetch in flight
        self._empty: set[int] = set()  # source brokers whose last answer brought no records
        self._checked_compression: set[str] = set()
        self._closing = False
        self._fetch_retry_at: dict[int, float] = {}
        # The mixed path (paths/mixed.py): what it learns of each partition's batches, the
        # codec its producer config asks for (a batch in another one goes record by record),
        # the record-path partitions to look at (from offset), and the partitions parked: left
        # (or leaving) for the record path. A parked partition keeps its state, so its sequence
        # goes on where the target expects it when it comes back.
        self.observe: Callable[[Key, Seen], None] | None = None
        self.wanted_codec: Codec | None = None
        self.looks: dict[Key, int] = {}
        self._looking: set[int] = set()  # source brokers with a look in flight
        self._parked: set[Key] = set()

    # --- the Path protocol --------------------------------------------------------------------

    def start(self) -> None:
        """kmirror's own idempotent producer id on the target."""
        self.sender.start()

    def start_offsets(self, keys: list[Key]) -> dict[Key, int]:
        """No start offsets of its own."""
        return {}

    def assigned(self, keys: list[Key]) -> None:
        """Fetch state for new partitions, from where the stream started their tracks (the
        group's committed offsets, else where auto.offset.reset says)."""
        self._warn_on_recompression({self.loop.target_topic(topic) for topic, _ in keys})
        tracker = self.loop.tracker
        starts = {k: o for k in keys if (o := tracker.next_to_read(k)) is not None}
        missing = [k for k in keys if k not in starts]
        if missing:
            for key, (low, high) in self.loop.reader.watermarks(missing).items():
                starts[key] = low if self.loop.reset_to_earliest else high
        # On the default path (``observe`` set) a new partition's first fetch is a look: what
        # it shows decides the partition's path before any batch is sent, and a partition
        # going to the record path should not have a full fetch of its batches decoded first
        # (8 MB of one-record batches took 5 % of a one-record-batch copy's CPU).
        first_fetch = (min(LOOK_BYTES, self.partition_max_bytes) if self.observe is not None
                       else self.partition_max_bytes)
        for key in keys:
            self.batch_parts[key] = BatchPartition(key, starts[key], fetch_max_bytes=first_fetch,
                                                   next_sequence=self.sender.next_sequence(key))
            tracker.track(*key).consumed(starts[key] - 1)
        self._src_stale = self.sender.stale = True

    def resume(self, keys: list[Key]) -> None:
        """Nothing to do: fetching goes on at each partition's own position (the consumer
        stays paused)."""

    def drop(self, keys: Iterable[Key]) -> None:
        """Nothing to drop: batches queued for a partition that may not send stay queued."""

    def let_go(self, keys: list[Key]) -> None:
        """Forget the fetch state and offset pairs of these partitions."""
        for key in keys:
            part = self.batch_parts.pop(key, None)
            if part is not None:
                self.sender.let_go(part)
            self.looks.pop(key, None)
        self._parked.difference_update(keys)
        self.sender.offset_map.forget(keys)

    def released(self, keys: list[Key], lost: bool) -> None:
        """Nothing is held per partition."""

    def step(self, now: float) -> bool:
        """Keep the membership alive, fetch, forward, serve answers; never blocked."""
        if now >= self._next_serve:
            self._serve_consumer()
            self._next_serve = now + CONSUMER_SERVE_INTERVAL_S
        self.move(0.02)
        return False

    def move(self, wait_s: float) -> bool:
        """Fetch, forward and serve answers once, waiting up to ``wait_s`` for the network
        when nothing went; True when anything was sent. (The mixed path calls this alone:
        its record path serves the consumer.)"""
        self._refresh_metadata()
        self._fetch()
        self._look()
        sent = self.sender.send_batches()
        self.io.poll(0 if sent else wait_s)
        self._expire()
        self.writer.poll(0)
        return sent

    # --- partitions moving between paths (paths/mixed.py) -------------------------------------

    def take(self, key: Key, position: int) -> None:
        """Forward ``key``'s batches from ``position`` on (it comes from the record path, whose
        records are all acknowledged)."""
        self.looks.pop(key, None)
        part = self.batch_parts.get(key)
        if part is None:
            self.batch_parts[key] = BatchPartition(key, position,
                                                   next_sequence=self.sender.next_sequence(key),
                                                   fetch_max_bytes=self.partition_max_bytes)
        else:  # (parked: it keeps its sequence)
            assert key in self._parked and self.left(key)
            part.position, part.skipped_to, part.retries = position, -1, 0
        self._parked.discard(key)
        if key not in self._src_leaders:
            self._src_stale = True
        if key not in self.sender.leaders:
            self.sender.stale = True

    def leave(self, key: Key) -> None:
        """Stop fetching ``key`` and forget what was fetched and not sent; batches sent and
        not acknowledged still go (again, with their sequences: never twice on the target)."""
        part = self.batch_parts.get(key)
        if part is None:
            return
        self._parked.add(key)
        kept = [item for item in part.queue if item.sequence >= 0]
        part.queue = deque(kept)
        part.queued_bytes = sum(i.batch.size_bytes for i in kept if i.batch is not None) + sum(
            i.batch.size_bytes for i in part.in_flight if i.batch is not None)

    def left(self, key: Key) -> bool:
        """Whether ``key`` (leaving) has left: nothing of it waits for the target any more (its
        track's highest offset is then the last one the target acknowledged)."""
        part = self.batch_parts.get(key)
        return part is None or not (part.queue or part.in_flight or part.on_record_path)

    @property
    def carrying(self) -> bool:
        """Whether any partition goes this way (is not parked)."""
        return self.carried > 0

    @property
    def carried(self) -> int:
        """How many partitions go this way (are not parked)."""
        return len(self.batch_parts) - len(self._parked)

    @property
    def quiet(self) -> bool:
        """Nothing fetched waits to be sent and nothing sent waits for the target (what comes
        back from the connections wakes a wait on them; the record writer's answers do not)."""
        return not self.sender.queued and not self.dst.in_flight() and not self.writer.queued()

    @property
    def looking(self) -> bool:
        """Whether looks are asked for or in flight."""
        return bool(self.looks or self._looking)

    def settle(self, keys: Iterable[Key] | None, timeout_s: float) -> None:
        """Acknowledgements reach the tracks as they come: write the offset syncs due."""
        record_syncs(self.loop, self.writer)

    def sync_positions(self) -> None:
        """Nothing to do: skipped batches already move the tracks (the paused consumer's own
        positions mean nothing here)."""

    def drain(self, timeout_s: float) -> None:
        """Send what was fetched and wait for every acknowledgement (nothing more is fetched)."""
        loop = self.loop
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and loop.error is None:
            if not self._waiting():
                return
            self._refresh_metadata()
            sent = self.sender.send_batches()
            self.io.poll(0 if sent else 0.02)
            self._expire()
            self.writer.poll(0)
            try:
                loop.check_failures()
            except MirrorError as exc:
                loop.fail(str(exc))

    def _waiting(self) -> bool:
        """Whether a batch waits for the target: in flight, or fetched for a partition whose
        target leader is known (one without, e.g. its target topic deleted, would wait for
        ever; what it fetched is not committed and is fetched again by the next owner)."""
        leaders, may_send = self.sender.leaders, self.loop.parts.may_send
        return any(p.in_flight or p.on_record_path or (p.queue and leaders.get(k, -1) >= 0)
                   for k, p in self.batch_parts.items() if may_send(k))

    def report_into(self, stats: StreamReport, finished: bool) -> None:
        """Batches forwarded whole or not (and why) since the last report; the final line."""
        batches = self.sender.batches
        stats.shallow_batches = dict(batches - self._reported_batches)
        if self.observe is None:  # (--shallow: every partition; else the mixed path says)
            stats.partition_paths = dict(Counter(
                (topic, "batches", "--shallow") for topic, _ in self.batch_parts))
        self._reported_batches = Counter(batches)
        if finished:
            whole = batches[WHOLE]
            fallback = sum(n for label, n in batches.items() if label != WHOLE)
            reasons = ", ".join(f"{n} {label}" for label, n in sorted(batches.items())
                                if label != WHOLE)
            _log.info(
                "stream %d shallow: %d batches forwarded whole, %d through the record path%s",
                self.loop.index, whole, fallback, f" ({reasons})" if reasons else "",
            )

    def close(self) -> None:
        """Close the raw connections (idempotent)."""
        self._closing = True
        self.src.close()
        self.dst.close()
        self.io.close()

    # --- set-up -------------------------------------------------------------------------------

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

    def _serve_consumer(self) -> None:
        """Keep the group membership alive and run rebalance callbacks; nothing is fetched
        (every partition is paused as it is assigned; anything returned anyway is dropped:
        its offsets are fetched again on the batch path)."""
        records, error = self.loop.reader.poll_batch(BATCH_RECORDS, 0)
        fetched = {(r.topic(), r.partition()) for r in records}
        if fetched:
            self.loop.reader.pause(fetched)
        if error is not None:
            where = (f"{self.loop.label}, topic {error.topic} partition {error.partition}"
                     if error.topic else self.loop.label)
            if error.fatal:
                raise MirrorError(f"{where}: fatal consumer error: {error.text}")
            if not error.offset_reset:  # (the paused consumer's own position means nothing)
                _log.warning("%s: %s", where, error.text)

    def _refresh_metadata(self) -> None:
        sender = self.sender
        if not (self._src_stale or sender.stale) or time.monotonic() < self._next_metadata:
            return
        self._next_metadata = time.monotonic() + METADATA_BACKOFF_S
        topics = {topic for topic, _ in self.batch_parts} | {topic for topic, _ in self.looks}
        if not topics:
            self._src_stale = sender.stale = False
            return
        try:
            if self._src_stale:
                self._src_leaders = self.src.metadata(topics).leaders
                self._src_nodes = set(self._src_leaders.values()) - {-1}
                self._src_stale = any(self._src_leaders.get(k, -1) < 0
                                      for k in (*self.batch_parts, *self.looks))
            if sender.stale:
                sender.refresh_leaders(topics)
        except WireError as exc:
            self._warn("metadata", f"{exc}; retrying")

    # --- fetching -----------------------------------------------------------------------------

    def _fetch(self) -> None:
        now = time.monotonic()
        retry_at = self._fetch_retry_at
        ready = {n for n in self._src_nodes
                 if n not in self._fetching and retry_at.get(n, 0.0) <= now}
        if not ready:
            # Every source leader is being fetched from already (10,000 partitions looked at
            # for nothing, fifty times a second, took a tenth of a core).
            return
        by_node: dict[int, dict[Key, int]] = {}
        limits: dict[int, int] = {}
        parked, may_send, leaders = self._parked, self.loop.parts.may_send, self._src_leaders
        for key, part in self.batch_parts.items():
            node = leaders.get(key, -1)
            if (node not in ready or not may_send(key) or key in parked
                    or part.queued_bytes >= QUEUED_BYTES_PER_PARTITION):
                continue
            positions = by_node.get(node)
            if positions is None:
                positions = by_node[node] = {}
            positions[key] = part.position
            if part.fetch_max_bytes > limits.get(node, 0):
                limits[node] = part.fetch_max_bytes
        quiet = bool(self._empty) and self.quiet
        for node, positions in by_node.items():
            limit = limits[node]
            wait_ms = (max(self.max_wait_ms, IDLE_MAX_WAIT_MS) if quiet and node in self._empty
                       else self.max_wait_ms)
            # (marked before: a connection that fails at once answers inside the call)
            self._fetching.add(node)
            try:
                self.src.fetch(
                    node, positions, max_wait_ms=wait_ms, max_bytes=self.fetch_max_bytes,
                    partition_max_bytes=limit, isolation_level=self.isolation,
                    callback=partial(self._fetched, node), session=True,
                )
            except WireError as exc:
                self._fetching.discard(node)
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
        if any(fetched.records for fetched in result):
            self._empty.discard(node)
        else:
            self._empty.add(node)
        for fetched in result:
            key = (fetched.topic, fetched.partition)
            part = self.batch_parts.get(key)
            if (part is None or fetched.fetch_offset != part.position
                    or not self.loop.parts.may_send(key) or key in self._parked):
                continue  # revoked, stopped, held, parked, or an answer for an old position
            if fetched.error is not None:
                self._fetch_error(part, fetched)
            else:
                self._take_batches(part, fetched)

    def _fetch_error(self, part: BatchPartition, fetched: FetchedPartition) -> None:
        code = fetched.error
        assert code is not None
        where = f"{self.loop.label}, topic {fetched.topic} partition {fetched.partition}"
        if code.out_of_range:
            # (raises with --on.source.gap fail)
            restart = self.loop.source_gap(part.key, part.position)
            if self.loop.parts.is_stopped(part.key):
                return  # the topic was created again: stopped, not moved
            part.position = restart
            self.loop.tracker.track(*part.key).moved_to(restart)
        elif code.retriable or code.stale_metadata:
            self._src_stale = True
        else:
            raise MirrorError(f"{where}: fetch refused: {code.name} {code.message}".rstrip())

    def _take_batches(self, part: BatchPartition, fetched: FetchedPartition) -> None:
        keep = ReadCommittedFilter(fetched.aborted).keeps if self.isolation else None
        records = fetched.records
        took = False
        codec = self.wanted_codec
        seen = Seen(0, 0, 0) if self.observe is not None else None
        for batch in iter_batches(records):
            if batch.next_offset <= part.position:
                if keep is not None:
                    keep(batch)  # the filter sees every batch, in order
                continue
            took = True
            if (keep is not None and not keep(batch)) or batch.is_control:
                part.queue.append(BatchItem(None, batch.last_offset))
            else:
                reason = fallback_reason(batch, part.position, NO_LIMIT)
                if reason is None and codec is not None and batch.codec is not codec:
                    reason = FallbackReason.OTHER_CODEC
                part.queue.append(BatchItem(batch, batch.last_offset, reason, part.position))
                part.queued_bytes += batch.size_bytes
                if seen is not None:
                    _count(seen, batch, reason)
            part.position = batch.next_offset
        if took:
            self.sender.queued[part.key] = None
        if seen is not None and seen.batches:
            assert self.observe is not None
            self.observe(part.key, seen)
        if part.fetch_max_bytes < self.partition_max_bytes:  # (after the first look)
            part.fetch_max_bytes = self.partition_max_bytes
        if not took and len(records) >= 12:
            # One batch larger than the per-partition limit: ask for all of it next time.
            needed = 12 + int.from_bytes(records[8:12], "big")
            part.fetch_max_bytes = max(part.fetch_max_bytes, needed)

    def _look(self) -> None:
        """Fetch a little of each record-path partition asked for (``looks``): what its
        batches look like reaches ``observe``; nothing is queued."""
        if not self.looks:
            return
        by_node: dict[int, dict[Key, int]] = {}
        for key, offset in self.looks.items():
            node = self._src_leaders.get(key, -1)
            if node < 0:
                self._src_stale = True
            elif node not in self._looking:
                by_node.setdefault(node, {})[key] = offset
        for node, positions in by_node.items():
            self._looking.add(node)  # (before: see _fetch)
            try:
                self.src.fetch(node, positions, max_wait_ms=0, max_bytes=self.fetch_max_bytes,
                               partition_max_bytes=LOOK_BYTES, isolation_level=self.isolation,
                               callback=partial(self._looked, node))
            except WireError as exc:
                self._looking.discard(node)
                self._warn("fetch", f"{exc}; retrying")
                self._src_stale = True

    def _looked(self, node: int, result: list[FetchedPartition],
                error: WireError | None) -> None:
        self._looking.discard(node)
        if error is not None:
            return  # (asked again at the next look)
        for fetched in result:
            key = (fetched.topic, fetched.partition)
            if self.looks.get(key) != fetched.fetch_offset:
                continue  # (moved meanwhile)
            del self.looks[key]
            if fetched.error is None and self.observe is not None:
                seen = self._summary(fetched)
                if seen.batches:
                    self.observe(key, seen)

    def _summary(self, fetched: FetchedPartition) -> Seen:
        """What a look saw: the data batches from its offset on (up to LOOK_BATCHES); a batch
        too large for the look counts as one batch of its declared size."""
        seen = Seen(0, 0, 0)
        codec = self.wanted_codec
        records = fetched.records
        for batch in iter_batches(records):
            if batch.is_control or batch.next_offset <= fetched.fetch_offset:
                continue
            reason = fallback_reason(batch, batch.base_offset, NO_LIMIT)
            if reason is None and codec is not None and batch.codec is not codec:
                reason = FallbackReason.OTHER_CODEC
            _count(seen, batch, reason)
            if seen.batches >= LOOK_BATCHES:
                break
        if not seen.batches and len(records) >= 27:  # (base offset .. last offset delta)
            seen.batches, seen.size_bytes = 1, 12 + int.from_bytes(records[8:12], "big")
            seen.records = int.from_bytes(records[23:27], "big") + 1
        return seen

    # --- sending ------------------------------------------------------------------------------

    def _warn(self, kind: str, message: str) -> None:
        """A warning at most every WARN_INTERVAL_S per kind (an outage repeats them fast)."""
        now = time.monotonic()
        if now >= self._warned.get(kind, 0.0):
            self._warned[kind] = now + WARN_INTERVAL_S
            _log.warning("%s", message)

    def _expire(self) -> None:
        self.src.expire()
        self.dst.expire()


def _count(seen: Seen, batch: RecordBatch, reason: FallbackReason | None) -> None:
    """Add a data batch to what was seen of its partition."""
    seen.batches += 1
    seen.records += batch.records_count
    seen.size_bytes += batch.size_bytes
    if reason is not None and reason in _LASTING:
        seen.unfit += 1
        seen.unfit_reason = REASON_LABELS[reason]
