"""`kmirror run`'s parent process: plan, start the streams, watch them, stop them.

The parent checks the clusters, prints the plan and creates target topics, then starts
``--num.streams`` processes per source cluster (each one group member with its own consumer
and producers). It prints a status line every few seconds, refreshes the topic plan, stops
every stream when one fails, and with ``--until-caught-up`` stops them once every selected
partition has reached the end offset it had at start.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live

from kmirror.config.settings import MirrorSettings, SourceCluster
from kmirror.errors import ConfigError, KmirrorError, MirrorError
from kmirror.kafka.acls import hidden_topics_hint
from kmirror.kafka.admin import Admin
from kmirror.kafka.groups import GroupReader
from kmirror.kafka.lineage_io import TargetLineageStore
from kmirror.mirror.handler import load_handler
from kmirror.mirror.monitor import Monitor, lag_of, summarize
from kmirror.mirror.process import stream_main
from kmirror.observe.server import StatusServer
from kmirror.observe.view import live_table
from kmirror.topics.filter import RegexTopicFilter
from kmirror.topics.lineage import LineageGuard, Verdict
from kmirror.topics.naming import OFFSET_SYNCS_TOPIC, IdentityPolicy, TopicSelection
from kmirror.topics.plan import TopicAction, TopicSync

_log = logging.getLogger("kmirror")
Key = tuple[str, int]
STATUS_INTERVAL_S = 5.0


@dataclass(frozen=True)
class RunOptions:
    """How `kmirror run` shows itself: metrics port, live view."""

    metrics_port: int = 0
    live: bool = False


@dataclass
class SourcePlan:
    """One source cluster's selected topics and what happens to them on the target."""

    source: SourceCluster
    admin: Admin
    sync: TopicSync
    groups: GroupReader
    topics: dict[str, int]  # selected topic -> partitions
    selection: TopicSelection
    lineage: LineageGuard
    actions: list[TopicAction] = field(default_factory=list)
    refused: dict[str, Verdict] = field(default_factory=dict)  # topics the lineage refuses
    goals: dict[Key, int] = field(default_factory=dict)  # --until-caught-up end offsets
    loops_reported: set[str] = field(default_factory=set)  # copies of the target's topics


class Supervisor:
    """Runs a whole mirror; ``run`` returns the exit code."""

    def __init__(
        self, settings: MirrorSettings, verbose: bool = False,
        out: Callable[[str], None] | None = None, options: RunOptions | None = None,
    ) -> None:
        self.settings = settings
        self.verbose = verbose
        self.options = options or RunOptions()
        self.out = out or (lambda line: print(line, file=sys.stderr, flush=True))
        self.filter = RegexTopicFilter(settings.include, settings.exclude)
        if settings.message_handler:
            # Each stream loads its own; loading it here first refuses a bad one before any
            # cluster is touched.
            load_handler(settings.message_handler, settings.message_handler_args)
        self.plans: list[SourcePlan] = []
        self.monitor = Monitor()
        self._stop_requests = 0
        self._started_at = time.monotonic()
        self._start_positions: dict[tuple[str, Key], int] = {}
        self._start_positions_taken = False
        self._target_admin = Admin(settings.target_admin_settings, "target")
        self._lineages = TargetLineageStore(settings.target_admin_settings, self._target_admin)
        self._dry_run = False

    # --- before the streams start ------------------------------------------------------------

    def prepare(self, dry_run: bool = False) -> None:
        """Reach every cluster, refuse loops, plan and create target topics (with
        ``dry_run``: plan only, write nothing)."""
        self._dry_run = dry_run
        target = self._target_admin
        target_id = target.cluster_id()
        for source in self.settings.sources:
            label = f"source cluster '{source.alias}' ({source.bootstrap_servers})"
            admin = Admin(source.admin_settings, label)
            policy = self.settings.policy()
            source_id = admin.cluster_id()
            if source_id == target_id and isinstance(policy, IdentityPolicy):
                raise ConfigError([
                    f"{source.config_file}: the source cluster ({source.bootstrap_servers}) is "
                    f"the target cluster ({self.settings.target['bootstrap.servers']}): "
                    "mirroring a cluster into itself under the same topic names would copy "
                    "every record again and again; point --producer.config at another "
                    "cluster, or give copies other names with --replication.policy prefix"
                ])
            selection = TopicSelection(self.filter.should_mirror, policy, source.alias,
                                       self.settings.target_alias)
            sync = TopicSync(admin, target, self.settings.replication_factor,
                             rename=selection.target_topic)
            groups = GroupReader(source.admin_settings, label)
            lineage = LineageGuard(
                admin, target, self._lineages, source_cluster=admin.cluster_id,
                source_alias=source.alias, label=label,
                target_label=f"target cluster ({self.settings.target['bootstrap.servers']})",
                rename=selection.target_topic,
                recreate_target=self.settings.recreate_target_topics)
            self.plans.append(SourcePlan(source, admin, sync, groups, {}, selection, lineage))
        for plan in self.plans:
            self._refresh(plan, first=True)
            if self.settings.until_caught_up and not dry_run:
                plan.goals = plan.admin.end_offsets(_partitions(plan.topics))
        if not dry_run:
            # (after the topics: their refusal is the real error)
            self._create_internal_topic(
                self._lineages.create, "a source topic deleted and created again is recognized "
                "only while this kmirror runs, not across restarts")
            for plan in self.plans:
                self._keep_lineages(plan)
        if self.settings.emit_offset_syncs and not dry_run:
            self._create_internal_topic(
                lambda rf: self._target_admin.create_topic(
                    OFFSET_SYNCS_TOPIC, 1, rf, {"cleanup.policy": "compact"}),
                "offset syncs are off (or run with --emit.offset.syncs false)")
        self._print_plan()

    def _create_internal_topic(self, create: Callable[[int], object], consequence: str) -> None:
        """One of kmirror's compacted topics in the target; a refusal is a warning saying what
        is lost without it (mirroring itself does not need it)."""
        try:
            create(self.settings.replication_factor)
        except KmirrorError as exc:
            self.out(f"warning: {exc}: {consequence}")

    def _judge_lineage(self, plan: SourcePlan, selected: dict[str, int]) -> dict[str, int]:
        """Refused topics (re-created source, deleted target; topics/lineage.py) are reported
        once and left out; returns the topics whose target topics may be created or grown."""
        verdicts = plan.lineage.check(selected)
        plan.refused = {t: v for t, v in verdicts.items() if not v.allowed}
        for verdict in plan.refused.values():
            if verdict.message and not self._dry_run:
                self.monitor.print_once(f"error: {verdict.message}", self.out)
        return {t: n for t, n in selected.items() if t not in plan.refused}

    def _check_target_topics(self, plan: SourcePlan, selected: dict[str, int]) -> None:
        """A target topic deleted while mirroring: reported, and created again only with
        --recreate.target.topics (never behind the user's back)."""
        gone = plan.sync.vanished()
        if not gone:
            return
        names = {plan.selection.target_topic(t): t for t in selected}
        for topic in gone:
            if names.get(topic) in plan.refused:
                continue  # reported by the lineage check, with what to do
            if self.settings.recreate_target_topics and topic in names:
                plan.sync.ensure({names[topic]: selected[names[topic]]})
                self.out(f"target topic {topic} was deleted while mirroring: created again "
                         "(--recreate.target.topics); records written to it before are gone")
            else:
                self.out(
                    f"error: target topic {topic} was deleted while mirroring; kmirror does not "
                    "create it again behind your back: the partitions writing to it stop. "
                    "Create it yourself, or restart with --recreate.target.topics (the "
                    "records it held are gone either way)"
                )

    def _keep_lineages(self, plan: SourcePlan) -> None:
        plan.lineage.keep(lambda problem: self.out(f"warning: {problem}"))

    def _refresh(self, plan: SourcePlan, first: bool = False) -> None:
        all_topics = plan.admin.topics()
        selected = {t: n for t, n in all_topics.items() if plan.selection.selects(t)}
        for topic in sorted(set(all_topics) - plan.loops_reported):
            if self.filter.should_mirror(topic) and plan.selection.loops_back(topic):
                plan.loops_reported.add(topic)
                self.out(
                    f"  {plan.source.alias} -> {self.settings.target_alias}: {topic}: not "
                    f"mirrored: a copy of a topic of '{self.settings.target_alias}' "
                    "(mirroring it back would close a loop)"
                )
        new = sorted(set(selected) - set(plan.topics))
        grown = sorted(t for t, n in selected.items() if t in plan.topics and plan.topics[t] < n)
        empty = [r for r in self.monitor.empty_filters if f"'{plan.source.alias}'" not in r]
        if not selected:
            reason = (
                f"--include {self.settings.include!r}"
                + (f" --exclude {self.settings.exclude!r}" if self.settings.exclude else "")
                + f" selects none of the {len(all_topics)} topics of source cluster "
                f"'{plan.source.alias}'"
            )
            empty.append(reason)
            self.out(
                f"warning: {reason}{hidden_topics_hint(plan.source.client)}; kmirror keeps "
                "looking every "
                f"{self.settings.topic_refresh_interval_ms / 1000:g} s"
            )
        self.monitor.empty_filters = empty
        allowed = self._judge_lineage(plan, selected)
        if first:
            plan.actions = plan.sync.plan(allowed)
            if not self._dry_run:
                plan.sync.apply(plan.actions)
        elif new or grown:
            actions = plan.sync.ensure({t: selected[t] for t in new + grown if t in allowed})
            for topic in new:
                if topic not in plan.refused:  # (a refused one was reported as an error)
                    self.out(f"new topic {topic} ({selected[topic]} partitions) from "
                             f"'{plan.source.alias}': mirroring it")
            for topic in grown:
                self.out(f"topic {topic} of '{plan.source.alias}' grew to "
                         f"{selected[topic]} partitions")
            for action in actions:
                self.out(f"  target: {action.describe()}")
        if not first:
            self._check_target_topics(plan, selected)
            self._keep_lineages(plan)
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
            for topic, verdict in sorted(plan.refused.items()):
                self.out(f"  {plan.source.alias} -> target: "
                         f"{plan.selection.target_topic(topic)}: not mirrored ({verdict.kind})"
                         + (f": {verdict.message}" if self._dry_run else ": see the error above"))
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
        server = self._start_server()
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
        group_sync = self._start_group_sync()
        try:
            with self._live() as live:
                self._watch(processes, reports, live)
        finally:
            if group_sync is not None:
                group_sync.set()
            for s, handler in previous.items():
                signal.signal(s, handler)
            if server is not None:
                server.stop()
        self._summary(time.monotonic() - started)
        for p in processes:
            if p.exitcode != 0:
                self.out(f"warning: stream process {p.name} exited with code {p.exitcode}")
        if self._stop_requests > 1:
            return 130
        if self.monitor.errors or self.monitor.stopped:
            return 1
        return 0 if all(p.exitcode == 0 for p in processes) else 1

    def _start_server(self) -> StatusServer | None:
        port = self.options.metrics_port
        if port == 0:
            return None
        server = StatusServer(port, self.monitor.metrics.registry, self.monitor.health,
                              self.monitor.ready)
        try:
            bound = server.start()
        except OSError as exc:
            self.out(f"warning: cannot serve /metrics on port {port} ({exc.strerror}); "
                     "pass --metrics.port with a free port (0 disables)")
            return None
        self.out(f"metrics, health and readiness on http://0.0.0.0:{bound}/metrics "
                 "/health /ready")
        return server

    def _live(self) -> Any:
        if not self.options.live:
            return contextlib.nullcontext(None)
        return Live(console=Console(stderr=True), auto_refresh=False, transient=False)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stop_requests += 1
        if signum == signal.SIGINT and self._stop_requests > 1:
            raise KeyboardInterrupt

    def _start_group_sync(self) -> threading.Event | None:
        """--sync.group.offsets: a named background job translating source groups onto the
        target every interval (one group's failure never stops the others, or the mirror)."""
        if not self.settings.sync_group_offsets:
            return None
        from kmirror.offsets.group_sync import GroupOffsetSync

        jobs = [GroupOffsetSync(
            source.client, self.settings.target, source.alias,
            self.settings.sync_group_offsets_regex,
            exclude_groups=[source.group_id])
            for source in self.settings.sources]
        stop = threading.Event()
        interval_s = self.settings.sync_group_offsets_interval_ms / 1000

        def loop() -> None:
            while not stop.wait(interval_s):
                for job in jobs:
                    for line in job.sync_once():  # (an active group says so every pass)
                        level = logging.DEBUG if "skipped" in line else logging.INFO
                        _log.log(level, "group offsets from '%s': %s", job.source_alias, line)

        threading.Thread(target=loop, name="kmirror-group-offset-sync", daemon=True).start()
        return stop

    def _watch(self, processes: list[Any], reports: Any, live: Any) -> None:
        monitor = self.monitor
        interval_s = 1.0 if live is not None else STATUS_INTERVAL_S
        next_status = time.monotonic() + interval_s
        next_refresh = time.monotonic() + self.settings.topic_refresh_interval_ms / 1000
        window = (time.monotonic(), {k: list(v) for k, v in monitor.by_topic.items()})
        stopping = False
        try:
            while any(p.is_alive() for p in processes) or not reports.empty():
                monitor.loop_at = time.monotonic()
                try:
                    monitor.take(reports.get(timeout=0.5), self._print)
                except queue.Empty:
                    pass
                if not stopping and (
                    self._stop_requests or monitor.errors or self._caught_up()
                ):
                    stopping = True
                    for p in processes:
                        if p.is_alive() and p.pid:
                            os.kill(p.pid, signal.SIGTERM)
                now = time.monotonic()
                if not stopping and now >= next_refresh:
                    # (a target that does not answer would hold this loop for every call)
                    self._check_target()
                    if self.monitor.target_problem is None:
                        for plan in self.plans:
                            try:
                                self._refresh(plan)
                            except KmirrorError as exc:
                                self.out(f"warning: topic refresh failed: {exc}")
                    next_refresh = now + self.settings.topic_refresh_interval_ms / 1000
                if now >= next_status:
                    window = self._status(window, live)
                    next_status = now + interval_s
                if not stopping:
                    for p in processes:
                        if p.exitcode not in (None, 0) and not monitor.errors:
                            monitor.errors.append(
                                f"stream {p.name} exited with code {p.exitcode}"
                            )
        except KeyboardInterrupt:
            for p in processes:
                if p.is_alive():
                    p.kill()
        for p in processes:
            p.join()
        monitor.metrics.streams_running.set(0)

    def _print(self, line: str) -> None:
        self.out(line)

    def _caught_up(self) -> bool:
        if not self.settings.until_caught_up:
            return False
        for plan in self.plans:
            for key, end in plan.goals.items():
                slot = (plan.source.alias, key)
                if slot in self.monitor.stopped:
                    continue  # will never catch up; reported, and the exit code says so
                if end > 0 and self.monitor.positions.get(slot, -1) < end:
                    return False
        return True

    def _status(
        self, window: tuple[float, dict[tuple[str, str], list[int]]], live: Any
    ) -> tuple[float, dict[tuple[str, str], list[int]]]:
        self._refresh_lag()
        self._check_target()
        now = time.monotonic()
        since, previous = window
        rows = self.monitor.topic_rows(previous, max(now - since, 1e-6))
        self.monitor.metrics.streams_running.set(len(self.monitor.streams))
        if live is not None:
            live.update(live_table(rows, self._header(), self._progress()), refresh=True)
        else:
            self.out(f"mirrored {self.monitor.records:,} records: {summarize(rows)}")
        return now, {k: list(v) for k, v in self.monitor.by_topic.items()}

    def _header(self) -> str:
        return (f"kmirror: {self.monitor.records:,} records mirrored, "
                f"{len(self.monitor.streams)} stream(s) running")

    def _progress(self) -> tuple[int, int, float | None] | None:
        if not self.settings.until_caught_up:
            return None
        total = sum(
            max(0, end - self._start_positions.get((plan.source.alias, key), 0))
            for plan in self.plans for key, end in plan.goals.items()
        )
        done = min(self.monitor.records, total)
        elapsed = time.monotonic() - self._started_at
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else None
        return done, total, eta

    def _refresh_lag(self) -> None:
        """Lag per partition: end offsets, acknowledged positions, and exact timestamps."""
        try:
            for plan in self.plans:
                alias = plan.source.alias
                ends = plan.admin.end_offsets(_partitions(plan.topics))
                unknown = [k for k in ends if (alias, k) not in self.monitor.positions]
                positions = plan.admin.committed_offsets(plan.source.group_id, unknown)
                positions.update({
                    k: self.monitor.positions[(alias, k)]
                    for k in ends if (alias, k) in self.monitor.positions
                })
                if not self._start_positions_taken:
                    self._start_positions.update({(alias, k): max(v, 0)
                                                  for k, v in positions.items()})
                behind = {k: max(positions.get(k, 0), 0) for k, e in ends.items()
                          if e > max(positions.get(k, 0), 0)}
                stamps = plan.groups.timestamps_at(behind) if behind else {}
                self.monitor.set_lag(alias, lag_of(ends, positions, stamps, time.time()))
            self._start_positions_taken = True
        except KmirrorError as exc:
            _log.debug("lag refresh failed: %s", exc)
        except Exception as exc:  # the status must never stop the mirror
            _log.debug("lag refresh failed: %r", exc)

    def _check_target(self) -> None:
        try:
            self._target_admin.cluster_id(timeout_s=3.0)
            self.monitor.target_problem = None
        except KmirrorError:
            self.monitor.target_problem = (
                f"target cluster ({self.settings.target['bootstrap.servers']}) does not answer"
            )

    def _summary(self, elapsed: float) -> None:
        monitor = self.monitor
        rate = monitor.records / elapsed if elapsed > 0 else 0.0
        self.out(
            f"kmirror: mirrored {monitor.records:,} records ({monitor.bytes / 1e6:.1f} MB) in "
            f"{elapsed:.1f} s ({rate:,.0f} records/s)"
            + (f"; stopped by: {monitor.errors[0]}" if monitor.errors else "")
            + (f"; {len(monitor.stopped)} partition(s) stopped (see the errors above)"
               if monitor.stopped and not monitor.errors else "")
        )


def _partitions(topics: dict[str, int]) -> list[Key]:
    return [(t, p) for t, n in topics.items() for p in range(n)]


def run_mirror(
    settings: MirrorSettings, verbose: bool = False, options: RunOptions | None = None
) -> int:
    """Run the mirror described by ``settings``; returns the process exit code."""
    supervisor = Supervisor(settings, verbose, options=options)
    code = supervisor.run()
    if code == 1 and supervisor.monitor.errors:
        raise MirrorError(supervisor.monitor.errors[0])
    if code == 1 and supervisor.monitor.stopped:
        raise MirrorError(
            f"{len(supervisor.monitor.stopped)} partition(s) stopped (see the errors above); "
            "nothing was committed past what the target acknowledged for them"
        )
    return code


def plan_mirror(settings: MirrorSettings, as_json: bool) -> int:
    """``kmirror run --dry-run``: connect, compute the plan, print it; write nothing."""
    lines: list[str] = []
    supervisor = Supervisor(settings, out=lines.append)
    supervisor.prepare(dry_run=True)
    if not as_json:
        for line in lines:
            print(line)
        print("dry run: nothing was created, changed or committed")
        return 0
    import json

    print(json.dumps({
        "target": {"bootstrap_servers": settings.target["bootstrap.servers"],
                   "alias": settings.target_alias},
        "sources": [{
            "alias": plan.source.alias, "bootstrap_servers": plan.source.bootstrap_servers,
            "group": plan.source.group_id, "topics": plan.topics,
            "actions": [action.as_json() for action in plan.actions],
            "refused": [{"source_topic": t, "target_topic": plan.selection.target_topic(t),
                         "reason": v.kind, "message": v.message}
                        for t, v in sorted(plan.refused.items())],
            "not_mirrored": sorted(plan.loops_reported),
        } for plan in supervisor.plans],
        "messages": lines,
    }, indent=2))
    return 0
