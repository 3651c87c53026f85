"""Takeover after kill -9 at scale: how many records past the commits a restart proves and
skips (issue 21), and how long its check holds the assignment.

Usage (starts, and unless --keep purges, the local clusters scale-source and scale-target):

    .venv/bin/python bench/takeover.py --topics 100 --partitions-per-topic 10 \\
        [--records 20] [--heap 1g] [--code DIR] [--label NAME] [--keep] [--out FILE.json]

Topics tk{label}-0000... get RECORDS records per partition; `kmirror run --until-caught-up`
copies and commits them (each commit saying where it lands on the target). RECORDS more per
partition are then copied by a mirror that commits only every 10 minutes, killed with SIGKILL
(its process group) once the target holds them all: every partition has RECORDS records on the
target past its commit. A restart (`--until-caught-up --verbose`) takes every partition over
(after the killed member's session ends). Reported: the restart's "takeover" phase (reading and
checking, inside the group callback), what it said it skipped, partitions not checked in time,
fallbacks, and the duplicates on the target (its records minus the source's). ``--code DIR``
runs kmirror from another source tree (PYTHONPATH), for an A/B against an older commit.
Outside the test suite, as benchmarks are.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import TopicPartition

sys.path.insert(0, str(Path(__file__).parent))
import scale  # (bench/scale.py: the clusters and their helpers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=100)
    parser.add_argument("--partitions-per-topic", type=int, default=10)
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--heap", default="1g")
    parser.add_argument("--code", help="kmirror's src directory to run (default: installed)")
    parser.add_argument("--label", default="a")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    source, target = scale.clusters_up(args.heap)
    try:
        result = run(args, source, target)
    finally:
        if not args.keep:
            subprocess.run([*scale.KMIRROR, "local", "down", "--purge", *scale.CLUSTERS],
                           capture_output=True, check=False)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


def run(args: argparse.Namespace, source: str, target: str) -> dict[str, object]:
    prefix = f"tk{args.label}-"
    names = [f"{prefix}{i:04d}" for i in range(args.topics)]
    scale.create_topics(source, names, args.partitions_per_topic)
    parts = [TopicPartition(t, p) for t in names for p in range(args.partitions_per_topic)]
    scale.produce(source, parts, args.records, "a")
    work = Path(tempfile.mkdtemp(prefix="kmirror-takeover-"))
    (work / "s.properties").write_text(f"bootstrap.servers={source}\ngroup.id=g-{prefix}\n")
    (work / "t.properties").write_text(f"bootstrap.servers={target}\n")
    env = {**os.environ, **({"PYTHONPATH": args.code} if args.code else {})}
    base = [*scale.KMIRROR, "run", "--consumer.config", str(work / "s.properties"),
            "--producer.config", str(work / "t.properties"), "--include", f"^{prefix}.*",
            "--metrics.port", "0", "--no-live"]

    def start(extra: list[str], log: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([*base, *extra], stdout=(work / log).open("w"),
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def finish(process: subprocess.Popen[bytes], log: str) -> None:
        if process.wait(900) != 0:
            raise SystemExit((work / log).read_text()[-3000:])

    finish(start(["--until-caught-up"], "first.log"), "first.log")
    scale.produce(source, parts, args.records, "b")
    total = len(parts) * args.records * 2
    killed = start(["--offset.commit.interval.ms", "600000"], "killed.log")
    admin = scale.probe(target)
    scale.wait_until(lambda: (scale.target_total(admin, prefix) or 0) >= total, 600, "the copy")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    time.sleep(1)  # (what the killed process had sent has landed)
    began = time.monotonic()
    finish(start(["--until-caught-up", "--verbose"], "restart.log"), "restart.log")
    restart_s = time.monotonic() - began
    log = (work / "restart.log").read_text()
    skipped = re.findall(r"(\d+) record\(s\) of (\d+) partition\(s\) taken were already", log)
    return {
        "benchmark": "takeover", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv), "machine": f"{platform.node()}, {os.cpu_count()} cores",
        "partitions": len(parts), "records_past_commits": len(parts) * args.records,
        "restart_s": round(restart_s, 1),
        "takeover_phase_s": [float(s) for s in re.findall(r"takeover (\d+\.\d+) s", log)],
        "skipped_records": sum(int(r) for r, _ in skipped),
        "skipped_partitions": sum(int(p) for _, p in skipped),
        "not_checked_in_time": sum(int(n) for n in re.findall(
            r"(\d+) partition\(s\) taken were not checked within", log)),
        "fallback_warnings": log.count("may hold them twice"),
        "duplicates": (scale.target_total(admin, prefix) or 0) - total,
        "logs": str(work),
    }


if __name__ == "__main__":
    sys.exit(main())
