"""A/B of the record path in one sitting: mirror the same 1,000,000 records of 100 B (4
partitions, one stream) with the kmirror of SRC_DIR and print the wall time and the CPU of the
parent and of each stream process (sampled from /proc every 0.2 s). Run it alternately for two
checkouts against the same local clusters (`kmirror local up`):

    python bench/ab_record_path.py SOURCE TARGET /path/to/old/src old
    python bench/ab_record_path.py SOURCE TARGET src new
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "ab-100b"
RECORDS = 1_000_000


def _fill(source: str) -> None:
    admin = AdminClient({"bootstrap.servers": source})
    if TOPIC in admin.list_topics(timeout=10).topics:
        return
    admin.create_topics([NewTopic(TOPIC, 4, 1)])[TOPIC].result()
    producer = Producer({"bootstrap.servers": source, "linger.ms": 50})
    for i in range(RECORDS):
        while True:
            try:
                producer.produce(TOPIC, b"x" * 100, b"k%d" % i, partition=i % 4)
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush()


def _cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(source: str, target: str, src_dir: str, label: str) -> None:
    _fill(source)
    work = Path(f"/tmp/ab-{uuid.uuid4().hex[:6]}")
    work.mkdir()
    (work / "source.properties").write_text(
        f"bootstrap.servers={source}\ngroup.id=g-{uuid.uuid4().hex[:6]}\n")
    (work / "target.properties").write_text(f"bootstrap.servers={target}\n")
    began = time.monotonic()
    args = ["--consumer.config", str(work / "source.properties"),
            "--producer.config", str(work / "target.properties"), "--include", TOPIC,
            "--until-caught-up", "--metrics.port", "0", "--no-live"]
    proc = subprocess.Popen([sys.executable, "-m", "kmirror", "run", *args],
                            env={**os.environ, "PYTHONPATH": src_dir},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu: dict[int, float] = {}
    while proc.poll() is None:
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                  text=True, check=False).stdout.split()
        for pid in [proc.pid, *map(int, children)]:
            seconds = _cpu_s(pid)
            if seconds is not None:
                cpu[pid] = max(cpu.get(pid, 0.0), seconds)
        time.sleep(0.2)
    streams = sorted(round(v, 2) for k, v in cpu.items() if k != proc.pid)
    print(f"{label} wall {time.monotonic() - began:.1f} s parent cpu "
          f"{cpu.get(proc.pid, 0.0):.2f} children cpu {streams}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
