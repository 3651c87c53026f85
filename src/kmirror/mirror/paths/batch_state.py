"""The batch path's state per partition: fetched batches waiting, batches in flight, offsets.

See paths/batch.py for how batches move; this module holds what they move through.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from kmirror.kafka.batches import FallbackReason, RecordBatch
from kmirror.mirror.partitions import Key
from kmirror.mirror.tracker import PartitionTrack

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

# How each fallback reason is counted and shown (the summary line and the metric's label).
REASON_LABELS = {
    FallbackReason.STARTS_BEFORE_WANTED: "starts mid-batch",
    FallbackReason.OFFSET_HOLES: "compacted",
    FallbackReason.TOO_LARGE: "too large",
    FallbackReason.LOG_APPEND_TIME: "log-append time",
    FallbackReason.DELETE_HORIZON: "delete horizon",
    FallbackReason.OTHER_CODEC: "other codec",
}
WHOLE = "whole"


@dataclass(eq=False)
class BatchItem:
    """A fetched batch waiting for its path: whole, record path, or skipped (not data)."""

    batch: RecordBatch | None  # None: skipped (control batch, aborted transaction)
    last_offset: int
    reason: FallbackReason | None = None
    wanted: int = 0  # record path: first offset to send (earlier ones are mirrored already)
    sequence: int = -1
    request: int = -1  # the produce request that carries it


@dataclass
class BatchPartition:
    key: Key
    position: int  # next source offset to fetch
    queue: deque[BatchItem] = field(default_factory=deque)
    in_flight: deque[BatchItem] = field(default_factory=deque)  # whole batches, in send order
    on_record_path: int = 0  # records sent through the writer, not acknowledged yet
    next_sequence: int = 0
    queued_bytes: int = 0
    fetch_max_bytes: int = 0
    retry_at: float = 0.0
    node: int = -1  # the target broker its batches in flight went to
    retries: int = 0  # sent again since the last acknowledgement (backoff grows)
    skipped_to: int = -1  # last offset of the latest skipped batch (marker, aborted data)


class RecordPathSink:
    """AckSink of a record sent through the writer for a shallow partition."""

    __slots__ = ("part", "track")

    def __init__(self, part: BatchPartition, track: PartitionTrack) -> None:
        self.part, self.track = part, track

    def acked(self, offset: int, target: int | None = None) -> None:
        self.part.on_record_path -= 1
        self.track.acked(offset, target)

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
