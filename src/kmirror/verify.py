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
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

Content = tuple[object, ...]  # (key, value, headers, timestamp_ms)
LOOKAHEAD = 2_000
MATCHED_WINDOW = 200_000
PENDING_LIMIT = 200_000
KINDS = ("matched", "missing", "mismatched", "duplicates", "reordered", "extra")


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
