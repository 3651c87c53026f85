"""Failover onto the target: group offset translation, and active-active without loops.

Real brokers (the session's `source` and `target` local clusters); every check reads with an
independent confluent-kafka client.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from tests.conftest import kmirror_cmd
from tests.helpers.kafka_io import Clusters, Record, create_topic, end_offsets, produce, read_all
from tests.helpers.mirror_run import MirrorProcess, run_mirror, write_config

pytestmark = pytest.mark.integration


def _consume(bootstrap: str, topic: str, group: str, count: int | None,
             commit: bool = True, timeout_s: float = 60) -> list[bytes]:
    """Read with a consumer group: ``count`` records (then commit), or everything there is."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "enable.partition.eof": True, "isolation.level": "read_committed"})
    consumer.subscribe([topic])
    values: list[bytes] = []
    eof: set[int] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and (count is None or len(values) < count):
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == -191:  # _PARTITION_EOF
                    eof.add(msg.partition())
                    partitions = len(consumer.assignment())
                    if count is None and partitions and len(eof) >= partitions:
                        break
                continue
            eof.discard(msg.partition())
            values.append(msg.value())
            if commit and count is not None and len(values) == count:
                consumer.commit(message=msg, asynchronous=False)
    finally:
        consumer.close()
    return values


def _translate(source: Path, target: Path, group: str, *extra: str
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        kmirror_cmd("offsets", "translate", "--consumer.config", str(source),
                    "--producer.config", str(target), "--group", group, *extra),
        capture_output=True, text=True, timeout=120, check=False)


def _target_group_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(topic, 0)], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found if tp.offset >= 0}


@pytest.mark.parametrize("mode", ["default", "exactly-once"])
def test_a_group_resumes_on_the_target_exactly_where_it_stopped(
    clusters: Clusters, workdir: Path, topic_name: str, mode: str
) -> None:
    # Given 10,000 records mirrored under prefix names (east.<topic>)
    create_topic(clusters.source, topic_name, 1)
    produce(clusters.source, topic_name,
            [Record(b"k%d" % i, b"v%d" % i, 0) for i in range(10_000)])
    source = write_config(workdir, "east", bootstrap__servers=clusters.source,
                          group__id=f"mirror-{topic_name}")
    target = write_config(workdir, "west", bootstrap__servers=clusters.target)
    out = run_mirror(["--consumer.config", str(source), "--producer.config", str(target),
                      "--include", topic_name, "--until-caught-up", "--metrics.port", "0",
                      "--no-live", "--replication.policy", "prefix",
                      *(["--exactly-once"] if mode == "exactly-once" else [])])
    assert out.returncode == 0, out.stderr
    remote = f"east.{topic_name}"
    # And an application's group that read 6,000 of them on the source and committed
    group = f"app-{uuid.uuid4().hex[:8]}"
    read = _consume(clusters.source, topic_name, group, 6_000)
    assert read == [b"v%d" % i for i in range(6_000)]
    # When the plan is shown (--dry-run), nothing is written
    plan = _translate(source, target, group, "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    assert _target_group_offsets(clusters.target, group, remote) == {}
    assert "6000" in plan.stdout
    # And when it is translated, the group's offset on the target is past the last record it
    # read, v5999, and at most that of the first it has not, v6000 (both found there by a plain
    # consumer: with --exactly-once, transaction markers take target offsets, so these are
    # 5,999 and 6,000 or further, as the transactions fell)
    last_read = _target_offset_of(clusters.target, remote, b"v5999")
    first_unread = _target_offset_of(clusters.target, remote, b"v6000")
    done = _translate(source, target, group)
    assert done.returncode == 0, done.stderr
    translated = _target_group_offsets(clusters.target, group, remote)
    assert list(translated) == [0] and last_read < translated[0] <= first_unread, (
        translated, last_read, first_unread, plan.stdout)
    if mode == "default":
        assert translated == {0: 6_000}
    # Then the group reads exactly the other 4,000 on the target: none missed, none again
    rest = _consume(clusters.target, remote, group, None)
    assert rest == [b"v%d" % i for i in range(6_000, 10_000)]
    # And translating again never moves it backwards (it consumed nothing more on the source)
    again = _translate(source, target, group, "--json")
    assert again.returncode == 0, again.stderr
    assert _target_group_offsets(clusters.target, group, remote) == translated


def _target_offset_of(bootstrap: str, topic: str, value: bytes) -> int:
    """The offset of the committed record with this value in partition 0 of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"find-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None and msg.value() == value:
                    return int(msg.offset())
    finally:
        consumer.close()
    raise AssertionError(f"no record {value!r} in {topic} within 60 s")


def _cluster_config(workdir: Path, name: str, bootstrap: str, **extra: str) -> Path:
    return write_config(workdir, name, bootstrap__servers=bootstrap,
                        kmirror__cluster__alias=name, **extra)


@pytest.mark.parametrize("policy", ["prefix", "identity"])
def test_active_active_each_record_once_per_cluster(
    clusters: Clusters, workdir: Path, topic_name: str, policy: str
) -> None:
    # Given the same topic written on both clusters, A and B
    a, b = clusters.source, clusters.target
    for bootstrap, name in ((a, "a"), (b, "b")):
        create_topic(bootstrap, topic_name, 1)
        produce(bootstrap, topic_name,
                [Record(b"k", f"{name}-{i}".encode(), 0) for i in range(1_000)])
    # When A -> B and B -> A mirror at the same time
    flags = (["--replication.policy", "prefix"] if policy == "prefix"
             else ["--provenance.header"])
    uid = uuid.uuid4().hex[:6]
    mirrors = []
    for src, dst, (s_addr, d_addr) in (("a", "b", (a, b)), ("b", "a", (b, a))):
        consumer = _cluster_config(workdir, src, s_addr, group__id=f"aa-{src}-{uid}")
        producer = write_config(workdir, f"{dst}-out", bootstrap__servers=d_addr,
                                kmirror__cluster__alias=dst)
        include = f"{topic_name}|.*\\.{topic_name}" if policy == "prefix" else topic_name
        mirrors.append(MirrorProcess(
            ["--consumer.config", str(consumer), "--producer.config", str(producer),
             "--include", include, "--metrics.port", "0", "--no-live", *flags],
            workdir / f"{src}-to-{dst}.log"))
    try:
        # Then each cluster holds each record exactly once, and nothing grows afterwards
        if policy == "prefix":
            expected = {a: {topic_name: 1_000, f"b.{topic_name}": 1_000},
                        b: {topic_name: 1_000, f"a.{topic_name}": 1_000}}
        else:
            expected = {a: {topic_name: 2_000}, b: {topic_name: 2_000}}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _counts(expected) != expected:
            for mirror in mirrors:
                assert mirror.process.poll() is None, mirror.output()
            time.sleep(1)
        assert _counts(expected) == expected, [m.output()[-2000:] for m in mirrors]
        time.sleep(10)  # several refreshes and commits later
        assert _counts(expected) == expected
        for bootstrap in (a, b):
            values = [r.value for r in read_all(bootstrap, topic_name)]
            if policy == "identity":
                assert sorted(values) == sorted(
                    [f"a-{i}".encode() for i in range(1_000)]
                    + [f"b-{i}".encode() for i in range(1_000)])
        if policy == "prefix":  # no copy of a copy anywhere
            for bootstrap in (a, b):
                topics = _topics(bootstrap)
                assert not [t for t in topics if t.count(".") >= 2 and topic_name in t], topics
            for mirror in mirrors:  # and each says why it leaves the other's copy alone
                mirror.wait_for("not mirrored: a copy of a topic of", 30)
    finally:
        for mirror in mirrors:
            code = mirror.stop()
            assert code == 0, mirror.output()[-3000:]


def _counts(expected: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for bootstrap, topics in expected.items():
        out[bootstrap] = {}
        for topic in topics:
            try:
                out[bootstrap][topic] = len(read_all(bootstrap, topic, timeout_s=20))
            except KafkaException:  # not created yet
                out[bootstrap][topic] = -1
    return out


def _topics(bootstrap: str) -> list[str]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "list-topics"})
    try:
        return list(consumer.list_topics(timeout=10).topics)
    finally:
        consumer.close()


def test_mirroring_a_cluster_into_itself_needs_other_names(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    create_topic(clusters.source, topic_name, 1)
    produce(clusters.source, topic_name, [Record(b"k", b"v%d" % i, 0) for i in range(100)])
    source = _cluster_config(workdir, "here", clusters.source, group__id=f"self-{topic_name}")
    target = write_config(workdir, "there", bootstrap__servers=clusters.source)
    # Identity names into the same cluster: refused, with what to do
    out = run_mirror(["--consumer.config", str(source), "--producer.config", str(target),
                      "--include", topic_name, "--until-caught-up", "--metrics.port", "0",
                      "--no-live"])
    assert out.returncode == 2, out.stderr
    assert "--replication.policy prefix" in out.stderr
    # Prefix names: a copy beside the original, each record once
    out = run_mirror(["--consumer.config", str(source), "--producer.config", str(target),
                      "--include", topic_name, "--until-caught-up", "--metrics.port", "0",
                      "--no-live", "--replication.policy", "prefix"])
    assert out.returncode == 0, out.stderr
    assert sum(end_offsets(clusters.source, f"here.{topic_name}").values()) == 100
    assert json.dumps(sorted(_topics(clusters.source))).count(topic_name) == 2


def test_sync_group_offsets_keeps_translating_while_mirroring(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given a mirror that syncs group offsets every second
    create_topic(clusters.source, topic_name, 1)
    produce(clusters.source, topic_name, [Record(b"k", b"v%d" % i, 0) for i in range(1_000)])
    source = write_config(workdir, "east", bootstrap__servers=clusters.source,
                          group__id=f"mirror-{topic_name}")
    target = write_config(workdir, "west", bootstrap__servers=clusters.target)
    mirror = MirrorProcess(["--consumer.config", str(source), "--producer.config", str(target),
                            "--include", topic_name, "--metrics.port", "0", "--no-live",
                            "--sync.group.offsets", "--sync.group.offsets.interval.ms", "1000"],
                           workdir / "mirror.log")
    try:
        # When an application's group reads 300 records on the source, then 200 more
        group = f"app-{uuid.uuid4().hex[:8]}"
        for count, want in ((300, 300), (200, 500)):
            assert len(_consume(clusters.source, topic_name, group, count)) == count
            # Then its offset appears on the target, translated, without any command
            deadline = time.monotonic() + 60
            while _target_group_offsets(clusters.target, group, topic_name) != {0: want}:
                assert time.monotonic() < deadline, mirror.output()[-3000:]
                assert mirror.process.poll() is None, mirror.output()[-3000:]
                time.sleep(1)
    finally:
        assert mirror.stop() == 0, mirror.output()[-3000:]
