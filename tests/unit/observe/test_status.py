"""The lines `kmirror run` prints about itself, from plain values."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.cluster_fakes import settings_for

from kmirror.observe.status import (
    PlannedSource,
    Refusal,
    live_header,
    plan_json,
    plan_lines,
    status_line,
    summary_line,
)
from kmirror.observe.view import TopicRow
from kmirror.topics.plan import CREATE, MORE, OK, TopicAction

_REFUSED = Refusal("users", "users", "source-recreated", "users was created again")


def _source() -> PlannedSource:
    return PlannedSource("east", "east:9092", "g-east", {"orders": 1},
                         (TopicAction("orders", "orders", 1, 0, CREATE),), (_REFUSED,),
                         ("target.x",))


def test_the_plan_names_each_source_its_actions_refusals_and_idle_streams(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, "east", num_streams=3)
    assert plan_lines(settings, [_source()], dry_run=False) == [
        "kmirror: mirroring 'east' (east:9092, group g-east): 1 topics, 1 partitions -> target "
        "(target:9092) with 3 stream(s) per source, 1 producer(s) per stream",
        "  east -> target: orders: create, 1 partitions; path: batches whole or records, "
        "per partition",
        "  east -> target: users: not mirrored (source-recreated): see the error above",
        "warning: 3 streams for 1 partitions of 'east': 2 stream(s) will be idle",
    ]
    # A dry run printed no error line before: the refusal says why itself.
    assert plan_lines(settings, [_source()], dry_run=True)[2] == (
        "  east -> target: users: not mirrored (source-recreated): users was created again")


def test_a_plan_of_many_topics_lists_the_first_and_those_that_need_attention(
    tmp_path: Path,
) -> None:
    # Given 1,000 topics: 990 to create, 8 existing, and two whose target differs
    settings = settings_for(tmp_path, "east")
    actions = [TopicAction(f"t{i:04d}", f"t{i:04d}", 10, 0, CREATE) for i in range(990)]
    actions += [TopicAction(f"u{i}", f"u{i}", 10, 10, OK) for i in range(8)]
    actions += [TopicAction("v0", "v0", 10, 12, MORE),
                TopicAction("v1", "v1", 10, 10, OK, conflicts={"cleanup.policy": ("compact",
                                                                                 "delete")})]
    source = PlannedSource("east", "east:9092", "g", {a.source_topic: 10 for a in actions},
                           actions, (), ())
    # When a run prints its plan
    lines = plan_lines(settings, [source], dry_run=False)
    # Then the first 20 topics have a line each, then both that need attention, then a count
    topics = lines[1:]
    assert [line.split(": ")[1] for line in topics[:20]] == [f"t{i:04d}" for i in range(20)]
    assert topics[20].startswith("  east -> target: v0: target has 12 partitions")
    assert "settings differ: cleanup.policy" in topics[21]
    assert topics[22:] == [
        "  east -> target: 978 more topic(s), 8 existing, 970 to create; path: batches whole "
        "or records, per partition (`kmirror run --dry-run` lists each topic)"]
    # And a dry run lists every topic
    assert len(plan_lines(settings, [source], dry_run=True)) == 1 + 1000


def test_the_dry_run_json_holds_the_plan_and_the_messages(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "east")
    plan = json.loads(plan_json(settings, [_source()], ["a line"]))
    assert plan == {
        "target": {"bootstrap_servers": "target:9092", "alias": "target"},
        "sources": [{
            "alias": "east", "bootstrap_servers": "east:9092", "group": "g-east",
            "topics": {"orders": 1},
            "actions": [TopicAction("orders", "orders", 1, 0, CREATE).as_json()],
            "refused": [{"source_topic": "users", "target_topic": "users",
                         "reason": "source-recreated", "message": "users was created again"}],
            "not_mirrored": ["target.x"], "path": "batches whole or records, per partition",
        }],
        "messages": ["a line"],
    }


def test_status_header_and_summary_lines() -> None:
    rows = [TopicRow("east", "a", 1_000.4, 1.25, 1_500, 2.0, 0.25, 10),
            TopicRow("east", "b", 500.0, 0.5, 500, 7.5, 0.5, 20)]
    assert status_line(12_345, rows) == (
        "mirrored 12,345 records: 1,500 records/s, 1.8 MB/s, lag 2,000 records (7.5 s), "
        "producer queue 50% full")
    assert live_header(12_345, 2) == "kmirror: 12,345 records mirrored, 2 stream(s) running"
    assert summary_line(2_000, 3_000_000, 4.0, [], 0) == (
        "kmirror: mirrored 2,000 records (3.0 MB) in 4.0 s (500 records/s)")
    assert summary_line(0, 0, 0.0, ["stream 1 failed"], 2) == (
        "kmirror: mirrored 0 records (0.0 MB) in 0.0 s (0 records/s); stopped by: stream 1 failed")
    assert summary_line(5, 0, 1.0, [], 2).endswith(
        "; 2 partition(s) stopped (see the errors above)")
