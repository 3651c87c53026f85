"""A/B of replication latency in one sitting: the bench's latency run (10,000 records/s of
100 B over 8 partitions, kmirror.bench.latency.measure) for several variants of `kmirror run`,
alternating, each repetition of every variant before the next repetition; medians at the end.

A variant is NAME[:OPTION,OPTION...], each OPTION one of
  src=DIR               the kmirror source tree the tool runs (PYTHONPATH; default: this one)
  consumer.KEY=VALUE    a line added to the tool's consumer.properties
  producer.KEY=VALUE    a line added to the tool's producer.properties
  arg=--FLAG=VALUE      an argument added to `kmirror run`
  tool=mm2-1            a harness tool of kmirror.bench.tools instead (other options ignored)

    python bench/latency_probe.py SOURCE TARGET --variant base \
        --variant 'linger1:producer.linger.ms=1' --repetitions 2 --seconds 20 --series DIR

With --series, every latency of the window is written to DIR/<variant>-<rep>.csv as
`append_ms,latency_ms` (append time on the target, ms since the epoch), and the slowest records
are summarised: how they bunch in time (stalls) and where within each second they fall.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kmirror.bench import latency
from kmirror.bench.runner import Clusters
from kmirror.bench.tools import TOOLS, Job, Kmirror, Tool, _write_properties
from kmirror.kafka.bench_io import _SEND_TIME, AppendLatencyReader


class SeriesReader(AppendLatencyReader):
    """The bench's latency reader, keeping each record's append time as well."""

    last: SeriesReader | None = None  # the newest one (measure() makes its own)
    source_bootstrap: str | None = None  # --split: read the source topic too

    def __init__(self, bootstrap_servers: str, topic: str, partitions: int) -> None:
        super().__init__(bootstrap_servers, topic, partitions)
        self.appended_ms: list[int] = []
        self.sent_us: list[int] = []
        self.source: SeriesReader | None = None
        if SeriesReader.source_bootstrap and bootstrap_servers != SeriesReader.source_bootstrap:
            self.source = SeriesReader(SeriesReader.source_bootstrap, topic, partitions)
        SeriesReader.last = self  # (after the source's reader: the target's is the last)

    def start(self) -> None:
        """Begin reading (the source's reader too)."""
        super().start()
        if self.source is not None:
            self.source.start()

    def record(self) -> None:
        """Keep latencies from now on."""
        super().record()
        if self.source is not None:
            self.source.record()

    def stop(self) -> None:
        """Stop reading (the source's reader too)."""
        super().stop()
        if self.source is not None:
            self.source.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(1000, 0.1):
                if message.error() is not None or message.value() is None:
                    continue
                self.read += 1
                if not self._recording:
                    continue
                sent_us = _SEND_TIME.unpack_from(message.value())[0]
                appended_ms = message.timestamp()[1]
                self.latencies_ms.append(appended_ms - sent_us / 1000.0)
                self.appended_ms.append(appended_ms)
                self.sent_us.append(sent_us)


@dataclass(frozen=True)
class Variant:
    """`kmirror run` with extra client settings, arguments and source tree (see the module
    docstring)."""

    name: str
    src: str | None = None
    consumer: dict[str, str] = field(default_factory=dict)
    producer: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    streams: int = 1

    def launch(self, job: Job) -> subprocess.Popen[bytes]:
        """Start ``kmirror run`` as the bench's Kmirror tool does, with this variant's extras."""
        consumer = _write_properties(job.workdir / "consumer.properties", {
            "bootstrap.servers": job.source_bootstrap, "group.id": f"bench-{job.run_id}",
            "auto.offset.reset": "earliest", **self.consumer,
        })
        producer = _write_properties(job.workdir / "producer.properties", {
            "bootstrap.servers": job.target_bootstrap, "compression.type": job.compression,
            **self.producer,
        })
        command = [
            sys.executable, "-m", "kmirror", "run",
            "--consumer.config", str(consumer), "--producer.config", str(producer),
            "--whitelist", job.topic.replace(".", "\\."), "--num.streams", "1",
            "--metrics.port", "0", "--no-live", *self.args,
        ]
        env = dict(os.environ)
        if self.src:
            env["PYTHONPATH"] = self.src
        log = (job.workdir / "kmirror.log").open("wb")
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=job.workdir, env=env)


def parse_variant(text: str) -> tuple[str, Tool]:
    """NAME[:OPTION,...] -> (name, tool)."""
    name, _, rest = text.partition(":")
    src: str | None = None
    consumer: dict[str, str] = {}
    producer: dict[str, str] = {}
    args: list[str] = []
    for option in filter(None, rest.split(",")):
        key, _, value = option.partition("=")
        if key == "tool":
            return name, TOOLS[value]
        if key == "src":
            src = value
        elif key == "arg":
            args.append(value)
        elif key.startswith("consumer."):
            consumer[key.removeprefix("consumer.")] = value
        elif key.startswith("producer."):
            producer[key.removeprefix("producer.")] = value
        else:
            raise SystemExit(f"variant {name}: unknown option {option!r}")
    if not (src or consumer or producer or args):
        return name, Kmirror(1)
    return name, Variant(name, src, consumer, producer, tuple(args))


def summarise(appended_ms: list[int], latencies_ms: list[float], threshold_ms: float) -> str:
    """How the records slower than ``threshold_ms`` bunch: stalls (runs of slow records less
    than 20 ms apart) and their phase within the second."""
    slow = sorted(a for a, lat in zip(appended_ms, latencies_ms, strict=True)
                  if lat > threshold_ms)
    if not slow:
        return f"no record over {threshold_ms:g} ms"
    stalls: list[list[int]] = [[slow[0], slow[0], 1]]
    for at in slow[1:]:
        if at - stalls[-1][1] < 20:
            stalls[-1][1] = at
            stalls[-1][2] += 1
        else:
            stalls.append([at, at, 1])
    span_s = (max(appended_ms) - min(appended_ms)) / 1000 or 1
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(stalls)]
    phases = sorted(s[0] % 1000 for s in stalls)
    return (f"{len(slow)} records over {threshold_ms:g} ms in {len(stalls)} bunches "
            f"({len(stalls) / span_s:.2f}/s); median gap {statistics.median(gaps or [0]):.0f} ms; "
            f"phase in the second (ms) p10/p50/p90 {phases[len(phases) // 10]}/"
            f"{phases[len(phases) // 2]}/{phases[len(phases) * 9 // 10]}")


def split(reader: SeriesReader) -> str:
    """Where the time went, record by record: source (send -> source append) and mirror
    (source append -> target append), p50/p99 of each."""
    source = reader.source
    if source is None:
        return ""
    appended_at_source = dict(zip(source.sent_us, source.appended_ms, strict=True))
    at_source: list[float] = []
    in_mirror: list[float] = []
    for sent_us, appended_ms in zip(reader.sent_us, reader.appended_ms, strict=True):
        source_ms = appended_at_source.get(sent_us)
        if source_ms is not None:
            at_source.append(source_ms - sent_us / 1000)
            in_mirror.append(appended_ms - source_ms)
    if not at_source:
        return "\n    split: no record seen on both clusters"
    p = latency.percentile
    return (f"\n    split over {len(at_source)} records: send->source append p50 "
            f"{statistics.median(at_source):.1f} p99 {p(at_source, 0.99):.1f} ms; "
            f"source append->target append p50 {statistics.median(in_mirror):.1f} "
            f"p99 {p(in_mirror, 0.99):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--series", type=Path, help="directory for per-record latencies")
    parser.add_argument("--split", action="store_true",
                        help="source topic with LogAppendTime, read too: latency split into "
                             "send->source append and source append->target append")
    args = parser.parse_args()
    variants = [parse_variant(v) for v in args.variant]
    latency.AppendLatencyReader = SeriesReader  # type: ignore[attr-defined]
    clusters = Clusters(args.source, args.target)
    if args.split:
        SeriesReader.source_bootstrap = args.source
        create_at_source = clusters.source.create_topic

        def create_with_append_time(name: str, partitions: int, replication_factor: int,
                                    configs: Mapping[str, str]) -> bool:
            if name == latency.TOPIC:
                configs = {**configs, "message.timestamp.type": "LogAppendTime"}
            return create_at_source(name, partitions, replication_factor, configs)

        clusters.source.create_topic = create_with_append_time  # type: ignore[method-assign]
    workdir = Path(tempfile.mkdtemp(prefix="latency-probe-"))
    print(f"tool logs: {workdir}", flush=True)
    rows: dict[str, list[latency.LatencyRun]] = {name: [] for name, _ in variants}
    for repetition in range(1, args.repetitions + 1):
        for name, tool in variants:
            row = latency.measure(clusters, name, tool, repetition, workdir,
                                  rate_per_s=args.rate, window_s=args.seconds)
            rows[name].append(row)
            reader = SeriesReader.last
            assert reader is not None
            detail = summarise(reader.appended_ms, reader.latencies_ms, max(25.0, row.p99_ms / 2))
            print(f"{name:<16} #{repetition} p50 {row.p50_ms:6.2f} p99 {row.p99_ms:7.2f} "
                  f"max {row.max_ms:7.2f} ms cpu {row.cpu_seconds:5.2f} s/{row.seconds:g} s "
                  f"records {row.records} {row.error or ''}\n    {detail}{split(reader)}",
                  flush=True)
            if args.series:
                args.series.mkdir(parents=True, exist_ok=True)
                out = args.series / f"{name}-{repetition}.csv"
                out.write_text("".join(f"{a},{lat:.3f}\n" for a, lat in
                                       zip(reader.appended_ms, reader.latencies_ms, strict=True)))
    print("medians:")
    for name, runs in rows.items():
        ok = [r for r in runs if r.error is None and r.records]
        if not ok:
            print(f"{name:<16} no successful run")
            continue
        print(f"{name:<16} p50 {statistics.median(r.p50_ms for r in ok):6.2f} "
              f"p99 {statistics.median(r.p99_ms for r in ok):7.2f} "
              f"cpu {statistics.median(r.cpu_seconds for r in ok):5.2f} s "
              f"({len(ok)} runs)")
    clusters.reset_target()


if __name__ == "__main__":
    main()
