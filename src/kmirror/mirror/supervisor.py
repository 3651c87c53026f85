"""`kmirror run`'s parent process: start the stream processes, watch them, stop them.

After the planner (mirror/planner.py) has checked the clusters, printed the plan and created
target topics, the supervisor starts ``--num.streams`` processes per source cluster (each one
group member with its own consumer and producers) and watches their reports: a status line
every few seconds, every stream stopped when one fails, and with ``--until-caught-up`` every
stream stopped once each selected partition has reached the end offset it had at start.
SIGTERM (or a first Ctrl-C) drains the streams; a second Ctrl-C exits at once.

Everything that waits on a cluster runs as a named job of the scheduler (mirror/jobs.py):
``topic-refresh``, ``target-check``, ``lag-refresh`` (woken for each status line) and, with
--sync.group.offsets, ``group-offset-sync-<source>``; a slow cluster never holds this loop.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import queue
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console
from rich.live import Live

from kmirror.config.settings import MirrorSettings
from kmirror.errors import MirrorError
from kmirror.mirror.clusters import Clusters, KafkaClusters
from kmirror.mirror.jobs import Job, Scheduler
from kmirror.mirror.lag_refresh import LagRefresh, LagSnapshot, catch_up_progress
from kmirror.mirror.monitor import Monitor
from kmirror.mirror.planner import Planner
from kmirror.mirror.process import stream_main
from kmirror.observe.server import StatusServer
from kmirror.observe.status import (
    live_header,
    one_line_at_a_time,
    plan_json,
    print_to_stderr,
    status_line,
    summary_line,
)
from kmirror.observe.view import live_table

if TYPE_CHECKING:
    from kmirror.offsets.group_sync import GroupOffsetSync

_log = logging.getLogger("kmirror")
STATUS_INTERVAL_S = 5.0
JOBS_STOP_TIMEOUT_S = 30.0  # at most one client call's timeout
Window = tuple[float, dict[tuple[str, str], list[int]]]  # (when, records and bytes per topic)


@dataclass(frozen=True)
class RunOptions:
    """How `kmirror run` shows itself: metrics port, live view."""

    metrics_port: int = 0
    live: bool = False


class StreamProcess(Protocol):
    """What the watch loop uses of a stream process (a ``multiprocessing.Process``)."""

    name: str

    @property
    def pid(self) -> int | None: ...  # (the members of multiprocessing.Process used)
    @property
    def exitcode(self) -> int | None: ...
    def is_alive(self) -> bool: ...
    def join(self) -> None: ...
    def kill(self) -> None: ...


class Supervisor:
    """Runs a whole mirror; ``run`` returns the exit code."""

    def __init__(
        self, settings: MirrorSettings, verbose: bool = False,
        out: Callable[[str], None] | None = None, options: RunOptions | None = None,
        clusters: Clusters | None = None,
    ) -> None:
        self.settings = settings
        self.verbose = verbose
        self.options = options or RunOptions()
        self.out = one_line_at_a_time(out or print_to_stderr)  # (jobs print too)
        self.monitor = Monitor()
        self.planner = Planner(settings, clusters or KafkaClusters(settings), self.monitor,
                               self.out)
        self.lag = LagRefresh(self.planner.plans, self.monitor)
        self._lag_shown: LagSnapshot | None = None  # the lag snapshot last put in the gauges
        self.status_interval_s = 1.0 if self.options.live else STATUS_INTERVAL_S
        self._stop_requests = 0
        self._stopping = False
        self._started_at = time.monotonic()

    def run(self) -> int:
        """Plan, start the streams and watch them until they stop; returns the exit code."""
        self.planner.prepare()
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
        started = ended = time.monotonic()
        scheduler = Scheduler(lambda problem: self.out(f"warning: {problem}"))
        try:
            lag = self._schedule(scheduler)
            scheduler.start()
            with self._live() as live:
                self.watch(processes, reports, live, lag)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            if server is not None:
                server.stop()
            ended = time.monotonic()  # (a job finishing its call is not the mirror's time)
            # A job in the middle of a client call finishes it first (each call has its own
            # timeout): the interpreter must not tear the clients down under a running call
            # (a parent that exits so can die of SIGSEGV). A second Ctrl-C exits at once.
            scheduler.stop(timeout_s=0.0 if self._stop_requests > 1 else JOBS_STOP_TIMEOUT_S)
        monitor = self.monitor
        self.out(summary_line(monitor.records, monitor.bytes, ended - started,
                              monitor.errors, len(monitor.stopped)))
        for p in processes:
            if p.exitcode != 0:
                self.out(f"warning: stream process {p.name} exited with code {p.exitcode}")
        if self._stop_requests > 1:
            return 130
        if monitor.errors or monitor.stopped:
            return 1
        return 0 if all(p.exitcode == 0 for p in processes) else 1

    def _schedule(self, scheduler: Scheduler) -> Job:
        """Register the background jobs; returns the lag refresh (woken per status line)."""
        settings = self.settings
        scheduler.every("topic-refresh", settings.topic_refresh_interval_ms / 1000,
                        self._refresh_topics)
        scheduler.every("target-check", self.status_interval_s, self.planner.check_target)
        if settings.sync_group_offsets:
            # --sync.group.offsets: source groups translated onto the target every interval,
            # one job per source cluster (one group's failure never stops the others).
            from kmirror.offsets.group_sync import GroupOffsetSync

            for source in settings.sources:
                sync = GroupOffsetSync(source.client, settings.target, source.alias,
                                       settings.sync_group_offsets_regex,
                                       exclude_groups=[source.group_id])
                scheduler.every(f"group-offset-sync-{source.alias}",
                                settings.sync_group_offsets_interval_ms / 1000,
                                functools.partial(_sync_groups, sync))
        return scheduler.every("lag-refresh", None, self.lag.run)

    def _refresh_topics(self) -> None:
        if not self._stopping:  # (no new topics once the streams drain)
            self.planner.refresh_topics()

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

    def watch(self, processes: Sequence[StreamProcess], reports: Any, live: Any,
              lag: Job) -> None:
        """Take the streams' reports until every stream has ended; stop them all on a stop
        request, an error or (--until-caught-up) when caught up; print the status."""
        monitor, interval_s = self.monitor, self.status_interval_s
        next_status = time.monotonic() + interval_s
        window: Window = (time.monotonic(), {k: list(v) for k, v in monitor.by_topic.items()})
        status_ticket: int | None = None  # the lag refresh a due status line waits for
        asked_at = 0.0
        try:
            while any(p.is_alive() for p in processes) or not reports.empty():
                monitor.loop_at = time.monotonic()
                try:
                    # (shorter while a status line waits, so it follows its lag closely)
                    timeout_s = 0.5 if status_ticket is None else 0.05
                    monitor.take(reports.get(timeout=timeout_s), self.out)
                except queue.Empty:
                    pass
                if not self._stopping and (
                    self._stop_requests or monitor.errors or self._caught_up()
                ):
                    self._stopping = True
                    for p in processes:
                        if p.is_alive() and p.pid:
                            os.kill(p.pid, signal.SIGTERM)
                now = time.monotonic()
                if status_ticket is None and now >= next_status:
                    status_ticket, asked_at = lag.wake(), now
                # The status line shows lag read after it was due; a lag refresh slower than
                # the interval only leaves it with the previous figures.
                if status_ticket is not None and (
                    lag.done(status_ticket) or now - asked_at >= interval_s
                ):
                    window = self._status(window, live)
                    status_ticket, next_status = None, asked_at + interval_s
                if not self._stopping:
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

    def _caught_up(self) -> bool:
        if not self.settings.until_caught_up:
            return False
        for plan in self.planner.plans:
            for key, end in plan.goals.items():
                slot = (plan.source.alias, key)
                if slot in self.monitor.stopped:
                    continue  # will never catch up; reported, and the exit code says so
                if end > 0 and self.monitor.positions.get(slot, -1) < end:
                    return False
        return True

    def _status(self, window: Window, live: Any) -> Window:
        monitor, snapshot = self.monitor, self.lag.latest
        if snapshot is not self._lag_shown:  # (a new refresh: its figures go to the gauges;
            # at 10,000 partitions refreshes are ~15 s apart, status lines 5 s)
            self._lag_shown = snapshot
            for alias, lag in snapshot.lag.items():
                monitor.set_lag(alias, lag)
        now = time.monotonic()
        since, previous = window
        rows = monitor.topic_rows(previous, max(now - since, 1e-6))
        monitor.metrics.streams_running.set(len(monitor.streams))
        if live is not None:
            progress = None
            if self.settings.until_caught_up:
                progress = catch_up_progress(self.planner.plans, snapshot.start_positions,
                                             monitor.records, now - self._started_at)
            header = live_header(monitor.records, len(monitor.streams))
            live.update(live_table(rows, header, progress), refresh=True)
        else:
            self.out(status_line(monitor.records, rows))
        return now, {k: list(v) for k, v in monitor.by_topic.items()}


def _sync_groups(sync: GroupOffsetSync) -> None:
    """One pass of a GroupOffsetSync, its lines logged (an active group says so every pass,
    at debug)."""
    for line in sync.sync_once():
        level = logging.DEBUG if "skipped" in line else logging.INFO
        _log.log(level, "group offsets from '%s': %s", sync.source_alias, line)


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
    planner = Planner(settings, KafkaClusters(settings), Monitor(), lines.append)
    planner.prepare(dry_run=True)
    if not as_json:
        for line in lines:
            print(line)
        print("dry run: nothing was created, changed or committed")
        return 0
    print(plan_json(settings, planner.views(), lines))
    return 0
