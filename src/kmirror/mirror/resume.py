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

Reading happens inside the group callback, before the partitions are fetched, for all the
partitions of one assignment at once (one source read over all of them, then one target read
for their last records and one for their first), within ``CHECK_BUDGET_S``; partitions not
checked by then are sent again (the old behaviour), said in one warning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kmirror.errors import KmirrorError
from kmirror.mirror.partitions import Key
from kmirror.mirror.report import StreamReport
from kmirror.offsets.syncs import OffsetSync
from kmirror.topics.naming import PROVENANCE_HEADER, without_provenance

_log = logging.getLogger("kmirror.stream")

CHECK_BUDGET_S = 30.0  # for every partition of one assignment together
WARNINGS = 5  # partitions that fall back named one by one per assignment (then one line)

Headers = Sequence[tuple[str, bytes | None]]
# (offset, key, value, headers, timestamp ms), as kafka/scan.py reads them
Record = tuple[int, bytes | None, bytes | None, Headers, int]


# Handed every record read, in offset order per partition; False: that partition is done
Take = Callable[[Key, "Record"], bool]


class Logs(Protocol):
    """What a takeover reads (kafka/resume_io.py; fakes in unit tests)."""

    def target_ends(self, target_keys: list[Key]) -> Mapping[Key, int]:
        """The end offsets of the target partitions that answer."""
        ...

    def source_scan(self, starts: Mapping[Key, int], take: Take, deadline: float) -> set[Key]:
        """Read source partitions from their start offsets, as the stream reads them (the
        same isolation level), handing each record to ``take``, until it says done or the
        partition ends; returns those done or ended before ``deadline``."""
        ...

    def target_scan(self, starts: Mapping[Key, int], take: Take, deadline: float) -> set[Key]:
        """The same over target partitions."""
        ...

    def source_low(self, key: Key) -> int:
        """A source partition's log start offset."""
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
class Check:
    """The target holds records from ``anchor.target`` to ``end - 1``: are they the
    source's from ``anchor.source`` on?"""

    anchor: Anchor
    end: int

    @property
    def count(self) -> int:
        """How many records the target holds from the anchor on."""
        return self.end - self.anchor.target


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
        checks: dict[Key, Check] = {}
        stats = self._stats()
        for key, taken in asked.items():
            end, landed = ends.get(key), taken.landed
            if end is None:
                if landed is not None:
                    self.pending[key] = landed  # (compared when the gate reads it)
            elif landed is None:  # (a guess: no commit, at the log start)
                if end > 0:
                    checks[key] = Check(Anchor(taken.start, 0, "the source's log start (no "
                                               "commit yet)"), end)
            elif end > landed:
                stats.target_records_past_commit += end - landed
                checks[key] = Check(Anchor(taken.start, landed, "the last commit"), end)
            elif end < landed:
                start = self._lost(logs, key, taken, end, deadline)
                if start is not None:
                    moved[key] = start
        results = self._check(logs, checks, deadline)
        proven = {k: r for k, r in results.items() if isinstance(r, int)}
        moved.update(proven)
        if proven:
            skipped = sum(checks[k].count for k in proven)
            stats.resumes_proven += len(proven)
            stats.records_skipped += skipped
            _log.info("%s: %d record(s) of %d partition(s) taken were already on the target "
                      "(acknowledged after the last commit: a crash?), checked against the "
                      "target's records: not sent again", self.label, skipped, len(proven))
        self._fall_back({k: (checks[k], r) for k, r in results.items() if isinstance(r, str)})
        late = [k for k in checks if k not in results]
        if late:
            self._late({k: checks[k] for k in late})
        return moved

    def _fall_back(self, failed: Mapping[Key, tuple[Check, str]]) -> None:
        """Partitions whose records on the target were not proven: sent again, said."""
        self._stats().resumes_fallen_back += len(failed)
        for key, (check, why_not) in sorted(failed.items())[:WARNINGS]:
            topic, partition = self._target_key(key)
            anchor = check.anchor
            _log.warning("%s, topic %s partition %d: target topic %s partition %d holds %d "
                         "record(s) from offset %d on that should be the source's from offset "
                         "%d on (by %s), but %s: they are sent again from source offset %d (the "
                         "target may hold them twice)", self.label, key[0], key[1], topic,
                         partition, check.count, anchor.target, anchor.source, anchor.known_by,
                         why_not, anchor.source)
        if len(failed) > WARNINGS:
            _log.warning("%s: and %d partition(s) more: the records their target partitions "
                         "hold past the committed positions (%d) are sent again, not proven "
                         "(see the lines above for why some were not)", self.label,
                         len(failed) - WARNINGS,
                         sum(c.count for k, (c, _) in sorted(failed.items())[WARNINGS:]))

    def _late(self, late: Mapping[Key, Check]) -> None:
        """Partitions not checked within the budget: sent again, said once for all."""
        self._stats().resumes_fallen_back += len(late)
        topic, partition = self._target_key(min(late))
        _log.warning("%s: %d partition(s) taken were not checked within %.0f s (e.g. target "
                     "topic %s partition %d): the %d record(s) their target partitions hold past "
                     "the committed positions are sent again (the target may hold them twice)",
                     self.label, len(late), self._budget_s, topic, partition,
                     sum(c.count for c in late.values()))

    def _check(self, logs: Logs, checks: Mapping[Key, Check],
               deadline: float) -> dict[Key, int | str]:
        """For each partition checked before ``deadline``: the source offset after the last
        record the target already holds, when that record and the first equal the target's
        (at ``end - 1`` and at the anchor); else why not. Read for all partitions at once."""
        if not checks:
            return {}
        found: dict[Key, tuple[int, Record | None, Record | None]] = {}
        never_sent = self._never_sent

        def count(key: Key, record: Record) -> bool:
            if never_sent is not None and _provenance(record[3]) == never_sent:
                return True  # (never sent: it took no target offset)
            seen, first, _ = found.get(key, (0, None, None))
            seen += 1
            done = seen == checks[key].count
            found[key] = (seen, first or record, record if done else None)
            return not done

        results: dict[Key, int | str] = {}
        try:
            read = logs.source_scan({k: c.anchor.source for k, c in checks.items()}, count,
                                    deadline)
        except KmirrorError as exc:
            return {k: f"the source cannot be read: {exc}" for k in checks}
        matched: dict[Key, tuple[Record, Record]] = {}
        for key in read:
            seen, first, last = found.get(key, (0, None, None))
            if first is None or last is None:
                results[key] = (f"the source holds only {seen} record(s) from offset "
                                f"{checks[key].anchor.source} on")
            else:
                matched[key] = (first, last)
        target_key = self._target_key
        try:
            lasts = _records_at(logs, {target_key(k): checks[k].end - 1 for k in matched},
                                deadline)
            firsts = _records_at(logs, {target_key(k): checks[k].anchor.target
                                        for k in matched if checks[k].count > 1}, deadline)
        except KmirrorError as exc:
            return {**results, **{k: f"the target cannot be read: {exc}" for k in matched}}
        for key, (first, last) in matched.items():
            check, at = checks[key], target_key(key)
            if at not in lasts or (check.count > 1 and at not in firsts):
                continue  # (not read in time)
            try:
                _same(last, lasts[at], check.end - 1)
                if check.count > 1:
                    _same(first, firsts[at], check.anchor.target)
            except NotProven as exc:
                results[key] = str(exc)
                continue
            _log.debug("%s, topic %s partition %d: source offsets %d-%d are on the target at "
                       "%d-%d (checked): copying goes on at %d", self.label, key[0], key[1],
                       check.anchor.source, last[0], check.anchor.target, check.end - 1,
                       last[0] + 1)
            results[key] = last[0] + 1
        return results

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
        elif anchor.target == end:
            why_not = self._before(logs, key, anchor, deadline)
            if not why_not:
                stats.resumes_proven += 1
                _log.warning("%s; they are sent again from source offset %d (found by %s)",
                             where, anchor.source, anchor.known_by)
                return anchor.source
        else:
            result = self._check(logs, {key: Check(anchor, end)}, deadline).get(
                key, f"it was not checked within {self._budget_s:.0f} s")
            if isinstance(result, int):
                stats.resumes_proven += 1
                stats.records_skipped += end - anchor.target
                _log.warning("%s; they are sent again from source offset %d (found by %s, "
                             "then the %d record(s) still there checked)", where, result,
                             anchor.known_by, end - anchor.target)
                return result
            why_not = result
        if anchor is not None:
            why_not = f"the records by {anchor.known_by} do not match: {why_not}"
        stats.resumes_fallen_back += 1
        _log.warning("%s; %s: copying goes on from the committed source offset %d, the missing "
                     "records are not sent again", where, why_not, taken.start)
        return None

    def _before(self, logs: Logs, key: Key, anchor: Anchor, deadline: float) -> str:
        """Why the target's last record is not the source's at ``anchor.before`` ("" when it
        is, or nothing is known to compare)."""
        if anchor.before is None:
            return ""
        try:
            record = _records_at(logs, {key: anchor.before}, deadline,
                                 logs.source_scan).get(key)
            if record is None or record[0] != anchor.before:
                raise NotProven(f"source offset {anchor.before} cannot be read")
            at = self._target_key(key)
            _same(record, _records_at(logs, {at: anchor.target - 1}, deadline).get(at),
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
    if without_provenance(source[3]) != without_provenance(target[3]):
        raise NotProven(f"the headers of target offset {offset} differ from source offset "
                        f"{source[0]}'s")


def _records_at(logs: Logs, offsets: Mapping[Key, int], deadline: float,
                scan: Callable[[Mapping[Key, int], Take, float], set[Key]] | None = None
                ) -> dict[Key, Record | None]:
    """The first record at or after each offset (None: none), of the partitions read before
    ``deadline``; read from the target unless ``scan`` says otherwise."""
    if not offsets:
        return {}
    got: dict[Key, Record] = {}

    def keep(key: Key, record: Record) -> bool:
        got[key] = record
        return False

    done = (scan or logs.target_scan)(offsets, keep, deadline)
    return {k: got.get(k) for k in done}
