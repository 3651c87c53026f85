"""``--exactly-once``: records and source positions commit atomically in the target.

The record path with these acknowledgements instead of checkpoints:

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
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from kmirror.errors import MirrorError
from kmirror.kafka.txn_writer import Fenced, TransactionAborted, TransactionalWriter
from kmirror.mirror.partitions import Key
from kmirror.mirror.paths import Loop

_log = logging.getLogger("kmirror.exactly_once")


class TransactionalAcks:
    """Acknowledgements by committed transactions (see the module docstring)."""

    def __init__(self, loop: Loop, writer: TransactionalWriter,
                 ensure_target_topics: Callable[[list[Key]], None],
                 rewind: Callable[[Key, int], None]) -> None:
        self.loop, self.writer = loop, writer
        self._ensure_target_topics = ensure_target_topics
        self._rewind = rewind  # the record path reads a partition again from an offset

    def _target(self, key: Key) -> Key:
        return (self.loop.target_topic(key[0]), key[1])

    # --- ownership ----------------------------------------------------------------------------

    def start_offsets(self, keys: list[Key]) -> dict[Key, int]:
        """Claim the partitions (fencing earlier owners) and start where they stopped: the
        target's stored position wins over the source group's (advisory) offset."""
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

    def released(self, keys: list[Key], lost: bool) -> None:
        """Revoked partitions (after their last commit) give up their producers; lost ones have
        their open transactions aborted, not committed (the new owner fenced them anyway)."""
        self.writer.release([self._target(k) for k in keys], abort=lost)

    # --- committing ---------------------------------------------------------------------------

    def sent(self, last_timestamp_ms: int) -> None:
        """Records count once their transaction commits: nothing to note now."""

    def serve(self) -> None:
        """Nothing settles between commits."""

    def drain(self, timeout_s: float) -> None:
        """Wait for every open transaction's records to be written."""
        self.writer.flush(timeout_s)

    def settle(self, keys: Iterable[Key] | None, timeout_s: float) -> None:
        """Commit the transactions of these partitions (default all) with their next source
        offsets; aborted ones are mirrored again from their last committed position."""
        loop = self.loop
        wanted = None if keys is None else set(keys)
        positions: dict[Key, int] = {}
        sources: dict[Key, Key] = {}
        may_send = loop.parts.may_send  # (not stopped, suspended or refused)
        for key, track in loop.tracker.tracks.items():
            if ((wanted is None or key in wanted) and may_send(key) and track.pending
                    and track.failed_offset is None):
                positions[self._target(key)] = track.highest + 1
                sources[self._target(key)] = key
        if not positions:
            return
        try:
            committed = self.writer.commit(positions)
        except TransactionAborted as exc:
            self._rewind_all([sources[k] for k in exc.keys if k in sources])
            committed = [k for k in positions if k not in exc.keys]
        except Fenced as exc:
            raise MirrorError(str(exc)) from exc
        for target in committed:
            loop.tracker.tracks[sources[target]].acked_all()
        self._record_committed_runs(sources)

    def _record_committed_runs(self, sources: Mapping[Key, Key]) -> None:
        """Offset syncs from the committed transactions' delivery reports (exact offsets)."""
        runs, self.writer.committed_runs = self.writer.committed_runs, {}
        syncs = self.loop.syncs
        if syncs is None:
            return
        for target, (first_up, first_down, last_up, last_down, records) in runs.items():
            source = sources.get(target)
            if source is None:
                continue
            one_to_one = last_up - first_up == last_down - first_down == records - 1
            syncs.exact_pair(source, last_up, last_down,
                             run=(first_up, first_down) if one_to_one else (-1, -1))
        syncs.sync()

    def _rewind_all(self, keys: list[Key]) -> None:
        """Mirror these partitions again from their last committed position."""
        loop = self.loop
        stored = self.writer.stored_positions([self._target(k) for k in keys])
        for key in keys:
            position = stored.get(self._target(key), loop.tracker.committed.get(key, 0))
            loop.tracker.track(*key).rewound_to(position)
            self._rewind(key, position)
            _log.warning("%s, topic %s partition %d: transaction aborted; mirroring again from "
                         "offset %d", loop.label, key[0], key[1], position)

    def close(self) -> None:
        """Close the transactional producers (idempotent)."""
        self.writer.close()
