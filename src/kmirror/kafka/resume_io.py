"""What a stream reads when it takes partitions over (mirror/resume.py's ``Logs``).

Opened only when a takeover has something to check (a target holding other than what the last
commit said), closed right after: the source and target records through two group-less
consumers (kafka/scan.py), the target's end offsets through the stream's admin client, and the
offset syncs of the target's ``kmirror.offset-syncs``, read once, only when records are gone
from the target.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kmirror.kafka.admin import Admin
from kmirror.kafka.offsets_io import OffsetsClient
from kmirror.kafka.scan import PartitionScanner, ScannedRecord
from kmirror.offsets.clusters import read_syncs
from kmirror.offsets.syncs import OffsetSync

Key = tuple[str, int]
Take = Callable[[Key, ScannedRecord], bool]
# (inside the group callback: short; a target partition not answering yet is not checked,
# and the stream asks it again until it is ready, as any new one: mirror/target_gate.py)
ENDS_TIMEOUT_S = 3.0
# Reads start and stop at offsets we name (the group callback waits meanwhile): a fetch left
# waiting for new records (500 ms by default) would hold each partition's next read, as in
# `kmirror verify` (kafka/scan.py). A read that comes back short only fails the check.
FETCH_WAIT_MS = 10


class TakeoverLogs:
    """Reads the source and target partitions of one takeover."""

    def __init__(self, source_settings: Mapping[str, str], source_label: str,
                 target_settings: Mapping[str, str], target_admin: Admin, source_alias: str,
                 isolation: str) -> None:
        """``isolation``: the stream's own isolation.level (records it never reads took no
        target offset)."""
        self._source_settings, self._source_label = dict(source_settings), source_label
        self._isolation = isolation
        self._target_settings = dict(target_settings)
        # (opened on first use: a takeover whose target holds what was committed reads none)
        self._source: PartitionScanner | None = None
        self._target: PartitionScanner | None = None
        self._admin, self._alias = target_admin, source_alias
        self._syncs: list[OffsetSync] | None = None

    def target_ends(self, target_keys: list[Key]) -> Mapping[Key, int]:
        """The end offsets of the target partitions that answer."""
        return self._admin.end_offsets(target_keys, timeout_s=ENDS_TIMEOUT_S, partial=True)

    def _target_scanner(self) -> PartitionScanner:
        if self._target is None:
            self._target = PartitionScanner(self._target_settings, "target cluster",
                                            FETCH_WAIT_MS)
        return self._target

    def target_scan(self, starts: Mapping[Key, int], take: Take, deadline: float) -> set[Key]:
        """Read target partitions from their start offsets (kafka/scan.py ``scan``)."""
        return self._target_scanner().scan(starts, take, deadline)

    def _source_scanner(self) -> PartitionScanner:
        if self._source is None:
            self._source = PartitionScanner(self._source_settings, self._source_label,
                                            FETCH_WAIT_MS, self._isolation)
        return self._source

    def source_low(self, key: Key) -> int:
        """A source partition's log start offset."""
        return self._source_scanner().bounds(*key)[0]

    def source_scan(self, starts: Mapping[Key, int], take: Take, deadline: float) -> set[Key]:
        """Read source partitions from their start offsets, at the stream's isolation level."""
        return self._source_scanner().scan(starts, take, deadline)

    def syncs(self, key: Key, target_topic: str) -> list[OffsetSync]:
        """The offset syncs of source partition ``key`` into ``target_topic`` (the sync topic
        is read once per takeover)."""
        if self._syncs is None:
            self._syncs = read_syncs(OffsetsClient(self._target_settings,
                                                   "target cluster")).syncs
        return [s for s in self._syncs if s.source_alias == self._alias
                and (s.topic, s.partition) == key and s.target_topic == target_topic]

    def close(self) -> None:
        """Release the consumers."""
        for scanner in (self._source, self._target):
            if scanner is not None:
                scanner.close()
