"""One timed copy per (scenario, tool, repetition), on the same local clusters.

A copy is timed from the tool's launch until the target topic's end offsets add up to the
scenario's record count (polled every 50 ms). Start-up is launch → first record on the target
(JVM, Connect herder, group join, ...); the rate reported is the steady one, between 10 % and
90 % of the records, and CPU seconds are the tool's (whole process tree) over that same
window. The total (launch → every record) is kept too.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kmirror.bench import java
from kmirror.bench.sampler import TreeSampler
from kmirror.bench.scenarios import PARTITIONS, Scenario
from kmirror.bench.tools import Job, Tool
from kmirror.kafka.admin import Admin
from kmirror.kafka.bench_io import RecordCounter

_log = logging.getLogger("kmirror.bench")
MB = 2**20
"""MB in every figure is 2^20 bytes, as Kafka's perf tools count it."""
STALL_TIMEOUT_S = 120.0
"""A copy that makes no progress for this long is stopped and recorded as failed."""


@dataclass
class Run:
    """One measured copy (or one limit measurement); a row of the results file."""

    tool: str
    scenario: str
    streams: int
    records: int
    bytes: int
    seconds: float
    records_per_s: float
    mb_per_s: float
    cpu_seconds: float | None
    peak_rss_mb: float | None
    repetition: int
    startup_seconds: float | None = None
    startup_cpu_seconds: float | None = None
    peak_process_rss_mb: float | None = None
    cpu_seconds_per_gb: float | None = None
    total_seconds: float | None = None
    """Launch → the target holds every record."""
    total_cpu_seconds: float | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The row as written to the results file."""
        return asdict(self)


@dataclass
class Clusters:
    """The two clusters under test, with admin clients for set-up and progress polling.

    The harness owns the topics named ``bench.*`` on both clusters (it deletes and re-creates
    them) and the topics the tools create while it runs; every other topic that existed when
    it started is left alone.
    """

    source_bootstrap: str
    target_bootstrap: str
    source: Admin = field(init=False)
    target: Admin = field(init=False)
    _source_before: set[str] = field(init=False)
    _target_before: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.source = Admin({"bootstrap.servers": self.source_bootstrap}, "source")
        self.target = Admin({"bootstrap.servers": self.target_bootstrap}, "target")
        self._source_before = {t for t in self.source.topics() if not _owned(t)}
        self._target_before = {t for t in self.target.topics() if not _owned(t)}

    def reset_target(self) -> None:
        """Delete the target's bench topics and whatever a previous tool created on either
        cluster (MirrorMaker 2's internal topics, heartbeats), so each copy starts clean."""
        self.target.delete_topics(
            t for t in self.target.topics()
            if _owned(t) or (t not in self._target_before and not t.startswith("__"))
        )
        self.source.delete_topics(
            t for t in self.source.topics()
            if t not in self._source_before and not _owned(t) and not t.startswith("__")
        )

    def target_counter(self, topic: str) -> RecordCounter:
        """Counts the records on a target topic (sum of end offsets)."""
        return RecordCounter(self.target_bootstrap, topic, PARTITIONS)


def _owned(topic: str) -> bool:
    return topic.startswith("bench.")


def load_source(clusters: Clusters, scenario: Scenario) -> java.Rate:
    """(Re)create the scenario's source topic and fill it with ``ProducerPerformance``."""
    clusters.source.delete_topics([scenario.topic])
    clusters.source.create_topic(scenario.topic, PARTITIONS, 1, {})
    return java.produce(clusters.source_bootstrap, scenario.topic, scenario.records,
                        scenario.record_size, _producer_properties(scenario))


def _producer_properties(scenario: Scenario) -> dict[str, str]:
    # The batching kmirror's producer uses (librdkafka: 1 MB batches, linger 10 ms): the Java
    # defaults (16 KB, 5 ms) would make the "limit" slower than the mirrors it bounds.
    # With a few records per batch, linger lets each batch fill to its size (none for one).
    linger = "0" if scenario.per_batch == 1 else "10"
    return {"acks": "all", "enable.idempotence": "true", "compression.type": scenario.compression,
            "batch.size": str(scenario.batch_size), "linger.ms": linger}


def copy_once(
    clusters: Clusters, scenario: Scenario, key: str, tool: Tool, repetition: int, workdir: Path
) -> Run:
    """Time one copy of ``scenario`` by ``tool`` into a fresh, empty target topic."""
    clusters.reset_target()
    clusters.target.create_topic(scenario.topic, PARTITIONS, 1, {})
    run_id = f"{int(time.time() * 1000) % 10**10}{os.getpid() % 1000}"
    job_dir = Path(tempfile.mkdtemp(prefix=f"{key}-{scenario.name}-{repetition}-", dir=workdir))
    job = Job(clusters.source_bootstrap, clusters.target_bootstrap, scenario.topic,
              scenario.compression, run_id, job_dir)
    row = Run(key, scenario.name, tool.streams, scenario.records, scenario.bytes, 0.0, 0.0, 0.0,
              None, None, repetition)
    launched = time.monotonic()
    process = tool.launch(job)
    sampler = TreeSampler(process.pid).start()
    try:
        marks = _wait_for_copy(clusters, scenario, process, sampler, launched)
    except java.BenchError as exc:
        row.error = f"{exc} (log: {job_dir})"
        _log.warning("%s on %s, repetition %d: %s", key, scenario.name, repetition, row.error)
        return row
    finally:
        final = sampler.stop()
        stop_tree(process)
    start, end = marks.steady_window()
    records = end.count - start.count
    seconds = max(end.at - start.at, 1e-3)
    row.seconds = round(seconds, 3)
    row.records_per_s = round(records / seconds, 1)
    row.mb_per_s = round(records * scenario.record_size / seconds / MB, 2)
    row.cpu_seconds = round(end.cpu_seconds - start.cpu_seconds, 2)
    row.cpu_seconds_per_gb = round(row.cpu_seconds / (records * scenario.record_size / 1e9), 2)
    row.startup_seconds = round(marks.first.at - launched, 2)
    row.startup_cpu_seconds = round(marks.first.cpu_seconds, 2)
    row.total_seconds = round(marks.done.at - launched, 2)
    row.total_cpu_seconds = round(marks.done.cpu_seconds, 2)
    row.peak_rss_mb = round(final.peak_rss_mb, 1)
    row.peak_process_rss_mb = round(final.peak_process_rss_mb, 1)
    return row


@dataclass(frozen=True)
class Mark:
    """The target's record count at a moment, with the tool's CPU seconds then."""

    at: float
    count: int
    cpu_seconds: float


@dataclass
class CopyMarks:
    """The moments a copy passed: its first record, 10 % and 90 % of the records, the end."""

    first: Mark
    tenth: Mark
    ninetieth: Mark
    done: Mark

    def steady_window(self) -> tuple[Mark, Mark]:
        """10 % → 90 % of the records: the steady copy. A tool that buffered records before
        its first write (a topic's metadata still unknown, a rebalance) sends them in one
        burst, and the last buffered records drain after reading ended; both bursts would
        flatter its rate. Windows too short to time fall back to first → last record."""
        if self.ninetieth.at - self.tenth.at >= 0.5:
            return self.tenth, self.ninetieth
        if self.done.at - self.first.at >= 0.05:
            return self.first, self.done
        return Mark(self.first.at - 0.05, 0, self.first.cpu_seconds), self.done


def _wait_for_copy(
    clusters: Clusters, scenario: Scenario, process: subprocess.Popen[bytes],
    sampler: TreeSampler, launched: float,
) -> CopyMarks:
    """Poll the target every 50 ms until it holds every record; note the marks on the way."""
    counter = clusters.target_counter(scenario.topic)
    first = tenth = ninetieth = None
    last_count, last_progress = 0, launched
    while True:
        count = counter.count()
        now = time.monotonic()
        if count > 0 and (first is None or tenth is None or ninetieth is None
                          or count >= scenario.records):
            mark = Mark(now, count, sampler.sample().cpu_seconds)
            first = first or mark
            if tenth is None and count >= scenario.records / 10:
                tenth = mark
            if ninetieth is None and count >= scenario.records * 9 / 10:
                ninetieth = mark
            if count >= scenario.records:
                assert tenth is not None and ninetieth is not None
                return CopyMarks(first, tenth, ninetieth, mark)
        if count > last_count:
            last_count, last_progress = count, now
        if process.poll() is not None:
            raise java.BenchError(f"the tool exited (code {process.returncode}) "
                                  f"after copying {count} of {scenario.records} records")
        if now - last_progress > STALL_TIMEOUT_S:
            raise java.BenchError(f"no progress for {STALL_TIMEOUT_S:g} s at {count} of "
                                  f"{scenario.records} records")
        time.sleep(0.05)


def limit_once(clusters: Clusters, scenario: Scenario, repetition: int) -> list[Run]:
    """The machine's limit for ``scenario``: Kafka's consumer reading the source topic alone and
    Kafka's producer writing a fresh target topic alone (same durability and compression)."""
    consumed = java.consume(clusters.source_bootstrap, scenario.topic, scenario.records)
    clusters.reset_target()
    clusters.target.create_topic(scenario.topic, PARTITIONS, 1, {})
    produced = java.produce(clusters.target_bootstrap, scenario.topic, scenario.records,
                            scenario.record_size, _producer_properties(scenario))
    rows = []
    for name, rate in (("limit-consume", consumed), ("limit-produce", produced)):
        rows.append(Run(name, scenario.name, 1, scenario.records, scenario.bytes,
                        round(rate.seconds, 3), round(rate.records_per_s, 1),
                        round(rate.records_per_s * scenario.record_size / MB, 2), None, None,
                        repetition))
    return rows


def stop_tree(process: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """SIGTERM the tool, then SIGKILL it and any descendant still running after ``grace_s``."""
    import psutil

    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for child in descendants:
        try:
            child.kill()
        except psutil.Error:
            pass


def run_matrix(
    clusters: Clusters, scenarios: Sequence[Scenario], tools: dict[str, Tool],
    repetitions: int, with_limit: bool, workdir: Path, on_row: Callable[[Run], None],
) -> list[Run]:
    """Every scenario × tool × repetition; tools interleave within a repetition so slow drifts
    of the machine spread over all of them."""
    rows: list[Run] = []
    for scenario in scenarios:
        _log.info("loading %s: %d records of %d B (%s)", scenario.topic, scenario.records,
                  scenario.record_size, scenario.compression)
        load_source(clusters, scenario)
        for repetition in range(1, repetitions + 1):
            for key, tool in tools.items():
                row = copy_once(clusters, scenario, key, tool, repetition, workdir)
                rows.append(row)
                on_row(row)
            if with_limit:
                for row in limit_once(clusters, scenario, repetition):
                    rows.append(row)
                    on_row(row)
    clusters.reset_target()
    return rows
