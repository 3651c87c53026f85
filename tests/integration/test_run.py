"""`kmirror run` on real brokers, checked with an independent client (confluent-kafka direct)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.helpers.kafka_io import (
    Clusters,
    Record,
    add_partitions,
    committed,
    committed_with_metadata,
    create_topic,
    end_offsets,
    produce,
    read_all,
    topic_partitions,
)
from tests.helpers.mirror_run import MirrorProcess, run_mirror, write_config

pytestmark = pytest.mark.integration


def _records(count: int, partitions: int, seed: int = 0) -> list[Record]:
    """Keys, binary and repeated headers, explicit timestamps, some null keys and values.

    Timestamps are recent: records older than the topic's retention would be deleted by the
    broker while the test runs.
    """
    base_ms = int(time.time() * 1000) - 3_600_000
    out = []
    for i in range(count):
        headers = (("seq", str(i).encode()), ("bin", bytes([i % 256, 0, 255])), ("seq", b"again"))
        out.append(Record(
            key=None if i % 97 == 0 else f"k{seed}-{i}".encode(),
            value=None if i % 101 == 0 else f"v{seed}-{i}".encode() * (1 + i % 5),
            partition=i % partitions,
            timestamp_ms=base_ms + i * 7,
            headers=headers if i % 3 else (),
        ))
    return out


def _configs(workdir: Path, clusters: Clusters, group: str) -> tuple[Path, Path]:
    source = write_config(workdir, "source", bootstrap__servers=clusters.source, group__id=group)
    target = write_config(workdir, "target", bootstrap__servers=clusters.target)
    return source, target


def _assert_same(clusters: Clusters, topic: str, expected: int) -> None:
    src = read_all(clusters.source, topic)
    dst = read_all(clusters.target, topic, expected=expected)
    assert len(src) == expected
    assert [r.content() for r in dst] == [r.content() for r in src]


def test_classic_command_mirrors_exactly_in_order(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given 12,000 records over 4 partitions with keys, headers, timestamps and nulls
    create_topic(clusters.source, topic_name, 4, {"retention.ms": "86400000"})
    produce(clusters.source, topic_name, _records(12_000, 4))
    source, target = _configs(workdir, clusters, f"g-{topic_name}")
    # When the classic MirrorMaker command runs (until caught up)
    out = run_mirror([
        "--consumer.config", str(source), "--num.streams", "2",
        "--producer.config", str(target), f"--whitelist={topic_name}", "--until-caught-up",
    ])
    # Then it exits 0 after printing its plan
    assert out.returncode == 0, out.stderr
    assert "kmirror: mirroring" in out.stderr and "create, 4 partitions" in out.stderr
    # And the target holds exactly the same records, partition by partition, in order
    assert topic_partitions(clusters.target, topic_name) == 4
    _assert_same(clusters, topic_name, 12_000)
    # And the topic config was carried over
    # And the committed offsets equal the source's end offsets
    ends = end_offsets(clusters.source, topic_name)
    assert committed(clusters.source, f"g-{topic_name}", topic_name, list(ends)) == ends
    # And each commit says where its position lands on the target (issue 21): the target's
    # end, which equals the source's here (copied from offset 0, no holes or markers)
    target_ends = end_offsets(clusters.target, topic_name)
    assert target_ends == ends
    assert committed_with_metadata(clusters.source, f"g-{topic_name}", topic_name, ends) == {
        p: (end, f"kmirror:target={end}") for p, end in ends.items()}


def test_two_sources_and_filters(clusters: Clusters, workdir: Path, topic_name: str) -> None:
    # Given topics a, b, c.d and skip on the source, and topic other on the target cluster
    names = {n: f"{topic_name}-{n}" for n in ("a", "b", "c.d", "cXd", "skip")}
    for i, name in enumerate(names.values()):
        create_topic(clusters.source, name, 2)
        produce(clusters.source, name, _records(50 + i, 2, seed=i))
    other = f"{topic_name}-other"
    create_topic(clusters.target, other, 2)
    produce(clusters.target, other, _records(30, 2, seed=9))
    source = write_config(
        workdir, "src1", bootstrap__servers=clusters.source, group__id=f"g1-{topic_name}"
    )
    second = write_config(
        workdir, "src2", bootstrap__servers=clusters.target, group__id=f"g2-{topic_name}"
    )
    # The second source is the target cluster itself: only allowed for topics... refused.
    target = write_config(workdir, "target", bootstrap__servers=clusters.target)
    refused = run_mirror([
        "--consumer.config", str(source), "--consumer.config", str(second),
        "--producer.config", str(target), "--include", f"{topic_name}.*", "--until-caught-up",
    ])
    assert refused.returncode == 2
    assert "into itself" in refused.stderr and "Traceback" not in refused.stderr
    # When mirroring with a comma list, \Q..\E quoting and a blacklist
    include = f"{names['a']},{names['b']},\\Q{names['c.d']}\\E,{topic_name}-s.*"
    out = run_mirror([
        "--consumer.config", str(source), "--producer.config", str(target),
        "--whitelist", include, "--blacklist", f"{topic_name}-skip", "--until-caught-up",
    ])
    assert out.returncode == 0, out.stderr
    # Then exactly a, b and c.d are mirrored (not cXd: the dot was quoted; not skip)
    for key in ("a", "b", "c.d"):
        _assert_same(clusters, names[key], 50 + list(names).index(key))
    for key in ("cXd", "skip"):
        assert topic_partitions(clusters.target, names[key]) == 0


def test_new_topic_and_new_partition_while_running(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given a running mirror of one topic
    first, second = f"{topic_name}-1", f"{topic_name}-2"
    create_topic(clusters.source, first, 2)
    produce(clusters.source, first, _records(100, 2))
    source, target = _configs(workdir, clusters, f"g-{topic_name}")
    mirror = MirrorProcess([
        "--consumer.config", str(source), "--producer.config", str(target),
        "--include", f"{topic_name}-.*", "--topic.refresh.interval.ms", "1000",
    ], workdir / "mirror.log")
    try:
        mirror.wait_for("kmirror: mirroring")
        # When a matching topic is created and the first one grows a partition
        create_topic(clusters.source, second, 3)
        produce(clusters.source, second, _records(300, 3, seed=2))
        add_partitions(clusters.source, first, 3)
        produce(clusters.source, first, [r for r in _records(90, 3, seed=3) if r.partition == 2])
        # Then both reach the target completely, and the new topic is announced (the streams
        # may copy it before the supervisor's next refresh names it: wait for both). The first
        # topic's own records are waited for too: under load the stream subscribes only after
        # the new topic exists, and partitions without committed offsets start one by one (an
        # offset-reset error each), so they may come after the new topic's
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if (sum(end_offsets(clusters.target, second).values() or [0]) >= 300
                    and topic_partitions(clusters.target, first) == 3
                    and end_offsets(clusters.target, first).get(2, 0) >= 30
                    and sum(end_offsets(clusters.target, first).values()) >= 130
                    and "new topic" in mirror.output()):
                break
            time.sleep(0.5)
    finally:
        assert mirror.stop() == 0, mirror.output()
    _assert_same(clusters, second, 300)
    _assert_same(clusters, first, 130)
    assert "new topic" in mirror.output()


def test_kill_9_and_restart_loses_nothing(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given 60,000 records and a mirror killed with SIGKILL mid-run
    create_topic(clusters.source, topic_name, 4)
    produce(clusters.source, topic_name, _records(60_000, 4))
    source, target = _configs(workdir, clusters, f"g-{topic_name}")
    group = f"g-{topic_name}"
    args = ["--consumer.config", str(source), "--producer.config", str(target),
            "--include", topic_name, "--offset.commit.interval.ms", "200"]
    mirror = MirrorProcess(args, workdir / "first.log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(end_offsets(clusters.target, topic_name).values()
                                              if topic_partitions(clusters.target, topic_name)
                                              else [0]) < 10_000:
        time.sleep(0.05)
    mirror.stop(signal.SIGKILL)
    time.sleep(1)  # (what the killed process had sent has landed by now)
    # Then the committed offsets are never ahead of what the target holds
    target_ends = end_offsets(clusters.target, topic_name)
    done = committed_with_metadata(clusters.source, group, topic_name, list(target_ends))
    for partition, (offset, metadata) in done.items():
        assert offset <= target_ends[partition], (partition, offset, target_ends)
        # (and where it lands: at the same offset, the copy having started at 0 on an empty
        # target; a partition without a commit yet has no metadata)
        assert metadata == f"kmirror:target={offset}" if offset >= 0 else not metadata, done
    # When it restarts and catches up
    restart = MirrorProcess([*args, "--until-caught-up", "--verbose"], workdir / "restart.log")
    try:
        code = restart.process.wait(240)
    finally:
        restart.stop()
    assert code == 0, restart.output()[-5000:]
    # Then every record is there once, in order: what the target held past the commits was
    # checked and not sent again (issue 21)
    src = read_all(clusters.source, topic_name)
    dst = read_all(clusters.target, topic_name)
    print(f"kill -9 then restart: {len(dst) - len(src)} duplicate(s) of {len(src)} records")
    for partition in range(4):
        want = [r.content() for r in src if r.partition == partition]
        got = [r.content() for r in dst if r.partition == partition]
        assert got == want, (partition, len(got), len(want))
    # And the restart said how many records it found there: exactly those past the commits
    # (the partitions without a commit: from offset 0, checked from both log starts)
    past = sum(end - max(done.get(p, (-1, ""))[0], 0) for p, end in target_ends.items())
    said = re.findall(r"(\d+) record\(s\) of \d+ partition\(s\) taken were already on the "
                      r"target", restart.output())
    assert sum(map(int, said)) == past, restart.output()[-3000:]
    assert "may hold them twice" not in restart.output(), restart.output()[-3000:]


def test_a_member_killed_in_a_group_of_two_leaves_no_duplicates(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given two kmirror processes in one group, 20,000 records copied and committed (commits
    # every 30 s: the next one comes after the kill below)
    create_topic(clusters.source, topic_name, 4)
    produce(clusters.source, topic_name, _records(20_000, 4))
    source, target = _configs(workdir, clusters, f"g-{topic_name}")
    group = f"g-{topic_name}"
    args = ["--consumer.config", str(source), "--producer.config", str(target),
            "--include", topic_name, "--offset.commit.interval.ms", "30000",
            "--metrics.port", "0", "--verbose"]
    stays = MirrorProcess(args, workdir / "stays.log")
    killed = MirrorProcess(args, workdir / "killed.log")
    try:
        deadline = time.monotonic() + 90
        while committed(clusters.source, group, topic_name, range(4)) != {p: 5_000
                                                                         for p in range(4)}:
            assert time.monotonic() < deadline, killed.output()[-3000:]
            time.sleep(0.3)
        # When 20,000 more are copied and one member is killed before its next commit
        produce(clusters.source, topic_name, _records(20_000, 4, seed=1))
        while sum(end_offsets(clusters.target, topic_name).values()) < 40_000:
            assert time.monotonic() < deadline, killed.output()[-3000:]
            time.sleep(0.05)
        killed.stop(signal.SIGKILL)
        # Then the other takes its partitions over (when its session ends), finds their
        # records on the target, checks them and sends nothing again
        stays.wait_for("taken were already on the target", timeout_s=120)
        produce(clusters.source, topic_name, _records(1_000, 4, seed=2))
        deadline = time.monotonic() + 60
        while sum(end_offsets(clusters.target, topic_name).values()) < 41_000:
            assert time.monotonic() < deadline, stays.output()[-3000:]
            time.sleep(0.2)
    finally:
        killed.stop(signal.SIGKILL)
        assert stays.stop() == 0, stays.output()[-3000:]
    src = read_all(clusters.source, topic_name)
    dst = read_all(clusters.target, topic_name)
    for partition in range(4):
        want = [r.content() for r in src if r.partition == partition]
        got = [r.content() for r in dst if r.partition == partition]
        assert got == want, (partition, len(got), len(want))
    said = re.findall(r"(\d+) record\(s\) of \d+ partition\(s\) taken were already on the "
                      r"target", stays.output())
    assert sum(map(int, said)) > 0 and "may hold them twice" not in stays.output()


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_sources(clusters: Clusters, workdir: Path, topic_name: str, codec: str) -> None:
    create_topic(clusters.source, topic_name, 2)
    produce(clusters.source, topic_name, _records(3000, 2), {"compression.type": codec})
    source, target = _configs(workdir, clusters, f"g-{topic_name}")
    out = run_mirror(["--consumer.config", str(source), "--producer.config", str(target),
                      "--include", topic_name, "--until-caught-up"])
    assert out.returncode == 0, out.stderr
    _assert_same(clusters, topic_name, 3000)


@pytest.mark.parametrize("policy", ["identity", "prefix"])
def test_a_refused_record_stops_the_mirror_and_is_never_committed_past(
    clusters: Clusters, workdir: Path, topic_name: str, policy: str
) -> None:
    # Given a target topic that accepts at most 2 KB per batch, and a 10 KB record at offset 50
    # (under the source's name, or prefixed with its alias: the refusal names the source topic)
    create_topic(clusters.source, topic_name, 1)
    records = [Record(key=b"k", value=b"v" * 100, partition=0) for _ in range(100)]
    records[50] = Record(key=b"big", value=b"x" * 10_000, partition=0)
    produce(clusters.source, topic_name, records)
    remote = topic_name if policy == "identity" else f"source.{topic_name}"
    create_topic(clusters.target, remote, 1, {"max.message.bytes": "2048"})
    source, target = _configs(workdir, clusters, f"g-{topic_name}")
    # When mirroring
    out = run_mirror(["--consumer.config", str(source), "--producer.config", str(target),
                      "--include", topic_name, "--until-caught-up",
                      "--replication.policy", policy], timeout_s=120)
    # Then it stops with a non-zero exit and an error naming topic, partition and offset
    assert out.returncode == 1, out.stderr
    assert f"topic {topic_name} partition 0 offset 50" in out.stderr
    assert "Traceback" not in out.stderr
    # And the committed offset is not past the refused record
    assert committed(clusters.source, f"g-{topic_name}", topic_name, [0])[0] <= 50


def test_more_streams_than_partitions_warns(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    create_topic(clusters.source, topic_name, 2)
    produce(clusters.source, topic_name, _records(200, 2))
    source, target = _configs(workdir, clusters, f"g-{topic_name}")
    out = run_mirror(["--consumer.config", str(source), "--producer.config", str(target),
                      "--include", topic_name, "--num.streams", "3", "--until-caught-up"])
    assert out.returncode == 0, out.stderr
    assert "3 streams for 2 partitions" in out.stderr and "1 stream(s) will be idle" in out.stderr
    _assert_same(clusters, topic_name, 200)


def _rss_mb(root_pid: int) -> float:
    """Largest resident set of the process and its children, in MB."""
    pids = [root_pid]
    children = Path(f"/proc/{root_pid}/task/{root_pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    largest = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    largest = max(largest, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return largest


def test_target_frozen_10s_loses_nothing_and_memory_stays_bounded(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given 150,000 records waiting on the source and a running mirror
    create_topic(clusters.source, topic_name, 4)
    produce(clusters.source, topic_name, _records(150_000, 4))
    source, target = _configs(workdir, clusters, f"g-{topic_name}")
    target_pid = next(c["pid"] for c in clusters.info["clusters"] if c["name"] == "target")
    mirror = MirrorProcess(["--consumer.config", str(source), "--producer.config", str(target),
                            "--include", topic_name, "--until-caught-up"], workdir / "m.log")
    peak = 0.0
    try:
        mirror.wait_for("kmirror: mirroring")
        time.sleep(1.0)
        # When the target broker is frozen for 10 s mid-run
        os.kill(target_pid, signal.SIGSTOP)
        try:
            frozen_until = time.monotonic() + 10
            while time.monotonic() < frozen_until:
                peak = max(peak, _rss_mb(mirror.process.pid))
                time.sleep(0.5)
        finally:
            os.kill(target_pid, signal.SIGCONT)
        code = mirror.process.wait(240)
    finally:
        os.kill(target_pid, signal.SIGCONT)
        mirror.stop()
    # Then the mirror finishes on its own with every record, in order
    assert code == 0, mirror.output()
    _assert_same(clusters, topic_name, 150_000)
    # And no process of it grew without bound while the target was away
    print(f"peak RSS of a kmirror process while the target was frozen: {peak:.0f} MB")
    assert 0 < peak < 400


def test_aborted_transactions_are_not_mirrored(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given committed and aborted transactions interleaved on the source
    from confluent_kafka import Producer

    create_topic(clusters.source, topic_name, 2)
    producer = Producer({"bootstrap.servers": clusters.source,
                         "transactional.id": f"tx-{topic_name}"})
    producer.init_transactions(30)
    expected = []
    for batch in range(6):
        producer.begin_transaction()
        for i in range(50):
            value = f"{batch}-{i}".encode()
            producer.produce(topic_name, value=value, partition=i % 2)
            if batch % 2 == 0:
                expected.append(value)
        # (abort_transaction drops records still lingering in the producer: flush first, so
        # that aborted records really are in the source log)
        producer.flush(30)
        if batch % 2 == 0:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
    assert sum(end_offsets(clusters.source, topic_name).values()) == 6 * 50 + 6 * 2
    # When mirrored
    source, target = _configs(workdir, clusters, f"g-{topic_name}")
    out = run_mirror(["--consumer.config", str(source), "--producer.config", str(target),
                      "--include", topic_name, "--until-caught-up"])
    assert out.returncode == 0, out.stderr
    # Then only the committed records are on the target (even for a read_uncommitted reader)
    dst = read_all(clusters.target, topic_name, isolation="read_uncommitted")
    assert sorted(r.value for r in dst) == sorted(expected)


def test_abort_on_send_failure_false_stops_only_that_partition(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given a too-large record in partition 0 and ordinary records in partition 1
    create_topic(clusters.source, topic_name, 2)
    records = [Record(key=b"k", value=b"v" * 100, partition=i % 2) for i in range(400)]
    records[100] = Record(key=b"big", value=b"x" * 10_000, partition=0)  # offset 50 of p0
    produce(clusters.source, topic_name, records)
    create_topic(clusters.target, topic_name, 2, {"max.message.bytes": "2048"})
    source, _ = _configs(workdir, clusters, f"g-{topic_name}")
    # (the limit applies to whole batches: keep the producer's batches under it)
    target = write_config(workdir, "small", bootstrap__servers=clusters.target,
                          batch__size="1500")
    # When mirroring with --abort.on.send.failure=false
    out = run_mirror(["--consumer.config", str(source), "--producer.config", str(target),
                      "--include", topic_name, "--abort.on.send.failure=false",
                      "--until-caught-up"], timeout_s=120)
    # Then partition 1 is mirrored completely, partition 0 is reported and the exit is non-zero
    assert out.returncode == 1, out.stderr
    assert f"topic {topic_name} partition 0 offset 50" in out.stderr
    dst = read_all(clusters.target, topic_name)
    assert len([r for r in dst if r.partition == 1]) == 200
    offsets = committed(clusters.source, f"g-{topic_name}", topic_name, [0, 1])
    assert offsets[1] == 200 and offsets[0] <= 50


@pytest.fixture(scope="module")
def third_cluster(clusters: Clusters) -> str:
    """A second source cluster, started through `kmirror local up --name`."""
    import json
    import subprocess

    from tests.conftest import kmirror_cmd

    out = subprocess.run(kmirror_cmd("local", "up", "--name", "source2", "--json"),
                         env=clusters.env, capture_output=True, text=True, timeout=240,
                         check=True)
    return str(json.loads(out.stdout)["clusters"][0]["bootstrap_servers"])


def test_two_source_clusters_into_one_target(
    clusters: Clusters, third_cluster: str, workdir: Path, topic_name: str
) -> None:
    # Given topic -east on the source cluster and topic -west on a second source cluster
    east, west = f"{topic_name}-east", f"{topic_name}-west"
    create_topic(clusters.source, east, 2)
    produce(clusters.source, east, _records(500, 2, seed=1))
    create_topic(third_cluster, west, 3)
    produce(third_cluster, west, _records(700, 3, seed=2))
    first = write_config(workdir, "east", bootstrap__servers=clusters.source,
                         group__id=f"g-{topic_name}")
    second = write_config(workdir, "west", bootstrap__servers=third_cluster,
                          group__id=f"g-{topic_name}")
    target = write_config(workdir, "target", bootstrap__servers=clusters.target)
    # When both are mirrored into the one target
    out = run_mirror(["--consumer.config", str(first), "--consumer.config", str(second),
                      "--producer.config", str(target), "--include", f"{topic_name}-.*",
                      "--until-caught-up"])
    # Then the plan shows which cluster feeds which topic, and both arrive exactly
    assert out.returncode == 0, out.stderr
    assert f"east -> target: {east}: create" in out.stderr
    assert f"west -> target: {west}: create" in out.stderr
    _assert_same(clusters, east, 500)
    dst = read_all(clusters.target, west, expected=700)
    src = read_all(third_cluster, west)
    assert [r.content() for r in dst] == [r.content() for r in src]


def test_message_handler_transforms_drops_and_splits(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given records to keep, drop and split
    create_topic(clusters.source, topic_name, 1)
    keys = [b"keep", b"drop", b"two", b"keep"]
    produce(clusters.source, topic_name,
            [Record(key=k, value=f"v{i}".encode(), partition=0) for i, k in enumerate(keys)])
    source, target = _configs(workdir, clusters, f"g-{topic_name}")
    # When mirrored through a handler (with an argument)
    out = run_mirror(["--consumer.config", str(source), "--producer.config", str(target),
                      "--include", topic_name, "--until-caught-up",
                      "--message.handler", "tests.helpers.sample_handler:UpperDropSplit",
                      "--message.handler.args", "!"])
    # Then the target holds what the handler made of them, in order, and all is committed
    assert out.returncode == 0, out.stderr
    dst = read_all(clusters.target, topic_name)
    assert [(r.key, r.value) for r in dst] == [
        (b"keep", b"V0!"), (b"two", b"V2!"), (b"two", b"V2!"), (b"keep", b"V3!")]
    assert committed(clusters.source, f"g-{topic_name}", topic_name, [0]) == {0: 4}
