"""The default path: each partition goes record by record or its batches go whole, as suits it.

Both paths run side by side in one stream: the record path (paths/record.py, checkpoint
acknowledgements) on the consumer, and the batch path (paths/batch.py) on its own connections.
Every partition starts on the batch path and is then carried by the one its batches call for
(paths/choice.py: records per batch, bytes per batch, batches that cannot go whole).

A partition moves without loss, duplicates or reordering, because nothing is ever in flight on
both paths for it:

- **batches -> records**: the batch path stops fetching it and forgets what it fetched and did
  not send; once every batch it sent is acknowledged, the consumer is sought to the first offset
  after them and resumed.
- **records -> batches**: the consumer pauses it and drops what it polled and did not send; once
  a checkpoint has settled every record sent, the batch path fetches from the next offset.

The partition's track (mirror/tracker.py) is the one truth of what is sent and acknowledged on
either path, and commits come from it as always.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable

from kmirror.mirror.partitions import Key
from kmirror.mirror.paths import Loop
from kmirror.mirror.paths.acks import CheckpointAcks
from kmirror.mirror.paths.batch import LOOK_BACK, BatchPath
from kmirror.mirror.paths.choice import (
    IDLE_S,
    LOOK_INTERVAL_S,
    MIN_DWELL_S,
    PartitionChoice,
    Seen,
    Side,
)
from kmirror.mirror.paths.record import POLL_TIMEOUT_S, RecordPath
from kmirror.mirror.report import StreamReport
from kmirror.mirror.tracker import PartitionTrack

_log = logging.getLogger("kmirror.stream")

JUDGE_INTERVAL_S = 1.0
SETTLE_AFTER_S = 0.5  # a partition moving to batches forces a checkpoint after this long
SETTLE_TIMEOUT_S = 1.0
# How long the loop waits on the batch path's connections when nothing moved: short while the
# record path carries partitions too (their records wait meanwhile).
WAIT_BOTH_S = 0.005
WAIT_BATCHES_S = 0.02
# ... and when nothing waits for the target either: only the timers (commits, reports) and the
# consumer's group callbacks wait meanwhile (10,000 idle partitions looked at fifty times a
# second cost a few percent of a core).
WAIT_QUIET_S = 0.1


class MixedPath:
    """Records or batches whole, chosen per partition (see the module docstring)."""

    def __init__(self, loop: Loop, record: RecordPath, checkpoint: CheckpointAcks,
                 batch: BatchPath) -> None:
        """``checkpoint``: the record path's acknowledgements; ``batch`` sends the records it
        cannot forward whole through a writer of its own (per-record acknowledgements)."""
        self.loop, self.record, self.checkpoint, self.batch = loop, record, checkpoint, batch
        self.choices: dict[Key, PartitionChoice] = {}
        # The choices judged every second: all but those resting on the batch path, judged
        # already on what was seen of them, until batches are seen again (10,000 idle
        # partitions judged every second for nothing cost about 1 % of a core).
        self._awake: dict[Key, PartitionChoice] = {}
        self._to_records: set[Key] = set()  # leaving the batch path
        self._to_batches: dict[Key, float] = {}  # leaving the record path, since when
        self._next_judge = self._next_look = 0.0
        self._now = 0.0  # the current step's time (what the batch path observes is seen then)
        self.moves: Counter[str] = Counter()  # "to records" / "to batches" -> moves
        self._paths: dict[tuple[str, str, str], int] | None = None  # the last count reported
        # The record path's partitions: the highest offset read at the last judging, and since
        # when it has been that (idle ones move to the batch path).
        self._read: dict[Key, int] = {}
        self._active_at: dict[Key, float] = {}
        record.owns = self._record_owns
        checkpoint.owns = self._checkpoint_owns
        batch.observe = self._observe

    # --- who carries what ---------------------------------------------------------------------

    def _record_owns(self, key: Key) -> bool:
        """The record path sends the records of ``key`` (and reads it)."""
        choice = self.choices.get(key)
        return (choice is not None and choice.side is Side.RECORDS
                and key not in self._to_batches)

    def _checkpoint_owns(self, key: Key) -> bool:
        """Checkpoints settle the track of ``key`` (records of it may be in flight)."""
        choice = self.choices.get(key)
        return choice is not None and choice.side is Side.RECORDS

    def _observe(self, key: Key, seen: Seen) -> None:
        choice = self.choices.get(key)
        if choice is None:
            return
        self._paths = None
        first = not choice.judged
        if seen.batches:
            self._awake[key] = choice
            if choice.idle:
                choice.woke(self._now)
        choice.saw(seen)
        if first and self.loop.parts.may_send(key):  # (before any of these batches is sent)
            self._judge_one(key, choice, time.monotonic())

    def side_of(self, key: Key) -> Side | None:
        """Where ``key`` is carried now (a partition moving counts where it comes from)."""
        choice = self.choices.get(key)
        return choice.side if choice is not None else None

    # --- the Path protocol --------------------------------------------------------------------

    def start(self) -> None:
        """Both paths prepare."""
        self.batch.start()
        self.record.start()

    def start_offsets(self, keys: list[Key]) -> dict[Key, int]:
        """No start offsets of its own."""
        return {}

    def assigned(self, keys: list[Key]) -> None:
        """New partitions start on the batch path (the consumer pauses them as assigned)."""
        now = time.monotonic()
        self._paths = None
        for key in keys:
            self.choices[key] = self._awake[key] = PartitionChoice(Side.BATCHES, now)
        self.batch.assigned(keys)
        self.record.assigned(keys)

    def resume(self, keys: list[Key]) -> None:
        """Partitions whose topic is back: the record path's read again from the first record
        not sent (the batch path's go on at their own positions)."""
        self.record.resume([k for k in keys if self._record_owns(k)])

    def drop(self, keys: Iterable[Key]) -> None:
        """Records polled for these partitions and not sent are dropped."""
        self.record.drop(keys)

    def let_go(self, keys: list[Key]) -> None:
        """Forget every state kept for these partitions, on both paths."""
        self.record.let_go(keys)
        self.batch.let_go(keys)
        self._paths = None
        for key in keys:
            self.choices.pop(key, None)
            self._awake.pop(key, None)
            self._to_records.discard(key)
            self._to_batches.pop(key, None)
            self._read.pop(key, None)
            self._active_at.pop(key, None)

    def released(self, keys: list[Key], lost: bool) -> None:
        """Both paths release what they held."""
        self.record.released(keys, lost)
        self.batch.released(keys, lost)

    def step(self, now: float) -> bool:
        """Poll and send records, fetch and forward batches, move partitions that want to."""
        self._now = now
        record, batch = self.record, self.batch
        carrying = batch.carrying
        record.poll_timeout_s = 0.0 if carrying else POLL_TIMEOUT_S
        full = record.step(now)
        idle = not full and not record.polled
        carrying = batch.carrying  # (again: the step may have assigned partitions)
        if carrying or self._to_records or batch.looking:
            # (with every partition on the record path, nothing of the batch path's waits)
            batch.move(self._wait_s() if carrying and idle else 0.0)
        if self._to_records or self._to_batches:
            self._finish_moves(now)
        if now >= self._next_judge:
            self._next_judge = now + JUDGE_INTERVAL_S
            self._judge(now)
        if now >= self._next_look:
            self._next_look = now + LOOK_INTERVAL_S
            self._ask_looks()
        return full

    def settle(self, keys: Iterable[Key] | None, timeout_s: float) -> None:
        """A checkpoint for the record path's partitions; the offset syncs of both."""
        keys = None if keys is None else list(keys)
        self.record.settle(keys, timeout_s)
        self.batch.settle(keys, timeout_s)

    def sync_positions(self) -> None:
        """The record path's idle partitions move past records the consumer skipped (when it
        carries any: looking through 10,000 partitions on batches for none cost every report)."""
        if len(self.choices) > self.batch.carried:
            self.record.sync_positions()

    def drain(self, timeout_s: float) -> None:
        """Everything sent either way is acknowledged (or the time is up)."""
        deadline = time.monotonic() + timeout_s
        self.batch.drain(timeout_s)
        self.record.drain(max(0.0, deadline - time.monotonic()))

    def report_into(self, stats: StreamReport, finished: bool) -> None:
        """Both paths' counters, and how many partitions go which way and why."""
        self.record.report_into(stats, finished)
        self.batch.report_into(stats, finished)
        if self._paths is None:  # (counted again only when a partition came, went, moved or
            # was looked at: 10,000 idle partitions counted every second cost a share of a core)
            paths: Counter[tuple[str, str, str]] = Counter()
            for (topic, _), choice in self.choices.items():
                paths[(topic, choice.side.value, choice.reason())] += 1
            self._paths = dict(paths)
        stats.partition_paths = dict(self._paths)
        if finished and self.moves:
            _log.info("stream %d: partitions moved %s", self.loop.index,
                      ", ".join(f"{n} {what}" for what, n in sorted(self.moves.items())))

    def close(self) -> None:
        """Release both paths' clients."""
        try:
            self.record.close()
        finally:
            self.batch.close()

    # --- moving partitions --------------------------------------------------------------------

    def _wait_s(self) -> float:
        """How long to wait on the batch path's connections (their answers end the wait)."""
        if self._records_carried():
            return WAIT_BOTH_S
        return WAIT_QUIET_S if self.batch.quiet and not self._to_batches else WAIT_BATCHES_S

    def _records_carried(self) -> bool:
        return len(self.choices) > len(self.batch.batch_parts)

    def _judge(self, now: float) -> None:
        """Start moving the partitions whose batches call for the other path, and the record
        path's partitions idle for IDLE_S to the batch path (paths/choice.py)."""
        may_send, tracks = self.loop.parts.may_send, self.loop.tracker.tracks
        resting = []
        for key, choice in self._awake.items():
            if not may_send(key):
                continue
            if choice.side is Side.RECORDS and key not in self._to_batches:
                track = tracks.get(key)
                read = track.highest if track is not None else -1
                if read != self._read.get(key):
                    self._read[key], self._active_at[key] = read, now
                elif now - max(self._active_at[key], choice.since) >= IDLE_S and not (
                        _unsettled(track)):
                    choice.went_idle()
                    self._move(key, choice, Side.BATCHES, now)
                    continue
            self._judge_one(key, choice, now)
            if (choice.side is Side.BATCHES and key not in self._to_records and (
                    choice.idle or choice.records_per_batch is None
                    or now - choice.since >= MIN_DWELL_S)):
                resting.append(key)  # (its side is final for what was seen of it)
        for key in resting:
            del self._awake[key]

    def _judge_one(self, key: Key, choice: PartitionChoice, now: float) -> None:
        if key in self._to_records or key in self._to_batches:
            return
        wanted = choice.wanted(now)
        if wanted is not choice.side:
            self._move(key, choice, wanted, now)

    def _move(self, key: Key, choice: PartitionChoice, wanted: Side, now: float) -> None:
        _log.debug("stream %d: %s partition %d moves to %s (%.1f records, %d bytes per "
                   "batch)", self.loop.index, key[0], key[1], wanted.value,
                   choice.records_per_batch or 0.0, choice.bytes_per_batch)
        if wanted is Side.RECORDS:
            self.batch.leave(key)
            self._to_records.add(key)
        else:
            self.record.drop([key])
            self.loop.reader.pause([key])
            self._to_batches[key] = now

    def _finish_moves(self, now: float) -> None:
        tracker = self.loop.tracker
        arrived = [k for k in self._to_records if self.batch.left(k)]
        for key in arrived:
            self._to_records.discard(key)
            self.choices[key].moved(Side.RECORDS, now)
            self._paths = None
        if arrived:
            # All together (10,000 partitions may move at start): one read of the target's
            # end offsets for the checkpoint counts, which start afresh.
            self.moves["to records"] += len(arrived)
            if self.loop.syncs is not None:
                self.loop.syncs.assigned(arrived)
            # From the first offset the batch path did not send (its track starts one before
            # where it began fetching): the consumer's own position may be none at all.
            self.record.resume(arrived, {k: tracker.track(*k).highest + 1 for k in arrived})
        if not self._to_batches:
            return
        if any(now - since >= SETTLE_AFTER_S for since in self._to_batches.values()) and any(
                _unsettled(tracker.tracks.get(k)) for k in self._to_batches):
            self.checkpoint.wait(SETTLE_TIMEOUT_S)
        for key in list(self._to_batches):
            track = tracker.tracks.get(key)
            if _unsettled(track):
                continue
            start = tracker.next_to_read(key)
            if start is None:
                continue  # (nothing known yet: it waits)
            del self._to_batches[key]
            self.record.taken(key)
            self.choices[key].moved(Side.BATCHES, now)
            self._paths = None
            self.moves["to batches"] += 1
            self.batch.take(key, start)

    def _ask_looks(self) -> None:
        """Ask the batch path to look at the batches of the record path's partitions."""
        tracker, looks = self.loop.tracker, self.batch.looks
        for key in self.choices:
            if self._record_owns(key) and key not in looks and self.loop.parts.may_send(key):
                position = tracker.next_to_read(key)
                if position is not None:  # (from a little back: a caught-up one has batches)
                    looks[key] = max(tracker.committed.get(key, 0), position - LOOK_BACK, 0)


def _unsettled(track: PartitionTrack | None) -> bool:
    """Whether a track still has records in flight (or a refused one)."""
    return track is not None and (bool(track.pending) or track.failed_offset is not None)
