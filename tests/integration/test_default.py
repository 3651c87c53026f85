"""The default `kmirror run` on real brokers: batches go whole where they can, record by
record where they must or where that is faster (small batches), chosen per partition.

What went which way is read from what the target broker stored (Kafka's DumpLogSegments: a
batch forwarded whole keeps its offsets, record count and codec; the record path writes new
batches in the producer's codec), every record is compared with an independent client, and
`kmirror verify --strict` checks both sides.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.dump_log import dump_topic
from tests.helpers.kafka_io import Clusters, Record, create_topic, produce
from tests.helpers.mirror_run import run_mirror, write_config
from tests.integration.test_shallow import (
    _assert_same,
    _assert_verified,
    _big_batches,
    _records,
    _summary,
)

pytestmark = pytest.mark.integration


def _run(workdir: Path, clusters: Clusters, include: str, *extra: str,
         **target: str) -> str:
    source = write_config(workdir, "source", bootstrap__servers=clusters.source,
                          group__id=f"g-{include}")
    dst = write_config(workdir, "target", bootstrap__servers=clusters.target, **target)
    out = run_mirror(["--consumer.config", str(source), "--producer.config", str(dst),
                      "--include", include, "--until-caught-up", "--metrics.port", "0", *extra])
    assert out.returncode == 0, out.stderr
    return out.stderr


@pytest.mark.parametrize("codec", ["none", "zstd"])
def test_the_default_forwards_large_batches_whole(
    clusters: Clusters, workdir: Path, topic_name: str, codec: str
) -> None:
    # Given 3,000 records over 2 partitions in batches of up to 200
    create_topic(clusters.source, topic_name, 2)
    produce(clusters.source, topic_name, _records(3000, 2), _big_batches(codec))
    source_log = dump_topic(clusters, "source", topic_name)
    assert {b.codec for bs in source_log.values() for b in bs} == {codec}
    # When mirrored with the default command line
    stderr = _run(workdir, clusters, topic_name)
    # Then every record is there, and the target stored the very same batches
    _assert_same(clusters, topic_name, 3000)
    _assert_verified(clusters, topic_name, 3000)
    assert dump_topic(clusters, "target", topic_name) == source_log
    whole, slow, _ = _summary(stderr)
    assert (whole, slow) == (sum(map(len, source_log.values())), 0), stderr
    assert "path: batches whole or records, per partition" in stderr


@pytest.mark.parametrize("extra,why", [
    (("--message.handler", "tests.helpers.sample_handler:UpperDropSplit"), "--message.handler"),
    (("--exactly-once",), "--exactly-once"),
    (("--provenance.header",), "--provenance.header"),
    (("--no-shallow",), "--no-shallow"),
])
def test_the_record_path_is_taken_with_one_line_saying_why(
    clusters: Clusters, workdir: Path, topic_name: str, extra: tuple[str, ...], why: str
) -> None:
    # Given zstd batches of 200 records on the source
    create_topic(clusters.source, topic_name, 1)
    records = [Record(key=b"k%d" % i, value=b"v%d" % i, partition=0) for i in range(1000)]
    produce(clusters.source, topic_name, records, _big_batches("zstd"))
    # When mirrored by default with a setting that needs every record
    stderr = _run(workdir, clusters, topic_name, *extra)
    # Then one line says why, and the target holds new batches, uncompressed (none whole)
    assert f"every partition goes record by record: {why}" in stderr, stderr
    assert f"path: records ({why})" in stderr, stderr
    stored = [b for b in dump_topic(clusters, "target", topic_name)[0] if not b.is_control]
    assert sum(b.record_count for b in stored) == 1000  # (transaction markers left out)
    assert {b.codec for b in stored} == {"none"}
    assert "forwarded whole" not in stderr


def test_a_batch_in_another_codec_than_the_producer_asks_is_recompressed_once(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given zstd batches on the source and a producer config that asks for gzip
    create_topic(clusters.source, topic_name, 1)
    records = [Record(key=b"k%d" % i, value=b"v%d" % i * 20, partition=0) for i in range(1000)]
    produce(clusters.source, topic_name, records, _big_batches("zstd"))
    stderr = _run(workdir, clusters, topic_name, compression__type="gzip")
    # Then the target holds gzip batches only: the codec asked for, nothing compressed twice
    _assert_same(clusters, topic_name, 1000)
    stored = dump_topic(clusters, "target", topic_name)[0]
    assert {b.codec for b in stored} == {"gzip"}, stored
    whole, _, _ = _summary(stderr)
    assert whole == 0, stderr
    assert "partitions moved 1 to records" in stderr, stderr


def test_large_and_one_record_batches_go_their_own_ways_in_one_run(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given one topic in batches of 200 records and one written a record per batch
    large, single = f"{topic_name}-large", f"{topic_name}-single"
    create_topic(clusters.source, large, 1)
    create_topic(clusters.source, single, 1)
    produce(clusters.source, large, _records(2000, 1), _big_batches("lz4"))
    produce(clusters.source, single, _records(400, 1, seed=1),
            {"linger.ms": 0, "batch.num.messages": 1})
    single_log = dump_topic(clusters, "source", single)[0]
    assert {b.record_count for b in single_log} == {1}
    # When both are mirrored in one run, by default
    stderr = _run(workdir, clusters, f"{topic_name}-.*")
    # Then every record of both is there, in order
    _assert_same(clusters, large, 2000)
    _assert_same(clusters, single, 400)
    _assert_verified(clusters, f"{topic_name}-.*", 2400)
    # And the large batches went whole, the single-record topic moved to the record path
    assert dump_topic(clusters, "target", large) == dump_topic(clusters, "source", large)
    assert "partitions moved 1 to records" in stderr, stderr
    stored = dump_topic(clusters, "target", single)[0]
    assert len(stored) < len(single_log)  # (the record path wrote larger batches)
