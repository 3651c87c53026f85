"""One mirror stream: a group member reading the source and writing the target, in one loop.

Per batch: poll records -> (handler) -> send to the same target partition -> serve
acknowledgements -> now and then commit what the tracker allows. Backpressure: when the
producer queue is full, every assigned partition is paused and the loop only serves
acknowledgements (and keeps the group membership alive) until there is room again.

Stopping (SIGTERM/SIGINT, or --until-caught-up reached): stop fetching, wait for every
acknowledgement, commit, leave the group. A refused record stops its partition; with
abort.on.send.failure the whole stream stops after committing what is safe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from kmirror.config.settings import MirrorSettings, SourceCluster
from kmirror.errors import KmirrorError, MirrorError
from kmirror.kafka.acls import acl_line
from kmirror.kafka.admin import Admin
from kmirror.kafka.reader import Key, SourceReader
from kmirror.kafka.scan import locate_records
from kmirror.kafka.writer import QueueFull, Refusal, SendFailure, SyncWriter, TargetWriter
from kmirror.mirror.handler import MessageHandler, MirrorRecord, load_handler
from kmirror.mirror.offset_syncs import SyncRecorder
from kmirror.mirror.partitions import Partitions
from kmirror.mirror.report import StreamReport
from kmirror.mirror.source_gaps import decide
from kmirror.mirror.topic_watch import TopicWatch
from kmirror.mirror.tracker import OffsetTracker
from kmirror.offsets.syncs import OffsetSync, encode, slots
from kmirror.topics.filter import RegexTopicFilter
from kmirror.topics.lineage import CLAIM, LineageGuard, Verdict
from kmirror.topics.lineage_store import TargetLineageStore
from kmirror.topics.naming import OFFSET_SYNCS_TOPIC, PROVENANCE_HEADER, TopicSelection
from kmirror.topics.plan import TopicSync

_log = logging.getLogger("kmirror.stream")

BATCH_RECORDS = 5000
POLL_TIMEOUT_S = 0.1
REPORT_INTERVAL_S = 1.0
DRAIN_TIMEOUT_S = 300.0
COMMIT_FLUSH_TIMEOUT_S = 30.0  # a commit waits this long for a checkpoint, then commits less
FLUSH_SLICE_S = 0.5  # flush in slices, reporting in between (the supervisor watches for silence)


class MirrorStream:
    """The loop of one stream; ``run`` returns the exit code."""

    def __init__(
        self,
        settings: MirrorSettings,
        source: SourceCluster,
        stream_index: int,
        report: Callable[[StreamReport], None],
        should_stop: Callable[[], bool],
    ) -> None:
        self.settings, self.source, self.index = settings, source, stream_index
        self._report_to, self._should_stop = report, should_stop
        self.filter = RegexTopicFilter(settings.include, settings.exclude)
        self.selection = TopicSelection(self.filter.should_mirror, settings.policy(),
                                        source.alias, settings.target_alias)
        self.target_topic = self.selection.target_topic
        # --provenance.header: the header value this mirror adds, and the one it never sends
        # back (records born in the target cluster).
        self._born_here = source.alias.encode()
        self._born_there = settings.target_alias.encode()
        self.tracker = OffsetTracker()
        self.handler: MessageHandler | None = (
            load_handler(settings.message_handler, settings.message_handler_args)
            if settings.message_handler else None
        )
        label = f"source cluster '{source.alias}' ({source.bootstrap_servers})"
        self.label = label
        self._target_admin = Admin(settings.target_admin_settings, "target")
        source_admin = Admin(source.admin_settings, label)
        self.sync = TopicSync(
            source_admin,
            self._target_admin,
            settings.replication_factor,
            rename=self.target_topic,
        )
        self.lineage = LineageGuard(
            source_admin, self._target_admin,
            TargetLineageStore(settings.target_admin_settings, self._target_admin),
            source_cluster=source_admin.cluster_id, source_alias=source.alias, label=label,
            target_label=f"target cluster ({settings.target['bootstrap.servers']})",
            rename=self.target_topic, recreate_target=settings.recreate_target_topics,
        )
        self._new_sources: set[str] = set()  # topics re-created since their lineage: start over
        self._starts: dict[Key, int] = {}  # explicit start offsets of the last assignment
        # Every partition's state (mirroring, stopped, refused; suspended while its topic is
        # gone): what may be sent and committed (mirror/partitions.py).
        self.parts = Partitions()
        self._source_topics: dict[str, str] = {}  # target topic -> source topic, as assigned
        self.topic_watch = TopicWatch(self.lineage, self.parts, self.tracker, label, self)
        self.writer = self._make_writer()
        # Out-of-range positions come back as errors, never as a silent reset (source_gaps.py).
        self.reset_to_earliest = source.client.get("auto.offset.reset", "earliest") in (
            "earliest", "smallest", "beginning")
        client = {**source.client, "client.id": f"kmirror-{source.alias}-{stream_index}",
                  "auto.offset.reset": "error"}
        if "group.instance.id" in client:
            # Static membership: one id per stream (one id shared by several streams would
            # fence them against each other). After a kill -9 the broker refuses the id until
            # the old member's session expires (a fatal error, reported), so it does not
            # shorten restarts after crashes.
            client["group.instance.id"] = f"{client['group.instance.id']}-{stream_index}"
        self.reader = SourceReader(client, label, self._assigned, self._revoked, self._lost)
        self.reader.before_assign = self._before_assign
        self.stats = StreamReport(source.alias, stream_index)
        self._backpressure = False
        self._error: str | None = None
        self._pending: list[Any] = []  # records polled but not yet sent (queue was full)
        self._next_bp_report = 0.0
        self._unchecked = False  # records sent since the last checkpoint
        self._last_sent_timestamp_ms = 0
        self.syncs: SyncRecorder | None = None
        self._sync_writer: SyncWriter | None = None
        if settings.emit_offset_syncs:
            self._sync_writer = SyncWriter(
                {**settings.target, "client.id": f"kmirror-{source.alias}-{stream_index}"},
                OFFSET_SYNCS_TOPIC)
            self.syncs = SyncRecorder(source.alias, self.target_topic, self._target_ends,
                                      self._write_sync)
            if self.writer.per_record_acks and self.handler is None:
                self.writer.last_acked = {}

    def _make_writer(self) -> Any:
        """The target writer (a subclass may write differently, e.g. in transactions).

        Checkpoint acknowledgements (see kmirror.kafka.writer) unless a handler may send a
        record elsewhere or several times, or the writer only carries the batches --shallow
        cannot forward whole: then each record's report is needed."""
        return TargetWriter(self.settings.target, self.settings.num_producers, "target",
                            per_record_acks=self.handler is not None or self.settings.shallow)

    # --- offset syncs ------------------------------------------------------------------------

    def _target_ends(self, keys: list[Key]) -> dict[Key, int]:
        try:
            # (short: the loop waits meanwhile; a target that is down just means no sync now)
            return self._target_admin.end_offsets(keys, timeout_s=5.0)
        except MirrorError as exc:
            _log.debug("offset syncs: cannot read the target's end offsets: %s", exc)
            return {}

    def _write_sync(self, sync: OffsetSync) -> None:
        assert self._sync_writer is not None
        for slot in slots(time.time()):
            self._sync_writer.write(*encode(sync, slot))

    def _record_syncs(self) -> None:
        """Write the offset syncs that are due (every record sent has been acknowledged)."""
        if self.syncs is None:
            return
        if self.writer.last_acked:
            sources = {self.target_topic(t): t for t, _ in self.parts.assigned}
            acked, self.writer.last_acked = self.writer.last_acked, {}
            for (topic, partition), (upstream, downstream) in acked.items():
                if topic in sources:
                    self.syncs.exact_pair((sources[topic], partition), upstream, downstream)
        self.syncs.sync()

    # --- rebalance callbacks (run inside reader.poll_batch) ---------------------------------

    def _ensure_target_topics(self, keys: list[Key]) -> None:
        """The target topics of these partitions exist, with at least their partitions."""
        needed: dict[str, int] = {}
        for topic, partition in keys:
            needed[topic] = max(needed.get(topic, 0), partition + 1)
        self.sync.ensure(needed)

    def _before_assign(self, keys: list[Key]) -> tuple[set[Key], dict[Key, int]]:
        """Before partitions are assigned: hold those of topics whose lineage refuses them
        (topics/lineage.py), and choose explicit start offsets for the others."""
        try:
            verdicts = self.lineage.check({t for t, _ in keys})
        except KmirrorError as exc:  # (the source did not answer: checked again within 1 s)
            _log.warning("%s; the topics' ids are compared again in a moment", exc)
            verdicts = {}
        held = {k for k in keys if k[0] in verdicts and not verdicts[k[0]].allowed}
        for topic, verdict in verdicts.items():
            if not verdict.allowed:
                self.refuse([k for k in held if k[0] == topic], verdict)
            elif verdict.kind == CLAIM:
                self.sync.forget([self.target_topic(topic)])  # (it may have been deleted)
        self._new_sources = {t for t, v in verdicts.items() if v.allowed and v.new_source}
        self._starts = self._explicit_starts([k for k in keys if k not in held])
        return held, self._starts

    def _explicit_starts(self, keys: list[Key]) -> dict[Key, int]:
        """Start offsets that override the group's committed ones: a source topic created
        again since its lineage starts over where auto.offset.reset says (offsets committed
        under its name belong to the old topic)."""
        fresh = [k for k in keys if k[0] in self._new_sources]
        if not fresh:
            return {}
        marks = self.reader.watermarks(fresh)
        return {k: low if self.reset_to_earliest else high for k, (low, high) in marks.items()}

    def _start_offsets(self, keys: list[Key]) -> dict[Key, int]:
        """Where newly assigned partitions start: the group's committed offsets, unless
        chosen explicitly before the assignment."""
        return {**self.reader.committed(keys),
                **{k: o for k, o in self._starts.items() if k in keys}}

    def _assigned(self, keys: list[Key]) -> None:
        for topic in {t for t, _ in keys}:
            self._source_topics[self.target_topic(topic)] = topic
        self._ensure_target_topics(keys)
        self.lineage.keep(_log.warning)  # (the target topics exist now)
        # Start each partition's track at its start offset, so a partition with nothing new
        # still reports its position (for lag and --until-caught-up).
        start = self._start_offsets(keys)
        for key, offset in start.items():
            self.tracker.track(*key).consumed(offset - 1)
        # (an explicit start is not the group's offset: the first commit writes it)
        self.tracker.mark_committed({k: o for k, o in start.items() if k not in self._starts})
        self.parts.assign(keys)
        if self.syncs is not None and not self.writer.per_record_acks:
            self.syncs.assigned(keys)  # baselines for checkpoint counts (only they need them)
        self.stats.rebalances += 1
        if self._backpressure:
            self.reader.pause(keys)
        _log.debug("stream %d assigned %s", self.index, keys)

    def _revoked(self, keys: list[Key]) -> None:
        # The partitions are still ours: drain, commit, then let go. Records polled for them
        # but not sent are dropped: the next owner reads them again from the committed offset.
        gone = set(keys)
        self.stats.rebalances += 1
        self._pending = [m for m in self._pending if (m.topic(), m.partition()) not in gone]
        self._drain(DRAIN_TIMEOUT_S)
        self._commit(keys)
        self._let_go(keys)

    def _lost(self, keys: list[Key]) -> None:
        # Someone else may own them already: never commit for lost partitions.
        self._let_go(keys)

    def _let_go(self, keys: Iterable[Key]) -> None:
        keys = list(keys)
        self.tracker.forget(keys)
        self.parts.let_go(keys)
        if self.syncs is not None:
            self.syncs.forget(keys)

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> int:
        """Mirror until told to stop; 0 after a clean drain, 1 after a failure."""
        next_refresh = next_commit = next_report = 0.0
        try:
            while not self._should_stop() and self._error is None:
                now = time.monotonic()
                if now >= next_refresh:
                    self._refresh_subscription()
                    next_refresh = now + self.settings.topic_refresh_interval_ms / 1000
                self.topic_watch.check(now)
                if self._pending:
                    self._pending = self._send(self._pending)
                    if self._pending:
                        self._wait_for_room()
                        continue
                    self._end_backpressure()
                batch = self.reader.poll_batch(BATCH_RECORDS, POLL_TIMEOUT_S)
                if batch:
                    self._pending = self._send(batch)
                    if self._pending:
                        self._start_backpressure()
                self.writer.poll(0)
                if self._unchecked and not self.writer.per_record_acks:
                    if self.writer.refusals:
                        self._wait_for_checkpoint(DRAIN_TIMEOUT_S)
                    elif self.writer.all_acknowledged():
                        self._checkpoint()
                self._check_failures()
                now = time.monotonic()
                if now >= next_commit:
                    self._commit()
                    next_commit = now + self.settings.offset_commit_interval_ms / 1000
                if now >= next_report:
                    self._report()
                    next_report = now + REPORT_INTERVAL_S
            return self._shutdown()
        except MirrorError as exc:
            self._error = str(exc)
            return self._shutdown()

    def _refresh_subscription(self) -> None:
        try:
            available = self.reader.topics()
        except MirrorError as exc:
            # The source is briefly unreachable (a broker restart): keep the subscription and
            # look again at the next refresh; the consumer reconnects by itself.
            _log.warning("%s; keeping the current subscription", exc)
            return
        topics = [t for t in available if self.selection.selects(t)]
        if self.reader.subscribe(topics):
            _log.debug("stream %d subscribed to %d topic(s)", self.index, len(topics))

    # --- topics deleted or created again while mirroring (WatchActions of topic_watch.py) -----

    def resume(self, keys: list[Key]) -> None:
        """Read partitions whose topic is back again from the first record not sent (the
        records polled while suspended were dropped)."""
        for key in keys:
            start = self.tracker.next_to_read(key)
            if start is not None and not self.parts.is_stopped(key):
                self.reader.seek(key, start)
        if self._backpressure:
            self.reader.pause(keys)
        else:
            self.reader.resume([k for k in keys if not self.parts.is_stopped(k)])

    def suspend(self, topic: str, keys: list[Key]) -> None:
        """The topic is gone (deleted?): pause its partitions, drop what waits to be sent."""
        new = self.parts.suspend(keys)
        if not new:
            return
        self.reader.pause(new)
        self._pending = [m for m in self._pending if (m.topic(), m.partition()) not in new]
        _log.warning("%s, topic %s is gone (deleted?): its partitions wait and nothing more is "
                     "committed for them until it is back", self.label, topic)

    def refuse(self, keys: list[Key], verdict: Verdict) -> None:
        """Stop partitions whose topic the lineage refuses: nothing more is sent or committed
        for them (they are let go; the group keeps them until the next rebalance)."""
        message = self.topic_watch.refusal_message(keys, verdict)
        self.reader.pause(keys)
        gone = set(keys)
        self._pending = [m for m in self._pending if (m.topic(), m.partition()) not in gone]
        self._let_go(keys)  # (as if revoked: the group keeps them until the next rebalance)
        self.parts.refuse(keys, message)
        if keys:
            self.stats.stopped_partitions.append(message)

    def _send(self, batch: list[Any]) -> list[Any]:
        """Send records in order; return those not sent because the queue is full."""
        track_for = self.tracker.track
        may_send = self.parts.may_send
        tracks: dict[Key, Any] = {}
        send = self.writer.send
        handler = self.handler
        target_topic = self.target_topic
        provenance = self.settings.provenance_header
        stats = self.stats
        by_topic = stats.by_topic
        count = size = 0
        for i, msg in enumerate(batch):
            if msg.error() is not None:
                self._consume_error(msg)
                tracks.clear()  # (it may have stopped partitions of this batch)
                continue
            topic, partition = msg.topic(), msg.partition()
            key = (topic, partition)
            track = tracks.get(key)
            if track is None:
                if not may_send(key):
                    continue  # revoked meanwhile, stopped by a refused record, or held
                track = tracks[key] = track_for(topic, partition)
            offset = msg.offset()
            value = msg.value()
            try:
                if provenance:
                    headers = self._with_provenance(msg.headers())
                    if headers is None:  # born in the target cluster: never send it back
                        track.consumed(offset)
                        continue
                    if handler is not None:
                        self._send_handled(msg, track, headers)
                    else:
                        send(target_topic(topic), partition, msg.key(), value, headers,
                             msg.timestamp()[1], track, offset)
                        track.sent(offset)
                elif handler is None:
                    send(
                        target_topic(topic), partition, msg.key(), value, msg.headers(),
                        msg.timestamp()[1], track, offset,
                    )
                    track.sent(offset)
                else:
                    self._send_handled(msg, track)
            except QueueFull:
                stats.records += count
                stats.bytes += size
                if count:
                    self._unchecked = True
                return batch[i:]
            length = len(value) if value is not None else 0
            count += 1
            size += length
            counts = by_topic.get(topic)
            if counts is None:
                counts = by_topic[topic] = [0, 0]
            counts[0] += 1
            counts[1] += length
        stats.records += count
        stats.bytes += size
        if count:
            self._unchecked = True
            self._last_sent_timestamp_ms = batch[-1].timestamp()[1]
        return []

    def _with_provenance(self, headers: list[tuple[str, bytes | None]] | None
                         ) -> list[tuple[str, bytes | None]] | None:
        """The headers to send with a record (its birthplace added if it has none yet), or
        None when the record was born in the target cluster: sending it back closes a loop."""
        for name, value in headers or ():
            if name == PROVENANCE_HEADER:
                return None if value == self._born_there else headers
        return [*(headers or ()), (PROVENANCE_HEADER, self._born_here)]

    def _send_handled(self, msg: Any, track: Any,
                      headers: list[tuple[str, bytes | None]] | None = None) -> None:
        assert self.handler is not None
        record = MirrorRecord(
            msg.topic(), msg.partition(), msg.key(), msg.value(),
            msg.headers() if headers is None else headers, msg.timestamp()[1],
        )
        outputs = list(self.handler.handle(record))
        offset = msg.offset()
        if not outputs:
            track.consumed(offset)
        # A handler's outputs go out all or none: on QueueFull the whole record is retried.
        if self.writer.queued() + len(outputs) > self.writer.max_messages:
            raise QueueFull
        for out in outputs:
            self.writer.send(
                self.target_topic(out.topic), msg.partition(), out.key, out.value, out.headers,
                out.timestamp_ms, track, offset,
            )
            track.sent(offset)

    def _consume_error(self, msg: Any) -> None:
        if self.reader.is_offset_reset(msg):
            self._out_of_range((msg.topic(), msg.partition()))
            return
        described = self.reader.error_of(msg)
        if described is None:
            return
        text, fatal = described
        where = (f"{self.label}, topic {msg.topic()} partition {msg.partition()}"
                 if msg.topic() else self.label)
        if fatal:
            raise MirrorError(f"{where}: fatal consumer error: {text}")
        _log.warning("%s: %s", where, text)

    def _out_of_range(self, key: Key) -> None:
        """The next offset of ``key`` is not in the source's log: decide (source_gaps.py)."""
        if not self.parts.may_send(key):
            return
        restart = self.source_gap(key, self.tracker.next_to_read(key))
        if self.parts.is_stopped(key):
            return  # the topic was created again: stopped, not moved
        self.tracker.track(*key).moved_to(restart)
        self.reader.seek(key, restart)
        if self._backpressure:
            self.reader.pause([key])

    def source_gap(self, key: Key, wanted: int | None) -> int:
        """Apply the --on.source.gap policy to a partition whose ``wanted`` offset is out of
        range; returns where to go on (raises MirrorError when the policy is fail)."""
        low, high = self.reader.watermarks([key])[key]
        if wanted is not None and wanted > high:
            # Past the log's end: the topic may have been created again (a new id)
            verdict = self.lineage.check([key[0]]).get(key[0])
            stop = self.topic_watch.stop_for(verdict) if verdict is not None else None
            if stop is not None:
                self.refuse([k for k in self.parts.assigned if k[0] == key[0]], stop)
                return wanted
        where = f"{self.label}, topic {key[0]} partition {key[1]}"
        decision = decide(where, wanted, low, high, self.settings.on_source_gap,
                          self.reset_to_earliest)
        if decision.stop:
            raise MirrorError(decision.message or where)
        if decision.message:
            _log.warning("%s", decision.message)
            gaps = self.stats.source_gaps
            gaps[key[0]] = gaps.get(key[0], 0) + decision.lost_records
        return decision.restart

    def _start_backpressure(self) -> None:
        self._backpressure = True
        self.stats.backpressure_pauses += 1
        self.reader.pause(self.parts.assigned)
        _log.debug("stream %d: producer queue full, source paused", self.index)

    def _end_backpressure(self) -> None:
        if self._backpressure:
            self._backpressure = False
            self.reader.resume(self.parts.mirroring)

    def _wait_for_room(self) -> None:
        self.writer.poll(0.05)
        self._check_failures()
        # Keep the group membership alive; paused partitions normally return nothing, and
        # anything returned anyway queues up behind what is waiting, in order.
        self._pending.extend(self.reader.poll_batch(BATCH_RECORDS, 0))
        if time.monotonic() >= self._next_bp_report:
            self._report()
            self._next_bp_report = time.monotonic() + REPORT_INTERVAL_S

    def _check_failures(self) -> None:
        fatal = self.writer.fatal or self.reader.fatal
        if fatal:
            raise MirrorError(f"fatal client error: {fatal}")
        if not self.writer.failures:
            return
        failures, self.writer.failures = self.writer.failures, []
        by_partition: dict[Key, list[SendFailure]] = {}
        for failure in failures:  # (failures name the target topic)
            key = self._source_key(failure.topic, failure.partition)
            by_partition.setdefault(key, []).append(failure)
        for key, refused in by_partition.items():
            if self.parts.is_stopped(key):
                continue
            message = self._refusal_message(key[0], refused)
            if self.parts.stop(key, message):
                self.reader.pause([key])
            # (reported also when the partition was let go since: the refusal is never silent)
            self.stats.stopped_partitions.append(message)
            if self.settings.abort_on_send_failure:
                raise MirrorError(message)
            _log.error("%s", message)

    def _source_key(self, target_topic: str, partition: int) -> Key:
        """The source partition whose records go to ``target_topic``'s ``partition``."""
        return (self._source_topics.get(target_topic, target_topic), partition)

    def _refusal_message(self, source_topic: str, refused: list[SendFailure]) -> str:
        """One line naming the record the target refused (the largest, when too large)."""
        first = min(refused, key=lambda f: f.source_offset)
        culprit = first
        if first.code == "MSG_SIZE_TOO_LARGE":
            culprit = max(refused, key=lambda f: f.size_bytes)
        size = f" ({culprit.size_bytes:,} bytes)" if culprit.size_bytes else ""
        batch = ""
        if len(refused) > 1:
            last = max(f.source_offset for f in refused)
            batch = (f"; {len(refused)} records at offsets {first.source_offset}..{last} "
                     "were refused with it")
        grant = ""
        if culprit.code in ("UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_TOPIC", "_UNKNOWN_PARTITION"):
            grant = ("; the target topic is gone (deleted while mirroring?): create it again, "
                     "or restart with --recreate.target.topics")
        if culprit.code == "TOPIC_AUTHORIZATION_FAILED":
            grant = "; grant the target's ACL with: " + acl_line(
                self.settings.target, ["Write", "Describe"], "--topic", culprit.topic)
        return (
            f"target refused the record from {self.label}, topic {source_topic} partition "
            f"{culprit.partition} offset {culprit.source_offset}{size}: {culprit.reason} "
            f"({culprit.code}){batch}; the partition is stopped and nothing at or after "
            f"offset {first.source_offset} is committed{grant}"
        )

    def _sync_positions(self) -> None:
        """Move idle partitions past records the consumer skipped (transaction markers,
        aborted records): without this a transactional partition would never look caught up.
        Only partitions with nothing in flight and nothing waiting to be sent qualify."""
        waiting = {(m.topic(), m.partition()) for m in self._pending}
        tracks = self.tracker.tracks
        idle = [
            key for key in self.parts.mirroring
            if key not in waiting
            and (key not in tracks or (not tracks[key].pending
                                       and tracks[key].failed_offset is None))
        ]
        for key, position in self.reader.positions(idle).items():
            track = self.tracker.track(*key)
            if position - 1 > track.highest:
                track.consumed(position - 1)

    def _checkpoint(self) -> None:
        """The producers hold nothing: refused records get their source offsets, every other
        record sent so far counts as acknowledged (checkpoint mode)."""
        if self.writer.refusals:
            self._attribute_refusals()
        syncs = self.syncs
        for key, track in self.tracker.tracks.items():
            if syncs is not None and track.pending and track.failed_offset is None:
                syncs.checkpointed(key, len(track.pending), track.pending[0], track.pending[-1])
            track.acked_all()
        if self._last_sent_timestamp_ms > 0:
            self.writer.add_latency_sample(time.time() - self._last_sent_timestamp_ms / 1000)
            self._last_sent_timestamp_ms = 0
        self._unchecked = False

    def _wait_for_checkpoint(self, timeout_s: float) -> bool:
        """Flush until every record sent has its outcome, reporting meanwhile; then take the
        checkpoint. False when the target did not acknowledge everything in time."""
        deadline = time.monotonic() + timeout_s
        self.writer.poll(0)
        while not self.writer.all_acknowledged():
            if time.monotonic() >= deadline:
                return False
            self.writer.flush(min(FLUSH_SLICE_S, max(0.0, deadline - time.monotonic())))
            self._report()
        self._checkpoint()
        return True

    def _attribute_refusals(self) -> None:
        """Find the source offset of each refused record among the partition's records sent
        since the last checkpoint (matched in order by key and size, and by timestamp when the
        report carries one) and list it as a failure; an unmatched one is given the first
        offset in flight (never too high)."""
        refusals, self.writer.refusals = self.writer.refusals, []
        by_key: dict[Key, list[Refusal]] = {}
        for refusal in refusals:  # (a refusal names the target topic)
            by_key.setdefault(self._source_key(refusal.topic, refusal.partition), []).append(
                refusal)
        for key, refused in by_key.items():
            track = self.tracker.tracks.get(key)
            window = list(track.pending) if track is not None else []
            first = window[0] if window else (track.highest + 1 if track else 0)
            offsets = locate_records(
                self.source.admin_settings, self.label, key[0], key[1], window[0],
                window[-1] + 1, [(r.key, r.size_bytes, r.timestamp_ms) for r in refused],
            ) if window else {}
            for index, refusal in enumerate(refused):
                offset = offsets.get(index, first)
                if track is not None:
                    track.failed(offset)
                self.writer.failures.append(SendFailure(
                    refusal.topic, refusal.partition, offset, refusal.reason, refusal.code,
                    refusal.size_bytes,
                ))

    def _commit(self, keys: Iterable[Key] | None = None) -> None:
        settled = True
        if self._unchecked and not self.writer.per_record_acks:
            # Commits follow a checkpoint; without one (target slow or down) they stay at the
            # first record sent since the last one, which is always safe.
            settled = self._wait_for_checkpoint(COMMIT_FLUSH_TIMEOUT_S)
        if settled:
            self._record_syncs()
        self._commit_source_offsets(keys)

    def _commit_source_offsets(self, keys: Iterable[Key] | None) -> None:
        """Commit the group's offsets that moved, except where nothing may be committed."""
        self._sync_positions()
        offsets = self.parts.committable(self.tracker.to_commit(keys))
        if offsets:
            self.tracker.mark_committed(self.reader.commit(offsets))
            self.stats.commits += 1

    def _drain(self, timeout_s: float) -> None:
        if not self.writer.per_record_acks:
            self._wait_for_checkpoint(timeout_s)
            return
        deadline = time.monotonic() + timeout_s
        while self.writer.queued() and time.monotonic() < deadline:
            self.writer.poll(0.1)

    def _report(self, finished: bool = False) -> None:
        """Send the counters since the last report (a fresh object: the queue pickles later)."""
        self._sync_positions()
        stats = self.stats
        self._report_to(StreamReport(
            source=stats.source,
            stream=stats.stream,
            records=stats.records,
            bytes=stats.bytes,
            by_topic=stats.by_topic,
            latency_s=self.writer.take_latency_samples(),
            commits=stats.commits,
            retries=self.writer.take_retries() + stats.retries,
            rebalances=stats.rebalances,
            backpressure_pauses=stats.backpressure_pauses,
            positions={
                k: o for k, t in self.tracker.tracks.items()
                if (o := t.commit_offset()) is not None
            },
            committed=dict(self.tracker.committed),
            assigned=len(self.parts),
            in_flight=self.writer.queued(),
            queue_fill=self.writer.queue_fill(),
            paused_for_backpressure=self._backpressure,
            stopped_partitions=stats.stopped_partitions,
            stopped_keys=list(self.parts.stopped),
            shallow_batches=stats.shallow_batches,
            source_gaps=stats.source_gaps,
            error=self._error,
            finished=finished,
        ))
        self.stats = StreamReport(stats.source, stats.stream)

    def _shutdown(self) -> int:
        """Stop fetching, wait for acknowledgements, commit what is safe, leave the group."""
        try:
            self._drain(DRAIN_TIMEOUT_S)
            self.writer.poll(0)
            try:
                self._check_failures()
            except MirrorError as exc:
                self._error = self._error or str(exc)
            self._commit()
            self.reader.close()
            if self._sync_writer is not None:
                self._sync_writer.close()
        finally:
            self._report(finished=True)
        return 1 if self._error else 0
