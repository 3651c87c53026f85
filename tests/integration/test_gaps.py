"""No silent gaps: source truncation, topic re-creation, and the plan before acting.

Real brokers; truncation is made deterministic with the admin API's delete-records while
kmirror is stopped; everything is checked with independent confluent-kafka clients.
"""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.helpers.kafka_io import (
    Clusters,
    Record,
    committed,
    create_topic,
    end_offsets,
    produce,
    read_all,
)
from tests.helpers.mirror_run import MirrorProcess, run_mirror, run_verify, write_config

pytestmark = pytest.mark.integration


def _configs(workdir: Path, clusters: Clusters, group: str) -> list[str]:
    source = write_config(workdir, "east", bootstrap__servers=clusters.source,
                          group__id=group)
    target = write_config(workdir, "west", bootstrap__servers=clusters.target)
    return ["--consumer.config", str(source), "--producer.config", str(target),
            "--metrics.port", "0", "--no-live"]


def _delete_records(bootstrap: str, topic: str, before: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([TopicPartition(topic, 0, before)])
    for future in futures.values():
        future.result(30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_records_deleted_before_they_were_mirrored_are_never_skipped_silently(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given 1,000 records mirrored, then 1,000 more written while kmirror is stopped
    create_topic(clusters.source, topic_name, 1)
    produce(clusters.source, topic_name, [Record(b"k", b"v%d" % i, 0) for i in range(1000)])
    args = [*_configs(workdir, clusters, f"g-{topic_name}"), "--include", topic_name]
    assert run_mirror([*args, "--until-caught-up"]).returncode == 0
    produce(clusters.source, topic_name,
            [Record(b"k", b"v%d" % i, 0) for i in range(1000, 2000)])
    # And the source loses offsets 1000..1499 before they were mirrored
    _delete_records(clusters.source, topic_name, 1500)
    # When kmirror starts again: it stops, naming cluster, topic, partition and the lost range
    out = run_mirror([*args, "--until-caught-up"])
    assert out.returncode == 1, out.stderr
    assert re.search(rf"topic {topic_name} partition 0: records at offsets 1000\.\.1499 "
                     r"\(500 records\) were deleted from the source", out.stderr), out.stderr
    assert sum(end_offsets(clusters.target, topic_name).values()) == 1000  # nothing more
    # And with --on.source.gap continue it mirrors the rest, with a warning and the count
    port = _free_port()
    mirror = MirrorProcess([*args, "--on.source.gap", "continue", "--metrics.port", str(port)],
                           workdir / "continue.log")
    try:
        deadline = time.monotonic() + 60
        while sum(end_offsets(clusters.target, topic_name).values()) < 1500:
            assert time.monotonic() < deadline, mirror.output()
            time.sleep(0.5)
        gap = re.compile(rf'kmirror_source_gap_records_total{{source="east",topic="{topic_name}"}}'
                         r" (\S+)")
        while True:  # (streams report every second: the count may follow the records)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
                metrics = page.read().decode()
            if gap.search(metrics) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        assert mirror.stop() == 0, mirror.output()
    found = gap.search(metrics)
    assert found is not None and found.group(1) == "500.0", metrics
    assert "(500 records) were deleted from the source" in mirror.output()
    values = [r.value for r in read_all(clusters.target, topic_name)]
    assert values == [b"v%d" % i for i in range(1000)] + [b"v%d" % i for i in range(1500, 2000)]


def _target_state(bootstrap: str) -> dict[str, object]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = admin.list_topics(timeout=10).topics
    names = sorted(t for t in topics if not t.startswith("__"))
    configs = {}
    if names:
        futures = admin.describe_configs(
            [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names])
        for resource, future in futures.items():
            configs[resource.name] = {k: e.value for k, e in future.result().items()}
    return {"partitions": {n: len(topics[n].partitions) for n in names}, "configs": configs}


def test_dry_run_lists_every_action_and_changes_nothing(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given three source topics: one missing on the target, one with fewer partitions there,
    # and one whose target copy has another cleanup.policy
    missing, fewer, other = (f"{topic_name}-{n}" for n in ("missing", "fewer", "other"))
    create_topic(clusters.source, missing, 2, {"retention.ms": "3600000"})
    create_topic(clusters.source, fewer, 4)
    create_topic(clusters.target, fewer, 2)
    create_topic(clusters.source, other, 1, {"cleanup.policy": "compact"})
    create_topic(clusters.target, other, 1, {"cleanup.policy": "delete"})
    before = _target_state(clusters.target)
    args = [*_configs(workdir, clusters, f"g-{topic_name}"), "--include", f"{topic_name}-.*"]
    # When the plan is asked for, as JSON and as text
    out = run_mirror([*args, "--dry-run", "--json"])
    assert out.returncode == 0, out.stderr
    [source] = json.loads(out.stdout)["sources"]
    actions = {a["source_topic"]: a for a in source["actions"]}
    # Then each target topic gets the right action
    assert actions[missing]["action"] == "create"
    assert actions[missing]["configs"] == {"retention.ms": "3600000"}
    assert (actions[fewer]["action"], actions[fewer]["target_partitions"]) == (
        "add-partitions", 2)
    assert actions[other]["action"] == "conflict"
    assert actions[other]["conflicts"] == {
        "cleanup.policy": {"source": "compact", "target": "delete"}}
    text = run_mirror([*args, "--dry-run"])
    assert text.returncode == 0, text.stderr
    assert f"{missing}: create, 2 partitions with 1 config(s)" in text.stdout
    assert "settings differ: cleanup.policy source=compact target=delete" in text.stdout
    # And the target cluster is unchanged: topics, partitions, configs
    assert _target_state(clusters.target) == before


def test_a_filter_that_selects_nothing_says_so_and_ready_says_why(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    port = _free_port()
    args = _configs(workdir, clusters, f"g-{topic_name}")
    mirror = MirrorProcess([*[a for a in args if a not in ("--metrics.port", "0")],
                            "--metrics.port", str(port), "--include", f"{topic_name}-typo",
                            "--topic.refresh.interval.ms", "1000"], workdir / "typo.log")
    try:
        deadline = time.monotonic() + 60
        while mirror.output().count("selects none of the") < 3:
            assert time.monotonic() < deadline, mirror.output()
            time.sleep(0.5)
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=10)
            raise AssertionError("/ready answered 200 with nothing selected")
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read().decode())
            assert exc.code == 503
        assert any("selects none" in reason for reason in body["reasons"]), body
    finally:
        mirror.stop()


def _delete_topic(bootstrap: str, topic: str) -> None:
    client = AdminClient({"bootstrap.servers": bootstrap})
    client.delete_topics([topic])[topic].result(30)
    deadline = time.monotonic() + 30
    while topic in client.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, f"{topic} still listed after delete"
        time.sleep(0.2)


def _values(bootstrap: str, topic: str) -> list[bytes | None]:
    return [r.value for r in read_all(bootstrap, topic)]


def _wait_for_target(clusters: Clusters, topic: str, records: int, mirror: MirrorProcess
                     ) -> None:
    deadline = time.monotonic() + 60
    while sum(end_offsets(clusters.target, topic).values()) < records:
        assert time.monotonic() < deadline, mirror.output()
        time.sleep(0.3)


def _wait_for_commit(clusters: Clusters, group: str, topic: str, offset: int,
                     mirror: MirrorProcess) -> None:
    """Block until the group committed ``offset`` on partition 0 (commits every 5 s)."""
    deadline = time.monotonic() + 30
    while committed(clusters.source, group, topic, [0]) != {0: offset}:
        assert time.monotonic() < deadline, mirror.output()
        time.sleep(0.3)


def test_a_source_topic_created_again_is_detected_and_never_mixed_into_the_old_copy(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given a topic of 500 records mirrored by a running kmirror
    old = [Record(b"k", b"old%d" % i, 0) for i in range(500)]
    new = [Record(b"k", b"new%d" % i, 0) for i in range(800)]
    create_topic(clusters.source, topic_name, 1)
    produce(clusters.source, topic_name, old)
    args = [*_configs(workdir, clusters, f"g-{topic_name}"), "--include", topic_name,
            "--topic.refresh.interval.ms", "1000"]
    mirror = MirrorProcess(args, workdir / "recreated.log")
    try:
        _wait_for_target(clusters, topic_name, 500, mirror)
        # When the source topic is deleted and created again, and gets more records than
        # the old one had (a stale position would read them without an error)
        _delete_topic(clusters.source, topic_name)
        time.sleep(2)
        create_topic(clusters.source, topic_name, 1)
        produce(clusters.source, topic_name, new)
        # Then kmirror says so, with what the target holds and what to do
        mirror.wait_for("was deleted and created again")
        time.sleep(3)  # (time to copy what it should not)
    finally:
        code = mirror.stop()
    output = mirror.output()
    assert code == 1, output  # a topic not mirrored is a failure, not a success
    assert f"Target topic {topic_name} in the target cluster" in output, output
    assert "holds 500 records" in output and "delete the target topic" in output, output
    # And the old copy holds the old records only (independent reader)
    assert _values(clusters.target, topic_name) == [r.value for r in old]
    # And a restart refuses it too, before copying anything
    again = run_mirror([*args, "--until-caught-up"])
    assert again.returncode == 1, again.stderr
    assert "was deleted and created again" in again.stderr, again.stderr
    assert _values(clusters.target, topic_name) == [r.value for r in old]
    # And once the old copy is deleted, the new topic is mirrored from its start, exactly
    _delete_topic(clusters.target, topic_name)
    fresh = run_mirror([*args, "--until-caught-up"])
    assert fresh.returncode == 0, fresh.stderr
    assert _values(clusters.target, topic_name) == [r.value for r in new]


def test_a_target_topic_deleted_while_mirroring_is_reported_and_not_created_again(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given a running mirror that copied 300 records
    create_topic(clusters.source, topic_name, 1)
    produce(clusters.source, topic_name, [Record(b"k", b"v%d" % i, 0) for i in range(300)])
    args = [*_configs(workdir, clusters, f"g-{topic_name}"), "--include", topic_name,
            "--topic.refresh.interval.ms", "1000"]
    mirror = MirrorProcess(args, workdir / "target-deleted.log")
    try:
        _wait_for_target(clusters, topic_name, 300, mirror)
        _wait_for_commit(clusters, f"g-{topic_name}", topic_name, 300, mirror)
        # When someone deletes the target topic and the source gets 200 more records
        _delete_topic(clusters.target, topic_name)
        produce(clusters.source, topic_name,
                [Record(b"k", b"v%d" % i, 0) for i in range(300, 500)])
        # Then kmirror reports it, and does not create it again behind the user's back
        mirror.wait_for(f"target topic {topic_name} was deleted while kmirror mirrored into it")
        time.sleep(5)
        target_topics = AdminClient({"bootstrap.servers": clusters.target}).list_topics(
            timeout=10).topics
        assert topic_name not in target_topics, mirror.output()
    finally:
        mirror.stop()
    # And a restart refuses too
    again = run_mirror([*args, "--until-caught-up"])
    assert again.returncode == 1, again.stderr
    assert "--recreate.target.topics" in again.stderr, again.stderr
    target_topics = AdminClient({"bootstrap.servers": clusters.target}).list_topics(
        timeout=10).topics
    assert topic_name not in target_topics
    # And with --recreate.target.topics it is created again, and the records the deleted
    # topic held (acknowledged, committed) are said to be gone, with their range, and sent
    # again from the source offset whose record lands at the new topic's end (issue 21)
    recreated = run_mirror([*args, "--until-caught-up", "--recreate.target.topics"])
    assert recreated.returncode == 0, recreated.stderr
    assert (f"target topic {topic_name} partition 0 ends at offset 0, but the records up to "
            f"offset 299 were acknowledged and committed (source topic {topic_name} partition "
            "0): target offsets 0-299 are gone from the target") in recreated.stderr
    assert "they are sent again from source offset 0" in recreated.stderr, recreated.stderr
    assert _values(clusters.target, topic_name) == [b"v%d" % i for i in range(500)]
    code, report = run_verify(clusters, "--include", topic_name, "--strict")
    assert code == 0, report


def test_records_written_into_the_target_behind_kmirrors_back_are_never_skipped_over(
    clusters: Clusters, workdir: Path, topic_name: str
) -> None:
    # Given 300 records mirrored and committed (where they land included)
    create_topic(clusters.source, topic_name, 1)
    produce(clusters.source, topic_name, [Record(b"k", b"v%d" % i, 0) for i in range(300)])
    args = [*_configs(workdir, clusters, f"g-{topic_name}"), "--include", topic_name]
    first = run_mirror([*args, "--until-caught-up"])
    assert first.returncode == 0, first.stderr
    # When a second writer appends 50 records to the target partition, and the source gets
    # 100 more (the target now holds 50 records past the committed position: not kmirror's)
    produce(clusters.target, topic_name, [Record(b"k", b"x%d" % i, 0) for i in range(50)])
    produce(clusters.source, topic_name,
            [Record(b"k", b"v%d" % i, 0) for i in range(300, 400)])
    again = run_mirror([*args, "--until-caught-up"])
    assert again.returncode == 0, again.stderr
    # Then the check does not match, and copying goes on from the committed offset: nothing
    # of the source is skipped, and it says so
    assert ("holds 50 record(s) from offset 300 on that should be the source's from offset "
            "300 on (by the last commit), but the value of target offset 349 differs from "
            "source offset 349's: they are sent again from source offset 300") in (
                again.stderr), again.stderr
    assert _values(clusters.target, topic_name) == [
        *(b"v%d" % i for i in range(300)), *(b"x%d" % i for i in range(50)),
        *(b"v%d" % i for i in range(300, 400))]
