"""`kmirror verify` on real brokers: a faithful copy passes; each kind of damage is reported."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers.kafka_io import Clusters, Record, create_topic, produce
from tests.helpers.mirror_run import run_mirror, run_verify, write_config

pytestmark = pytest.mark.integration


def _records(n: int, partitions: int) -> list[Record]:
    base = int(time.time() * 1000) - 60_000
    return [Record(key=f"k{i}".encode(), value=f"v{i}".encode(), partition=i % partitions,
                   timestamp_ms=base + i, headers=(("seq", str(i).encode()),))
            for i in range(n)]



def test_a_faithful_mirror_passes(clusters: Clusters, workdir: Path, topic_name: str) -> None:
    create_topic(clusters.source, topic_name, 3)
    produce(clusters.source, topic_name, _records(3000, 3))
    source = write_config(workdir, "s", bootstrap__servers=clusters.source,
                          group__id=f"g-{topic_name}")
    target = write_config(workdir, "t", bootstrap__servers=clusters.target)
    out = run_mirror(["--consumer.config", str(source), "--producer.config", str(target),
                      "--include", topic_name, "--until-caught-up", "--metrics.port", "0"])
    assert out.returncode == 0, out.stderr
    code, report = run_verify(clusters, "--include", topic_name, "--strict")
    assert code == 0
    assert report["totals"] == {"matched": 3000, "missing": 0, "mismatched": 0,
                                "duplicates": 0, "reordered": 0, "extra": 0}


def test_each_kind_of_damage_is_reported_exactly(clusters: Clusters, topic_name: str) -> None:
    # Given a source partition of 1,000 records and a hand-made, damaged copy on the target:
    # offset 100 removed, 200 altered, 300 written twice, 400 and 401 swapped, one extra
    records = _records(1000, 1)
    damaged = list(records)
    damaged[200] = Record(key=b"k200", value=b"ALTERED", partition=0,
                          timestamp_ms=records[200].timestamp_ms, headers=records[200].headers)
    damaged[400], damaged[401] = damaged[401], damaged[400]
    damaged.insert(301, records[300])
    del damaged[100]
    damaged.append(Record(key=b"extra", value=b"x", partition=0, timestamp_ms=1))
    create_topic(clusters.source, topic_name, 1)
    produce(clusters.source, topic_name, records)
    create_topic(clusters.target, topic_name, 1)
    produce(clusters.target, topic_name, damaged)
    # When verified
    code, report = run_verify(clusters, "--include", topic_name)
    # Then every kind is counted exactly, and the exit code says so
    assert code == 1
    assert report["totals"] == {"matched": 997, "missing": 1, "mismatched": 1,
                                "duplicates": 1, "reordered": 1, "extra": 1}


def test_duplicates_alone_pass_unless_strict(clusters: Clusters, topic_name: str) -> None:
    records = _records(500, 1)
    create_topic(clusters.source, topic_name, 1)
    produce(clusters.source, topic_name, records)
    create_topic(clusters.target, topic_name, 1)
    produce(clusters.target, topic_name, records[:300] + records[250:])  # a resent stretch
    code, report = run_verify(clusters, "--include", topic_name)
    assert code == 0 and report["totals"]["duplicates"] == 50
    strict, _ = run_verify(clusters, "--include", topic_name, "--strict")
    assert strict == 1
