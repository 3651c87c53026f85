"""What the supervisor knows about a running mirror, fed by the streams' reports.

Keeps totals, per-topic rates, acknowledged positions, lag per partition (records and exact
seconds), stopped partitions and errors; feeds the Prometheus metrics; answers /health and
/ready; and gives the rows of the status line and the live table (observe/status.py and
observe/view.py render them).

Threads: the watch loop is the one writer (``take``, ``set_lag``); background jobs read
acknowledged positions through ``positions_of`` and print through ``print_once``, both under
the monitor's lock; the few fields jobs set (``target_problem``, ``empty_filters``) are
replaced whole, never changed in place.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kmirror.mirror.report import StreamReport
from kmirror.observe.metrics import MirrorMetrics
from kmirror.observe.server import Check
from kmirror.observe.view import TopicRow

Key = tuple[str, int]
Slot = tuple[str, Key]  # (source alias, (topic, partition))
STREAM_SILENCE_S = 15.0
STALL_S = 30.0
LOOP_SILENCE_S = 10.0


@dataclass
class StreamState:
    """The latest word from one stream."""

    reported_at: float
    assigned: int = 0
    queue_fill: float = 0.0
    in_flight: int = 0


@dataclass
class PartitionLag:
    """Lag of one partition at the last status refresh."""

    records: int
    seconds: float | None


@dataclass
class Monitor:
    """Aggregated state of a mirror run."""

    metrics: MirrorMetrics = field(default_factory=MirrorMetrics)
    records: int = 0
    bytes: int = 0
    by_topic: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    positions: dict[Slot, int] = field(default_factory=dict)
    _holders: dict[Slot, int] = field(default_factory=dict)  # the stream that told a position
    stopped: set[Slot] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    streams: dict[tuple[str, int], StreamState] = field(default_factory=dict)
    lag: dict[Slot, PartitionLag] = field(default_factory=dict)
    # lag per (source, topic), summed from ``lag`` once per refresh, not at every status line
    _lag_by_topic: dict[tuple[str, str], tuple[int, float]] | None = None
    empty_filters: list[str] = field(default_factory=list)
    target_problem: str | None = None
    loop_at: float = field(default_factory=time.monotonic)
    progress_at: float = field(default_factory=time.monotonic)
    # The partitions each stream carries per (topic, path, reason), and the gauge's labels.
    paths: dict[tuple[str, int], dict[tuple[str, str, str], int]] = field(default_factory=dict)
    _path_labels: dict[str, set[tuple[str, str, str]]] = field(default_factory=dict)
    _printed: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    # --- input -------------------------------------------------------------------------------

    def take(self, report: StreamReport, out: Callable[[str], None]) -> None:
        """Fold one stream report into the totals and metrics; print new errors."""
        now = time.monotonic()
        m, source = self.metrics, report.source
        if report.records:
            self.progress_at = now
        self.records += report.records
        self.bytes += report.bytes
        for topic, (count, size) in report.by_topic.items():
            totals = self.by_topic.setdefault((source, topic), [0, 0])
            totals[0] += count
            totals[1] += size
            m.records.labels(source, topic).inc(count)
            m.bytes.labels(source, topic).inc(size)
        for seconds in report.latency_s:
            m.latency.labels(source).observe(max(0.0, seconds))
        m.commits.labels(source).inc(report.commits)
        m.retries.labels(source).inc(report.retries)
        m.rebalances.labels(source).inc(report.rebalances)
        m.backpressure.labels(source).inc(report.backpressure_pauses)
        m.target_past_commit.labels(source).inc(report.target_records_past_commit)
        m.target_missing.labels(source).inc(report.target_records_missing)
        m.records_skipped.labels(source).inc(report.records_skipped)
        m.resumes.labels(source, "proven").inc(report.resumes_proven)
        m.resumes.labels(source, "fallen_back").inc(report.resumes_fallen_back)
        for topic, lost in report.source_gaps.items():
            m.source_gap_records.labels(source, topic).inc(lost)
        for path, batches in report.shallow_batches.items():
            m.shallow_batches.labels(source, path).inc(batches)
        self._take_paths(report)
        stream = str(report.stream)
        m.queue_fill.labels(source, stream).set(report.queue_fill)
        m.in_flight.labels(source, stream).set(report.in_flight)
        m.assigned.labels(source, stream).set(report.assigned)
        self.streams[(source, report.stream)] = StreamState(
            now, report.assigned, report.queue_fill, report.in_flight
        )
        with self._lock:
            holders = self._holders
            for key in report.released:
                # Let go (a rebalance): its position is no longer this process's to tell (the
                # lag refresh reads the group's committed offset instead), unless another of
                # its streams took it meanwhile.
                slot = (source, key)
                if holders.get(slot) == report.stream:
                    del holders[slot]
                    self.positions.pop(slot, None)
            for key, position in report.positions.items():
                slot = (source, key)
                holders[slot] = report.stream
                if position > self.positions.get(slot, -1):
                    self.positions[slot] = position
        for key in report.stopped_keys:
            self.stopped.add((source, key))
        m.stopped_partitions.labels(source).set(sum(1 for s, _ in self.stopped if s == source))
        for message in report.stopped_partitions:
            kind = "refused_record" if message.startswith("target refused") else "topic_refused"
            m.errors.labels(kind).inc()
            self.print_once(f"error: {message}", out)
        if report.error and report.error not in self.errors:
            self.errors.append(report.error)
            m.errors.labels("stream_failed").inc()
            self.print_once(f"error: {report.error}", out)
        if report.finished:
            self.streams.pop((source, report.stream), None)

    def _take_paths(self, report: StreamReport) -> None:
        """The partitions gauge: per topic, path and reason, summed over the source's
        streams (a label no stream reports any more goes to 0)."""
        source = report.source
        self.paths[(source, report.stream)] = ({} if report.finished
                                               else dict(report.partition_paths))
        totals: dict[tuple[str, str, str], int] = {}
        for (alias, _), paths in self.paths.items():
            if alias == source:
                for label, count in paths.items():
                    totals[label] = totals.get(label, 0) + count
        gauge = self.metrics.partitions
        for label in self._path_labels.get(source, set()) - set(totals):
            gauge.labels(source, *label).set(0)
        for label, count in totals.items():
            gauge.labels(source, *label).set(count)
        self._path_labels[source] = set(totals)

    def path_of(self, source: str, topic: str) -> str:
        """Which way a topic's partitions go: "batches", "records", or both with counts."""
        return self._paths_by_topic().get((source, topic), "")

    def _paths_by_topic(self) -> dict[tuple[str, str], str]:
        """``path_of`` for every (source, topic) at once (one pass over the streams' paths:
        asking per topic went through every topic's paths for each of 1,000 topics)."""
        sides: dict[tuple[str, str], dict[str, int]] = {}
        for (alias, _), paths in self.paths.items():
            for (name, side, _), count in paths.items():
                counts = sides.setdefault((alias, name), {})
                counts[side] = counts.get(side, 0) + count
        return {key: (next(iter(counts)) if len(counts) == 1 else
                      ", ".join(f"{side} {n}" for side, n in sorted(counts.items())))
                for key, counts in sides.items()}

    def print_once(self, line: str, out: Callable[[str], None]) -> None:
        """Print ``line`` unless it was printed before (streams repeat what they see)."""
        with self._lock:
            if line in self._printed:
                return
            self._printed.add(line)
        out(line)

    def positions_of(self, source: str) -> dict[Key, int]:
        """A copy of the acknowledged positions of one source cluster's partitions."""
        with self._lock:
            return {key: p for (s, key), p in self.positions.items() if s == source}

    def set_lag(self, source: str, lag: Mapping[Key, PartitionLag]) -> None:
        """Record the lag of a source's partitions (from end offsets and positions)."""
        self._lag_by_topic = None
        for key, value in lag.items():
            self.lag[(source, key)] = value
            labels = (source, key[0], str(key[1]))
            self.metrics.lag_records.labels(*labels).set(value.records)
            if value.seconds is not None:
                self.metrics.lag_seconds.labels(*labels).set(value.seconds)

    def total_lag(self) -> int:
        """Records not yet mirrored, over every partition."""
        return sum(v.records for v in self.lag.values())

    # --- health ------------------------------------------------------------------------------

    def health(self) -> Check:
        """Alive: the supervisor loop turns and every running stream reported lately."""
        now = time.monotonic()
        reasons = []
        if now - self.loop_at > LOOP_SILENCE_S:
            reasons.append(f"supervisor loop silent for {now - self.loop_at:.0f} s")
        for (source, stream), state in self.streams.items():
            if now - state.reported_at > STREAM_SILENCE_S:
                reasons.append(
                    f"stream {stream} of '{source}' silent for {now - state.reported_at:.0f} s"
                )
        return Check(not reasons, reasons or ["mirror loop running"])

    def ready(self) -> Check:
        """Ready: partitions assigned, target reachable, filter selects topics, not stalled."""
        reasons = []
        if self.empty_filters:
            reasons.extend(self.empty_filters)
        if self.target_problem:
            reasons.append(self.target_problem)
        if not any(s.assigned for s in self.streams.values()):
            reasons.append("no source partition is assigned to any stream yet")
        lag = self.total_lag()
        idle = time.monotonic() - self.progress_at
        if lag > 0 and idle > STALL_S:
            reasons.append(f"stalled: {lag:,} records behind and none mirrored for {idle:.0f} s")
        if self.stopped:
            reasons.append(f"{len(self.stopped)} partition(s) stopped (see the errors)")
        return Check(not reasons, reasons or ["mirroring"])

    # --- views -------------------------------------------------------------------------------

    def topic_rows(self, previous: dict[tuple[str, str], list[int]], seconds: float,
                   ) -> list[TopicRow]:
        """Per-topic rates since ``previous`` (a copy of by_topic) plus lag and queue fill."""
        fill = max((s.queue_fill for s in self.streams.values()), default=0.0)
        if self._lag_by_topic is None:
            self._lag_by_topic = _summed_by_topic(self.lag)
        lag_by_topic = self._lag_by_topic
        rows = []
        paths = self._paths_by_topic()
        for key in sorted(set(self.by_topic) | set(lag_by_topic)):
            now_counts = self.by_topic.get(key, [0, 0])
            before = previous.get(key, [0, 0])
            lag = lag_by_topic.get(key, (0, 0.0))
            rows.append(TopicRow(
                source=key[0], topic=key[1],
                records_per_s=(now_counts[0] - before[0]) / seconds,
                mb_per_s=(now_counts[1] - before[1]) / seconds / 1e6,
                lag_records=int(lag[0]), lag_seconds=float(lag[1]), queue_fill=fill,
                mirrored=now_counts[0], path=paths.get(key, ""),
            ))
        return rows


def _summed_by_topic(lag: Mapping[Slot, PartitionLag]) -> dict[tuple[str, str], tuple[int, float]]:
    """(source, topic) -> records behind and the largest lag in seconds of its partitions."""
    out: dict[tuple[str, str], tuple[int, float]] = {}
    for (source, (topic, _)), value in lag.items():
        records, seconds = out.get((source, topic), (0, 0.0))
        out[(source, topic)] = (records + value.records, max(seconds, value.seconds or 0.0))
    return out


def lag_of(
    ends: dict[Key, int], positions: dict[Key, int], stamps: dict[Key, tuple[int, int]],
    now_s: float,
) -> dict[Key, PartitionLag]:
    """Lag per partition: records behind, and now minus the oldest unmirrored timestamp."""
    out = {}
    for key, end in ends.items():
        behind = max(0, end - max(positions.get(key, 0), 0))
        seconds: float | None = 0.0
        if behind:
            stamp = stamps.get(key)
            seconds = max(0.0, now_s - stamp[1] / 1000) if stamp and stamp[1] > 0 else None
        out[key] = PartitionLag(behind, seconds)
    return out

