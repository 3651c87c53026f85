"""`make demo`: local clusters, sample data, a real mirror run, and the result side by side."""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kmirror import local
from kmirror.config.settings import load_mirror_settings
from kmirror.kafka.sample import end_offsets, first_records, write_sample
from kmirror.mirror.supervisor import run_mirror

TOPIC = "demo.orders"
RECORDS = 10_000
PARTITIONS = 4


def main() -> int:
    """Run the demo; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("kmirror.librdkafka").setLevel(logging.ERROR)
    console = Console()
    console.rule("1. kmirror local up: two real Kafka clusters (KRaft, local Java processes)")
    report = local.up()
    by_name = {c.name: c for c in report.clusters}
    source, target = by_name["source"].bootstrap_servers, by_name["target"].bootstrap_servers
    console.print(f"Kafka {report.kafka_version}: source {source}, target {target}")

    console.rule(f"2. {RECORDS:,} sample records into {TOPIC} ({PARTITIONS} partitions)")
    write_sample(source, TOPIC, RECORDS, PARTITIONS)
    console.print(f"source end offsets: {end_offsets(source, TOPIC)}")

    folder = Path(tempfile.mkdtemp(prefix="kmirror-demo-"))
    (folder / "source.properties").write_text(
        f"bootstrap.servers={source}\ngroup.id=kmirror-demo\n"
    )
    (folder / "target.properties").write_text(f"bootstrap.servers={target}\n")
    console.rule("3. kmirror run --until-caught-up (the classic MirrorMaker command line)")
    console.print(
        f"kmirror run --consumer.config {folder}/source.properties --num.streams 2 "
        f"--producer.config {folder}/target.properties --whitelist='demo\\..*' --until-caught-up"
    )
    settings = load_mirror_settings(
        consumer_configs=[str(folder / "source.properties")],
        producer_config=str(folder / "target.properties"),
        include=r"demo\..*", exclude=None, num_streams=2, until_caught_up=True,
    )
    code = run_mirror(settings)

    console.rule("4. The result, read back from both clusters")
    table = Table()
    for column in ("partition", "source end offset", "target end offset"):
        table.add_column(column, justify="right")
    source_ends, target_ends = end_offsets(source, TOPIC), end_offsets(target, TOPIC)
    for partition in sorted(source_ends):
        table.add_row(str(partition), str(source_ends[partition]),
                      str(target_ends.get(partition, 0)))
    console.print(table)
    for line in first_records(target, TOPIC, 3):
        console.print(f"  target {line}", highlight=False)
    console.rule("5. kmirror verify: every record compared on both clusters")
    command = [sys.executable, "-m", "kmirror", "verify", "--source.bootstrap.servers", source,
               "--target.bootstrap.servers", target, "--include", r"demo\..*"]
    console.print("kmirror verify " + " ".join(command[4:]), highlight=False)
    proof = subprocess.run(command, check=False).returncode
    console.print(
        "The clusters keep running: `kmirror local status`, `kmirror local down --purge`."
    )
    return code or proof


if __name__ == "__main__":
    raise SystemExit(main())
