"""The record path: records polled by the consumer, produced one by one to the same partition.

Per step: poll a batch -> send each record (through the message handler, with the provenance
header, as configured) -> serve acknowledgements (``acks``: checkpoints, per record or
transactions). Backpressure: when the producer queue is full, every assigned partition is
paused and the path only serves acknowledgements (and keeps the group membership alive) until
there is room again; records polled and not sent wait, in order, and so does an error the
consumer reported after them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable

from kmirror.errors import MirrorError
from kmirror.kafka.reader import ConsumeError, Headers, SourceRecord
from kmirror.kafka.writer import QueueFull
from kmirror.mirror.handler import MessageHandler, MirrorRecord
from kmirror.mirror.partitions import Key
from kmirror.mirror.paths import Acks, Loop
from kmirror.mirror.report import StreamReport
from kmirror.mirror.tracker import PartitionTrack
from kmirror.topics.naming import PROVENANCE_HEADER

_log = logging.getLogger("kmirror.stream")

BATCH_RECORDS = 5000
POLL_TIMEOUT_S = 0.1
REPORT_INTERVAL_S = 1.0
POSITION_CHECKS = 1000  # idle partitions whose client position is read per report, at most


def _every(key: Key) -> bool:
    return True


# Sends one record; False when it is not to be sent (born in the target cluster); raises
# QueueFull when the producers have no room for it.
Send = Callable[[SourceRecord, PartitionTrack], bool | None]


class RecordPath:
    """Records through the consumer and the producers (see the module docstring)."""

    def __init__(self, loop: Loop, acks: Acks, handler: MessageHandler | None,
                 source_alias: str, target_alias: str) -> None:
        self.loop, self.acks, self.writer = loop, acks, acks.writer
        self.handler = handler
        # --provenance.header: the header value this mirror adds, and the one it never sends
        # back (records born in the target cluster).
        self._born_here = source_alias.encode()
        self._born_there = target_alias.encode()
        self._send_one = self._sender(loop.settings.provenance_header)
        self._backpressure = False
        self._pending: list[SourceRecord] = []  # polled but not yet sent (the queue was full)
        self._pending_error: ConsumeError | None = None  # reported after the records pending
        # Partitions whose polled records were dropped unsent: the consumer's position is past
        # them, so it must not move their tracks (sync_positions) until they are read again.
        self._dropped: set[Key] = set()
        self._position_cursor = 0  # where the next round-robin share of positions starts
        self._next_bp_report = 0.0
        # The partitions this path carries: all of them, unless the mixed path (paths/mixed.py)
        # gives some to the batch path; and how long a poll may wait for records.
        self.owns: Callable[[Key], bool] = _every
        self.poll_timeout_s = POLL_TIMEOUT_S
        self.polled = 0  # records the last step polled
        # Why this path carries every partition (the report's label), unless the mixed path
        # reports for it.
        self.forced_by: str | None = None

    # --- the Path protocol --------------------------------------------------------------------

    def start(self) -> None:
        """Nothing to prepare."""

    def start_offsets(self, keys: list[Key]) -> dict[Key, int]:
        """The acknowledgements' own start offsets (transactions: stored positions)."""
        return self.acks.start_offsets(keys)

    def assigned(self, keys: list[Key]) -> None:
        """New partitions wait too while the target has no room."""
        if self._backpressure:
            self.loop.reader.pause(keys)

    def resume(self, keys: list[Key], starts: dict[Key, int] | None = None) -> None:
        """Read partitions whose topic is back again from the first record not sent (the
        records polled while suspended were dropped); ``starts``: where, when known better
        than by the tracker (a partition coming from the batch path)."""
        loop = self.loop
        for key in keys:
            start = (starts or {}).get(key, loop.tracker.next_to_read(key))
            if start is not None and not loop.parts.is_stopped(key):
                loop.reader.seek(key, start)
                self._dropped.discard(key)
        if self._backpressure:
            loop.reader.pause(keys)
        else:
            loop.reader.resume([k for k in keys if not loop.parts.is_stopped(k)])

    def drop(self, keys: Iterable[Key]) -> None:
        """Records polled for these partitions and not sent are dropped (they are read again
        from the committed offset by whoever mirrors them next)."""
        gone = set(keys)
        if gone and self._pending:
            kept = [r for r in self._pending if (r.topic(), r.partition()) not in gone]
            if len(kept) < len(self._pending):
                self._dropped.update(gone.intersection((r.topic(), r.partition())
                                                    for r in self._pending))
            self._pending = kept

    def let_go(self, keys: list[Key]) -> None:
        """Forget what waits for these partitions."""
        self.drop(keys)
        self._dropped.difference_update(keys)

    def taken(self, key: Key) -> None:
        """``key`` went to another path (paths/mixed.py): what was dropped of it is not read
        again here."""
        self._dropped.discard(key)

    def released(self, keys: list[Key], lost: bool) -> None:
        """Hand over to the acknowledgements (transactions release their producers)."""
        self.acks.released(keys, lost)

    def rewind(self, key: Key, offset: int) -> None:
        """Read ``key`` again from ``offset`` (an aborted transaction)."""
        self.drop([key])
        self.loop.reader.seek(key, offset)
        self._dropped.discard(key)

    def step(self, now: float) -> bool:
        """Send what waits, poll and send more, serve acknowledgements; True while the target
        has no room."""
        if self._pending:
            self._pending = self._send(self._pending)
            if self._pending:
                self._wait_for_room()
                return True
            self._end_backpressure()
        if self._pending_error is not None:  # (everything polled before it is sent)
            waiting, self._pending_error = self._pending_error, None
            self._consume_error(waiting)
        records, error = self.loop.reader.poll_batch(BATCH_RECORDS, self.poll_timeout_s)
        self.polled = len(records)
        if records:
            self._pending = self._send(records)
            if self._pending:
                self._start_backpressure()
        if error is not None and (error.topic is None
                                  or self.owns((error.topic, error.partition))):
            if self._pending:
                self._pending_error = error
            else:
                self._consume_error(error)
        self.writer.poll(0)
        self.acks.serve()
        return False

    def settle(self, keys: Iterable[Key] | None, timeout_s: float) -> None:
        """Before a commit (see Acks.settle)."""
        self.acks.settle(keys, timeout_s)

    def drain(self, timeout_s: float) -> None:
        """Wait for the target's answers to everything sent."""
        self.acks.drain(timeout_s)

    def sync_positions(self) -> None:
        """Move idle partitions past records the consumer skipped (transaction markers,
        aborted records): without this a transactional partition would never look caught up.
        Only partitions with nothing in flight and nothing waiting (or dropped) qualify."""
        loop = self.loop
        waiting = {(r.topic(), r.partition()) for r in self._pending} | self._dropped
        tracks = loop.tracker.tracks
        owns = self.owns
        idle = [
            key for key in loop.parts.mirroring
            if key not in waiting and owns(key)
            and (key not in tracks or (not tracks[key].pending
                                       and tracks[key].failed_offset is None))
        ]
        if len(idle) > POSITION_CHECKS:
            # A round-robin share per call: the client's position lookup of 10,000 partitions
            # cost a tenth of a core every second; each partition is still looked at every
            # len(idle) / POSITION_CHECKS calls.
            start = self._position_cursor % len(idle)
            self._position_cursor = start + POSITION_CHECKS
            idle = (idle + idle)[start:start + POSITION_CHECKS]
        for key, position in loop.reader.positions(idle).items():
            track = loop.tracker.track(*key)
            if position - 1 > track.highest:
                track.consumed(position - 1)

    def report_into(self, stats: StreamReport, finished: bool) -> None:
        """Whether the source is paused for the target; the partitions it carries."""
        stats.paused_for_backpressure = self._backpressure
        if self.forced_by is not None:
            stats.partition_paths = dict(Counter(
                (topic, "records", self.forced_by) for topic, _ in self.loop.parts.assigned))

    def close(self) -> None:
        """Close what the acknowledgements own."""
        self.acks.close()

    # --- sending ------------------------------------------------------------------------------

    def _send(self, batch: list[SourceRecord]) -> list[SourceRecord]:
        """Send records in order; return those not sent because the queue is full."""
        loop = self.loop
        track_for = loop.tracker.track
        may_send = loop.parts.may_send
        send_one = self._send_one  # (None: the plain send, inlined below: the hot path)
        send, target_topic = self.writer.send, loop.target_topic
        tracks: dict[Key, PartitionTrack] = {}
        skipped: set[Key] = set()  # revoked meanwhile, stopped by a refused record, or held
        stats = loop.stats
        by_topic = stats.by_topic
        count = size = 0
        for i, record in enumerate(batch):
            topic = record.topic()
            key = (topic, record.partition())
            track = tracks.get(key)
            if track is None:
                if key in skipped or not may_send(key) or not self.owns(key):
                    skipped.add(key)
                    continue
                track = tracks[key] = track_for(*key)
            value = record.value()
            try:
                if send_one is None:
                    offset = record.offset()
                    send(target_topic(topic), key[1], record.key(), value, record.headers(),
                         record.timestamp()[1], track, offset)
                    track.sent(offset)
                elif send_one(record, track) is False:
                    continue
            except QueueFull:
                self._sent(stats, count, size, None)
                return batch[i:]
            length = len(value) if value is not None else 0
            count += 1
            size += length
            counts = by_topic.get(topic)
            if counts is None:
                counts = by_topic[topic] = [0, 0]
            counts[0] += 1
            counts[1] += length
        self._sent(stats, count, size, batch[-1])
        return []

    def _sent(self, stats: StreamReport, count: int, size: int,
              last: SourceRecord | None) -> None:
        """Count what went; the acknowledgements learn of it (with the newest timestamp when
        the whole batch went)."""
        stats.records += count
        stats.bytes += size
        if count:
            self.acks.sent(last.timestamp()[1] if last is not None else -1)

    def _sender(self, provenance: bool) -> Send | None:
        """The one way this path sends a record, chosen once: through the handler, with the
        provenance header, or both; None for the plain send (inlined in ``_send``)."""
        writer, target_topic = self.writer, self.loop.target_topic
        handler = self.handler

        def handled(record: SourceRecord, track: PartitionTrack) -> None:
            self._send_handled(record, track, record.headers())

        if not provenance:
            return None if handler is None else handled

        def with_provenance(record: SourceRecord, track: PartitionTrack) -> bool | None:
            offset = record.offset()
            marked = self._with_provenance(record.headers())
            if marked is None:  # born in the target cluster: never send it back
                track.consumed(offset)
                return False
            if handler is not None:
                self._send_handled(record, track, marked)
            else:
                writer.send(target_topic(record.topic()), record.partition(), record.key(),
                            record.value(), marked, record.timestamp()[1], track, offset)
                track.sent(offset)
            return None

        return with_provenance

    def _with_provenance(self, headers: Headers | None) -> Headers | None:
        """The headers to send with a record (its birthplace added if it has none yet), or
        None when the record was born in the target cluster: sending it back closes a loop."""
        for name, value in headers or ():
            if name == PROVENANCE_HEADER:
                return None if value == self._born_there else headers
        return [*(headers or ()), (PROVENANCE_HEADER, self._born_here)]

    def _send_handled(self, record: SourceRecord, track: PartitionTrack,
                      headers: Headers | None) -> None:
        assert self.handler is not None
        partition, offset = record.partition(), record.offset()
        outputs = list(self.handler.handle(MirrorRecord(
            record.topic(), partition, record.key(), record.value(), headers,
            record.timestamp()[1])))
        if not outputs:
            track.consumed(offset)
        # A handler's outputs go out all or none: on QueueFull the whole record is retried.
        if self.writer.queued() + len(outputs) > self.writer.max_messages:
            raise QueueFull
        target_topic = self.loop.target_topic
        for out in outputs:
            self.writer.send(target_topic(out.topic), partition, out.key, out.value,
                             out.headers, out.timestamp_ms, track, offset)
            track.sent(offset)

    # --- consumer errors and backpressure -----------------------------------------------------

    def _consume_error(self, error: ConsumeError) -> None:
        loop = self.loop
        if error.offset_reset and error.topic is not None:
            self._out_of_range((error.topic, error.partition))
            return
        where = (f"{loop.label}, topic {error.topic} partition {error.partition}"
                 if error.topic else loop.label)
        if error.fatal:
            raise MirrorError(f"{where}: fatal consumer error: {error.text}")
        _log.warning("%s: %s", where, error.text)

    def _out_of_range(self, key: Key) -> None:
        """The next offset of ``key`` is not in the source's log: decide (source_gaps.py)."""
        loop = self.loop
        if not loop.parts.may_send(key):
            return
        restart = loop.source_gap(key, loop.tracker.next_to_read(key))
        if loop.parts.is_stopped(key):
            return  # the topic was created again: stopped, not moved
        loop.tracker.track(*key).moved_to(restart)
        loop.reader.seek(key, restart)
        if self._backpressure:
            loop.reader.pause([key])

    def _start_backpressure(self) -> None:
        self._backpressure = True
        self.loop.stats.backpressure_pauses += 1
        self.loop.reader.pause([k for k in self.loop.parts.assigned if self.owns(k)])
        _log.debug("stream %d: producer queue full, source paused", self.loop.index)

    def _end_backpressure(self) -> None:
        if self._backpressure:
            self._backpressure = False
            self.loop.reader.resume([k for k in self.loop.parts.mirroring if self.owns(k)])

    def _wait_for_room(self) -> None:
        self.writer.poll(0.05)
        self.loop.check_failures()
        # Keep the group membership alive; paused partitions normally return nothing, and
        # anything returned anyway queues up behind what is waiting, in order.
        if self._pending_error is None:
            records, self._pending_error = self.loop.reader.poll_batch(BATCH_RECORDS, 0)
            self._pending.extend(records)
        if time.monotonic() >= self._next_bp_report:
            self.loop.report()
            self._next_bp_report = time.monotonic() + REPORT_INTERVAL_S

