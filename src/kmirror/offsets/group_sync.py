"""``--sync.group.offsets``: keep the target's copies of source consumer groups up to date.

While kmirror mirrors, a named background job calls ``GroupOffsetSync.sync_once`` now and
then. Each call translates every source group whose id matches the groups regex (and is not
kmirror's own) and that committed offsets on partitions with offset syncs, and writes the
``write`` rows of its plan on the target, so a failover finds the groups there already. The
rules of ``kmirror.offsets.translate`` hold: a group with active members on the target is left
alone (it has failed over already), nothing moves backwards, nothing goes past the target's end.

One group's failure never stops the others: it is logged as a warning and reported as a line.
Syncs are read incrementally (from where the last call stopped) and re-read whole every
``REBUILD_S`` so that memory stays bounded by what compaction keeps.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping

from kmirror.errors import ConfigError, KmirrorError
from kmirror.offsets.clusters import connect, read_syncs
from kmirror.offsets.syncs import OffsetSync, SyncStore
from kmirror.offsets.translate import (
    WRITE,
    SourceGroups,
    TargetGroups,
    apply_plan,
    plan_for,
    store_for,
    summary,
)

REBUILD_S = 3600.0
_log = logging.getLogger("kmirror.offsets")


def sync_groups(
    groups: Iterable[str], source_alias: str, store: SyncStore, source: SourceGroups,
    target: TargetGroups,
) -> list[str]:
    """Translate and write each group; one line per group written or skipped (groups with
    nothing to write say nothing). Never raises for one group: its failure becomes a line."""
    lines = []
    for group in groups:
        try:
            plan = plan_for(group, source_alias, store, source, target, only_synced=True)
            if plan.skipped is not None:
                lines.append(summary(plan, {}))
                continue
            if not any(row.action == WRITE for row in plan.partitions):
                continue
            lines.append(summary(plan, apply_plan(plan, target)))
        except KmirrorError as exc:
            _log.warning("group %s: offsets not synced to the target: %s", group, exc)
            lines.append(f"group {group}: failed: {exc}")
        except Exception as exc:  # a bug for one group must not stop the others
            _log.warning("group %s: offsets not synced to the target: %r", group, exc,
                         exc_info=True)
            lines.append(f"group {group}: failed: {exc!r}")
    return lines


class GroupOffsetSync:
    """The continuous offset translation of one source cluster's groups onto the target."""

    def __init__(
        self, source_settings: Mapping[str, str], target_settings: Mapping[str, str],
        source_alias: str, groups: str | re.Pattern[str] = ".*",
        exclude_groups: Iterable[str] = (),
    ) -> None:
        try:  # kmirror run passes the Java regex its settings compiled (and validated)
            self._pattern = groups if isinstance(groups, re.Pattern) else re.compile(groups)
        except re.error as exc:
            raise ConfigError([
                f"--sync.group.offsets.groups {groups!r}: not a regular expression ({exc}); "
                "e.g. '.*' for every group"
            ]) from None
        self.source_alias = source_alias
        self._exclude = frozenset(exclude_groups)
        self._source = connect(source_settings, f"source cluster {source_alias}")
        self._target = connect(target_settings, "target cluster")
        self._store = SyncStore()
        self._next_offsets: dict[int, int] = {}
        self._rebuilt_at: float | None = None

    def wanted(self, group: str) -> bool:
        """True for a group this job keeps in sync."""
        return group not in self._exclude and self._pattern.fullmatch(group) is not None

    def sync_once(self) -> list[str]:
        """One pass over the matching groups; lines for people (see ``sync_groups``). Never
        raises a KmirrorError: a failure to read the syncs or list the groups is a line too."""
        try:
            self._refresh()
            groups = [g for g in self._source.groups() if self.wanted(g)]
        except KmirrorError as exc:
            _log.warning("group offsets not synced to the target: %s", exc)
            return [f"group offsets not synced: {exc}"]
        return sync_groups(groups, self.source_alias, self._store, self._source, self._target)

    def _refresh(self) -> None:
        """Read the syncs written since the last call (all of them every REBUILD_S)."""
        now = time.monotonic()
        if self._rebuilt_at is None or now - self._rebuilt_at >= REBUILD_S:
            read = read_syncs(self._target)
            self._store = store_for(read.syncs, self.source_alias)
            self._next_offsets, self._rebuilt_at = read.next_offsets, now
            return
        read = read_syncs(self._target, self._next_offsets)
        mine = [s for s in read.syncs if s.source_alias == self.source_alias]
        if any(self._renamed(s) for s in mine):
            self._rebuilt_at = None  # a partition's target topic changed: read it all again
            self._refresh()
            return
        for sync in mine:
            self._store.add(sync)
        self._next_offsets = read.next_offsets

    def _renamed(self, sync: OffsetSync) -> bool:
        known = self._store.target_topic(sync.topic, sync.partition)
        return known is not None and known != sync.target_topic
