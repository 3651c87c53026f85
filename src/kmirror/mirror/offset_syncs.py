"""Which (upstream, downstream) offset pairs a stream may write as offset syncs, and when.

A pair is written only when it is exact: the target partition's offset of one mirrored record.
Pairs come from three places:

- the target's acknowledgement of a record or batch, which carries its offset (per-record
  acknowledgements, ``--shallow``'s produce answers, a committed transaction): ``exact_pair``;
- checkpoint mode, where acknowledgements carry no offsets: at each checkpoint the stream tells
  how many records it wrote per partition and the source offset of the last one
  (``checkpointed``); at sync time, with nothing in flight, the target's end offset E is read.
  When E grew by exactly the number of records written since the last look, nobody else wrote
  there and the last record sits at E - 1: an exact pair. Otherwise (another producer writes to
  the same target partition, as in active-active with identity names) no pair is written for
  that stretch; the next one starts from the new E.

At most one sync per partition per ``FINE_SLOT_S`` seconds is written (compaction keeps one per
slot anyway), except the last one of a partition let go or of a clean stop, written at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from kmirror.errors import MirrorError
from kmirror.kafka.admin import Admin
from kmirror.kafka.writer import SyncWriter
from kmirror.offsets.syncs import FINE_SLOT_S, OffsetSync, encode, slots

_log = logging.getLogger("kmirror.offset_syncs")
Key = tuple[str, int]


@dataclass
class _Counted:
    """Checkpoint mode: records written to one partition since the target's end was read."""

    baseline: int | None = None  # the target's end offset when last read
    written: int = 0
    first_upstream: int = -1
    last_upstream: int = -1


class SyncRecorder:
    """Collects exact pairs per source partition and writes the due ones."""

    def __init__(
        self,
        source_alias: str,
        target_topic: Callable[[str], str],
        end_offsets: Callable[[list[Key]], Mapping[Key, int]],
        write: Callable[[OffsetSync], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source_alias, self.target_topic = source_alias, target_topic
        self._end_offsets, self._write, self._clock = end_offsets, write, clock
        self._counted: dict[Key, _Counted] = {}
        # source key -> newest exact pair (upstream, downstream, run_upstream, run_downstream)
        self._pairs: dict[Key, tuple[int, int, int, int]] = {}
        self._written: dict[Key, tuple[int, float]] = {}  # source key -> (upstream, when)
        # Keys whose newest pair is not written yet (a sync looks at these only: 10,000 idle
        # partitions looked at for nothing at each commit cost a share of a core)
        self._unwritten: set[Key] = set()

    def assigned(self, keys: Iterable[Key], ends: Mapping[Key, int] | None = None) -> None:
        """New partitions: read their target end offsets before anything is sent for them,
        so that the first stretch written can be verified too (theirs only: a partition
        whose target is not ready yet has none, and asking for thousands of those at every
        move and sync held a 10,000-partition stream's loop for seconds). ``ends``: those
        end offsets read just now, by source partition (the others have no baseline yet: they
        get one with their first stretch)."""
        keys = list(keys)
        for key in keys:
            self._counted[key] = _Counted()
        if ends is None:
            self._verify_counts(keys)
            return
        for key in keys:
            self._counted[key].baseline = ends.get(key)

    def checkpointed(self, key: Key, records: int, first_upstream: int,
                     last_upstream: int) -> None:
        """Checkpoint mode: ``records`` records of ``key`` were acknowledged, from source
        offsets ``first_upstream`` to ``last_upstream``."""
        counted = self._counted.setdefault(key, _Counted())
        if counted.first_upstream < 0:
            counted.first_upstream = first_upstream
        counted.written += records
        counted.last_upstream = last_upstream

    def exact_pair(self, key: Key, upstream: int, downstream: int,
                   run: tuple[int, int] = (-1, -1)) -> None:
        """The record from source offset ``upstream`` is at target offset ``downstream``;
        ``run``: where a one-to-one stretch ending there began (upstream, downstream)."""
        newest = self._pairs.get(key)
        if newest is not None and upstream <= newest[0]:
            return
        if newest is not None and newest[2] >= 0 and run == (newest[0] + 1, newest[1] + 1):
            run = (newest[2], newest[3])  # the stretches join: one longer run
        self._pairs[key] = (upstream, downstream, *run)
        self._unwritten.add(key)

    def forget(self, keys: Iterable[Key]) -> None:
        """Partitions no longer owned (their counts would mislead the next owner's)."""
        for key in keys:
            self._counted.pop(key, None)
            self._pairs.pop(key, None)
            self._written.pop(key, None)
            self._unwritten.discard(key)

    def sync(self, last_for: Iterable[Key] = ()) -> int:
        """Verify checkpoint counts, write the pairs that are due, and the newest pair of each
        partition in ``last_for`` due or not (partitions about to be let go, or all at a clean
        stop: a group translated afterwards resumes exactly where their records ended, not
        where they stood up to ``FINE_SLOT_S`` seconds earlier); returns syncs written.
        Call only when every record sent has been acknowledged."""
        self._verify_counts([k for k, c in self._counted.items() if c.written])
        now = self._clock()
        closing = set(last_for)
        written = 0
        for key in list(self._unwritten):
            upstream, downstream, run_up, run_down = self._pairs[key]
            last = self._written.get(key)
            if last is not None and now - last[1] < FINE_SLOT_S and key not in closing:
                continue
            self._write(OffsetSync(self.source_alias, key[0], key[1], upstream, downstream,
                                   self.target_topic(key[0]), run_up, run_down))
            self._written[key] = (upstream, now)
            self._unwritten.discard(key)
            written += 1
        return written

    def _verify_counts(self, keys: list[Key]) -> None:
        """Read the target's end offsets of ``keys``: a stretch written since the last read
        becomes an exact pair when the end grew by just as much; the end is the new baseline
        (a partition whose first read failed gets its baseline with its first stretch)."""
        if not keys:
            return
        ends = self._end_offsets([(self.target_topic(t), p) for t, p in keys])
        for key in keys:
            counted = self._counted[key]
            end = ends.get((self.target_topic(key[0]), key[1]))
            if end is None:
                continue
            if (counted.baseline is not None and counted.written
                    and end - counted.baseline == counted.written):
                one_to_one = (counted.last_upstream - counted.first_upstream + 1
                              == counted.written)
                run = (counted.first_upstream, counted.baseline) if one_to_one else (-1, -1)
                self.exact_pair(key, counted.last_upstream, end - 1, run)
            elif counted.baseline is not None and counted.written:
                _log.debug("no offset sync for %s: the target partition grew by %d, kmirror "
                           "wrote %d (another producer writes there)", key,
                           end - counted.baseline, counted.written)
            counted.baseline, counted.written, counted.first_upstream = end, 0, -1


def target_recorder(source_alias: str, target_topic: Callable[[str], str], target_admin: Admin,
                    writer: SyncWriter) -> SyncRecorder:
    """A recorder whose syncs go to the target's sync topic through ``writer``, with end
    offsets read from the target (a target that is down only means no sync now)."""

    def end_offsets(keys: list[Key]) -> dict[Key, int]:
        try:
            # (short: the loop waits meanwhile; a partition not led yet, just created, is
            # read at the next sync: the others' pairs do not wait for it)
            return target_admin.end_offsets(keys, timeout_s=5.0, partial=True)
        except MirrorError as exc:
            _log.debug("offset syncs: cannot read the target's end offsets: %s", exc)
            return {}

    def write(sync: OffsetSync) -> None:
        for slot in slots(time.time()):
            writer.write(*encode(sync, slot))

    return SyncRecorder(source_alias, target_topic, end_offsets, write)
