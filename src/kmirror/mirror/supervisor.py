"""`kmirror run`'s parent process: plan, start the streams, watch them, stop them.

The parent checks the clusters, prints the plan and creates target topics, then starts
``--num.streams`` processes per source cluster (each one group member with its own consumer
and producers). It prints a status line every few seconds, refreshes the topic plan, stops
every stream when one fails, and with ``--until-caught-up`` stops them once every selected
partition has reached the end offset it had at start.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import queue
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kmirror.config.settings import MirrorSettings, SourceCluster
from kmirror.errors import ConfigError, KmirrorError, MirrorError
from kmirror.kafka.admin import Admin
from kmirror.mirror.stream import MirrorStream, StreamReport
from kmirror.topics.filter import RegexTopicFilter
from kmirror.topics.plan import TopicAction, TopicSync

_log = logging.getLogger("kmirror")
Key = tuple[str, int]
STATUS_INTERVAL_S = 5.0
_PR_SET_PDEATHSIG = 1


@dataclass
class SourcePlan:
    """One source cluster's selected topics and what happens to them on the target."""

    source: SourceCluster
    admin: Admin
    sync: TopicSync
    topics: dict[str, int]  # selected topic -> partitions
    actions: list[TopicAction] = field(default_factory=list)
    goals: dict[Key, int] = field(default_factory=dict)  # --until-caught-up end offsets


def stream_main(
    settings: MirrorSettings, source_index: int, stream_index: int, reports: Any, verbose: bool
) -> None:
    """Entry point of a stream process."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    if not verbose:
        logging.getLogger("kmirror.librdkafka").setLevel(logging.ERROR)
    _die_with_parent()
    stop = {"requested": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stop["requested"] += 1
        if signum == signal.SIGINT and stop["requested"] > 1:
            os._exit(130)  # a second Ctrl-C: leave now, commit nothing more

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    source = settings.sources[source_index]
    try:
        stream = MirrorStream(
            settings, source, stream_index, reports.put, lambda: stop["requested"] > 0
        )
        code = stream.run()
    except KmirrorError as exc:
        reports.put(StreamReport(source.alias, stream_index, error=str(exc), finished=True))
        code = exc.exit_code
    reports.close()
    reports.join_thread()
    sys.exit(code)


def _die_with_parent() -> None:
    """Ask Linux to kill this stream when the parent dies (kill -9 of kmirror)."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class Supervisor:
    """Runs a whole mirror; ``run`` returns the exit code."""

    def __init__(
        self, settings: MirrorSettings, verbose: bool = False,
        out: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.verbose = verbose
        self.out = out or (lambda line: print(line, file=sys.stderr, flush=True))
        self.filter = RegexTopicFilter(settings.include, settings.exclude)
        self.plans: list[SourcePlan] = []
        self.positions: dict[tuple[str, Key], int] = {}  # (alias, partition) -> acked position
        self.errors: list[str] = []
        self.stopped: set[tuple[str, Key]] = set()  # partitions stopped by a refused record
        self.records = self.bytes = 0
        self._stop_requests = 0
        self._printed: set[str] = set()
        self._last_fill = 0.0

    # --- before the streams start ------------------------------------------------------------

    def prepare(self) -> None:
        """Reach every cluster, refuse loops, plan and create target topics."""
        target = Admin(self.settings.target_admin_settings, "target")
        target_id = target.cluster_id()
        for source in self.settings.sources:
            label = f"source cluster '{source.alias}' ({source.bootstrap_servers})"
            admin = Admin(source.admin_settings, label)
            if admin.cluster_id() == target_id:
                raise ConfigError([
                    f"{source.config_file}: the source cluster ({source.bootstrap_servers}) is "
                    f"the target cluster ({self.settings.target['bootstrap.servers']}): "
                    "mirroring a cluster into itself under the same topic names would copy "
                    "every record again and again; point --producer.config at another cluster"
                ])
            sync = TopicSync(admin, target, self.settings.replication_factor)
            self.plans.append(SourcePlan(source, admin, sync, {}))
        for plan in self.plans:
            self._refresh(plan, first=True)
            if self.settings.until_caught_up:
                plan.goals = plan.admin.end_offsets(_partitions(plan.topics))
        self._print_plan()

    def _refresh(self, plan: SourcePlan, first: bool = False) -> None:
        all_topics = plan.admin.topics()
        selected = {t: n for t, n in all_topics.items() if self.filter.should_mirror(t)}
        new = sorted(set(selected) - set(plan.topics))
        grown = sorted(t for t, n in selected.items() if t in plan.topics and plan.topics[t] < n)
        if not selected:
            self.out(
                f"warning: --include {self.settings.include!r}"
                + (f" --exclude {self.settings.exclude!r}" if self.settings.exclude else "")
                + f" selects none of the {len(all_topics)} topics of source cluster "
                f"'{plan.source.alias}'; kmirror keeps looking every "
                f"{self.settings.topic_refresh_interval_ms / 1000:g} s"
            )
        if first:
            plan.actions = plan.sync.plan(selected)
            plan.sync.apply(plan.actions)
        elif new or grown:
            actions = plan.sync.ensure({t: selected[t] for t in new + grown})
            for topic in new:
                self.out(f"new topic {topic} ({selected[topic]} partitions) from "
                         f"'{plan.source.alias}': mirroring it")
            for topic in grown:
                self.out(f"topic {topic} of '{plan.source.alias}' grew to "
                         f"{selected[topic]} partitions")
            for action in actions:
                self.out(f"  target: {action.describe()}")
        plan.topics = selected

    def _print_plan(self) -> None:
        streams = self.settings.num_streams
        parts = []
        for plan in self.plans:
            partitions = sum(plan.topics.values())
            parts.append(
                f"'{plan.source.alias}' ({plan.source.bootstrap_servers}, group "
                f"{plan.source.group_id}): {len(plan.topics)} topics, {partitions} partitions"
            )
        self.out(
            f"kmirror: mirroring {'; '.join(parts)} -> target "
            f"({self.settings.target['bootstrap.servers']}) with {streams} stream(s) per source, "
            f"{self.settings.num_producers} producer(s) per stream"
        )
        for plan in self.plans:
            for action in plan.actions:
                self.out(f"  {plan.source.alias} -> target: {action.describe()}")
            partitions = sum(plan.topics.values())
            if 0 < partitions < streams:
                self.out(
                    f"warning: {streams} streams for {partitions} partitions of "
                    f"'{plan.source.alias}': {streams - partitions} stream(s) will be idle"
                )
        for warning in self.settings.warnings:
            self.out(f"warning: {warning}")

    # --- while the streams run ---------------------------------------------------------------

    def run(self) -> int:
        """Start the streams and watch them until they stop; returns the exit code."""
        self.prepare()
        ctx = multiprocessing.get_context("spawn")
        reports = ctx.Queue()
        processes = []
        for source_index, _source in enumerate(self.settings.sources):
            for stream_index in range(self.settings.num_streams):
                process = ctx.Process(
                    target=stream_main,
                    args=(self.settings, source_index, stream_index, reports, self.verbose),
                    name=f"kmirror-stream-{source_index}-{stream_index}",
                )
                process.start()
                processes.append(process)
        previous = {
            s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)
        }
        started = time.monotonic()
        try:
            self._watch(processes, reports)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        elapsed = time.monotonic() - started
        self._summary(elapsed)
        if self._stop_requests > 1:
            return 130
        if self.errors or self.stopped:
            return 1
        return 0 if all(p.exitcode == 0 for p in processes) else 1

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stop_requests += 1
        if signum == signal.SIGINT and self._stop_requests > 1:
            raise KeyboardInterrupt

    def _watch(self, processes: list[Any], reports: Any) -> None:
        next_status = time.monotonic() + STATUS_INTERVAL_S
        next_refresh = time.monotonic() + self.settings.topic_refresh_interval_ms / 1000
        window = (time.monotonic(), 0, 0)
        stopping = False
        try:
            while any(p.is_alive() for p in processes) or not reports.empty():
                try:
                    self._take(reports.get(timeout=0.5))
                except queue.Empty:
                    pass
                if not stopping and (self._stop_requests or self.errors or self._caught_up()):
                    stopping = True
                    for p in processes:
                        if p.is_alive() and p.pid:
                            os.kill(p.pid, signal.SIGTERM)
                now = time.monotonic()
                if not stopping and now >= next_refresh:
                    for plan in self.plans:
                        try:
                            self._refresh(plan)
                        except KmirrorError as exc:
                            self.out(f"warning: topic refresh failed: {exc}")
                    next_refresh = now + self.settings.topic_refresh_interval_ms / 1000
                if now >= next_status:
                    window = self._status(window)
                    next_status = now + STATUS_INTERVAL_S
                if not stopping:
                    for p in processes:
                        if p.exitcode not in (None, 0) and not self.errors:
                            self.errors.append(f"stream {p.name} exited with code {p.exitcode}")
        except KeyboardInterrupt:
            for p in processes:
                if p.is_alive():
                    p.kill()
        for p in processes:
            p.join()

    def _take(self, report: StreamReport) -> None:
        self.records += report.records
        self.bytes += report.bytes
        report.records = report.bytes = 0
        for key, position in report.positions.items():
            slot = (report.source, key)
            if position > self.positions.get(slot, -1):
                self.positions[slot] = position
        for key in report.stopped_keys:
            self.stopped.add((report.source, key))
        for message in report.stopped_partitions:
            if message not in self._printed:
                self._printed.add(message)
                self.out(f"error: {message}")
        if report.error and report.error not in self.errors:
            self.errors.append(report.error)
            if report.error not in self._printed:
                self._printed.add(report.error)
                self.out(f"error: {report.error}")
        self._last_fill = report.queue_fill

    def _caught_up(self) -> bool:
        if not self.settings.until_caught_up:
            return False
        for plan in self.plans:
            for key, end in plan.goals.items():
                slot = (plan.source.alias, key)
                if slot in self.stopped:
                    continue  # will never catch up; reported, and the exit code says so
                if end > 0 and self.positions.get(slot, -1) < end:
                    return False
        return True

    def _status(self, window: tuple[float, int, int]) -> tuple[float, int, int]:
        now = time.monotonic()
        since, records, size = window
        seconds = max(now - since, 1e-6)
        lag = self._lag()
        lag_text = "?" if lag is None else f"{lag:,}"
        self.out(
            f"mirrored {self.records:,} records: {(self.records - records) / seconds:,.0f} "
            f"records/s, {(self.bytes - size) / seconds / 1e6:.1f} MB/s, lag {lag_text} "
            f"records, producer queue {self._last_fill:.0%} full"
        )
        return now, self.records, self.bytes

    def _lag(self) -> int | None:
        """Records not yet mirrored: end offsets minus acknowledged positions (or, for a
        partition no stream reported yet, minus the group's committed offset)."""
        total = 0
        try:
            for plan in self.plans:
                ends = plan.admin.end_offsets(_partitions(plan.topics))
                alias = plan.source.alias
                unknown = [k for k in ends if (alias, k) not in self.positions]
                committed = plan.admin.committed_offsets(plan.source.group_id, unknown)
                for key, end in ends.items():
                    position = self.positions.get((alias, key), committed.get(key, -1))
                    total += max(0, end - max(position, 0))
        except Exception:  # the status line must never stop the mirror
            return None
        return total

    def _summary(self, elapsed: float) -> None:
        rate = self.records / elapsed if elapsed > 0 else 0.0
        self.out(
            f"kmirror: mirrored {self.records:,} records ({self.bytes / 1e6:.1f} MB) in "
            f"{elapsed:.1f} s ({rate:,.0f} records/s)"
            + (f"; stopped by: {self.errors[0]}" if self.errors else "")
            + (f"; {len(self.stopped)} partition(s) stopped by refused records"
               if self.stopped and not self.errors else "")
        )


def _partitions(topics: dict[str, int]) -> list[Key]:
    return [(t, p) for t, n in topics.items() for p in range(n)]


def run_mirror(settings: MirrorSettings, verbose: bool = False) -> int:
    """Run the mirror described by ``settings``; returns the process exit code."""
    supervisor = Supervisor(settings, verbose)
    code = supervisor.run()
    if code == 1 and supervisor.errors:
        raise MirrorError(supervisor.errors[0])
    if code == 1 and supervisor.stopped:
        raise MirrorError(
            f"{len(supervisor.stopped)} partition(s) stopped by records the target refused "
            "(see the errors above); their offsets were not committed past those records"
        )
    return code
