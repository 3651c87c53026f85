"""Which source offsets may be committed: the no-loss invariant lives here.

INVARIANT: the offset committed for a source partition is always the offset of the first record
of that partition that the target has not acknowledged (or, when every consumed record is
acknowledged, the offset after the last one consumed). A record whose write failed is never
acknowledged, so nothing at or past it is ever committed.

Acknowledgements normally arrive in send order per partition (idempotent producer); the tracker
does not rely on it: an acknowledgement that arrives early is held until every earlier record
of the partition is acknowledged too (contiguous successes only). In checkpoint mode there are
no per-record acknowledgements: ``acked_all`` is called only when the producers hold nothing
and every refusal has been recorded with ``failed``, so no ordering is assumed there either.

Each track also follows where its commit point lands on the target (``target_next``: the
target offset the record at the committed source offset goes to; mirror/landing.py), from the
target's end offset when the partition was taken and the acknowledgements since, contiguous
ones only, as the commit point itself.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable


class PartitionTrack:
    """Sent and acknowledged records of one source partition."""

    __slots__ = ("early", "early_targets", "failed_offset", "highest", "partition", "pending",
                 "placed", "target_next", "topic")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.pending: deque[int] = deque()  # one entry per record sent, in consume order
        self.early: Counter[int] = Counter()  # acknowledgements that overtook earlier records
        self.highest = -1  # highest source offset consumed
        # A position is known: ``highest`` -1 is "start at 0" once placed, "nothing known" before
        # (a partition started at 0 that nothing was read from is placed all the same).
        self.placed = False
        self.failed_offset: int | None = None
        # The target offset of the commit point (None: not known; see lands_at).
        self.target_next: int | None = None
        self.early_targets: dict[int, int] = {}  # target offsets of early acknowledgements

    def sent(self, offset: int) -> None:
        """A record of this offset was handed to the producer (call once per output record)."""
        self.pending.append(offset)
        self.highest, self.placed = offset, True

    def consumed(self, offset: int) -> None:
        """A record was consumed that produced nothing to send (a handler dropped it); also
        where a partition starts (``offset`` one before its first)."""
        self.highest, self.placed = offset, True

    def passed(self, offset: int) -> None:
        """Everything up to ``offset`` was handed on or needs no sending (a skipped marker
        batch, a batch's last offset); never moves backwards. The commit point still waits for
        the acknowledgements of earlier entries."""
        if offset > self.highest:
            self.highest = offset
        self.placed = True

    def moved_to(self, next_offset: int) -> None:
        """The source position jumped to ``next_offset`` (a gap decided by --on.source.gap):
        records still in flight keep the commit point below them."""
        self.highest, self.placed = next_offset - 1, True

    def withdrawn(self, offset: int) -> None:
        """The entry sent at ``offset`` will be sent again (a batch retried after a failure):
        it is taken off the track and nothing at or after it counts as handed on (nor as
        written to the target)."""
        landing = self.target_next
        self.acked(offset)
        self.target_next = landing
        self.highest = min(self.highest, offset - 1)

    def rewound_to(self, next_offset: int) -> None:
        """Everything sent is void (an aborted transaction): mirror again from ``next_offset``."""
        self.pending.clear()
        self.early.clear()
        self.early_targets.clear()
        self.highest, self.placed = next_offset - 1, True
        self.target_next = None  # (aborted records and markers took target offsets)

    def lands_at(self, target_offset: int) -> None:
        """The commit point's records go to ``target_offset`` on the target: its end offset
        when the partition was taken (nothing of it in flight then)."""
        self.target_next = target_offset

    @property
    def next_offset(self) -> int | None:
        """The offset after the highest one consumed (or where it starts), or None when no
        position is known."""
        return self.highest + 1 if self.placed else None

    def acked(self, offset: int, target: int | None = None) -> None:
        """The target acknowledged one entry sent for ``offset``; ``target``: the target
        offset of its last record, when the acknowledgement says (else the commit point's
        target offset is no longer known)."""
        pending = self.pending
        if pending and pending[0] == offset:
            pending.popleft()
            self.target_next = None if target is None else target + 1
            if self.early:
                self._release_early()
        else:
            self.early[offset] += 1
            if target is not None:
                self.early_targets[offset] = max(target, self.early_targets.get(offset, -1))

    def acked_all(self) -> None:
        """Every record sent so far was acknowledged (a checkpoint: the producers hold nothing
        and every refusal was reported with ``failed`` before this call). Each entry was one
        record written (checkpoints are taken only without a message handler)."""
        if self.target_next is not None:
            self.target_next += len(self.pending)
        self.pending.clear()
        self.early.clear()
        self.early_targets.clear()

    def _release_early(self) -> None:
        pending, early = self.pending, self.early
        while pending and early.get(pending[0], 0) > 0:
            offset = pending.popleft()
            early[offset] -= 1
            if early[offset] == 0:
                del early[offset]
                target = self.early_targets.pop(offset, None)
                self.target_next = None if target is None else target + 1

    def failed(self, offset: int) -> None:
        """The target refused the record at ``offset``: the commit point stays at or below it."""
        if self.failed_offset is None or offset < self.failed_offset:
            self.failed_offset = offset

    def commit_offset(self) -> int | None:
        """The offset that may be committed now (the next record to read), or None."""
        if self.pending:
            offset = self.pending[0]
        elif self.highest >= 0:
            offset = self.highest + 1
        else:
            return None
        if self.failed_offset is not None:
            offset = min(offset, self.failed_offset)
        return offset

    @property
    def in_flight(self) -> int:
        """Records sent and not yet acknowledged."""
        return len(self.pending) - sum(self.early.values())


class OffsetTracker:
    """Tracks every assigned partition of one stream and what has been committed."""

    def __init__(self) -> None:
        self.tracks: dict[tuple[str, int], PartitionTrack] = {}
        self.committed: dict[tuple[str, int], int] = {}

    def track(self, topic: str, partition: int) -> PartitionTrack:
        """The partition's track, created on first use."""
        key = (topic, partition)
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = PartitionTrack(topic, partition)
        return track

    def to_commit(
        self, keys: Iterable[tuple[str, int]] | None = None
    ) -> dict[tuple[str, int], int]:
        """Offsets that moved since the last commit (for the given partitions, default all)."""
        selected = self.tracks if keys is None else {
            k: self.tracks[k] for k in keys if k in self.tracks
        }
        out = {}
        for key, track in selected.items():
            offset = track.commit_offset()
            if offset is not None and offset > self.committed.get(key, -1):
                out[key] = offset
        return out

    def next_to_read(self, key: tuple[str, int]) -> int | None:
        """Where reading ``key`` goes on: after the highest offset consumed, else at the
        committed offset (None when neither is known)."""
        track = self.tracks.get(key)
        position = track.next_offset if track is not None else None
        return position if position is not None else self.committed.get(key)

    def landings(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The target offsets of these partitions' commit points, where known."""
        tracks = self.tracks
        out = {}
        for key in keys:
            track = tracks.get(key)
            if track is not None and track.target_next is not None:
                out[key] = track.target_next
        return out

    def mark_committed(self, offsets: dict[tuple[str, int], int]) -> None:
        """Remember what the broker accepted."""
        self.committed.update(offsets)

    def forget(self, keys: Iterable[tuple[str, int]]) -> None:
        """Drop revoked partitions (after their final commit)."""
        for key in keys:
            self.tracks.pop(key, None)
            self.committed.pop(key, None)

    @property
    def in_flight(self) -> int:
        """Records sent and not acknowledged, over every partition."""
        return sum(t.in_flight for t in self.tracks.values())
