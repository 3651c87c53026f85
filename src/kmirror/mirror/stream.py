"""One mirror stream: a group member reading the source and writing the target, in one loop.

The loop is written once for every mode: keep the subscription fresh, check the topics' ids
(mirror/topic_watch.py), let the path move records (mirror/paths/: records, batches whole,
transactions), stop partitions whose records the target refused, commit what the tracker
allows at the interval, report every second. Group callbacks run inside the consumer's poll:
assignment changes reach the loop between steps, never in the middle of one.

Stopping (SIGTERM/SIGINT, or --until-caught-up reached): stop fetching, wait for every
acknowledgement, commit, leave the group. A refused record stops its partition; with
abort.on.send.failure the whole stream stops after committing what is safe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from kmirror.config.settings import MirrorSettings, SourceCluster
from kmirror.errors import KmirrorError, MirrorError
from kmirror.kafka.admin import Admin
from kmirror.kafka.reader import SourceReader
from kmirror.kafka.txn_writer import TransactionalWriter
from kmirror.kafka.writer import SyncWriter, TargetWriter
from kmirror.mirror import landing
from kmirror.mirror.jobs import Scheduler
from kmirror.mirror.offset_syncs import SyncRecorder, target_recorder
from kmirror.mirror.partitions import Key, Partitions
from kmirror.mirror.paths import Path
from kmirror.mirror.paths.writer_pair import WriterPair
from kmirror.mirror.refusals import by_source_partition, refusal_message
from kmirror.mirror.report import StreamReport
from kmirror.mirror.resume import Logs, Taken, Takeover
from kmirror.mirror.source_gaps import decide
from kmirror.mirror.target_gate import Answering, TargetGate
from kmirror.mirror.topic_watch import TopicWatch
from kmirror.mirror.tracker import OffsetTracker
from kmirror.topics.filter import RegexTopicFilter
from kmirror.topics.lineage import CLAIM, LineageGuard, Verdict
from kmirror.topics.naming import TopicSelection
from kmirror.topics.plan import TopicSync

_log = logging.getLogger("kmirror.stream")

REPORT_INTERVAL_S = 1.0
DRAIN_TIMEOUT_S = 300.0
COMMIT_FLUSH_TIMEOUT_S = 30.0  # a commit waits this long for a checkpoint, then commits less


@dataclass
class StreamClients:
    """What one stream works through: opened by ``mirror/assembly.py`` (fakes in unit tests)."""

    reader: SourceReader
    writer: TargetWriter | TransactionalWriter | WriterPair  # (WriterPair: the default path)
    target_admin: Admin  # the target's end offsets, for offset syncs
    topics: TopicSync  # target topics created and extended
    lineage: LineageGuard  # which source topic each target topic copies
    sync_writer: SyncWriter | None  # offset syncs (None: --emit.offset.syncs false)
    jobs: Scheduler | None = None  # background jobs (topic-ids); None: done inline (tests)
    answering: Answering | None = None  # which target partitions are ready (None: all)
    # What a takeover reads to check records on the target past a commit (mirror/resume.py;
    # None: never checked)
    takeover_logs: Callable[[], Logs] | None = None


def topic_selection(settings: MirrorSettings, source: SourceCluster) -> TopicSelection:
    """Which topics of ``source`` are mirrored, and under which names."""
    return TopicSelection(RegexTopicFilter(settings.include, settings.exclude).should_mirror,
                          settings.policy(), source.alias, settings.target_alias)


def source_label(source: SourceCluster) -> str:
    """How errors and logs name a source cluster."""
    return f"source cluster '{source.alias}' ({source.bootstrap_servers})"


class MirrorStream:
    """The loop of one stream; ``run`` returns the exit code."""

    def __init__(
        self,
        settings: MirrorSettings,
        source: SourceCluster,
        stream_index: int,
        report: Callable[[StreamReport], None],
        should_stop: Callable[[], bool],
        clients: StreamClients,
        compose: Callable[[MirrorStream], Path],
    ) -> None:
        """``compose`` builds the delivery path over this stream (mirror/assembly.py)."""
        self.settings, self.source, self.index = settings, source, stream_index
        self._report_to, self._should_stop = report, should_stop
        self.selection = topic_selection(settings, source)
        self.target_topic = self.selection.target_topic
        self.label = source_label(source)
        self.tracker = OffsetTracker()
        # Every partition's state (mirroring, stopped, refused; suspended while its topic is
        # gone): what may be sent and committed (mirror/partitions.py).
        self.parts = Partitions()
        self.stats = StreamReport(source.alias, stream_index)
        self._reported_positions: dict[Key, int] = {}
        self._error: str | None = None
        self._source_topics: dict[str, str] = {}  # target topic -> source topic, as assigned
        self.reader, self.writer = clients.reader, clients.writer
        self.topics = clients.topics
        self.lineage, self._sync_writer = clients.lineage, clients.sync_writer
        self._jobs = clients.jobs
        self.topic_watch = TopicWatch(self.lineage, self.parts, self.tracker, self.label, self,
                                      clients.jobs)
        self.gate = TargetGate(clients.answering, self.parts,
                               lambda key: (self.target_topic(key[0]), key[1]), self,
                               clients.jobs)
        self._new_sources: set[str] = set()  # topics re-created since their lineage: start over
        self._starts: dict[Key, int] = {}  # explicit start offsets of the last assignment
        self._phases = Phases()  # how long the last assignment's steps took (logged)
        self._committed: dict[Key, int] = {}  # the group's offsets, at the last assignment
        # Commits say where they land on the target (mirror/landing.py): not with a handler
        # (records dropped, multiplied, sent elsewhere) nor with transactions.
        self._landing = not settings.message_handler and not settings.exactly_once
        # Partitions taken go on after what the target already holds, once proven
        self.takeover: Takeover | None = None
        if self._landing and clients.takeover_logs is not None:
            self.takeover = Takeover(
                clients.takeover_logs, self.label,
                lambda key: (self.target_topic(key[0]), key[1]), lambda: self.stats,
                settings.target_alias.encode() if settings.provenance_header else None)
        # Out-of-range positions come back as errors, never as a silent reset (source_gaps.py).
        self.reset_to_earliest = source.client.get("auto.offset.reset", "earliest") in (
            "earliest", "smallest", "beginning")
        self.syncs: SyncRecorder | None = None
        if self._sync_writer is not None:
            self.syncs = target_recorder(source.alias, self.target_topic, clients.target_admin,
                                         self._sync_writer)
        self.path = compose(self)
        self.reader.bind(self)

    # --- the GroupListener of kafka/reader.py (called inside reader.poll_batch) -------------

    def ensure_target_topics(self, keys: list[Key]) -> None:
        """The target topics of these partitions exist, with at least their partitions."""
        needed: dict[str, int] = {}
        for topic, partition in keys:
            needed[topic] = max(needed.get(topic, 0), partition + 1)
        self.topics.ensure(needed, existing_ok=True)  # (the planner planned them)

    def before_assign(self, keys: list[Key]) -> tuple[set[Key], dict[Key, int]]:
        """Before partitions are assigned: hold those of topics whose lineage refuses them
        (topics/lineage.py), and choose explicit start offsets for the others."""
        phases = self._phases = Phases()
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
                self.topics.forget([self.target_topic(topic)])  # (it may have been deleted)
        self._new_sources = {t for t, v in verdicts.items() if v.allowed and v.new_source}
        kept = [k for k in keys if k not in held]
        phases.done("lineage")
        # Each partition starts at an explicit offset, read for all at once: the path's own
        # (--exactly-once: stored with the last transaction), else the group's, else (none, or
        # a source topic created again since its lineage) where auto.offset.reset says. Left
        # to the consumer, each one without a position was an offset-reset error apiece.
        path_starts = self.path.start_offsets(kept)
        found = self.reader.committed_with_metadata(
            [k for k in kept if k not in path_starts and k[0] not in self._new_sources])
        self._committed = {k: offset for k, (offset, _) in found.items()}
        fresh = [k for k in kept if k not in path_starts and k not in self._committed]
        marks = self.reader.watermarks(fresh)
        self._starts = {**path_starts, **{
            k: low if self.reset_to_earliest else high for k, (low, high) in marks.items()}}
        phases.done("start offsets")
        if self.takeover is not None:
            # (explicit starts: the first commit writes them, even one below the group's)
            self._starts.update(self.takeover.starts({
                **{k: Taken(offset, landing.parse(note)) for k, (offset, note) in found.items()},
                **{k: Taken(low, guess=True) for k, (low, _) in marks.items()
                   if self.reset_to_earliest and k[0] not in self._new_sources}}))
            phases.done("takeover")
        return held, {**self._committed, **self._starts}

    def assigned(self, keys: list[Key]) -> None:
        """Partitions now ours: their tracks start, the path takes them."""
        phases = self._phases
        phases.done("assignment")
        for topic in {t for t, _ in keys}:
            self._source_topics[self.target_topic(topic)] = topic
        self.ensure_target_topics(keys)
        self.lineage.keep(_log.warning)  # (the target topics exist now)
        phases.done("target topics")
        # Start each partition's track at its start offset (the group's committed one unless
        # chosen before the assignment), so a partition with nothing new still reports its
        # position (for lag and --until-caught-up).
        mine = set(keys)
        start = {**{k: o for k, o in self._committed.items() if k in mine},
                 **{k: o for k, o in self._starts.items() if k in mine}}
        for key, offset in start.items():
            self.tracker.track(*key).consumed(offset - 1)
        # (an explicit start is not the group's offset: the first commit writes it)
        self.tracker.mark_committed({k: o for k, o in start.items() if k not in self._starts})
        self.parts.assign(keys)
        # (new target partitions not led yet wait; those the takeover read are ready)
        takeover = self.takeover
        waiting = (self.gate.admit(keys, takeover.ends, takeover.asked) if takeover is not None
                   else self.gate.admit(keys))
        self._seed_landings(self.gate.admitted_ends, mine)
        phases.done("target ready")
        if self.syncs is not None and not self.writer.per_record_acks:
            # (baselines for checkpoint counts, only they need them: the end offsets the gate
            # just read; 10,000 partitions read a second time held the assignment ~1 s)
            self.syncs.assigned(keys, self.gate.admitted_ends)
            phases.done("offset syncs")
        self.stats.rebalances += 1
        self.path.assigned(keys)
        if waiting:
            self.reader.pause(waiting)
        phases.done("path")
        _log.debug("stream %d: %d partition(s) assigned: %s", self.index, len(keys), phases)

    def revoked(self, keys: list[Key]) -> None:
        """Partitions about to go (still ours now)."""
        # The partitions are still ours: drain, commit, then let go. Records polled for them
        # but not sent are dropped: the next owner reads them again from the committed offset.
        self.stats.rebalances += 1
        self.path.drop(keys)
        self.path.drain(DRAIN_TIMEOUT_S)
        self._commit(keys, last=True)
        self._let_go(keys)
        self.path.released(keys, lost=False)

    def lost(self, keys: list[Key]) -> None:
        """Partitions someone else may own already."""
        # Someone else may own them already: never commit for lost partitions.
        self.path.released(keys, lost=True)
        self._let_go(keys)

    def _let_go(self, keys: Iterable[Key]) -> None:
        keys = list(keys)
        # (their positions are another member's to tell now)
        self.stats.released.extend(k for k in keys if self.parts.get(k) is not None)
        for key in keys:
            self._reported_positions.pop(key, None)
        self.tracker.forget(keys)
        self.parts.let_go(keys)
        if self.takeover is not None:
            self.takeover.forget(keys)
        if self.syncs is not None:
            self.syncs.forget(keys)
        self.path.let_go(keys)

    # --- topics deleted or created again while mirroring (WatchActions of topic_watch.py) -----

    def resume(self, keys: list[Key]) -> None:
        """Partitions whose topic is back read again from the first record not sent."""
        self.go_on(keys)

    def go_on(self, keys: list[Key]) -> None:
        """Partitions whose topic is back, or whose target partitions are ready now
        (mirror/target_gate.py), read again from the first record not sent: those neither
        suspended nor waiting."""
        self._seed_landings(self.gate.take_ready_ends(), set(keys))
        self.path.resume([k for k in keys if not self.parts.is_held(k)])

    def _seed_landings(self, ends: Mapping[Key, int] | None, keys: Collection[Key]) -> None:
        """Where the commit points of partitions just taken land on the target: its end
        offsets, read as they were taken (nothing sent yet; mirror/landing.py). A partition
        whose end the takeover could not read compares it now (mirror/resume.py)."""
        if not self._landing or not ends:
            return
        track, takeover = self.tracker.track, self.takeover
        for key, end in ends.items():
            if key in keys:
                track(*key).lands_at(end)
                if takeover is not None and key in takeover.pending:
                    takeover.unchecked(key, end)

    def suspend(self, topic: str, keys: list[Key]) -> None:
        """The topic is gone (deleted?): pause its partitions, drop what waits to be sent."""
        new = self.parts.suspend(keys)
        if not new:
            return
        self.reader.pause(new)
        self.path.drop(new)
        _log.warning("%s, topic %s is gone (deleted?): its partitions wait and nothing more is "
                     "committed for them until it is back", self.label, topic)

    def refuse(self, keys: list[Key], verdict: Verdict) -> None:
        """Stop partitions whose topic the lineage refuses: nothing more is sent or committed
        for them (they are let go; the group keeps them until the next rebalance)."""
        message = self.topic_watch.refusal_message(keys, verdict)
        self.reader.pause(keys)
        self.path.drop(keys)
        self._let_go(keys)  # (as if revoked: the group keeps them until the next rebalance)
        self.parts.refuse(keys, message)
        if keys:
            self.stats.stopped_partitions.append(message)

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> int:
        """Mirror until told to stop; 0 after a clean drain, 1 after a failure."""
        next_refresh = next_commit = next_report = 0.0
        try:
            if self._jobs is not None:
                self._jobs.start()
            self.path.start()
            while not self._should_stop() and self._error is None:
                now = time.monotonic()
                if now >= next_refresh:
                    self._refresh_subscription()
                    next_refresh = now + self.settings.topic_refresh_interval_ms / 1000
                self.topic_watch.check(now)
                self.gate.check(now)
                if self.path.step(now):
                    continue  # no room in the target's queue: nothing to commit yet
                self.check_failures()
                now = time.monotonic()
                if now >= next_commit:
                    self._commit()
                    next_commit = now + self.settings.offset_commit_interval_ms / 1000
                if now >= next_report:
                    self.report()
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

    # --- what the paths use (the Loop protocol of mirror/paths) --------------------------------

    @property
    def error(self) -> str | None:
        """Why the stream stops, once it must."""
        return self._error

    def fail(self, message: str) -> None:
        """Stop the stream with this error (the first one wins)."""
        self._error = self._error or message

    def count(self, topic: str, records: int, size_bytes: int) -> None:
        """Records of ``topic`` handed to the target."""
        self.stats.count(topic, records, size_bytes)

    def source_key(self, target_topic: str, partition: int) -> Key:
        """The source partition whose records go to ``target_topic``'s ``partition``."""
        return (self._source_topics.get(target_topic, target_topic), partition)

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

    def check_failures(self) -> None:
        """Stop the partitions whose records the target refused (the whole stream with
        --abort.on.send.failure); a fatal client error stops the stream."""
        fatal = self.writer.fatal or self.reader.fatal
        if fatal:
            raise MirrorError(f"fatal client error: {fatal}")
        if not self.writer.failures:
            return
        failures, self.writer.failures = self.writer.failures, []
        for key, refused in by_source_partition(failures, self.source_key).items():
            if self.parts.is_stopped(key):
                continue
            message = refusal_message(self.label, key[0], refused, self.settings.target)
            if self.parts.stop(key, message):
                self.reader.pause([key])
            # (reported also when the partition was let go since: the refusal is never silent)
            self.stats.stopped_partitions.append(message)
            if self.settings.abort_on_send_failure:
                raise MirrorError(message)
            _log.error("%s", message)

    # --- commits, reports, shutdown ----------------------------------------------------------

    def _commit(self, keys: Iterable[Key] | None = None, last: bool = False) -> None:
        """Settle what the target acknowledged, then commit the group's offsets that moved,
        except where nothing may be committed (mirror/partitions.py). ``last``: these
        partitions (default all) are let go next, drained: their offset syncs are written now."""
        keys = None if keys is None else list(keys)
        self.path.settle(keys, COMMIT_FLUSH_TIMEOUT_S)
        if last and self.syncs is not None:
            self.syncs.sync(last_for=self.tracker.tracks if keys is None else keys)
        self.path.sync_positions()
        offsets = self.parts.committable(self.tracker.to_commit(keys))
        if offsets:
            notes = ({k: landing.metadata(t) for k, t in self.tracker.landings(offsets).items()}
                     if self._landing else None)
            self.tracker.mark_committed(self.reader.commit(offsets, notes))
            self.stats.commits += 1

    def report(self, finished: bool = False) -> None:
        """Send the counters since the last report (a fresh object: the queue pickles later)."""
        self.path.sync_positions()
        stats = self.stats
        out = StreamReport(
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
            positions=self._new_positions(),
            released=stats.released,
            assigned=len(self.parts),
            in_flight=self.writer.queued(),
            queue_fill=self.writer.queue_fill(),
            stopped_partitions=stats.stopped_partitions,
            stopped_keys=list(self.parts.stopped),
            source_gaps=stats.source_gaps,
            target_records_past_commit=stats.target_records_past_commit,
            records_skipped=stats.records_skipped,
            target_records_missing=stats.target_records_missing,
            resumes_proven=stats.resumes_proven,
            resumes_fallen_back=stats.resumes_fallen_back,
            error=self._error,
            finished=finished,
        )
        self.path.report_into(out, finished)
        self._report_to(out)
        self.stats = StreamReport(stats.source, stats.stream)

    def _new_positions(self) -> dict[Key, int]:
        """The acknowledged positions that moved since the last report (the supervisor keeps
        the others: 10,000 partitions sent every second cost the two processes a tenth of a
        core, idle)."""
        reported = self._reported_positions
        moved = {k: o for k, t in self.tracker.tracks.items()
                 if (o := t.commit_offset()) is not None and reported.get(k) != o}
        reported.update(moved)
        return moved

    def _shutdown(self) -> int:
        """Stop fetching, wait for acknowledgements, commit what is safe, leave the group."""
        try:
            try:
                self.path.drain(DRAIN_TIMEOUT_S)
                self.writer.poll(0)
                try:
                    self.check_failures()
                except MirrorError as exc:
                    self.fail(str(exc))
                self._commit(last=True)
                self.reader.close()
                if self._sync_writer is not None:
                    self._sync_writer.close()
            finally:
                self.report(finished=True)
        finally:
            if self._jobs is not None:
                self._jobs.stop()
            self.path.close()
        return 1 if self._error else 0


class Phases:
    """How long each step of a long task took, as one line ("lineage 1.2 s, path 0.3 s")."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._took: list[str] = []

    def done(self, step: str) -> None:
        """``step`` ended now (it began when the previous one ended)."""
        now = time.monotonic()
        self._took.append(f"{step} {now - self._last:.2f} s")
        self._last = now

    def __str__(self) -> str:
        return ", ".join(self._took)
