"""Lag per partition, computed on a background job and handed to the watch loop whole.

``LagRefresh.run`` (the ``lag-refresh`` job) reads the source clusters' end offsets, the
acknowledged positions the streams reported (committed offsets where none did yet) and the
timestamps of the first records not mirrored, and publishes one immutable ``LagSnapshot``.
The watch loop wakes the job when a status line is due, takes the snapshot once that run has
finished and folds it into the monitor itself, so the monitor keeps one writer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from kmirror.errors import KmirrorError
from kmirror.mirror.monitor import Monitor, PartitionLag, lag_of
from kmirror.mirror.planner import SourcePlan, partitions

Key = tuple[str, int]
Slot = tuple[str, Key]  # (source alias, (topic, partition))


@dataclass(frozen=True)
class LagSnapshot:
    """One lag refresh: lag per source cluster (those that answered) and the positions the
    run started from (taken by the first refresh that reached every source cluster)."""

    lag: Mapping[str, Mapping[Key, PartitionLag]] = field(
        default_factory=lambda: MappingProxyType({}))
    start_positions: Mapping[Slot, int] = field(default_factory=lambda: MappingProxyType({}))


_log = logging.getLogger("kmirror")
CPU_SHARE = 0.02  # of one core, at most, for the lag refresh (10,000 partitions: every ~15 s)
TIMESTAMP_READS = 1000  # partitions whose first unmirrored record is read, per refresh


class LagRefresh:
    """Computes lag snapshots; ``latest`` may be read from any thread."""

    def __init__(self, plans: Sequence[SourcePlan], monitor: Monitor,
                 clock: Callable[[], float] = time.time) -> None:
        self._plans, self._monitor, self._clock = plans, monitor, clock
        self._start_positions: dict[Slot, int] = {}  # (only the job's thread)
        self._start_positions_taken = False
        self._lock = threading.Lock()
        self._latest = LagSnapshot()
        self._next_run_at = 0.0  # (monotonic) no run before then: see ``run``
        # alias -> partition -> (position asked, (offset, timestamp ms) of the first record
        # at or after it)
        self._stamp_cache: dict[str, dict[Key, tuple[int, tuple[int, int]]]] = {}

    @property
    def latest(self) -> LagSnapshot:
        """The last snapshot published (an empty one before the first run)."""
        with self._lock:
            return self._latest

    def run(self) -> None:
        """Lag per partition: end offsets, acknowledged positions, and exact timestamps.

        At most ``CPU_SHARE`` of a core: a run that cost c seconds of CPU is followed by the
        next one no sooner than c / CPU_SHARE seconds later; calls before then keep the last
        snapshot (10,000 partitions cost ~0.6 s a run: every second, most of a core). The cost
        is the whole process's CPU meanwhile: the client turns its answers into Python objects
        on a thread of its own (an over-estimate when other work runs at the same time)."""
        if time.monotonic() < self._next_run_at:
            return
        cost_from = time.process_time()
        try:
            self._run()
        finally:
            cost = time.process_time() - cost_from
            self._next_run_at = time.monotonic() + cost / CPU_SHARE

    def _run(self) -> None:
        lag: dict[str, Mapping[Key, PartitionLag]] = {}
        try:
            for plan in self._plans:
                lag[plan.source.alias] = self._lag_of(plan)
            self._start_positions_taken = True
        except KmirrorError as exc:
            _log.debug("lag refresh failed: %s", exc)
        except Exception as exc:  # the status must never stop the mirror
            _log.debug("lag refresh failed: %r", exc)
        # What answered is kept (as each source's lag was set as soon as it was read).
        snapshot = LagSnapshot(MappingProxyType(lag),
                               MappingProxyType(dict(self._start_positions)))
        with self._lock:
            self._latest = snapshot

    def _lag_of(self, plan: SourcePlan) -> Mapping[Key, PartitionLag]:
        alias = plan.source.alias
        # (end offsets first, then positions: positions read before would only be older)
        ends = plan.admin.end_offsets(partitions(plan.topics))
        acknowledged = self._monitor.positions_of(alias)
        unknown = [k for k in ends if k not in acknowledged]
        positions = plan.admin.committed_offsets(plan.source.group_id, unknown)
        # (acknowledged positions read again: fresher than the committed ones)
        acknowledged = self._monitor.positions_of(alias)
        positions.update({k: acknowledged[k] for k in ends if k in acknowledged})
        if not self._start_positions_taken:
            self._start_positions.update({(alias, k): max(v, 0) for k, v in positions.items()})
        behind = {k: max(positions.get(k, 0), 0) for k, e in ends.items()
                  if e > max(positions.get(k, 0), 0)}
        return MappingProxyType(lag_of(ends, positions, self._stamps(plan, behind, ends),
                                       self._clock()))

    def _stamps(self, plan: SourcePlan, behind: Mapping[Key, int],
                ends: Mapping[Key, int]) -> dict[Key, tuple[int, int]]:
        """(offset, timestamp) of the first unmirrored record of each partition behind.

        A partition whose position has not moved keeps the stamp read before (a record's
        timestamp does not change). At most ``TIMESTAMP_READS`` partitions are read per
        refresh, the furthest behind first: reading 10,000 took seconds of a core on every
        refresh. The others keep their older stamp: an earlier record's, so their lag in
        seconds is over-stated until read, never under-stated."""
        alias = plan.source.alias
        cache = self._stamp_cache.setdefault(alias, {})
        for key in [k for k in cache if k not in behind]:
            del cache[key]  # caught up (or gone): read afresh when behind again
        stale = sorted((k for k, at in behind.items() if cache.get(k, (-1,))[0] != at),
                       key=lambda k: behind[k] - ends[k])
        if stale:
            asked = {k: behind[k] for k in stale[:TIMESTAMP_READS]}
            for key, stamp in plan.groups.timestamps_at(asked).items():
                cache[key] = (asked[key], stamp)
        return {k: stamp for k, (_, stamp) in cache.items()}


def catch_up_progress(
    plans: Sequence[SourcePlan], start_positions: Mapping[Slot, int], records: int,
    elapsed_s: float,
) -> tuple[int, int, float | None]:
    """--until-caught-up progress: records done, records to do, and the ETA in seconds."""
    total = sum(
        max(0, end - start_positions.get((plan.source.alias, key), 0))
        for plan in plans for key, end in plan.goals.items()
    )
    done = min(records, total)
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else None
    return done, total, eta
