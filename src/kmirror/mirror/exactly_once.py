"""``--exactly-once``: a stream whose records and source positions commit atomically in the target.

Differences from the default stream (``MirrorStream``):

- Writes go through ``TransactionalWriter``: one transaction open per owned partition.
- A partition starts at the position stored in the target with its last committed transaction
  (the positions group), not at the source group's committed offset, which is only advisory
  here (kept up to date for ``kmirror lag`` and for a later run without --exactly-once).
- Every commit interval each partition with new records commits its transaction together with
  the next source offset. INVARIANT: the position stored in the target is always the offset after
  the last record of a committed transaction, so after any crash the next owner resumes exactly
  there and read_committed readers see every record once.
- A transaction that has to be aborted (its records never become visible) rewinds its partition
  to the last committed position and mirrors those records again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kmirror.errors import MirrorError
from kmirror.kafka.reader import Key
from kmirror.kafka.txn_writer import Fenced, TransactionAborted, TransactionalWriter
from kmirror.mirror.stream import MirrorStream

_log = logging.getLogger("kmirror.exactly_once")


class ExactlyOnceStream(MirrorStream):
    """A mirror stream writing in transactions (``--exactly-once``)."""

    def _make_writer(self) -> Any:
        alias, group = self.source.alias, self.source.group_id
        return TransactionalWriter(
            self.settings.target, self.settings.target_admin_settings, "target",
            transactional_prefix=f"kmirror.{alias}.{group}",
            positions_group=f"kmirror-positions.{alias}.{group}",
        )

    def _target(self, key: Key) -> Key:
        return (self.target_topic(key[0]), key[1])

    # --- ownership ----------------------------------------------------------------------------

    def _explicit_starts(self, keys: list[Key]) -> dict[Key, int]:
        """Claim the partitions (fencing earlier owners) and start where they stopped: the
        target's stored position wins over the source group's (advisory) offset."""
        return {**self._start_positions(keys), **super()._explicit_starts(keys)}

    def _start_positions(self, keys: list[Key]) -> dict[Key, int]:
        """Claim the partitions (fencing earlier owners) and read where they stopped."""
        if not keys:
            return {}
        self._ensure_target_topics(keys)
        # init_transactions is a few round trips to the transaction coordinator per partition:
        # claim them side by side (the client releases the GIL while it waits).
        with ThreadPoolExecutor(max_workers=min(16, len(keys)) or 1,
                                thread_name_prefix="kmirror-claim") as pool:
            list(pool.map(self.writer.claim, [self._target(k) for k in keys]))
        stored = self.writer.stored_positions([self._target(k) for k in keys])
        return {k: stored[self._target(k)] for k in keys if self._target(k) in stored}

    def _revoked(self, keys: list[Key]) -> None:
        super()._revoked(keys)  # drains and commits (transactions included)
        self.writer.release([self._target(k) for k in keys])

    def _lost(self, keys: list[Key]) -> None:
        # Someone else may own them already: their open transactions are aborted, not
        # committed (the new owner fenced them anyway).
        self.writer.release([self._target(k) for k in keys], abort=True)
        super()._lost(keys)

    # --- committing ---------------------------------------------------------------------------

    def _drain(self, timeout_s: float) -> None:
        self.writer.flush(timeout_s)

    def _commit(self, keys: Any = None) -> None:
        wanted = None if keys is None else set(keys)
        positions: dict[Key, int] = {}
        sources: dict[Key, Key] = {}
        may_send = self.parts.may_send  # (not stopped, suspended or refused)
        for key, track in self.tracker.tracks.items():
            if ((wanted is None or key in wanted) and may_send(key) and track.pending
                    and track.failed_offset is None):
                positions[self._target(key)] = track.highest + 1
                sources[self._target(key)] = key
        if positions:
            try:
                committed = self.writer.commit(positions)
            except TransactionAborted as exc:
                self._rewind([sources[k] for k in exc.keys if k in sources])
                committed = [k for k in positions if k not in exc.keys]
            except Fenced as exc:
                raise MirrorError(str(exc)) from exc
            for target in committed:
                self.tracker.tracks[sources[target]].acked_all()
            self._record_committed_runs(sources)
        # The source group's offsets follow (advisory: the target's positions are the truth).
        self._commit_source_offsets(keys)

    def _record_committed_runs(self, sources: Mapping[Key, Key]) -> None:
        """Offset syncs from the committed transactions' delivery reports (exact offsets)."""
        runs, self.writer.committed_runs = self.writer.committed_runs, {}
        if self.syncs is None:
            return
        for target, (first_up, first_down, last_up, last_down, records) in runs.items():
            source = sources.get(target)
            if source is None:
                continue
            one_to_one = last_up - first_up == last_down - first_down == records - 1
            self.syncs.exact_pair(source, last_up, last_down,
                                  run=(first_up, first_down) if one_to_one else (-1, -1))
        self.syncs.sync()

    def _rewind(self, keys: list[Key]) -> None:
        """Mirror these partitions again from their last committed position."""
        gone = set(keys)
        self._pending = [m for m in self._pending if (m.topic(), m.partition()) not in gone]
        stored = self.writer.stored_positions([self._target(k) for k in keys])
        for key in keys:
            position = stored.get(self._target(key), self.tracker.committed.get(key, 0))
            self.tracker.track(*key).rewound_to(position)
            self.reader.seek(key, position)
            _log.warning("%s, topic %s partition %d: transaction aborted; mirroring again from "
                         "offset %d", self.label, key[0], key[1], position)

    def _shutdown(self) -> int:
        try:
            return super()._shutdown()
        finally:
            self.writer.close()
