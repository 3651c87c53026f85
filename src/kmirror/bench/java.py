"""Kafka's own Java tools for the benchmark: the perf tools that load topics and measure the
limit, and the runtimes of the Java mirrors (MirrorMaker 2 from the brokers' jars, the classic
MirrorMaker from Kafka 3.9 jars, removed in 4.0)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kmirror.errors import KmirrorError
from kmirror.local.distribution import KafkaDistribution, ensure_kafka

MM1_POM = Path(__file__).with_name("mm1-pom.xml")
MM2_POM = Path(__file__).with_name("mm2-pom.xml")
LOG4J2_CONFIG = Path(__file__).with_name("log4j2-bench.properties")
JVM_OPTIONS = (
    # What Kafka's own scripts (kafka-run-class.sh, connect-mirror-maker.sh) run the tools with.
    "-Xms256m", "-Xmx2g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)

_PRODUCER_SUMMARY = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)"
)


class BenchError(KmirrorError):
    """A benchmark step failed (a tool did not start, finish or print what was expected)."""


@dataclass(frozen=True)
class Rate:
    """What a perf tool reports: records and bytes moved, and over how many seconds."""

    records: int
    seconds: float
    mb_per_s: float

    @property
    def records_per_s(self) -> float:
        """Records per second."""
        return self.records / self.seconds if self.seconds > 0 else 0.0


def brokers_runtime() -> KafkaDistribution:
    """The Kafka jars the brokers run on (the perf tools come with them)."""
    return ensure_kafka()


def mm2_runtime() -> KafkaDistribution:
    """MirrorMaker 2's jars (connect-mirror and the Connect runtime, on their own class path)."""
    return ensure_kafka(pom=MM2_POM)


def mm1_runtime() -> KafkaDistribution:
    """Kafka 3.9 jars, the last release with the classic ``kafka.tools.MirrorMaker``."""
    return ensure_kafka(pom=MM1_POM)


def java_command(dist: KafkaDistribution, main_class: str, *args: str) -> list[str]:
    """A JVM command line running ``main_class`` of ``dist`` as Kafka's scripts would, logging
    warnings and errors to stderr."""
    return [
        dist.java, *JVM_OPTIONS, f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
        "-cp", dist.classpath, main_class, *args,
    ]


def _run(command: list[str], what: str, timeout_s: float) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what} did not finish within {timeout_s:g} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-8:])
        raise BenchError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def produce(
    bootstrap_servers: str, topic: str, records: int, record_size: int,
    properties: Mapping[str, str], timeout_s: float = 1200.0,
) -> Rate:
    """Write ``records`` records with ``ProducerPerformance``; its rate is the producer limit."""
    props = [f"{k}={v}" for k, v in {"bootstrap.servers": bootstrap_servers, **properties}.items()]
    command = java_command(
        brokers_runtime(), "org.apache.kafka.tools.ProducerPerformance",
        "--topic", topic, "--num-records", str(records), "--record-size", str(record_size),
        "--throughput", "-1", "--command-property", *props,
    )
    rate = parse_producer_output(_run(command, f"ProducerPerformance on {topic}", timeout_s))
    if rate.records != records:
        raise BenchError(f"ProducerPerformance sent {rate.records} of {records} records to {topic}")
    return rate


def parse_producer_output(out: str) -> Rate:
    """The whole run's rate from ``ProducerPerformance``'s output (its last summary line)."""
    summaries = list(_PRODUCER_SUMMARY.finditer(out))
    if not summaries:
        raise BenchError(f"ProducerPerformance printed no summary line:\n{out[-500:]}")
    total = summaries[-1]
    sent, per_s, mb_per_s = int(total.group(1)), float(total.group(2)), float(total.group(3))
    return Rate(sent, sent / per_s if per_s else 0.0, mb_per_s)


def consume(
    bootstrap_servers: str, topic: str, records: int, timeout_s: float = 1200.0
) -> Rate:
    """Read ``records`` records with ``ConsumerPerformance``; the fetch rate is the consumer
    limit (it excludes the group join)."""
    command = java_command(
        brokers_runtime(), "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", bootstrap_servers, "--topic", topic,
        "--num-records", str(records), "--timeout", "30000",
        "--command-property", "auto.offset.reset=earliest",
    )
    rate = parse_consumer_output(_run(command, f"ConsumerPerformance on {topic}", timeout_s))
    if rate.records < records:
        raise BenchError(f"ConsumerPerformance read {rate.records} of {records} records of {topic}")
    return rate


def parse_consumer_output(out: str) -> Rate:
    """The fetch rate from ``ConsumerPerformance``'s CSV output (header line + result line)."""
    lines = [line for line in out.splitlines() if line.strip()]
    header = next((i for i, line in enumerate(lines) if "fetch.nMsg.sec" in line), None)
    if header is None or header + 1 >= len(lines):
        raise BenchError(f"ConsumerPerformance printed no result line:\n{out[-500:]}")
    names = [n.strip() for n in lines[header].split(",")]
    values = dict(zip(names, (v.strip() for v in lines[header + 1].split(",")), strict=False))
    try:
        count = int(values["data.consumed.in.nMsg"])
        fetch_ms = float(values["fetch.time.ms"])
        fetch_mb_per_s = float(values["fetch.MB.sec"])
    except (KeyError, ValueError) as exc:
        raise BenchError(f"ConsumerPerformance result not understood: {values}") from exc
    return Rate(count, fetch_ms / 1000.0, fetch_mb_per_s)
