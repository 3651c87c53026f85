"""How each mirror under test is started: kmirror, MirrorMaker 2 and the classic MirrorMaker.

Every tool gets the same job and the same durability: copy one topic from the source cluster to
a pre-created, empty target topic of the same name, producer ``acks=all`` with idempotence, the
scenario's compression on the producer, reading from the earliest offset. Each run gets a fresh
consumer group / cluster alias so nothing is resumed from an earlier run.
"""

from __future__ import annotations

import compileall
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import javaproperties

import kmirror
from kmirror.bench import java


@dataclass(frozen=True)
class Job:
    """One copy to perform: where from, where to, what, and where the tool may write files."""

    source_bootstrap: str
    target_bootstrap: str
    topic: str
    compression: str
    run_id: str
    workdir: Path
    pattern: str | None = None
    """A ready Java regex of the topics to copy; None: ``topic`` alone (its dots escaped)."""

    @property
    def include(self) -> str:
        """The regex every tool is given as its topic include list."""
        return self.pattern if self.pattern is not None else self.topic.replace(".", "\\.")


class Tool(Protocol):
    """A mirror the harness can start; ``streams`` is its unit of parallelism."""

    @property
    def name(self) -> str:
        """The tool's family name (kmirror, mm2, mm1)."""

    @property
    def streams(self) -> int:
        """Streams (kmirror), tasks (MirrorMaker 2) or consumer threads (classic)."""

    def launch(self, job: Job) -> subprocess.Popen[bytes]:
        """Start the tool copying ``job``; it runs until the harness stops it."""


def _write_properties(path: Path, settings: Mapping[str, object]) -> Path:
    # javaproperties escapes as Java reads it back (a regex's "\." must be written "\\.").
    path.write_text(javaproperties.dumps({k: str(v) for k, v in settings.items()},
                                         timestamp=False))
    return path


def _start(command: list[str], job: Job, name: str) -> subprocess.Popen[bytes]:
    log = (job.workdir / f"{name}.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=job.workdir)


@dataclass(frozen=True)
class Kmirror:
    """``kmirror run`` with ``streams`` stream processes; ``extra_args`` for later modes."""

    streams: int = 1
    name: str = "kmirror"
    extra_args: tuple[str, ...] = ()

    def launch(self, job: Job) -> subprocess.Popen[bytes]:
        """Start ``kmirror run`` as a child process of this Python."""
        # An installed kmirror starts from compiled bytecode (pip compiles a wheel's modules);
        # a checkout run under PYTHONDONTWRITEBYTECODE (the Makefile sets it) would compile
        # every module again at each launch, inside the start-up measured. Compile once, as
        # an installation does (a no-op when up to date).
        compileall.compile_dir(Path(kmirror.__file__).parent, quiet=1)
        consumer = _write_properties(job.workdir / "consumer.properties", {
            "bootstrap.servers": job.source_bootstrap,
            "group.id": f"bench-{job.run_id}",
            "auto.offset.reset": "earliest",
        })
        producer = _write_properties(job.workdir / "producer.properties", {
            "bootstrap.servers": job.target_bootstrap,
            "compression.type": job.compression,
        })
        command = [
            sys.executable, "-m", "kmirror", "run",
            "--consumer.config", str(consumer), "--producer.config", str(producer),
            "--whitelist", job.include, "--num.streams", str(self.streams),
            "--metrics.port", "0", "--no-live", *self.extra_args,
        ]
        return _start(command, job, self.name)


@dataclass(frozen=True)
class MirrorMaker2:
    """MirrorMaker 2's dedicated mode (Connect's ``MirrorSourceConnector``), identity names.

    ``tuned`` applies the published high-volume settings (Red Hat's Streams guide: 320 KB
    producer batches, 100 ms linger; its consumer settings equal the Java defaults)."""

    streams: int = 1
    name: str = "mm2"
    tuned: bool = True

    def launch(self, job: Job) -> subprocess.Popen[bytes]:
        """Start ``org.apache.kafka.connect.mirror.MirrorMaker`` for the src->dst flow only."""
        # A fresh alias per run gives fresh Connect internal topics (offsets, configs, status),
        # so every run copies from the earliest offset.
        src, dst = f"src{job.run_id}", "dst"
        settings: dict[str, object] = {
            "clusters": f"{src}, {dst}",
            f"{src}.bootstrap.servers": job.source_bootstrap,
            f"{dst}.bootstrap.servers": job.target_bootstrap,
            f"{src}->{dst}.enabled": "true",
            f"{dst}->{src}.enabled": "false",
            f"{src}->{dst}.topics": job.include,
            "replication.policy.class":
                "org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
            "tasks.max": self.streams,
            "replication.factor": 1,
            "heartbeats.topic.replication.factor": 1,
            "offset.storage.replication.factor": 1,
            "config.storage.replication.factor": 1,
            "status.storage.replication.factor": 1,
            "emit.heartbeats.enabled": "false",
            "emit.checkpoints.enabled": "false",
            # With offset-syncs off nothing is written to the source cluster; any
            # offset-syncs.topic.* key would then make the connector refuse its config.
            "emit.offset-syncs.enabled": "false",
            "sync.topic.configs.enabled": "false",
            "sync.topic.acls.enabled": "false",
            "sync.group.offsets.enabled": "false",
            "refresh.topics.interval.seconds": 5,
            "refresh.groups.enabled": "false",
            # Without these Connect scans every jar for plugins at start (seconds, ~1 GB RSS).
            "plugin.discovery": "service_load",
            f"{dst}.plugin.discovery": "service_load",
            f"{src}.consumer.auto.offset.reset": "earliest",
            f"{dst}.producer.acks": "all",
            f"{dst}.producer.enable.idempotence": "true",
            f"{dst}.producer.compression.type": job.compression,
        }
        if self.tuned:
            settings |= {
                f"{dst}.producer.batch.size": 327680,
                f"{dst}.producer.linger.ms": 100,
                f"{src}.consumer.fetch.max.bytes": 52428800,
                f"{src}.consumer.max.partition.fetch.bytes": 1048576,
                f"{src}.consumer.max.poll.records": 500,
            }
        config = _write_properties(job.workdir / "mm2.properties", settings)
        command = java.java_command(
            java.mm2_runtime(), "org.apache.kafka.connect.mirror.MirrorMaker",
            str(config), "--clusters", dst,
        )
        return _start(command, job, self.name)


@dataclass(frozen=True)
class ClassicMirrorMaker:
    """The classic ``kafka.tools.MirrorMaker`` from Kafka 3.9 jars (removed in Kafka 4.0), with
    its default message handler (the target partition is the producer's choice)."""

    streams: int = 1
    name: str = "mm1"

    def launch(self, job: Job) -> subprocess.Popen[bytes]:
        """Start the classic MirrorMaker with its own flags."""
        consumer = _write_properties(job.workdir / "mm1-consumer.properties", {
            "bootstrap.servers": job.source_bootstrap,
            "group.id": f"bench-mm1-{job.run_id}",
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy":
                "org.apache.kafka.clients.consumer.RoundRobinAssignor",
        })
        producer = _write_properties(job.workdir / "mm1-producer.properties", {
            "bootstrap.servers": job.target_bootstrap,
            "acks": "all",
            "enable.idempotence": "true",
            "compression.type": job.compression,
        })
        command = java.java_command(
            java.mm1_runtime(), "kafka.tools.MirrorMaker",
            "--consumer.config", str(consumer), "--producer.config", str(producer),
            "--include", job.include, "--num.streams", str(self.streams),
        )
        return _start(command, job, self.name)


TOOLS: dict[str, Tool] = {
    "kmirror-1": Kmirror(1),  # the default command line: batches whole or records, per partition
    "kmirror-records-1": Kmirror(1, name="kmirror-records", extra_args=("--no-shallow",)),
    "kmirror-2": Kmirror(2),
    "kmirror-shallow-1": Kmirror(1, name="kmirror-shallow", extra_args=("--shallow",)),
    "kmirror-eos-1": Kmirror(1, name="kmirror-eos", extra_args=("--exactly-once",)),
    "mm2-1": MirrorMaker2(1),
    "mm2-2": MirrorMaker2(2),
    "mm2-untuned-1": MirrorMaker2(1, name="mm2-untuned", tuned=False),
    "mm1-1": ClassicMirrorMaker(1),
}
"""Every tool configuration ``kmirror bench --tools`` accepts, by key."""
