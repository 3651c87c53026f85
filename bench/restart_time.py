"""Restart to first record: how soon a restarted `kmirror run` writes again (issue 11).

Usage (local clusters started by `kmirror local up`, or any two clusters):

    .venv/bin/python bench/restart_time.py SOURCE_BOOTSTRAP TARGET_BOOTSTRAP \
        [--partitions 100] [--records-per-partition 10000] [--restarts 5]

It mirrors a topic of PARTITIONS partitions until caught up, then, RESTARTS times: stops kmirror
gracefully (SIGTERM), writes one record to every partition, starts kmirror again and measures
the time from the start of the process to the first new record on the target (the target's end
offsets, polled every 50 ms). The topic's size does not matter to a restart: kmirror keeps no
state to replay, it asks the group for its committed offsets. Prints one JSON line with every
time and the median; outside the test suite, as benchmarks are.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def _end_total(consumer: Consumer, topic: str, partitions: int) -> int:
    total = 0
    for p in range(partitions):
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10,
                                                 cached=False)
        total += max(0, high)
    return total


def _produce(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "enable.idempotence": True})
    for p in range(partitions):
        for i in range(per_partition):
            while True:
                try:
                    producer.produce(topic, b"x" * 100, b"%d" % i, p)
                    break
                except BufferError:
                    producer.poll(0.1)
    producer.flush(120)


def main() -> int:
    """Measure, print the figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--records-per-partition", type=int, default=10_000)
    parser.add_argument("--restarts", type=int, default=5)
    args = parser.parse_args()
    topic = f"restart-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": args.source})  # alive until the future resolves
    admin.create_topics([NewTopic(topic, args.partitions, 1)])[topic].result(30)
    time.sleep(2)
    _produce(args.source, topic, args.partitions, args.records_per_partition)
    folder = Path(tempfile.mkdtemp(prefix="kmirror-restart-"))
    (folder / "source.properties").write_text(
        f"bootstrap.servers={args.source}\ngroup.id=g-{topic}\n")
    (folder / "target.properties").write_text(f"bootstrap.servers={args.target}\n")
    command = [sys.executable, "-m", "kmirror", "run", "--consumer.config",
               str(folder / "source.properties"), "--producer.config",
               str(folder / "target.properties"), "--include", topic, "--metrics.port", "0",
               "--no-live"]
    first = subprocess.run([*command, "--until-caught-up"], capture_output=True, text=True,
                           check=False)
    if first.returncode != 0:
        print(first.stderr, file=sys.stderr)
        return 1
    probe = Consumer({"bootstrap.servers": args.target, "group.id": f"probe-{topic}"})
    times = []
    for _ in range(args.restarts):
        _produce(args.source, topic, args.partitions, 1)
        before = _end_total(probe, topic, args.partitions)
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        while _end_total(probe, topic, args.partitions) <= before:
            if time.monotonic() - started > 120:
                raise SystemExit("no record within 120 s")
            time.sleep(0.05)
        times.append(round(time.monotonic() - started, 2))
        time.sleep(2)
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(120)
    probe.close()
    print(json.dumps({
        "command": " ".join(["bench/restart_time.py", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cores": os.cpu_count(), "os": platform.platform()},
        "partitions": args.partitions,
        "records_before": args.partitions * args.records_per_partition,
        "restart_to_first_record_s": times, "median_s": statistics.median(times),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
