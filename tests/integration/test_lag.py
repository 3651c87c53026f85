"""`kmirror lag` on real brokers: offsets and lag in seconds for a group with known state."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.conftest import kmirror_cmd
from tests.helpers.kafka_io import Clusters, Record, create_topic, produce

pytestmark = pytest.mark.integration


def _lag(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(kmirror_cmd("lag", *args), capture_output=True, text=True,
                          timeout=timeout_s, check=False)


def _commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                        asynchronous=False)
    finally:
        consumer.close()


def test_lag_in_records_and_seconds(clusters: Clusters, topic_name: str) -> None:
    # Given 3 partitions of 100 records, record i of each written i seconds after t0
    now_ms = int(time.time() * 1000)
    t0 = now_ms - 600_000
    create_topic(clusters.source, topic_name, 3)
    produce(clusters.source, topic_name, [
        Record(key=b"k", value=b"v", partition=p, timestamp_ms=t0 + i * 1000)
        for p in range(3) for i in range(100)
    ])
    # And a group that committed 40 on partition 0, 100 on partition 1, nothing on partition 2
    group = f"g-{topic_name}"
    _commit(clusters.source, group, {(topic_name, 0): 40, (topic_name, 1): 100})
    # When the offset checker runs for the topic
    out = _lag("--bootstrap-server", clusters.source, "--group", group, "--topic", topic_name,
               "--json")
    # Then it reports committed, log end, lag in records and exact lag in seconds
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    rows = {r["partition"]: r for r in report["partitions"]}
    assert rows[0]["committed_offset"] == 40 and rows[0]["log_end_offset"] == 100
    assert rows[0]["lag_messages"] == 60
    expected_s = time.time() - (t0 + 40 * 1000) / 1000
    assert abs(rows[0]["lag_seconds"] - expected_s) < 3, (rows[0], expected_s)
    assert rows[1]["lag_messages"] == 0 and rows[1]["lag_seconds"] == 0
    assert rows[2]["committed_offset"] is None and rows[2]["lag_messages"] is None
    assert all(r["owner"] == "-" for r in rows.values())
    assert report["totals"]["lag_messages"] == 60
    assert any("no committed offset" in n for n in report["notes"])
    # And the table shows the lag in human units
    table = _lag("--bootstrap-server", clusters.source, "--group", group)
    assert table.returncode == 0, table.stderr
    assert "min" in table.stdout and "group total" in table.stdout


def test_lag_shows_the_owner_of_a_running_member(clusters: Clusters, topic_name: str) -> None:
    create_topic(clusters.source, topic_name, 2)
    produce(clusters.source, topic_name, [Record(b"k", b"v", p) for p in range(2)])
    group = f"g-{topic_name}"
    member = Consumer({"bootstrap.servers": clusters.source, "group.id": group,
                       "client.id": "owner-test", "group.protocol": "consumer"})
    try:
        member.subscribe([topic_name])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not member.assignment():
            member.poll(0.2)
        out = _lag("--bootstrap-server", clusters.source, "--group", group, "--json")
    finally:
        member.close()
    assert out.returncode == 0, out.stderr
    owners = {r["owner"] for r in json.loads(out.stdout)["partitions"]}
    assert owners and all(o.startswith("owner-test@") for o in owners), owners


@pytest.mark.parametrize("case", ["no-group", "no-topic", "unreachable", "zookeeper"])
def test_lag_bad_input_is_one_clear_line(clusters: Clusters, topic_name: str, case: str) -> None:
    create_topic(clusters.source, topic_name, 1)
    group = f"g-{topic_name}"
    _commit(clusters.source, group, {(topic_name, 0): 0})
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        dead_port = free.getsockname()[1]
    args = {
        "no-group": ["--bootstrap-server", clusters.source, "--group", "no-such-group"],
        "no-topic": ["--bootstrap-server", clusters.source, "--group", group,
                     "--topic", "no-such-topic"],
        "unreachable": ["--bootstrap-server", f"127.0.0.1:{dead_port}", "--group", group],
        "zookeeper": ["--zookeeper", "127.0.0.1:2181", "--group", group],
    }[case]
    started = time.monotonic()
    out = _lag(*args)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert time.monotonic() - started < 30
    expected = {"no-group": "no-such-group", "no-topic": "no-such-topic",
                "unreachable": str(dead_port), "zookeeper": "--bootstrap-server"}[case]
    assert expected in out.stderr
