"""Proof that a target holds what the source holds: `kmirror verify`.

Each selected partition is walked in order on both sides at once and every record compared by
content (key, value, headers in order, timestamp). A target record is:

- **matched** when it equals the next source record;
- a **duplicate** when it equals a source record already matched (an at-least-once resend);
- **reordered** when it equals a source record that was skipped earlier (it came late);
- also *matched* when it equals a source record a little ahead: the source records skipped to
  reach it are held as possibly missing, and counted **missing** unless they arrive later
  (then they are reordered);
- **mismatched** when it matches nothing nearby while a source record is due: the same place
  in the sequence holds different content;
- **extra** when the source has nothing left to compare it with.

Memory is bounded whatever the partition size: the look-ahead over the source, the window of
recently matched records and the set of possibly-missing records each have a fixed maximum.

``VerifyClusters`` reads both clusters through ``kmirror.kafka`` (their topics, then each
partition walked in order); ``verify_partition`` walks one partition of each side over the
small ``Scanner`` Protocol, so the walk is testable with in-memory scanners.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from kmirror.errors import BadInputError
from kmirror.topics.naming import INTERNAL_TOPICS, without_provenance

Content = tuple[object, ...]  # (key, value, headers, timestamp_ms)
LOOKAHEAD = 2_000
MATCHED_WINDOW = 200_000
PENDING_LIMIT = 200_000
KINDS = ("matched", "missing", "mismatched", "duplicates", "reordered", "extra")
# (offset, key, value, headers, timestamp ms): a record as kmirror.kafka.scan hands it up.
ScannedRecord = tuple[int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...], int]
PartitionRange = tuple[str, int, tuple[int, int]]  # topic, partition, (log start, log end)


@dataclass
class PartitionResult:
    """Counts for one partition, and what range was compared."""

    topic: str
    partition: int
    matched: int = 0
    missing: int = 0
    mismatched: int = 0
    duplicates: int = 0
    reordered: int = 0
    extra: int = 0
    source_range: tuple[int, int] = (0, 0)
    target_range: tuple[int, int] = (0, 0)
    first_problem: str | None = None
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The six counters."""
        return {kind: getattr(self, kind) for kind in KINDS}

    def as_json(self) -> dict[str, object]:
        """The partition's JSON object."""
        return asdict(self)


def compare(
    result: PartitionResult,
    source: Iterable[tuple[int, Content]],
    target: Iterable[tuple[int, Content]],
) -> PartitionResult:
    """Walk both sides (``(offset, content)`` in offset order) and count into ``result``."""
    ahead: deque[tuple[int, Content]] = deque()
    source_iter: Iterator[tuple[int, Content]] = iter(source)
    matched_recent: dict[Content, int] = {}  # content -> times in the window
    matched_order: deque[Content] = deque()  # the window, oldest first
    pending: OrderedDict[Content, int] = OrderedDict()  # skipped source records -> count
    pending_total = 0

    def fill(n: int) -> None:
        while len(ahead) < n:
            nxt = next(source_iter, None)
            if nxt is None:
                return
            ahead.append(nxt)

    def remember(content: Content) -> None:
        matched_recent[content] = matched_recent.get(content, 0) + 1
        matched_order.append(content)
        if len(matched_order) > MATCHED_WINDOW:
            old = matched_order.popleft()
            left = matched_recent[old] - 1
            if left:
                matched_recent[old] = left
            else:
                del matched_recent[old]

    for target_offset, content in target:
        fill(1)
        if ahead and ahead[0][1] == content:
            ahead.popleft()
            result.matched += 1
            remember(content)
            continue
        if pending.get(content):
            pending[content] -= 1
            pending_total -= 1
            if pending[content] == 0:
                del pending[content]
            result.reordered += 1
            _note(result, f"target offset {target_offset}: a source record arrived late "
                          "(reordered)")
            continue
        if content in matched_recent:
            result.duplicates += 1
            continue
        fill(LOOKAHEAD)
        index = next((i for i, (_, c) in enumerate(ahead) if c == content), None)
        if index is not None:
            for _ in range(index):
                skipped_offset, skipped = ahead.popleft()
                _note(result, f"source offset {skipped_offset}: not found at its place "
                              f"in the target (near target offset {target_offset})")
                if pending_total >= PENDING_LIMIT:
                    result.missing += 1  # too many to keep: settled as missing now
                    continue
                pending[skipped] = pending.get(skipped, 0) + 1
                pending_total += 1
            ahead.popleft()
            result.matched += 1
            remember(content)
            continue
        if ahead:
            offset, _ = ahead.popleft()
            result.mismatched += 1
            _note(result, f"source offset {offset} differs from target offset {target_offset}")
            continue
        result.extra += 1
        _note(result, f"target offset {target_offset}: not in the source (extra)")
    while True:
        fill(1)
        if not ahead:
            break
        offset, _ = ahead.popleft()
        result.missing += 1
        _note(result, f"source offset {offset}: missing from the target")
    result.missing += pending_total
    return result


def _note(result: PartitionResult, text: str) -> None:
    if result.first_problem is None:
        result.first_problem = text


def totals(results: Iterable[PartitionResult]) -> dict[str, int]:
    """The six counters summed over partitions."""
    total: Counter[str] = Counter()
    for result in results:
        total.update(result.counts())
    return {kind: total[kind] for kind in KINDS}


def verdict(total: dict[str, int], strict: bool) -> int:
    """Exit code: 0 when nothing is missing, mismatched or reordered (strict: no dup/extra)."""
    bad = total["missing"] + total["mismatched"] + total["reordered"]
    if strict:
        bad += total["duplicates"] + total["extra"]
    return 0 if bad == 0 else 1


class Scanner(Protocol):
    """One cluster's partitions, read in order (``kmirror.kafka.scan.PartitionScanner``)."""

    def bounds(self, topic: str, partition: int) -> tuple[int, int]:
        """(log-start, log-end) offsets of a partition."""
        ...

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int:
        """The first offset whose timestamp is at or after ``timestamp_ms`` (-1: none)."""
        ...

    def records(self, topic: str, partition: int, start: int, end: int
                ) -> Iterator[ScannedRecord]:
        """Records with start <= offset < end, in offset order."""
        ...


class VerifyClusters:
    """The source and target of one `kmirror verify`, read through ``kmirror.kafka``.

    Both clusters' topics are read at once (an unreachable cluster fails before anything
    else); the partition scanners are opened by ``open``, once the selection is known."""

    def __init__(self, source_settings: Mapping[str, str],
                 target_settings: Mapping[str, str]) -> None:
        from kmirror.kafka.groups import GroupReader

        self._source_settings = dict(source_settings)
        self._target_settings = dict(target_settings)
        self.source_topics = GroupReader(source_settings, "source cluster").topics()
        self.target_topics = GroupReader(target_settings, "target cluster").topics()
        self._scanners: tuple[Any, Any] | None = None

    def select(self, wanted: Callable[[str], bool], include: str) -> dict[str, int]:
        """The source topics to verify (never kmirror's own), with their partition counts;
        BadInputError when ``--include`` (``include``) selects none."""
        from kmirror.kafka.acls import hidden_topics_hint

        selected = {t: n for t, n in sorted(self.source_topics.items())
                    if wanted(t) and t not in INTERNAL_TOPICS}
        if not selected:
            raise BadInputError(
                f"--include {include!r} selects none of the {len(self.source_topics)} source "
                "topics" + hidden_topics_hint(self._source_settings)
            )
        return selected

    def open(self) -> tuple[Scanner, Scanner]:
        """The (source, target) scanners (opened once)."""
        from kmirror.kafka.scan import PartitionScanner

        if self._scanners is None:
            self._scanners = (PartitionScanner(self._source_settings, "source cluster", 10),
                              PartitionScanner(self._target_settings, "target cluster", 10))
        return self._scanners

    def close(self) -> None:
        """Release the scanners."""
        if self._scanners is not None:
            for scanner in self._scanners:
                scanner.close()
            self._scanners = None


def plan_partitions(source: Scanner, selected: Mapping[str, int]) -> list[PartitionRange]:
    """Every partition of the selected topics with its source bounds, in order."""
    return [(topic, partition, source.bounds(topic, partition))
            for topic, partitions in selected.items() for partition in range(partitions)]


def verify_partition(
    source: Scanner, target: Scanner, target_topics: Mapping[str, int], copy: str,
    planned: PartitionRange, from_timestamp: int | None, advance: Callable[[int], None],
) -> PartitionResult:
    """Compare one source partition with partition ``copy`` of the target (``copy``: its
    target topic); ``advance(n)`` is told of every n source records read (for progress)."""
    topic, partition, (s_low, s_high) = planned
    result = PartitionResult(topic, partition)
    if copy not in target_topics or partition >= target_topics[copy]:
        result.missing = s_high - s_low
        result.first_problem = (f"partition {partition} does not exist on the target "
                                f"(topic {copy})")
        advance(s_high - s_low)
        return result
    t_low, t_high = target.bounds(copy, partition)
    if from_timestamp is not None:
        s_low = _from_time(source, topic, partition, from_timestamp, s_low, s_high)
        t_low = _from_time(target, copy, partition, from_timestamp, t_low, t_high)
    result.source_range, result.target_range = (s_low, s_high), (t_low, t_high)
    counted = _counting(source.records(topic, partition, s_low, s_high), advance)
    src: Iterator[Any] = ((o, (k, v, without_provenance(h), ts)) for o, k, v, h, ts in counted)
    dst: Iterator[Any] = ((o, (k, v, without_provenance(h), ts)) for o, k, v, h, ts in
                          target.records(copy, partition, t_low, t_high))
    if s_low > 0 and from_timestamp is None:
        src, dst = _align(result, src, dst, s_low)
    return compare(result, src, dst)


def _from_time(scanner: Scanner, topic: str, partition: int, ts: int, low: int,
               high: int) -> int:
    offset = scanner.offset_for_time(topic, partition, ts)
    return high if offset < 0 else max(low, offset)


def _counting(records: Iterator[Any], advance: Callable[[int], None]) -> Iterator[Any]:
    count = 0
    for record in records:
        yield record
        count += 1
        if count % 10_000 == 0:
            advance(10_000)
    advance(count % 10_000)


def _align(
    result: PartitionResult, src: Iterator[Any], dst: Iterator[Any], s_low: int
) -> tuple[Iterator[Any], Iterator[Any]]:
    """The source's retention removed offsets below s_low: skip the target's older copies."""
    first = next(src, None)
    if first is None:
        return iter(()), dst
    for skipped, item in enumerate(dst):
        if item[1] == first[1]:
            result.notes.append(
                f"the source no longer holds offsets below {s_low} (retention); compared from "
                f"there, skipping {skipped} older target record(s)"
            )
            return _chain(first, src), _chain(item, dst)
    result.notes.append(f"the source starts at offset {s_low} and the target holds none of it")
    return _chain(first, src), iter(())


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
