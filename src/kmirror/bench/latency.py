"""Replication latency at a steady rate: p50/p99 of (target append time − source send time).

The source gets a steady stream of records carrying their send time; the target topic is
created with ``message.timestamp.type=LogAppendTime`` so each copied record carries the moment
the target appended it (see ``kmirror.kafka.bench_io``). The tool runs until records flow, then
a warm-up, then the measured window. Both times are this host's clock, at 1 ms resolution on
the append side.
"""

from __future__ import annotations

import logging
import math
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kmirror.bench.java import BenchError
from kmirror.bench.runner import STALL_TIMEOUT_S, Clusters, stop_tree
from kmirror.bench.sampler import TreeSampler
from kmirror.bench.scenarios import PARTITIONS
from kmirror.bench.tools import Job, Tool
from kmirror.kafka.bench_io import AppendLatencyReader, PacedProducer

_log = logging.getLogger("kmirror.bench")
TOPIC = "bench.latency"


@dataclass
class LatencyRun:
    """One latency measurement; a row of the results file (``scenario`` = ``latency``)."""

    tool: str
    streams: int
    rate_per_s: int
    records: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_seconds: float
    repetition: int
    scenario: str = "latency"
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The row as written to the results file."""
        return asdict(self)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    rank = math.ceil(q * len(ordered))  # 1-based: the smallest value with q of them at or below
    return ordered[max(0, min(len(ordered), rank) - 1)]


def measure(
    clusters: Clusters, key: str, tool: Tool, repetition: int, workdir: Path, *,
    rate_per_s: int = 10_000, record_size: int = 100, warmup_s: float = 5.0,
    window_s: float = 30.0,
) -> LatencyRun:
    """Run ``tool`` against a steady ``rate_per_s`` and measure latency over ``window_s``."""
    clusters.reset_target()
    clusters.source.delete_topics([TOPIC])
    clusters.source.create_topic(TOPIC, PARTITIONS, 1, {})
    clusters.target.create_topic(
        TOPIC, PARTITIONS, 1, {"message.timestamp.type": "LogAppendTime"}
    )
    job_dir = Path(tempfile.mkdtemp(prefix=f"{key}-latency-{repetition}-", dir=workdir))
    job = Job(clusters.source_bootstrap, clusters.target_bootstrap, TOPIC, "none",
              f"{int(time.time() * 1000) % 10**10}", job_dir)
    reader = AppendLatencyReader(clusters.target_bootstrap, TOPIC, PARTITIONS)
    reader.start()
    producer = PacedProducer(clusters.source_bootstrap, TOPIC, PARTITIONS, rate_per_s,
                             record_size)
    producer.start()
    process = tool.launch(job)
    sampler = TreeSampler(process.pid).start()
    row = LatencyRun(key, tool.streams, rate_per_s, 0, 0.0, 0.0, 0.0, 0.0, 0.0, repetition)
    try:
        started = time.monotonic()
        while reader.read == 0:
            if process.poll() is not None or time.monotonic() - started > STALL_TIMEOUT_S:
                raise BenchError(f"{key} copied nothing within {STALL_TIMEOUT_S:g} s "
                                 f"(log: {job_dir})")
            time.sleep(0.1)
        # The backlog written during start-up drains in the warm-up, before measuring.
        time.sleep(warmup_s)
        cpu_before = sampler.sample().cpu_seconds
        reader.record()
        window_started = time.monotonic()
        time.sleep(window_s)
        row.cpu_seconds = round(sampler.sample().cpu_seconds - cpu_before, 2)
        row.seconds = round(time.monotonic() - window_started, 2)
    except BenchError as exc:
        row.error = str(exc)
        _log.warning("%s latency, repetition %d: %s", key, repetition, exc)
    finally:
        sampler.stop()
        producer.stop()
        stop_tree(process)
        reader.stop()
    latencies = reader.latencies_ms
    if latencies and row.error is None:
        row.records = len(latencies)
        row.p50_ms = round(statistics.median(latencies), 2)
        row.p99_ms = round(percentile(latencies, 0.99), 2)
        row.max_ms = round(max(latencies), 2)
    return row
