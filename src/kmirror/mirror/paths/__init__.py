"""Delivery paths: how the records of a stream's partitions reach the target.

The stream (mirror/stream.py) is the one loop every mode shares: group membership, topic
checks, source gaps, refused records, commits at the interval, reports, stop and drain. What
differs between modes is behind ``Path``, composed into the stream, never subclassed:

- ``paths/record.py`` ``RecordPath``: records polled by the consumer and produced one by one
  (optionally through a message handler), with one of three ways to learn of
  acknowledgements (``paths/acks.py``): checkpoints (the default), per record (a handler), or
  transactions (``--exactly-once``, ``paths/transactional.py``).
- ``paths/batch.py`` ``BatchPath``: the source's record batches fetched as bytes and forwarded
  whole (``--shallow``); a batch that cannot go whole goes through the record writer.

A path reaches the stream's shared state only through ``Loop`` (below), and moves commit
positions only through the tracker (mirror/tracker.py). INVARIANT kept by every path: a
partition's track learns of an acknowledgement only after the target gave it, so nothing at
or after an unacknowledged record is ever committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from kmirror.config.settings import MirrorSettings
from kmirror.kafka.reader import SourceReader
from kmirror.mirror.offset_syncs import SyncRecorder
from kmirror.mirror.partitions import Key, Partitions
from kmirror.mirror.report import StreamReport
from kmirror.mirror.tracker import OffsetTracker


class Loop(Protocol):
    """What a path may use of its stream."""

    settings: MirrorSettings
    label: str
    index: int
    reader: SourceReader
    tracker: OffsetTracker
    parts: Partitions
    stats: StreamReport  # (replaced at every report: read it, never keep it)
    syncs: SyncRecorder | None
    reset_to_earliest: bool

    def target_topic(self, topic: str) -> str:
        """The target topic that ``topic`` is mirrored into (the naming policy)."""
        ...

    @property
    def error(self) -> str | None:
        """Why the stream stops, once it must."""
        ...

    def fail(self, message: str) -> None:
        """Stop the stream with this error (after draining what is safe)."""
        ...

    def source_gap(self, key: Key, wanted: int | None) -> int:
        """Where ``key`` goes on when ``wanted`` is out of the source's range (may raise)."""
        ...

    def check_failures(self) -> None:
        """Stop partitions whose records the target refused (raises to stop the stream)."""
        ...

    def report(self) -> None:
        """Tell the supervisor how things stand (during long waits)."""
        ...

    def count(self, topic: str, records: int, size_bytes: int) -> None:
        """Records of ``topic`` handed to the target."""
        ...

    def source_key(self, target_topic: str, partition: int) -> Key:
        """The source partition whose records go to ``target_topic``'s ``partition``."""
        ...


class Acks(Protocol):
    """How the record path learns of acknowledgements (paths/acks.py, paths/transactional.py).
    ``writer`` is the record writer it settles for."""

    writer: Any

    def sent(self, last_timestamp_ms: int) -> None:
        """Records were handed to the writer; the newest one's source timestamp."""
        ...

    def serve(self) -> None:
        """After the writer served its delivery reports: settle what can be settled now."""
        ...

    def settle(self, keys: Iterable[Key] | None, timeout_s: float) -> None:
        """Before a commit: the tracks learn what the target acknowledged."""
        ...

    def drain(self, timeout_s: float) -> None:
        """Wait for the target's answers to everything sent."""
        ...

    def start_offsets(self, keys: list[Key]) -> dict[Key, int]:
        """Start offsets these acknowledgements insist on (transactions: stored positions)."""
        ...

    def released(self, keys: list[Key], lost: bool) -> None:
        """Partitions revoked (after their last commit) or lost."""
        ...

    def close(self) -> None:
        """Release the writer's clients, if this owns them."""
        ...


class Path(Protocol):
    """How records of a stream's partitions reach the target; called by the stream only."""

    def start(self) -> None:
        """Before the first step (e.g. an idempotent producer id for raw batches)."""
        ...

    def start_offsets(self, keys: list[Key]) -> dict[Key, int]:
        """Start offsets this path insists on for newly assigned partitions (the transactional
        path: the positions stored with the last committed transaction)."""
        ...

    def assigned(self, keys: list[Key]) -> None:
        """Partitions newly assigned, their tracks started at their start offsets."""
        ...

    def resume(self, keys: list[Key]) -> None:
        """Partitions whose topic is back: read them again from the first record not sent."""
        ...

    def drop(self, keys: Iterable[Key]) -> None:
        """Forget what was read and not yet sent for these partitions (they stop sending)."""
        ...

    def let_go(self, keys: list[Key]) -> None:
        """Partitions revoked, lost or refused: forget every state kept for them."""
        ...

    def released(self, keys: list[Key], lost: bool) -> None:
        """Partitions revoked (after their last commit) or lost: release what they held."""
        ...

    def step(self, now: float) -> bool:
        """Move records once: read, send, serve acknowledgements. True when the target has no
        room (the stream skips its commit and report this turn)."""
        ...

    def settle(self, keys: Iterable[Key] | None, timeout_s: float) -> None:
        """Before a commit: make what the target acknowledged known to the tracks (checkpoint,
        or committing transactions) and write the offset syncs that are due."""
        ...

    def sync_positions(self) -> None:
        """Move idle partitions past records the source skips (transaction markers)."""
        ...

    def drain(self, timeout_s: float) -> None:
        """Send what was read and wait for the target's answers (nothing more is read)."""
        ...

    def report_into(self, stats: StreamReport, finished: bool) -> None:
        """Add this path's own counters to a report."""
        ...

    def close(self) -> None:
        """Release the path's clients (idempotent)."""
        ...
