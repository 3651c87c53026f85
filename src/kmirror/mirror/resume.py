"""Where a partition taken over goes on: after what the target already holds, once proven.

Each commit says where its position lands on the target (mirror/landing.py). When a stream
takes a partition (start, rebalance, takeover after a crash) it reads the target partition's end
offset E before anything of the partition is fetched, and compares it with that landing L:

- E == L: the target holds exactly what was committed: go on from the committed offset.
- E > L: the target holds K = E - L records acknowledged after the last commit (a crash, a
  member lost). The stream reads the next K source records from the committed offset
  (records, not offsets: what read_committed leaves out, transaction markers and compaction
  holes take no target offset; nor does a record --provenance.header never sends back) and
  checks that the K-th equals the target's last record, and the first the target's record at
  L (key, value, headers, timestamp). Equal: those K are not sent again; copying goes on after
  the K-th. Anything else (a record that differs, fewer records, a read that fails, the time
  budget spent) falls back to sending them again from the committed offset, with a warning.
- E < L: records the target acknowledged are gone (an unclean leader election truncated the
  partition, or it was created again). Said with the range, counted; the source offset whose
  record lands at E is found from the offset syncs (the target's ``kmirror.offset-syncs``)
  and copying goes on there, so the target is whole again. Without a sync at or below E (the
  target is empty: the source's log start), the records stay missing, said so.
- No commit, starting at the source's log start, and a target partition holding E records from
  offset 0 (a first run killed before its first commit): the first E source records are
  checked the same way (first and last), and skipped only when both match.

A proven skip relies on kmirror being the only writer of the target partition, writing source
partition p into target partition p in order with an idempotent producer: the target's log then
is a prefix of the source's records from the anchor on, and its last record names how far.
A second writer breaks the prefix, and the check sees it (a record that differs). Not done with
a message handler (records dropped or multiplied) nor with --exactly-once (its transactions
keep their own positions): the stream passes no ``Takeover`` then.

Reading happens inside the group callback, before the partitions are fetched, within
``CHECK_BUDGET_S`` for all partitions of one assignment together; partitions not checked by
then are sent again (the old behaviour), said in one warning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kmirror.errors import KmirrorError
from kmirror.mirror.partitions import Key
from kmirror.mirror.report import StreamReport
from kmirror.offsets.syncs import OffsetSync
from kmirror.topics.naming import PROVENANCE_HEADER

_log = logging.getLogger("kmirror.stream")

CHECK_BUDGET_S = 30.0  # for every partition of one assignment together

Headers = Sequence[tuple[str, bytes | None]]
# (offset, key, value, headers, timestamp ms), as kafka/scan.py reads them
Record = tuple[int, bytes | None, bytes | None, Headers, int]


class Logs(Protocol):
    """What a takeover reads (kafka/resume_io.py; fakes in unit tests)."""

    def target_ends(self, target_keys: list[Key]) -> Mapping[Key, int]:
        """The end offsets of the target partitions that answer."""
        ...

    def target_low(self, target_key: Key) -> int:
        """A target partition's log start offset."""
        ...

    def target_record(self, target_key: Key, offset: int) -> Record | None:
        """The target record at ``offset`` (None: none there)."""
        ...

    def source_low(self, key: Key) -> int:
        """A source partition's log start offset."""
        ...

    def source_records(self, key: Key, start: int) -> Iterator[Record]:
        """The source partition's records from ``start`` to its end, as the stream reads them
        (the same isolation level)."""
        ...

    def syncs(self, key: Key, target_topic: str) -> list[OffsetSync]:
        """The offset syncs of source partition ``key`` into ``target_topic``."""
        ...

    def close(self) -> None:
        """Release the clients."""
        ...


@dataclass(frozen=True)
class Anchor:
    """The first record sent from source offset ``source`` on lands at target offset
    ``target``; ``known_by`` says how that is known (for messages); ``before``: the source
    offset of the record at ``target - 1``, when known."""

    source: int
    target: int
    known_by: str
    before: int | None = None


@dataclass(frozen=True)
class Taken:
    """A partition being taken: where it would start, and what its last commit said."""

    start: int
    landed: int | None = None  # where the commit said ``start`` lands (None: no commit note)
    guess: bool = False  # no commit, at the log start: the target may hold a first run's copy


class NotProven(Exception):
    """Why records on the target could not be matched with the source's."""


class Takeover:
    """Chooses the start offsets of partitions being taken (see the module docstring)."""

    def __init__(self, open_logs: Callable[[], Logs], label: str,
                 target_key: Callable[[Key], Key], stats: Callable[[], StreamReport],
                 never_sent: bytes | None = None, budget_s: float = CHECK_BUDGET_S) -> None:
        """``never_sent``: the provenance header value of records the stream never sends
        (born in the target cluster; None: every record is sent)."""
        self._open_logs, self.label, self._target_key = open_logs, label, target_key
        self._stats, self._never_sent, self._budget_s = stats, never_sent, budget_s
        self.pending: dict[Key, int] = {}  # stored landings not compared yet (no answer)
        # The target partitions the last ``starts`` asked for their end offsets (by source
        # partition), and the end offsets of those that answered
        self.asked: set[Key] = set()
        self.ends: dict[Key, int] = {}

    def starts(self, taken: Mapping[Key, Taken]) -> dict[Key, int]:
        """The partitions of ``taken`` that start elsewhere than ``Taken.start``: past records
        proven on the target, or back where records gone from it begin."""
        asked = {k: t for k, t in taken.items() if t.landed is not None or t.guess}
        self.ends, self.asked = {}, set(asked)
        if not asked:
            return {}
        logs = self._open_logs()
        try:
            return self._starts(logs, asked)
        finally:
            logs.close()

    def _starts(self, logs: Logs, asked: Mapping[Key, Taken]) -> dict[Key, int]:
        by_target = {self._target_key(k): k for k in asked}
        try:
            ends = {by_target[t]: e for t, e in logs.target_ends(list(by_target)).items()}
        except KmirrorError as exc:
            _log.warning("%s: the target's end offsets cannot be read (%s): records the target "
                         "may hold past the committed positions are sent again", self.label, exc)
            ends = {}
        self.ends = ends
        deadline = time.monotonic() + self._budget_s
        moved: dict[Key, int] = {}
        skipped = proven = 0
        late: dict[Key, int] = {}  # records to check, when the budget was spent
        for key, taken in asked.items():
            end = ends.get(key)
            if end is None:
                if taken.landed is not None:
                    self.pending[key] = taken.landed  # (compared when the gate reads it)
                continue
            past = end - (taken.landed or 0)
            if past > 0 and time.monotonic() > deadline:
                late[key] = past
                continue
            start = self._start(logs, key, taken, end, deadline)
            if start is not None and start != taken.start:
                moved[key] = start
                if start > taken.start:
                    skipped += end - (taken.landed or 0)
                    proven += 1
        if proven:
            _log.info("%s: %d record(s) of %d partition(s) taken were already on the target "
                      "(acknowledged after the last commit: a crash?), checked against the "
                      "target's records: not sent again", self.label, skipped, proven)
        if late:
            self._late(late, asked)
        return moved

    def _late(self, late: Mapping[Key, int], asked: Mapping[Key, Taken]) -> None:
        """Partitions not checked within the budget: sent again, said once for all."""
        stats = self._stats()
        stats.resumes_fallen_back += len(late)
        stats.target_records_past_commit += sum(
            n for k, n in late.items() if asked[k].landed is not None)
        topic, partition = self._target_key(min(late))
        _log.warning("%s: %d partition(s) taken were not checked within %.0f s (e.g. target "
                     "topic %s partition %d): the %d record(s) their target partitions hold past "
                     "the committed positions are sent again (the target may hold them twice)",
                     self.label, len(late), self._budget_s, topic, partition,
                     sum(late.values()))

    def _start(self, logs: Logs, key: Key, taken: Taken, end: int,
               deadline: float) -> int | None:
        """Where ``key`` starts (None: at ``taken.start``)."""
        landed = taken.landed
        if landed is None:  # (a guess: no commit, at the log start)
            if end == 0 or not self._holds_from_zero(logs, key):
                return None
            anchor = Anchor(taken.start, 0, "the source's log start (no commit yet)")
            return self._skip_or_send(logs, key, anchor, end, deadline)
        if end == landed:
            return None
        if end > landed:
            self._stats().target_records_past_commit += end - landed
            anchor = Anchor(taken.start, landed, "the last commit")
            return self._skip_or_send(logs, key, anchor, end, deadline)
        return self._lost(logs, key, taken, end, deadline)

    def _holds_from_zero(self, logs: Logs, key: Key) -> bool:
        try:
            return logs.target_low(self._target_key(key)) == 0
        except KmirrorError:
            return False

    def _skip_or_send(self, logs: Logs, key: Key, anchor: Anchor, end: int,
                      deadline: float) -> int | None:
        """After the records from ``anchor`` on that the target holds up to ``end``, once
        proven; else None (sent again from ``anchor.source``), said."""
        start, why_not = self._proven(logs, key, anchor, end, deadline)
        if start is None:
            topic, partition = self._target_key(key)
            _log.warning("%s, topic %s partition %d: target topic %s partition %d holds %d "
                         "record(s) from offset %d on that should be the source's from offset "
                         "%d on (by %s), but %s: they are sent again from source offset %d (the "
                         "target may hold them twice)", self.label, key[0], key[1], topic,
                         partition, end - anchor.target, anchor.target, anchor.source,
                         anchor.known_by, why_not, anchor.source)
        return start

    def _proven(self, logs: Logs, key: Key, anchor: Anchor, end: int,
                deadline: float) -> tuple[int | None, str]:
        """The offset after the last source record already on the target, once proven (and
        counted), else None and why not (counted too)."""
        stats = self._stats()
        count = end - anchor.target
        try:
            start = self._match(logs, key, anchor, count, end, deadline)
        except (NotProven, KmirrorError) as exc:
            stats.resumes_fallen_back += 1
            return None, str(exc)
        stats.resumes_proven += 1
        stats.records_skipped += count
        _log.debug("%s, topic %s partition %d: source offsets %d-%d are on the target at %d-%d "
                   "(checked): copying goes on at %d", self.label, key[0], key[1],
                   anchor.source, start - 1, anchor.target, end - 1, start)
        return start, ""

    def _match(self, logs: Logs, key: Key, anchor: Anchor, count: int, end: int,
               deadline: float) -> int:
        """The source offset after the ``count``-th record sent from ``anchor.source``, when
        it and the first equal the target's records at ``end - 1`` and ``anchor.target``."""
        first: Record | None = None
        last: Record | None = None
        seen = 0
        for record in logs.source_records(key, anchor.source):
            if time.monotonic() > deadline:
                raise NotProven(f"it was not checked within {self._budget_s:.0f} s")
            if self._never_sent is not None and _provenance(record[3]) == self._never_sent:
                continue
            seen += 1
            if seen == 1:
                first = record
            if seen == count:
                last = record
                break
        if last is None or first is None:
            raise NotProven(f"the source holds only {seen} record(s) from offset "
                            f"{anchor.source} on")
        target_key = self._target_key(key)
        _same(last, logs.target_record(target_key, end - 1), end - 1)
        if count > 1:
            _same(first, logs.target_record(target_key, anchor.target), anchor.target)
        return last[0] + 1

    def _lost(self, logs: Logs, key: Key, taken: Taken, end: int,
              deadline: float) -> int | None:
        """Records acknowledged and committed are gone from the target: go back to the source
        record that lands at ``end``, found from the offset syncs."""
        landed = taken.landed
        assert landed is not None
        stats = self._stats()
        stats.target_records_missing += landed - end
        topic, partition = self._target_key(key)
        where = (f"{self.label}: target topic {topic} partition {partition} ends at offset {end}, "
                 f"but the records up to offset {landed - 1} were acknowledged and committed "
                 f"(source topic {key[0]} partition {key[1]}): target offsets {end}-"
                 f"{landed - 1} are gone from the target (an unclean leader election, or the "
                 f"partition created again?)")
        anchor = self._anchor(logs, key, end)
        if anchor is not None and anchor.source > taken.start:
            anchor = None  # (records gone were committed: they come before the commit)
        if anchor is None:
            why_not = "no offset sync says which source record lands there"
        elif anchor.target == end and (why_not := self._before(logs, key, anchor)):
            why_not = f"the records by {anchor.known_by} do not match: {why_not}"
            stats.resumes_fallen_back += 1
        elif anchor.target == end:
            stats.resumes_proven += 1
            _log.warning("%s; they are sent again from source offset %d (found by %s)", where,
                         anchor.source, anchor.known_by)
            return anchor.source
        else:
            start, why_not = self._proven(logs, key, anchor, end, deadline)
            if start is not None:
                _log.warning("%s; they are sent again from source offset %d (found by %s, "
                             "then the %d record(s) still there checked)", where, start,
                             anchor.known_by, end - anchor.target)
                return start
            why_not = f"the records after {anchor.known_by} do not match: {why_not}"
        if anchor is None:
            stats.resumes_fallen_back += 1
        _log.warning("%s; %s: copying goes on from the committed source offset %d, the missing "
                     "records are not sent again", where, why_not, taken.start)
        return None

    def _before(self, logs: Logs, key: Key, anchor: Anchor) -> str:
        """Why the target's last record is not the source's at ``anchor.before`` ("" when it
        is, or nothing is known to compare)."""
        if anchor.before is None:
            return ""
        try:
            record = next(iter(logs.source_records(key, anchor.before)), None)
            if record is None or record[0] != anchor.before:
                raise NotProven(f"source offset {anchor.before} cannot be read")
            _same(record, logs.target_record(self._target_key(key), anchor.target - 1),
                  anchor.target - 1)
        except (NotProven, KmirrorError) as exc:
            return str(exc)
        return ""

    def _anchor(self, logs: Logs, key: Key, end: int) -> Anchor | None:
        """A source offset whose records land at or below target offset ``end``: from the
        newest offset sync at or below it; the source's log start for an empty target."""
        try:
            syncs = logs.syncs(key, self._target_key(key)[0])
        except KmirrorError as exc:
            _log.warning("%s: the offset syncs cannot be read: %s", self.label, exc)
            syncs = []
        best: Anchor | None = None
        for sync in syncs:
            if sync.run_upstream >= 0 and sync.run_downstream <= end <= sync.downstream:
                source = sync.run_upstream + end - sync.run_downstream
                return Anchor(source, end, "an offset sync's one-to-one run",
                              source - 1 if end > sync.run_downstream else None)
            if sync.downstream < end and (best is None or sync.downstream + 1 > best.target):
                best = Anchor(sync.upstream + 1, sync.downstream + 1, "an offset sync",
                              sync.upstream)
        if best is None and end == 0:
            try:
                return Anchor(logs.source_low(key), 0, "the source's log start")
            except KmirrorError:
                return None
        return best

    def unchecked(self, key: Key, end: int) -> None:
        """A partition whose target end offset was read only later (its target partition did
        not answer as the partition was taken): compared, never skipped (records were
        fetched already)."""
        landed = self.pending.pop(key, None)
        if landed is None or landed == end:
            return
        stats = self._stats()
        topic, partition = self._target_key(key)
        if end > landed:
            stats.target_records_past_commit += end - landed
            stats.resumes_fallen_back += 1
            _log.warning("%s, topic %s partition %d: target topic %s partition %d holds %d "
                         "record(s) past the committed position, not checked (the target "
                         "partition did not answer as the partition was taken): sent again",
                         self.label, key[0], key[1], topic, partition, end - landed)
        else:
            stats.target_records_missing += landed - end
            _log.warning("%s: target topic %s partition %d ends at offset %d, but the records "
                         "up to offset %d were acknowledged and committed (source topic %s "
                         "partition %d): target offsets %d-%d are gone from the target, not "
                         "sent again (the target partition did not answer as the partition "
                         "was taken)", self.label, topic, partition, end, landed - 1, key[0],
                         key[1], end, landed - 1)

    def forget(self, keys: Sequence[Key]) -> None:
        """Partitions let go."""
        for key in keys:
            self.pending.pop(key, None)


def _provenance(headers: Headers) -> bytes | None:
    for name, value in headers or ():
        if name == PROVENANCE_HEADER:
            return value
    return None


def _own(headers: Headers) -> tuple[tuple[str, bytes | None], ...]:
    """Headers without kmirror's provenance mark (--provenance.header adds it on the way)."""
    return tuple((n, v) for n, v in headers or () if n != PROVENANCE_HEADER)


def _same(source: Record, target: Record | None, offset: int) -> None:
    """Raise NotProven unless the target record at ``offset`` is a copy of ``source``."""
    if target is None:
        raise NotProven(f"target offset {offset} cannot be read")
    if target[0] != offset:
        raise NotProven(f"target offset {offset} is not there (compacted?)")
    for name, index in (("key", 1), ("value", 2), ("timestamp", 4)):
        if source[index] != target[index]:
            raise NotProven(f"the {name} of target offset {offset} differs from source "
                            f"offset {source[0]}'s")
    if _own(source[3]) != _own(target[3]):
        raise NotProven(f"the headers of target offset {offset} differ from source offset "
                        f"{source[0]}'s")
