"""The batches of a topic partition as the broker stored them, read with Kafka's own tool.

``DumpLogSegments`` (from the Kafka jars the local clusters run on) reads the segment files
directly: an independent look at what was really written, batch by batch, with its codec and
flags, which no client API shows. Used to check that shallow mirroring kept batches whole.

Kafka 4.x has the tool as ``org.apache.kafka.tools.DumpLogSegments`` (kafka-tools jar); 3.x as
``kafka.tools.DumpLogSegments`` (core jar). One line per batch (without --deep-iteration), e.g.::

    baseOffset: 0 lastOffset: 1499 count: 1500 baseSequence: 0 lastSequence: 1499
    producerId: 0 producerEpoch: 0 partitionLeaderEpoch: 0 isTransactional: false
    isControl: false deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1795972704677
    size: 8073 magic: 2 compresscodec: zstd crc: 1483282172 isvalid: true

(all on one line). Compaction keeps a batch's lastOffset but lowers its count.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

from tests.helpers.kafka_io import Clusters

TOOL_CLASSES = ("org.apache.kafka.tools.DumpLogSegments", "kafka.tools.DumpLogSegments")

_BATCH = re.compile(
    r"baseOffset: (?P<base>-?\d+) lastOffset: (?P<last>-?\d+) count: (?P<count>\d+) .*?"
    r"isTransactional: (?P<tx>true|false) isControl: (?P<control>true|false) .*?"
    r"compresscodec: (?P<codec>\w+)"
)
_DUMPING = re.compile(r"^Dumping (?P<path>.+)$")


class Batch(NamedTuple):
    """One stored batch: offsets, how many records it still holds, codec and flags."""

    base_offset: int
    last_offset: int
    record_count: int
    codec: str  # "none", "gzip", "snappy", "lz4" or "zstd"
    is_control: bool
    is_transactional: bool


def parse_dump(text: str) -> dict[str, list[Batch]]:
    """The batches of each file in a DumpLogSegments output, keyed by the file's path."""
    out: dict[str, list[Batch]] = {}
    current: list[Batch] | None = None
    for line in text.splitlines():
        header = _DUMPING.match(line)
        if header:
            current = out.setdefault(header["path"], [])
            continue
        match = _BATCH.search(line)
        if match is None:
            continue
        if current is None:
            raise AssertionError(f"a batch line before any 'Dumping <file>' line: {line}")
        current.append(Batch(
            base_offset=int(match["base"]), last_offset=int(match["last"]),
            record_count=int(match["count"]), codec=match["codec"],
            is_control=match["control"] == "true", is_transactional=match["tx"] == "true",
        ))
    return out


def data_dir(clusters: Clusters, cluster: str) -> Path:
    """The log dir of the named local cluster ("source" or "target")."""
    entries = clusters.info["clusters"]
    assert isinstance(entries, list)
    for entry in entries:
        if entry["name"] == cluster:
            return Path(entry["data_dir"])
    raise AssertionError(f"no local cluster named {cluster!r}")


def partition_dirs(clusters: Clusters, cluster: str, topic: str) -> dict[int, Path]:
    """The topic's partition dirs in the cluster's log dir (``<topic>-<partition>``)."""
    pattern = re.compile(re.escape(topic) + r"-(\d+)")
    out = {}
    for path in data_dir(clusters, cluster).iterdir():
        match = pattern.fullmatch(path.name)
        if match and path.is_dir():
            out[int(match[1])] = path
    return out


def _run_tool(clusters: Clusters, files: list[Path]) -> str:
    java = shutil.which("java")
    assert java is not None, "java is needed to run DumpLogSegments"
    classpath = f"{clusters.info['kafka_libs']}/*"
    failure = ""
    for tool in TOOL_CLASSES:
        out = subprocess.run(
            [java, "-Xmx256m", "-cp", classpath, tool, "--files", ",".join(map(str, files))],
            capture_output=True, text=True, timeout=120, check=False,
        )
        if out.returncode == 0:
            return out.stdout
        failure = out.stderr + out.stdout
        if "Could not find or load main class" not in failure:
            break
    raise OSError(f"DumpLogSegments failed: {failure[-2000:]}")


def _segments(clusters: Clusters, cluster: str, topic: str) -> dict[int, list[tuple[Path, int]]]:
    """Each partition's segment files with their inode (a cleaned segment is a new file)."""
    dirs = partition_dirs(clusters, cluster, topic)
    assert dirs, f"topic {topic} has no partition dir on cluster {cluster}"
    out = {}
    for partition, folder in dirs.items():
        found = []
        for path in sorted(folder.glob("*.log")):
            try:
                found.append((path, path.stat().st_ino))
            except FileNotFoundError:
                continue
        out[partition] = found
    return out


def dump_topic(clusters: Clusters, cluster: str, topic: str) -> dict[int, list[Batch]]:
    """Every stored batch of every partition of the topic, in offset order (one JVM start).

    Segment files can be replaced while the tool runs (the log cleaner swaps in cleaned
    segments and deletes merged ones): then the whole dump is taken again.
    """
    for attempt in range(5):
        before = _segments(clusters, cluster, topic)
        files = [f for p in sorted(before) for f, _ in before[p]]
        try:
            by_file = parse_dump(_run_tool(clusters, files)) if files else {}
        except OSError:
            if attempt == 4 or _segments(clusters, cluster, topic) == before:
                raise
            time.sleep(0.5)
            continue
        if _segments(clusters, cluster, topic) != before:
            time.sleep(0.5)
            continue
        segments = {p: [f for f, _ in files_and_ids] for p, files_and_ids in before.items()}
        out: dict[int, list[Batch]] = {}
        for partition, paths in segments.items():
            batches = [b for path in paths for b in by_file.get(str(path), [])]
            out[partition] = sorted(batches)
        return out
    raise AssertionError(f"the segments of {topic} on {cluster} kept changing during dumps")


def dump_partition(clusters: Clusters, cluster: str, topic: str, partition: int) -> list[Batch]:
    """Every stored batch of one topic partition, in offset order."""
    return dump_topic(clusters, cluster, topic).get(partition, [])
