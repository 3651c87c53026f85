"""The supervisor's watch loop with small processes standing in for streams (they drain on
SIGTERM as streams do), in-memory clusters and reports put on a queue: stop when caught up,
stop everything when one stream fails, status lines with the lag of that moment."""

from __future__ import annotations

import io
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from tests.helpers.cluster_fakes import FakeCluster, FakeClusters, FakeGroups, settings_for

from kmirror.mirror.jobs import Scheduler
from kmirror.mirror.report import StreamReport
from kmirror.mirror.supervisor import Supervisor

# A stream stand-in: runs until SIGTERM, then exits with 0 (as a stream that drained).
_DRAINS = ("import signal, sys, time\n"
           "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
           "print('up', flush=True)\n"
           "time.sleep(60)\n")


class Stream:
    """A child process with the members of multiprocessing.Process the loop uses."""

    def __init__(self, name: str, code: str = _DRAINS) -> None:
        self.name = name
        self._popen = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        assert self._popen.stdout is not None
        self._popen.stdout.readline()  # (its SIGTERM handler is set)

    @property
    def pid(self) -> int | None:
        return self._popen.pid

    @property
    def exitcode(self) -> int | None:
        return self._popen.poll()

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def join(self) -> None:
        self._popen.wait(10)

    def kill(self) -> None:
        self._popen.kill()

    def close(self) -> None:
        if self.is_alive():
            self.kill()
        self.join()
        assert self._popen.stdout is not None
        self._popen.stdout.close()


class Watch:
    """A prepared supervisor over one source cluster, its streams and its report queue."""

    def __init__(self, tmp_path: Path, **options: Any) -> None:
        self.source = FakeCluster("src-id", {"orders": 2})
        self.source.ends = {("orders", 0): 100, ("orders", 1): 50}
        clusters = FakeClusters(FakeCluster("tgt-id"), {"source": self.source},
                                FakeGroups(timestamp_ms=int(time.time() * 1000) - 4_000))
        self.lines: list[str] = []
        self.supervisor = Supervisor(settings_for(tmp_path, **options), out=self.lines.append,
                                     clusters=clusters)
        self.supervisor.planner.prepare()
        self.reports: queue.Queue[StreamReport] = queue.Queue()
        self.streams: list[Stream] = []
        self.scheduler = Scheduler(lambda line: self.lines.append(f"warning: {line}"))
        self.lag = self.scheduler.every("lag-refresh", None, self.supervisor.lag.run)

    def start(self, *streams: Stream) -> None:
        self.streams.extend(streams)
        self.scheduler.start()
        self.thread = threading.Thread(
            target=self.supervisor.watch, args=(self.streams, self.reports, None, self.lag))
        self.thread.start()

    def wait(self, timeout_s: float = 10.0) -> None:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "the watch loop did not end"

    def close(self) -> None:
        for stream in self.streams:
            stream.close()
        self.scheduler.stop()


@pytest.fixture
def watch(tmp_path: Path) -> Iterator[Any]:
    made: list[Watch] = []

    def make(**options: Any) -> Watch:
        made.append(Watch(tmp_path, **options))
        return made[-1]

    yield make
    for w in made:
        w.close()
        if hasattr(w, "thread"):
            w.wait()


def test_once_every_partition_reached_its_goal_every_stream_is_drained(watch: Any) -> None:
    w = watch(until_caught_up=True)
    w.start(Stream("kmirror-stream-0-0"), Stream("kmirror-stream-0-1"))
    w.reports.put(StreamReport("source", 0, records=100, positions={("orders", 0): 100}))
    time.sleep(0.7)
    assert all(s.is_alive() for s in w.streams)  # (one partition still behind)
    w.reports.put(StreamReport("source", 1, records=50, positions={("orders", 1): 50}))
    w.wait()
    assert [s.exitcode for s in w.streams] == [0, 0]  # SIGTERM: drained, not killed
    assert w.supervisor.monitor.errors == []


def test_a_stream_that_fails_stops_the_others(watch: Any) -> None:
    w = watch()
    failing = Stream("kmirror-stream-0-1", "print('up', flush=True)\nimport sys; sys.exit(3)")
    w.start(Stream("kmirror-stream-0-0"), failing)
    w.wait()
    assert w.supervisor.monitor.errors == ["stream kmirror-stream-0-1 exited with code 3"]
    assert w.streams[0].exitcode == 0


def test_a_stop_request_drains_every_stream(watch: Any) -> None:
    w = watch()
    w.start(Stream("kmirror-stream-0-0"))
    w.supervisor._on_signal(signal.SIGTERM, None)
    w.wait()
    assert w.streams[0].exitcode == 0 and w.supervisor.monitor.errors == []


def test_the_status_line_shows_the_lag_read_when_it_was_due(watch: Any) -> None:
    w = watch()
    w.supervisor.status_interval_s = 0.2
    w.start(Stream("kmirror-stream-0-0"))
    w.reports.put(StreamReport("source", 0, records=30, by_topic={"orders": [30, 3_000]},
                               positions={("orders", 0): 80, ("orders", 1): 40}))
    deadline = time.monotonic() + 10
    while not any("lag 30 records" in line for line in w.lines):
        assert time.monotonic() < deadline, w.lines
        time.sleep(0.05)
    w.supervisor._on_signal(signal.SIGTERM, None)
    w.wait()
    [line] = [x for x in w.lines if "lag 30 records" in x][:1]
    # 20 + 10 records behind; the first not mirrored was written 4 s ago
    assert line.startswith("mirrored 30 records: ")
    lag_s = float(line.split("lag 30 records (")[1].split(" s)")[0])
    assert 3.5 <= lag_s < 10
    labels = {"source": "source", "topic": "orders", "partition": "0"}
    registry = w.supervisor.monitor.metrics.registry
    assert registry.get_sample_value("kmirror_lag_records", labels) == 20


def test_a_slow_lag_refresh_does_not_hold_the_loop(watch: Any) -> None:
    w = watch()
    w.supervisor.status_interval_s = 0.2
    w.source.hold_end_offsets = release = threading.Event()
    w.start(Stream("kmirror-stream-0-0"))
    w.reports.put(StreamReport("source", 0, records=7, by_topic={"orders": [7, 70]}))
    deadline = time.monotonic() + 10
    while sum(line.startswith("mirrored 7 records: ") for line in w.lines) < 2:
        assert time.monotonic() < deadline, w.lines
        time.sleep(0.05)
    # Status lines go on (with no lag known yet) while the refresh waits for the cluster.
    assert "lag 0 records" in w.lines[-1]
    assert time.monotonic() - w.supervisor.monitor.loop_at < 1.0
    release.set()
    w.supervisor._on_signal(signal.SIGTERM, None)
    w.wait()


class FakeLive:
    """rich's Live as the watch loop uses it: each update rendered to text."""

    def __init__(self) -> None:
        self.frames: list[str] = []

    def update(self, renderable: Any, refresh: bool) -> None:
        console = Console(record=True, width=120, file=io.StringIO())
        console.print(renderable)
        self.frames.append(console.export_text())


def test_the_live_view_shows_the_table_and_the_catch_up_progress(watch: Any) -> None:
    w = watch(until_caught_up=True)
    w.supervisor.status_interval_s = 0.2
    live = FakeLive()
    w.streams.append(Stream("kmirror-stream-0-0"))
    w.scheduler.start()
    w.reports.put(StreamReport("source", 0, records=30, by_topic={"orders": [30, 3_000]},
                               positions={("orders", 0): 30}))
    thread = threading.Thread(target=w.supervisor.watch, args=(w.streams, w.reports, live, w.lag))
    thread.start()
    deadline = time.monotonic() + 10
    while not any("30 records mirrored" in frame for frame in live.frames):
        assert time.monotonic() < deadline, live.frames
        time.sleep(0.05)
    w.supervisor._on_signal(signal.SIGTERM, None)
    thread.join(10)
    frame = next(f for f in live.frames if "30 records mirrored" in f)
    assert "kmirror: 30 records mirrored, 1 stream(s) running" in frame
    assert "orders" in frame
    # Goals 100 + 50 less the positions at the first lag refresh (30 acknowledged by then).
    assert "30/120 records to catch up" in frame
