"""The offset checker: per-partition lag of a consumer group, in records and in seconds.

Lag in seconds is exact, not interpolated: now minus the timestamp of the first record the
group has not consumed yet (the record at its committed offset); 0 when there is no lag.
With ``--watch`` each partition also gets a status over the sliding window of samples, in
Burrow's terms (OK, WARN, STALLED, STOPPED, REWIND).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Protocol

from kmirror.errors import BadInputError
from kmirror.kafka.group_records import GroupView

Key = tuple[str, int]
OK, WARN, STALLED, STOPPED, REWIND = "OK", "WARN", "STALLED", "STOPPED", "REWIND"


@dataclass(frozen=True)
class PartitionLag:
    """One row of the offset checker."""

    topic: str
    partition: int
    owner: str
    committed_offset: int | None
    log_end_offset: int
    lag_messages: int | None
    lag_seconds: float | None
    status: str | None = None


@dataclass(frozen=True)
class LagReport:
    """A group's lag at one moment."""

    group: str
    partitions: list[PartitionLag]
    notes: list[str] = field(default_factory=list)
    taken_at: float = 0.0

    def totals(self) -> dict[str, object]:
        """Lag summed over the group, and per topic."""
        by_topic: dict[str, dict[str, float | int]] = {}
        for row in self.partitions:
            entry = by_topic.setdefault(row.topic, {"lag_messages": 0, "max_lag_seconds": 0.0})
            entry["lag_messages"] += row.lag_messages or 0
            entry["max_lag_seconds"] = max(entry["max_lag_seconds"], row.lag_seconds or 0.0)
        return {
            "lag_messages": sum(r.lag_messages or 0 for r in self.partitions),
            "max_lag_seconds": max((r.lag_seconds or 0.0 for r in self.partitions), default=0.0),
            "partitions": len(self.partitions),
            "topics": by_topic,
        }

    def as_json(self) -> dict[str, object]:
        """The documented JSON shape."""
        rows = []
        for row in self.partitions:
            item = asdict(row)
            if row.status is None:
                item.pop("status")
            rows.append(item)
        return {"group": self.group, "partitions": rows, "totals": self.totals(),
                "notes": self.notes}


class GroupSource(Protocol):
    """What the checker reads from a cluster (``kmirror.kafka.groups.GroupReader``, see
    ``connect``)."""

    label: str
    """Names the cluster in messages."""

    def topics(self) -> dict[str, int]:
        """Topics and partition counts."""
        ...

    def group(self, group: str) -> GroupView | None:
        """The group's members and committed offsets, or None when it does not exist."""
        ...

    def end_offsets(self, keys: Iterable[Key]) -> dict[Key, int]:
        """Log-end offsets."""
        ...

    def timestamps_at(self, positions: Mapping[Key, int]) -> dict[Key, tuple[int, int]]:
        """(offset, timestamp ms) of the first record at or after each position."""
        ...


def connect(settings: Mapping[str, str], label: str) -> GroupSource:
    """The groups of one cluster; ``label`` names it in messages.

    (The client library is imported here, when a cluster is first asked, not at startup.)"""
    from kmirror.kafka.groups import GroupReader

    return GroupReader(settings, label)


def check_lag(
    source: GroupSource, group: str, topics: Sequence[str] = (), now_s: float | None = None
) -> LagReport:
    """Read a group's lag once; raises BadInputError when the group or a topic does not exist."""
    view = source.group(group)
    if view is None:
        raise BadInputError(
            f"group {group} does not exist on {source.label} (no members, no committed offsets); "
            "list groups with `kafka-consumer-groups --list` or check the name"
        )
    committed: Mapping[Key, int] = view.committed
    owners: dict[Key, str] = view.owners()
    notes: list[str] = []
    all_topics = source.topics()
    if topics:
        missing = [t for t in topics if t not in all_topics]
        if missing:
            raise BadInputError(
                f"group {group}: topic(s) not found on {source.label}: {', '.join(missing)}"
            )
        wanted = set(topics)
        keys = {(t, p) for t in topics for p in range(all_topics[t])}
    else:
        keys = set(committed) | set(owners)
        wanted = {t for t, _ in keys}
    keys = {k for k in keys if k[0] in wanted and k[0] in all_topics}
    gone = sorted({t for t, _ in set(committed) | set(owners)} - set(all_topics))
    for topic in gone:
        notes.append(f"topic {topic}: the group has offsets for it, but it no longer exists")
    ends = source.end_offsets(sorted(keys))
    lagging = {k: committed[k] for k in keys if k in committed and ends[k] > committed[k]}
    stamps = source.timestamps_at(lagging)
    now_s = time.time() if now_s is None else now_s
    rows = []
    for key in sorted(keys):
        end = ends[key]
        position = committed.get(key)
        lag_seconds: float | None
        if position is None:
            lag_messages = None
            lag_seconds = None
            notes.append(f"{key[0]}[{key[1]}]: no committed offset")
        else:
            lag_messages = max(0, end - position)
            if lag_messages == 0:
                lag_seconds = 0.0
            elif key in stamps:
                lag_seconds = round(max(0.0, now_s - stamps[key][1] / 1000), 3)
            else:
                lag_seconds = None
                notes.append(f"{key[0]}[{key[1]}]: the record at offset {position} could not "
                             "be read in time; lag in seconds unknown")
        rows.append(PartitionLag(key[0], key[1], owners.get(key, "-"), position, end,
                                 lag_messages, lag_seconds))
    return LagReport(group, rows, notes, now_s)


def human_seconds(seconds: float | None) -> str:
    """'2 min 13 s', '1 h 5 min', '0 s'; '-' when unknown."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f} s" if seconds < 10 and seconds != int(seconds) else f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


class StatusWindow:
    """Burrow-style status per partition over the last ``size`` samples."""

    def __init__(self, size: int = 10) -> None:
        self._samples: dict[Key, deque[tuple[int | None, int | None, bool]]] = {}
        self._size = size

    def classify(self, report: LagReport) -> LagReport:
        """Return the report with a status on every row, and remember it."""
        rows = []
        for row in report.partitions:
            key = (row.topic, row.partition)
            window = self._samples.setdefault(key, deque(maxlen=self._size))
            window.append((row.committed_offset, row.lag_messages, row.owner != "-"))
            rows.append(PartitionLag(**{**asdict(row), "status": _status(window)}))
        return LagReport(report.group, rows, report.notes, report.taken_at)


def _status(window: deque[tuple[int | None, int | None, bool]]) -> str:
    committed = [c for c, _, _ in window if c is not None]
    lags = [lag for _, lag, _ in window if lag is not None]
    latest_lag = lags[-1] if lags else 0
    has_owner = window[-1][2]
    if len(committed) >= 2 and committed[-1] < committed[-2]:
        return REWIND
    if latest_lag > 0 and not has_owner:
        return STOPPED
    if len(committed) >= 2 and latest_lag > 0 and committed[-1] == committed[0]:
        return STALLED
    if len(lags) >= 3 and all(b > a for a, b in pairwise(lags)) \
            and latest_lag > 0:
        return WARN
    return OK
