"""`kmirror run --shallow` on real brokers: batches forwarded whole, records still exact.

Checked three ways, none of them kmirror's own reading code: an independent client
(confluent-kafka direct) compares every record, Kafka's DumpLogSegments shows what the target
broker stored batch by batch (codec, record count, control and transactional flags), and
`kmirror verify --strict` compares both sides once more.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from tests.helpers.dump_log import Batch, dump_partition, dump_topic
from tests.helpers.kafka_io import (
    Clusters,
    Record,
    committed,
    committed_with_metadata,
    create_topic,
    end_offsets,
    produce,
    read_all,
    topic_partitions,
)
from tests.helpers.mirror_run import MirrorProcess, run_mirror, run_verify, write_config

pytestmark = pytest.mark.integration

_SUMMARY = re.compile(
    r"shallow: (?P<whole>\d+) batch(?:es)? forwarded whole, (?P<slow>\d+) through the record "
    r"path(?P<why>.*)$", re.MULTILINE,
)


def _records(count: int, partitions: int, seed: int = 0) -> list[Record]:
    """Unique contents with keys, binary and repeated headers, timestamps, some nulls.

    Timestamps are recent (older ones could be deleted by retention while the test runs).
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
            headers=headers if i % 3 else (("seq", str(i).encode()),),
        ))
    return out


def _big_batches(codec: str, records_per_batch: int = 200) -> dict[str, object]:
    """Producer settings for compressed batches of many records each."""
    return {"compression.type": codec, "linger.ms": 100,
            "batch.num.messages": records_per_batch, "batch.size": 4_000_000}


def _configs(workdir: Path, clusters: Clusters, group: str, **source: str) -> tuple[Path, Path]:
    src = write_config(workdir, "source", bootstrap__servers=clusters.source, group__id=group,
                       **source)
    dst = write_config(workdir, "target", bootstrap__servers=clusters.target)
    return src, dst


def _shallow_run(workdir: Path, clusters: Clusters, topic: str, *extra: str,
                 **source: str) -> subprocess.CompletedProcess[str]:
    source_config, target_config = _configs(workdir, clusters, f"g-{topic}", **source)
    return run_mirror(["--consumer.config", str(source_config),
                       "--producer.config", str(target_config), "--include", topic,
                       "--until-caught-up", "--metrics.port", "0", *extra])


def _summary(stderr: str) -> tuple[int, int, str]:
    """Batches forwarded whole and through the record path (all streams), and the reasons."""
    lines = list(_SUMMARY.finditer(stderr))
    assert lines, f"no 'shallow: ... forwarded whole' summary in stderr:\n{stderr[-5000:]}"
    whole = sum(int(m["whole"]) for m in lines)
    slow = sum(int(m["slow"]) for m in lines)
    return whole, slow, " | ".join(m["why"].strip() for m in lines)



def _assert_verified(clusters: Clusters, topic: str, matched: int, *args: str) -> None:
    code, report = run_verify(clusters, "--include", topic, "--strict", *args)
    assert report["totals"] == {"matched": matched, "missing": 0, "mismatched": 0,
                                "duplicates": 0, "reordered": 0, "extra": 0}, report
    assert code == 0


def _assert_same(clusters: Clusters, topic: str, expected: int) -> list[Record]:
    src = read_all(clusters.source, topic)
    dst = read_all(clusters.target, topic, expected=expected)
    assert len(src) == expected
    assert [r.content() for r in dst] == [r.content() for r in src]
    return src


@pytest.mark.parametrize("codec", ["zstd", "lz4", "gzip", "snappy"])
def test_compressed_batches_are_forwarded_whole(
    clusters: Clusters, workdir: Path, topic_name: str, codec: str
) -> None:
    # Given 3,000 records over 2 partitions in batches of up to 200, compressed with codec
    create_topic(clusters.source, topic_name, 2)
    produce(clusters.source, topic_name, _records(3000, 2), _big_batches(codec))
    source_log = dump_topic(clusters, "source", topic_name)
    assert all(len(batches) >= 5 for batches in source_log.values()), source_log
    assert {b.codec for bs in source_log.values() for b in bs} == {codec}
    # When mirrored with --shallow until caught up
    out = _shallow_run(workdir, clusters, topic_name, "--shallow")
    assert out.returncode == 0, out.stderr
    # Then every record is there, in order, with keys, headers and timestamps
    _assert_same(clusters, topic_name, 3000)
    _assert_verified(clusters, topic_name, 3000)
    # And the target broker stored the very same batches: offsets, record counts, codec
    assert dump_topic(clusters, "target", topic_name) == source_log
    # And every batch went whole, none through the record path
    whole, slow, _ = _summary(out.stderr)
    assert (whole, slow) == (sum(map(len, source_log.values())), 0), out.stderr


def test_a_batch_too_large_for_the_target_goes_through_the_record_path(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given uncompressed batches of 40 records of 1 KB (about 42 KB each) on the source, and a
    # target topic that accepts at most 16 KB per batch, with a producer whose batches fit it
    create_topic(clusters.source, topic_name, 1)
    records = [Record(key=f"k{i}".encode(), value=bytes([65 + i % 26]) * 1000, partition=0,
                      timestamp_ms=int(time.time() * 1000) - 60_000 + i) for i in range(200)]
    produce(clusters.source, topic_name, records, _big_batches("none", 40))
    create_topic(clusters.target, topic_name, 1, {"max.message.bytes": "16384"})
    source = write_config(workdir, "source", bootstrap__servers=clusters.source,
                          group__id=f"g-{topic_name}")
    target = write_config(workdir, "target", bootstrap__servers=clusters.target,
                          batch__size="8192")
    # When mirrored with --shallow
    out = run_mirror(["--consumer.config", str(source), "--producer.config", str(target),
                      "--include", topic_name, "--until-caught-up", "--metrics.port", "0",
                      "--shallow"])
    # Then the target's refusal (MESSAGE_TOO_LARGE) sends the records one by one: all there
    assert out.returncode == 0, out.stderr
    _assert_same(clusters, topic_name, 200)
    whole, slow, why = _summary(out.stderr)
    assert whole == 0 and slow >= 5 and "too large" in why, out.stderr


def test_aborted_transactions_and_markers_are_dropped(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given committed and aborted transactions interleaved on the source, in lz4 batches
    create_topic(clusters.source, topic_name, 2)
    producer = Producer({"bootstrap.servers": clusters.source,
                         "transactional.id": f"tx-{topic_name}", **_big_batches("lz4", 40)})
    producer.init_transactions(30)
    expected: dict[int, list[bytes]] = {0: [], 1: []}
    for txn in range(8):
        producer.begin_transaction()
        for i in range(100):
            value = f"{txn}-{i}".encode()
            producer.produce(topic_name, key=f"k{i}".encode(), value=value, partition=i % 2)
            if txn % 2 == 0:
                expected[i % 2].append(value)
        if txn % 2 == 0:
            producer.commit_transaction(30)
        else:
            # (flushed first: abort_transaction purges what is still queued, and the aborted
            # records would never reach the log)
            assert producer.flush(30) == 0
            producer.abort_transaction(30)
    # (the log really holds all 8 transactions: 50 records and a marker per partition each)
    source_log = dump_topic(clusters, "source", topic_name)
    for batches in source_log.values():
        assert sum(b.record_count for b in batches if not b.is_control) == 400, batches
        assert len([b for b in batches if b.is_control]) == 8, batches
    # When mirrored with --shallow
    out = _shallow_run(workdir, clusters, topic_name, "--shallow")
    assert out.returncode == 0, out.stderr
    # Then only the committed records are on the target, once each, in order, even for a
    # read_uncommitted reader
    dst = read_all(clusters.target, topic_name, isolation="read_uncommitted")
    assert {p: [r.value for r in dst if r.partition == p] for p in (0, 1)} == expected
    _assert_verified(clusters, topic_name, 400)
    # And the target log holds neither markers nor transactional batches, but the committed
    # transactions' batches as they were (same record counts and codec)
    target_log = dump_topic(clusters, "target", topic_name)
    for partition, batches in target_log.items():
        assert not [b for b in batches if b.is_control or b.is_transactional], batches
        committed_batches = [
            (b.record_count, b.codec)
            for txn, group in enumerate(_transactions(source_log[partition])) if txn % 2 == 0
            for b in group
        ]
        assert [(b.record_count, b.codec) for b in batches] == committed_batches
    whole, slow, _ = _summary(out.stderr)
    assert (whole, slow) == (sum(map(len, target_log.values())), 0), out.stderr
    # And the commits (past markers and aborted records) land at the target's ends: those took
    # no target offsets
    source_ends = end_offsets(clusters.source, topic_name)
    assert committed_with_metadata(clusters.source, f"g-{topic_name}", topic_name, (0, 1)) == {
        p: (source_ends[p], "kmirror:target=200") for p in (0, 1)}


def _transactions(batches: list[Batch]) -> list[list[Batch]]:
    """Data batches grouped by transaction: each group ends at a marker (control batch)."""
    groups: list[list[Batch]] = [[]]
    for batch in batches:
        if batch.is_control:
            groups.append([])
        else:
            groups[-1].append(batch)
    return groups if groups[-1] else groups[:-1]


def _gapped(batch: Batch) -> bool:
    """Compaction removed records from inside the batch."""
    return batch.record_count != batch.last_offset - batch.base_offset + 1


def test_compacted_source_with_tombstones(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given a compacted topic: 400 keys, then a third of them rewritten (every fifth of those a
    # tombstone), then a few more records so the rewrites leave the active segment
    create_topic(clusters.source, topic_name, 2, {
        "cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": "0", "delete.retention.ms": "86400000",
    })
    base_ms = int(time.time() * 1000) - 60_000
    rounds: list[list[tuple[int, str, str | None]]] = [
        [(i, f"k{i}", f"first-{i}") for i in range(400)],
        [(i, f"k{i}", None if i % 5 == 0 else f"second-{i}") for i in range(0, 400, 3)],
        [(i, f"late{i}", "x") for i in range(10)],
    ]
    n = 0
    for writes in rounds:
        batch = []
        for i, key, value in writes:
            batch.append(Record(key=key.encode(), value=value.encode() if value else None,
                                partition=i % 2, timestamp_ms=base_ms + n,
                                headers=(("n", str(n).encode()),)))
            n += 1
        produce(clusters.source, topic_name, batch, _big_batches("zstd", 40))
        time.sleep(0.3)  # past segment.ms: the next write rolls a new segment
    # And the cleaner has run (it wakes every log.cleaner.backoff.ms, 15 s by default)
    deadline = time.monotonic() + 45
    while True:
        source_log = dump_topic(clusters, "source", topic_name)
        if all(any(map(_gapped, bs)) for bs in source_log.values()):
            break
        assert time.monotonic() < deadline, f"the log cleaner left no gaps: {source_log}"
        time.sleep(1)
    src = read_all(clusters.source, topic_name)
    assert 0 < len(src) < n
    assert any(r.value is None for r in src)  # tombstones are still there
    # When mirrored with --shallow
    out = _shallow_run(workdir, clusters, topic_name, "--shallow")
    assert out.returncode == 0, out.stderr
    # Then the target holds exactly what a consumer of the source reads, tombstones included
    _assert_same(clusters, topic_name, len(src))
    _assert_verified(clusters, topic_name, len(src))
    # And the batches with holes went through the record path
    _, slow, reasons = _summary(out.stderr)
    assert slow > 0 and "compacted" in reasons, out.stderr


def test_start_in_the_middle_of_a_batch(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given 1,000 records in batches of 400 and a group whose committed offset is 37
    create_topic(clusters.source, topic_name, 1)
    records = _records(1000, 1)
    produce(clusters.source, topic_name, records, _big_batches("lz4", 400))
    assert len(dump_partition(clusters, "source", topic_name, 0)) == 3
    group = f"g-{topic_name}"
    consumer = Consumer({"bootstrap.servers": clusters.source, "group.id": group,
                         "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic_name, 0, 37)], asynchronous=False)
    finally:
        consumer.close()
    assert committed(clusters.source, group, topic_name, [0]) == {0: 37}
    # When mirrored with --shallow from that group
    out = _shallow_run(workdir, clusters, topic_name, "--shallow")
    assert out.returncode == 0, out.stderr
    # Then the target holds records 37..999, once each, in order
    dst = read_all(clusters.target, topic_name, expected=963)
    assert [r.content() for r in dst] == [r.content() for r in records[37:]]
    _assert_verified(clusters, topic_name, 963, "--from-timestamp", str(records[37].timestamp_ms))
    # And only the first batch (it starts at 0) went through the record path
    whole, slow, reasons = _summary(out.stderr)
    assert (whole, slow) == (2, 1) and "1 starts mid-batch" in reasons, out.stderr
    assert committed_with_metadata(clusters.source, group, topic_name, [0]) == {
        0: (1000, "kmirror:target=963")}  # (where the next record lands on the target)



def _target_total(clusters: Clusters, topic: str) -> int:
    """Records on the target so far (0 while the topic is missing or still without leaders)."""
    if not topic_partitions(clusters.target, topic):
        return 0
    try:
        return sum(end_offsets(clusters.target, topic).values())
    except KafkaException:  # e.g. NOT_LEADER_FOR_PARTITION just after creation: not retriable
        return 0


def test_kill_9_and_restart_loses_nothing(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given 60,000 zstd records over 4 partitions and a shallow mirror killed with SIGKILL
    create_topic(clusters.source, topic_name, 4)
    produce(clusters.source, topic_name, _records(60_000, 4), _big_batches("zstd", 500))
    group = f"g-{topic_name}"
    source, target = _configs(workdir, clusters, group)
    args = ["--consumer.config", str(source), "--producer.config", str(target),
            "--include", topic_name, "--offset.commit.interval.ms", "200", "--shallow",
            "--metrics.port", "0"]
    mirror = MirrorProcess(args, workdir / "first.log")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _target_total(clusters, topic_name) < 5_000:
            time.sleep(0.05)
    finally:
        mirror.stop(signal.SIGKILL)
    time.sleep(1)  # (what the killed process had sent has landed by now)
    # Then the committed offsets are never ahead of what the target holds
    target_ends = end_offsets(clusters.target, topic_name)
    done = committed(clusters.source, group, topic_name, list(target_ends))
    print(f"killed with {sum(target_ends.values())} of 60000 records on the target, "
          f"{sum(max(0, o) for o in done.values())} committed")
    for partition, offset in done.items():
        assert offset <= target_ends[partition], (partition, offset, target_ends)
    # When it restarts and catches up (the killed member keeps its partitions until its
    # session ends: group.consumer.session.timeout.ms, 45 s, set broker side)
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
    print(f"kill -9 then restart (shallow): {len(dst) - len(src)} duplicate(s) of {len(src)}")
    assert len(src) == 60_000
    for partition in range(4):
        want = [r.content() for r in src if r.partition == partition]
        got = [r.content() for r in dst if r.partition == partition]
        assert got == want, (partition, len(got), len(want))
    # And the restart said how many records it found there: exactly those past the commits
    # (the partitions without a commit: from offset 0, checked from both log starts)
    past = sum(end - max(done.get(p, -1), 0) for p, end in target_ends.items())
    said = re.findall(r"(\d+) record\(s\) of \d+ partition\(s\) taken were already on the "
                      r"target", restart.output())
    assert sum(map(int, said)) == past, restart.output()[-3000:]
    assert "may hold them twice" not in restart.output(), restart.output()[-3000:]
    code, report = run_verify(clusters, "--include", topic_name)
    assert code == 0, report
    assert committed(clusters.source, group, topic_name, range(4)) == end_offsets(
        clusters.source, topic_name)


def test_shallow_iterator_enable_in_the_consumer_config(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given snappy batches on the source
    create_topic(clusters.source, topic_name, 2)
    produce(clusters.source, topic_name, _records(1000, 2), _big_batches("snappy"))
    source_log = dump_topic(clusters, "source", topic_name)
    # When mirrored with MirrorMaker's shallow.iterator.enable=true and no --shallow flag
    out = _shallow_run(workdir, clusters, topic_name, shallow__iterator__enable="true")
    assert out.returncode == 0, out.stderr
    # Then the copy is exact, and it was a shallow one
    _assert_same(clusters, topic_name, 1000)
    _assert_verified(clusters, topic_name, 1000)
    assert _summary(out.stderr)[:2] == (sum(map(len, source_log.values())), 0), out.stderr
    assert dump_topic(clusters, "target", topic_name) == source_log


def test_target_topic_recompressing_is_warned_about(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given zstd batches on the source and a target topic that makes its broker store gzip
    create_topic(clusters.source, topic_name, 2)
    produce(clusters.source, topic_name, _records(1000, 2), _big_batches("zstd"))
    create_topic(clusters.target, topic_name, 2, {"compression.type": "gzip"})
    # When mirrored with --shallow
    out = _shallow_run(workdir, clusters, topic_name, "--shallow")
    assert out.returncode == 0, out.stderr
    # Then a warning names the topic and its compression.type
    warnings = [line for line in out.stderr.splitlines()
                if topic_name in line and "compression.type" in line]
    assert warnings, out.stderr
    # And the records are still exact (the target broker recompressed them)
    _assert_same(clusters, topic_name, 1000)
    _assert_verified(clusters, topic_name, 1000)
    target_log = dump_topic(clusters, "target", topic_name)
    assert {b.codec for bs in target_log.values() for b in bs} == {"gzip"}
