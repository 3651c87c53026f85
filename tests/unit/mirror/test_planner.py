"""The planner against in-memory clusters: the plan printed and created, new and grown topics,
loops, empty filters, deleted target topics, refreshes while the target does not answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.cluster_fakes import FakeCluster, FakeClusters, settings_for

from kmirror.errors import ConfigError, MirrorError
from kmirror.mirror import turns
from kmirror.mirror.monitor import Monitor
from kmirror.mirror.planner import Planner
from kmirror.observe.status import plan_json
from kmirror.topics import plan as plan_module


class Run:
    """A planner over a source cluster 'source' and a target, with what it printed."""

    def __init__(self, tmp_path: Path, topics: dict[str, int], target: dict[str, int] | None = None,
                 **options: Any) -> None:
        self.settings = settings_for(tmp_path, **options)
        self.source = FakeCluster("src-id", topics)
        self.target = FakeCluster("tgt-id", target)
        self.clusters = FakeClusters(self.target, {"source": self.source})
        self.monitor = Monitor()
        self.lines: list[str] = []
        self.planner = Planner(self.settings, self.clusters, self.monitor, self.lines.append)

    def printed(self) -> list[str]:
        lines, self.lines[:] = list(self.lines), []
        return lines


def test_prepare_creates_the_target_topics_and_prints_the_plan(tmp_path: Path) -> None:
    run = Run(tmp_path, {"orders": 3, "users": 1}, {"users": 1})
    run.planner.prepare()
    # (kmirror's own topics first: they are writable sooner than after the mirrored ones)
    assert run.target.created == ["kmirror.offset-syncs", "orders"]
    assert run.clusters.lineages.created
    assert run.printed() == [
        "kmirror: mirroring 'source' (source:9092, group g-source): 2 topics, 4 partitions -> "
        "target (target:9092) with 1 stream(s) per source, 1 producer(s) per stream",
        "  source -> target: orders: create, 3 partitions; path: batches whole or records, "
        "per partition",
        "  source -> target: users: exists, 1 partitions; path: batches whole or records, "
        "per partition",
    ]
    # The first mirror of a topic is claimed in the target's lineage store.
    assert {lineage.source_topic for lineage in run.clusters.lineages.kept.values()} == {
        "orders", "users"}


def test_a_dry_run_writes_nothing_and_its_json_lists_the_plan(tmp_path: Path) -> None:
    run = Run(tmp_path, {"orders": 2})
    run.planner.prepare(dry_run=True)
    assert run.target.created == [] and not run.clusters.lineages.created
    plan = json.loads(plan_json(run.settings, run.planner.views(), run.printed()))
    [source] = plan["sources"]
    assert plan["target"] == {"bootstrap_servers": "target:9092", "alias": "target"}
    assert source["topics"] == {"orders": 2} and source["refused"] == []
    assert [a["action"] for a in source["actions"]] == ["create"]
    assert plan["messages"][0].startswith("kmirror: mirroring 'source'")


def test_until_caught_up_takes_the_end_offsets_at_start_as_goals(tmp_path: Path) -> None:
    run = Run(tmp_path, {"orders": 2}, until_caught_up=True)
    run.source.ends = {("orders", 0): 10, ("orders", 1): 0}
    run.planner.prepare()
    [plan] = run.planner.plans
    assert plan.goals == {("orders", 0): 10, ("orders", 1): 0}


def test_a_cluster_mirrored_into_itself_under_the_same_names_is_refused(tmp_path: Path) -> None:
    run = Run(tmp_path, {"orders": 1})
    run.source.id = run.target.id
    with pytest.raises(ConfigError, match="is the target cluster"):
        run.planner.prepare()


def test_a_refresh_mirrors_new_topics_and_grows_target_topics(tmp_path: Path) -> None:
    run = Run(tmp_path, {"orders": 1})
    run.planner.prepare()
    run.printed()
    run.source.add_topic("payments", 2)
    run.source.partitions["orders"] = 3
    run.planner.refresh_topics()
    assert run.printed() == [
        "new topic payments (2 partitions) from 'source': mirroring it",
        "topic orders of 'source' grew to 3 partitions",
        "  target: orders: add partitions 1 -> 3",
        "  target: payments: create, 2 partitions",
    ]
    assert run.target.partitions["payments"] == 2 and run.target.grown == [("orders", 3)]
    assert run.planner.plans[0].topics == {"orders": 3, "payments": 2}
    run.planner.refresh_topics()
    assert run.printed() == []  # nothing new: nothing said


def test_copies_of_the_targets_topics_are_named_once_and_never_mirrored(tmp_path: Path) -> None:
    run = Run(tmp_path, {"orders": 1, "target.orders": 1}, replication_policy="prefix")
    run.planner.prepare()
    loop = ("  source -> target: target.orders: not mirrored: a copy of a topic of 'target' "
            "(mirroring it back would close a loop)")
    assert run.printed()[0] == loop
    run.planner.refresh_topics()
    assert loop not in run.printed()
    [view] = run.planner.views()
    assert view.not_mirrored == ("target.orders",) and dict(view.topics) == {"orders": 1}


def test_a_filter_selecting_nothing_warns_and_is_a_readiness_reason(tmp_path: Path) -> None:
    run = Run(tmp_path, {"orders": 1}, include="nothing.*")
    run.planner.prepare()
    reason = "--include 'nothing.*' selects none of the 1 topics of source cluster 'source'"
    assert f"warning: {reason}; kmirror keeps looking every 10 s" in run.printed()
    assert run.monitor.empty_filters == [reason]
    run.source.add_topic("nothing-yet", 1)
    run.planner.refresh_topics()
    assert run.monitor.empty_filters == []


def test_no_refresh_while_the_target_does_not_answer(tmp_path: Path) -> None:
    run = Run(tmp_path, {"orders": 1})
    run.planner.prepare()
    run.printed()
    run.target.answers = False
    run.source.add_topic("payments", 1)
    run.planner.refresh_topics()
    assert run.monitor.target_problem == "target cluster (target:9092) does not answer"
    assert run.printed() == [] and run.planner.plans[0].topics == {"orders": 1}
    run.target.answers = True
    run.planner.refresh_topics()
    # (the target answers again: /ready no longer names it)
    assert run.monitor.ready().reasons == ["no source partition is assigned to any stream yet"]
    assert "new topic payments (1 partitions) from 'source': mirroring it" in run.printed()


def test_a_failing_refresh_is_a_warning(tmp_path: Path) -> None:
    run = Run(tmp_path, {"orders": 1})
    run.planner.prepare()
    run.printed()
    run.source.fail_topics = MirrorError("source cluster 'source': cannot list topics")
    run.planner.refresh_topics()
    assert run.printed() == [
        "warning: topic refresh failed: source cluster 'source': cannot list topics"]


def test_a_target_topic_deleted_while_mirroring_is_not_created_behind_your_back(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path, {"orders": 1})
    run.planner.prepare()
    run.printed()
    run.target.delete_topic("orders")
    run.planner.refresh_topics()
    run.planner.refresh_topics()
    # One error, from the lineage check (it says what to do); not a second one per refresh.
    [line] = run.printed()
    assert line.startswith("error: source cluster 'source' (source:9092), topic orders: target "
                           "topic orders was deleted while kmirror mirrored into it")
    assert "orders" not in run.target.partitions


def test_a_target_topic_just_created_is_not_reported_deleted_before_the_target_lists_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = Run(tmp_path, {"orders": 1})
    run.planner.prepare()
    run.printed()
    # Given a target whose metadata does not list a topic right after its creation (under load)
    listed = run.target.topics
    monkeypatch.setattr(run.target, "topics", lambda timeout_s=15.0: {
        t: n for t, n in listed(timeout_s).items() if t != "payments"})
    # When a refresh creates the target topic of a new source topic
    run.source.add_topic("payments", 2)
    run.planner.refresh_topics()
    # Then it is mirrored, not reported deleted while mirroring
    assert run.printed() == ["new topic payments (2 partitions) from 'source': mirroring it",
                             "  target: payments: create, 2 partitions"]


def test_with_recreate_a_target_topic_deleted_while_mirroring_is_created_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = Run(tmp_path, {"orders": 1}, recreate_target_topics=True)
    run.planner.prepare()
    run.printed()
    run.target.delete_topic("orders")
    # (deleted before the target's metadata ever listed it: counted as gone after the grace a
    # new topic has to show up there, topics/plan.py)
    later = plan_module._clock() + plan_module.PROPAGATION_GRACE_S
    monkeypatch.setattr(plan_module, "_clock", lambda: later)
    run.planner.refresh_topics()
    assert ("target topic orders was deleted while mirroring: created again "
            "(--recreate.target.topics); records written to it before are gone") in run.printed()
    assert run.target.partitions["orders"] == 1


def test_a_source_topic_created_again_is_refused_once_and_named_in_the_plan(
    tmp_path: Path,
) -> None:
    first = Run(tmp_path, {"orders": 1})
    first.planner.prepare()  # mirrored once: the lineage is kept in the target
    again = Run(tmp_path, {}, dict(first.target.partitions))
    again.target, again.clusters.target = first.target, first.target
    again.clusters.lineages = first.clusters.lineages
    again.planner = Planner(again.settings, again.clusters, again.monitor, again.lines.append)
    again.source.add_topic("orders", 1)  # same name, another topic id
    again.planner.prepare()
    lines = again.printed()
    errors = [x for x in lines if x.startswith("error: ")]
    assert len(errors) == 1
    assert ("  source -> target: orders: not mirrored (source-recreated): see the error above"
            in lines)
    [view] = again.planner.views()
    assert [(r.source_topic, r.reason) for r in view.refused] == [("orders", "source-recreated")]
    again.planner.refresh_topics()
    assert not [x for x in again.printed() if x.startswith("error: ")]  # (said once)


def test_a_refresh_judges_new_topics_and_the_others_in_turn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "PARTITIONS_PER_CHECK", 2)
    run = Run(tmp_path, {"a": 1, "b": 1, "c": 1, "d": 1})
    run.planner.prepare()
    lineage = run.planner.plans[0].lineage
    asked: list[list[str]] = []
    check = lineage.check

    def spied(topics: Any, full: bool = True) -> Any:
        asked.append(sorted(topics))
        return check(topics, full)

    monkeypatch.setattr(lineage, "check", spied)
    run.planner.refresh_topics()
    run.source.add_topic("e", 1)
    run.planner.refresh_topics()
    assert asked == [["a", "b"], ["c", "d", "e"]]  # (the new one at once)


def test_a_refused_topic_stays_refused_between_its_turns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "PARTITIONS_PER_CHECK", 1)
    first = Run(tmp_path, {"orders": 1})
    first.planner.prepare()
    again = Run(tmp_path, {}, dict(first.target.partitions))
    again.target, again.clusters.target = first.target, first.target
    again.clusters.lineages = first.clusters.lineages
    again.planner = Planner(again.settings, again.clusters, again.monitor, again.lines.append)
    again.source.add_topic("orders", 1)  # same name, another topic id: refused
    again.source.add_topic("zeta", 1)
    again.planner.prepare()
    for _ in range(3):  # orders judged, then zeta only, then orders again
        again.planner.refresh_topics()
        [view] = again.planner.views()
        assert [r.source_topic for r in view.refused] == ["orders"]


def test_a_target_topic_deleted_out_of_its_turn_is_judged_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "PARTITIONS_PER_CHECK", 1)
    run = Run(tmp_path, {"orders": 1, "zeta": 1})
    run.planner.prepare()
    run.planner.refresh_topics()  # (orders' turn)
    run.printed()
    run.target.delete_topic("orders")
    run.planner.refresh_topics()  # zeta's turn, and orders for its deleted target topic
    run.planner.refresh_topics()
    # One error, from the lineage check (as when every topic is judged at every refresh)
    [line] = run.printed()
    assert line.startswith("error: source cluster 'source' (source:9092), topic orders: target "
                           "topic orders was deleted while kmirror mirrored into it")
