"""How the record path learns that the target acknowledged what it sent.

- ``CheckpointAcks`` (the default record path): the producers report refusals only. When they
  hold nothing any more, every record sent before that moment and not refused was
  acknowledged (kmirror.kafka.writer explains why), so the tracks are settled all at once: a
  *checkpoint*. Refused records are matched to their source offsets first, so a track never
  passes one.
- ``RecordAcks``: each record's delivery report reaches its track (a message handler may send a
  record elsewhere or several times; the batch path's fallback records).
- ``TransactionalAcks`` (paths/transactional.py): records count once their transaction
  commits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from kmirror.kafka.writer import Refusal, SendFailure, TargetWriter
from kmirror.mirror.partitions import Key
from kmirror.mirror.paths import Loop

_log = logging.getLogger("kmirror.stream")

# (label, topic, partition, from offset, to offset, [(key, size, timestamp)]) -> {index: offset}
Locate = Callable[[str, str, int, int, int, list[tuple[bytes | None, int, int]]], dict[int, int]]

FLUSH_SLICE_S = 0.5  # flush in slices, reporting in between (the supervisor watches for silence)


def record_syncs(loop: Loop, writer: Any) -> None:
    """Write the offset syncs that are due: the exact pairs the writer saw acknowledged, then
    what the recorder holds (every record sent before has been acknowledged)."""
    syncs = loop.syncs
    if syncs is None:
        return
    if writer.last_acked:
        sources = {loop.target_topic(t): t for t, _ in loop.parts.assigned}
        acked, writer.last_acked = writer.last_acked, {}
        for (topic, partition), (upstream, downstream) in acked.items():
            if topic in sources:
                syncs.exact_pair((sources[topic], partition), upstream, downstream)
    syncs.sync()


class RecordAcks:
    """Every record's delivery report reaches its track (``per_record_acks``)."""

    def __init__(self, loop: Loop, writer: TargetWriter) -> None:
        self.loop, self.writer = loop, writer

    def sent(self, last_timestamp_ms: int) -> None:
        """Records were handed to the writer (nothing to remember: their reports say it)."""

    def serve(self) -> None:
        """After serving delivery reports: nothing more to do."""

    def settle(self, keys: Iterable[Key] | None, timeout_s: float) -> None:
        """The tracks are up to date already: write the offset syncs that are due."""
        record_syncs(self.loop, self.writer)

    def drain(self, timeout_s: float) -> None:
        """Wait until the producers hold nothing (or the timeout)."""
        deadline = time.monotonic() + timeout_s
        while self.writer.queued() and time.monotonic() < deadline:
            self.writer.poll(0.1)

    def start_offsets(self, keys: list[Key]) -> dict[Key, int]:
        """No start offsets of its own."""
        return {}

    def released(self, keys: list[Key], lost: bool) -> None:
        """Nothing is held per partition."""

    def close(self) -> None:
        """The writer is closed by the stream's shutdown drain."""


class CheckpointAcks:
    """Refusals only; the tracks are settled at checkpoints (see the module docstring)."""

    drain_timeout_s = 300.0  # a refusal waits this long for the checkpoint that places it

    def __init__(self, loop: Loop, writer: TargetWriter, locate: Locate) -> None:
        """``locate``: finds refused records among the source's (kafka/scan.py)."""
        self.loop, self.writer = loop, writer
        self._locate = locate
        self._unchecked = False  # records sent since the last checkpoint
        self._last_sent_timestamp_ms = 0
        # The partitions whose tracks hold records of this writer: all, unless the mixed path
        # (paths/mixed.py) gives some to the batch path, whose tracks a checkpoint never moves.
        self.owns: Callable[[Key], bool] = lambda key: True

    def sent(self, last_timestamp_ms: int) -> None:
        """Records were handed to the writer; the newest one's source timestamp (-1: not
        known, the queue filled up on the way)."""
        self._unchecked = True
        if last_timestamp_ms >= 0:
            self._last_sent_timestamp_ms = last_timestamp_ms

    def serve(self) -> None:
        """Take a checkpoint when the producers hold nothing (or wait for one after a refusal:
        its record must be found while the records sent since the last one are known)."""
        if not self._unchecked:
            return
        if self.writer.refusals:
            self.wait(self.drain_timeout_s)
        elif self.writer.all_acknowledged():
            self.checkpoint()

    def settle(self, keys: Iterable[Key] | None, timeout_s: float) -> None:
        """Commits follow a checkpoint; without one (target slow or down) they stay at the
        first record sent since the last one, which is always safe."""
        if not self._unchecked or self.wait(timeout_s):
            record_syncs(self.loop, self.writer)

    def drain(self, timeout_s: float) -> None:
        """Wait for a checkpoint."""
        self.wait(timeout_s)

    def start_offsets(self, keys: list[Key]) -> dict[Key, int]:
        """No start offsets of its own."""
        return {}

    def released(self, keys: list[Key], lost: bool) -> None:
        """Nothing is held per partition."""

    def close(self) -> None:
        """The writer is closed by the stream's shutdown drain."""

    def wait(self, timeout_s: float) -> bool:
        """Flush until every record sent has its outcome, reporting meanwhile; then take the
        checkpoint. False when the target did not acknowledge everything in time."""
        deadline = time.monotonic() + timeout_s
        self.writer.poll(0)
        while not self.writer.all_acknowledged():
            if time.monotonic() >= deadline:
                return False
            self.writer.flush(min(FLUSH_SLICE_S, max(0.0, deadline - time.monotonic())))
            self.loop.report()
        self.checkpoint()
        return True

    def checkpoint(self) -> None:
        """The producers hold nothing: refused records get their source offsets, every other
        record sent so far counts as acknowledged."""
        if self.writer.refusals:
            self._attribute_refusals()
        syncs = self.loop.syncs
        owns = self.owns
        for key, track in self.loop.tracker.tracks.items():
            if not owns(key):
                continue
            if syncs is not None and track.pending and track.failed_offset is None:
                syncs.checkpointed(key, len(track.pending), track.pending[0], track.pending[-1])
            track.acked_all()
        if self._last_sent_timestamp_ms > 0:
            self.writer.add_latency_sample(time.time() - self._last_sent_timestamp_ms / 1000)
            self._last_sent_timestamp_ms = 0
        self._unchecked = False

    def _attribute_refusals(self) -> None:
        """Find the source offset of each refused record among the partition's records sent
        since the last checkpoint (matched in order by key and size, and by timestamp when the
        report carries one) and list it as a failure; an unmatched one is given the first
        offset in flight (never too high)."""
        loop = self.loop
        refusals, self.writer.refusals = self.writer.refusals, []
        by_key: dict[Key, list[Refusal]] = {}
        for refusal in refusals:  # (a refusal names the target topic)
            by_key.setdefault(loop.source_key(refusal.topic, refusal.partition), []).append(
                refusal)
        for key, refused in by_key.items():
            track = loop.tracker.tracks.get(key)
            window = list(track.pending) if track is not None else []
            first = window[0] if window else (track.highest + 1 if track else 0)
            offsets = self._locate(
                loop.label, key[0], key[1], window[0], window[-1] + 1,
                [(r.key, r.size_bytes, r.timestamp_ms) for r in refused],
            ) if window else {}
            for index, refusal in enumerate(refused):
                offset = offsets.get(index, first)
                if track is not None:
                    track.failed(offset)
                self.writer.failures.append(SendFailure(
                    refusal.topic, refusal.partition, offset, refusal.reason, refusal.code,
                    refusal.size_bytes, refusal.kind,
                ))
