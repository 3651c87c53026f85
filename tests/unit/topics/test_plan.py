"""Tests for kmirror.topics.plan: target-side topic actions and TopicSync (no broker needed)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pytest
from tests.helpers.cluster_fakes import OneTopicAtATime

from kmirror.topics import plan as plan_module
from kmirror.topics.plan import (
    CONFLICT,
    CREATE,
    GROW,
    MORE,
    OK,
    TopicAction,
    TopicSync,
    mirrored_configs,
    plan_topics,
)


@dataclass
class Topic:
    """A source topic description (satisfies the TopicInfo protocol)."""

    name: str
    partitions: int
    replication_factor: int = 3
    configs: Mapping[str, str] = field(default_factory=dict)


class FakeSource:
    """In-memory SourceAdmin: describes the topics it holds, counts calls."""

    def __init__(self, *topics: Topic) -> None:
        self.topics = {t.name: t for t in topics}
        self.describe_calls: list[list[str]] = []

    def describe(self, names: Iterable[str]) -> Mapping[str, Topic]:
        names = list(names)
        self.describe_calls.append(names)
        return {n: self.topics[n] for n in names if n in self.topics}


class FakeTarget(OneTopicAtATime):
    """In-memory TargetAdmin: a dict of topic -> partitions, with a log of calls."""

    def __init__(self, existing: Mapping[str, int] | None = None,
                 configs: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.existing: dict[str, int] = dict(existing or {})
        self.configs = {k: dict(v) for k, v in (configs or {}).items()}
        self.topics_calls = 0
        self.created: list[tuple[str, int, int, dict[str, str]]] = []
        self.grown: list[tuple[str, int]] = []

    def topics(self) -> dict[str, int]:
        self.topics_calls += 1
        return dict(self.existing)

    def describe(self, names: Iterable[str]) -> Mapping[str, Topic]:
        return {n: Topic(n, self.existing[n], configs=self.configs.get(n, {}))
                for n in names if n in self.existing}

    def create_topic(
        self, name: str, partitions: int, replication_factor: int, configs: Mapping[str, str]
    ) -> bool:
        self.created.append((name, partitions, replication_factor, dict(configs)))
        if name in self.existing:
            return False
        self.existing[name] = partitions
        return True

    def add_partitions(self, name: str, total: int) -> None:
        self.grown.append((name, total))
        self.existing[name] = total

    @property
    def calls(self) -> int:
        return self.topics_calls + len(self.created) + len(self.grown)


EXCLUDED = [
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "message.timestamp.type",
    "message.timestamp.difference.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
    "min.insync.replicas",
    "unclean.leader.election.enable",
]
KEPT = [
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "compression.type",
    "segment.bytes",
    "max.message.bytes",
    "min.compaction.lag.ms",
    "delete.retention.ms",
]


# --------------------------------------------------------------------------- plan_topics


@pytest.mark.parametrize(
    ("source_partitions", "target_partitions", "action"),
    [
        (3, None, CREATE),  # target topic missing
        (3, 0, CREATE),  # a 0 count is read as missing
        (6, 3, GROW),
        (2, 1, GROW),
        (3, 3, OK),
        (1, 1, OK),
        (3, 5, MORE),
    ],
)
def test_plan_action(source_partitions: int, target_partitions: int | None, action: str) -> None:
    # Given one source topic and the target's partition counts
    target = {} if target_partitions is None else {"orders": target_partitions}
    # When planned
    [planned] = plan_topics([Topic("orders", source_partitions)], target)
    # Then the action, names and counts are as expected (identity naming)
    assert planned.action == action
    assert planned.source_topic == planned.target_topic == "orders"
    assert planned.source_partitions == source_partitions
    assert planned.target_partitions == (target_partitions or 0)


def test_plan_one_action_per_topic_sorted_by_name() -> None:
    sources = [Topic("c", 1), Topic("a", 2), Topic("b", 4)]
    actions = plan_topics(sources, {"a": 2, "b": 1, "unrelated": 9})
    assert [(a.source_topic, a.action) for a in actions] == [("a", OK), ("b", GROW), ("c", CREATE)]


def test_plan_of_nothing_is_empty() -> None:
    assert plan_topics([], {"x": 1}) == []


@pytest.mark.parametrize("key", EXCLUDED)
def test_create_drops_source_cluster_and_timestamp_configs(key: str) -> None:
    # Given a source topic with an excluded setting next to a mirrored one
    topic = Topic("orders", 3, configs={key: "1", "cleanup.policy": "compact"})
    # When planned for creation
    [planned] = plan_topics([topic], {})
    # Then the excluded one is dropped and the other kept
    assert planned.action == CREATE
    assert key not in planned.configs
    assert planned.configs == {"cleanup.policy": "compact"}


@pytest.mark.parametrize("key", KEPT)
def test_create_carries_data_configs(key: str) -> None:
    [planned] = plan_topics([Topic("orders", 3, configs={key: "v"})], {})
    assert planned.configs == {key: "v"}


def test_create_carries_every_mirrored_config_at_once() -> None:
    configs = {k: "x" for k in EXCLUDED + KEPT}
    [planned] = plan_topics([Topic("orders", 1, configs=configs)], {})
    assert dict(planned.configs) == {k: "x" for k in KEPT}


@pytest.mark.parametrize(
    "key",
    [
        "min.insync.replicas.extra",  # the exclusion is a whole-name match
        "x.min.insync.replicas",
        "message.timestamp",
    ],
)
def test_exclusion_matches_whole_names_only(key: str) -> None:
    assert mirrored_configs({key: "1"}) == {key: "1"}


@pytest.mark.parametrize(("target", "action"), [({"orders": 1}, GROW), ({"orders": 3}, OK)])
def test_only_create_carries_configs(target: dict[str, int], action: str) -> None:
    # Given an existing target topic: its configs are left as they are
    topic = Topic("orders", 3, configs={"retention.ms": "1000"})
    [planned] = plan_topics([topic], target)
    assert planned.action == action
    assert planned.configs == {}


# --------------------------------------------------------------------------- describe


@pytest.mark.parametrize(
    ("action", "must_contain"),
    [
        (TopicAction("orders", "orders", 6, 0, CREATE), ["orders", "create", "6 partitions"]),
        (
            TopicAction("orders", "orders", 6, 0, CREATE, {"a": "1", "b": "2"}),
            ["orders", "create", "6 partitions", "2 config(s)"],
        ),
        (TopicAction("orders", "orders", 6, 2, GROW), ["orders", "add partitions", "2 -> 6"]),
        (
            TopicAction("orders", "orders", 3, 8, MORE),
            ["orders", "target has 8 partitions", "source 3", "extra ones stay empty"],
        ),
        (TopicAction("orders", "orders", 4, 4, OK), ["orders", "exists", "4 partitions"]),
    ],
)
def test_describe_is_one_human_line_with_the_numbers(
    action: TopicAction, must_contain: list[str]
) -> None:
    text = action.describe()
    assert "\n" not in text
    for part in must_contain:
        assert part in text


def test_describe_create_without_configs_does_not_mention_configs() -> None:
    assert "config" not in TopicAction("orders", "orders", 6, 0, CREATE).describe()


# --------------------------------------------------------------------------- TopicSync


def test_ensure_creates_missing_topic_once() -> None:
    # Given a 3-partition source topic that the target lacks
    source = FakeSource(Topic("orders", 3, configs={"retention.ms": "60000",
                                                   "min.insync.replicas": "2"}))
    target = FakeTarget()
    sync = TopicSync(source, target, replication_factor=2)
    # When ensured
    actions = sync.ensure({"orders": 3})
    # Then it is created with the source's partitions, the given replication factor and the
    # mirrored configs only
    assert [a.action for a in actions] == [CREATE]
    assert target.created == [("orders", 3, 2, {"retention.ms": "60000"})]
    # When ensured again (every assignment calls it)
    calls = (len(source.describe_calls), target.calls)
    assert sync.ensure({"orders": 3}) == []
    assert sync.ensure({"orders": 1}) == []
    # Then no admin call at all
    assert (len(source.describe_calls), target.calls) == calls
    assert len(target.created) == 1


def test_a_new_topic_missing_from_the_targets_metadata_is_not_deleted_until_the_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a topic just created, which the target's metadata does not list yet (a broker
    # making thousands of partitions lists the last ones tens of seconds later)
    now = [1000.0]
    monkeypatch.setattr(plan_module, "_clock", lambda: now[0])
    target = FakeTarget()
    sync = TopicSync(FakeSource(Topic("orders", 1), Topic("users", 1)), target)
    sync.ensure({"orders": 1, "users": 1})
    del target.existing["orders"]
    # Then it is not reported deleted while the grace lasts
    now[0] += plan_module.PROPAGATION_GRACE_S - 1
    assert sync.vanished() == []
    # But after it, it is
    now[0] += 1
    assert sync.vanished() == ["orders"]
    # And a topic listed once is reported as soon as it is gone, grace or not
    target.existing["orders"] = 1
    sync.ensure({"orders": 1})
    assert sync.vanished() == []
    del target.existing["orders"], target.existing["users"]
    assert sync.vanished() == ["orders", "users"]


def test_ensure_default_replication_factor_is_the_targets_default() -> None:
    target = FakeTarget()
    TopicSync(FakeSource(Topic("orders", 1)), target).ensure({"orders": 1})
    assert target.created[0][2] == -1


def test_ensure_grows_when_more_partitions_are_needed() -> None:
    # Given a target topic made with 3 partitions
    source = FakeSource(Topic("orders", 3))
    target = FakeTarget()
    sync = TopicSync(source, target)
    sync.ensure({"orders": 3})
    # When the source grows to 5 and a stream is assigned partition 4
    source.topics["orders"] = Topic("orders", 5)
    actions = sync.ensure({"orders": 5})
    # Then the target topic is grown to 5
    assert [(a.action, a.target_partitions, a.source_partitions) for a in actions] == [
        (GROW, 3, 5)
    ]
    assert target.grown == [("orders", 5)]
    assert target.existing["orders"] == 5
    # And afterwards 5 is known, no more admin calls
    calls = (len(source.describe_calls), target.calls)
    assert sync.ensure({"orders": 5}) == []
    assert (len(source.describe_calls), target.calls) == calls


def test_ensure_existing_big_enough_topic_is_remembered() -> None:
    # Given a target topic already as large as the source one
    source = FakeSource(Topic("orders", 4))
    target = FakeTarget({"orders": 4})
    sync = TopicSync(source, target)
    # When ensured: one look, nothing created or grown
    assert sync.ensure({"orders": 4}) == []
    assert target.created == [] and target.grown == []
    assert len(source.describe_calls) == 1
    # Then a second ensure costs nothing
    sync.ensure({"orders": 2})
    assert len(source.describe_calls) == 1
    assert target.topics_calls == 1


def test_a_stream_takes_existing_target_topics_from_one_metadata_read() -> None:
    # Given target topics the planner made: one large enough, one too small, one missing
    source = FakeSource(Topic("a", 2), Topic("b", 3), Topic("c", 1))
    target = FakeTarget({"a": 2, "b": 1})
    sync = TopicSync(source, target)
    # When a stream makes sure of them (existing_ok)
    actions = sync.ensure({"a": 2, "b": 3, "c": 1}, existing_ok=True)
    # Then the large enough one is taken as it is (not described: 1,000 topics cost 2.7 s),
    # and only the others are planned: grown and created
    assert source.describe_calls == [["b", "c"]]
    assert sorted((x.target_topic, x.action) for x in actions) == [("b", GROW), ("c", CREATE)]
    calls = (len(source.describe_calls), target.calls)
    assert sync.ensure({"a": 2, "b": 3, "c": 1}, existing_ok=True) == []
    assert (len(source.describe_calls), target.calls) == calls


def test_ensure_target_with_more_partitions_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    # Given a target topic with more partitions than the source
    source = FakeSource(Topic("orders", 2))
    target = FakeTarget({"orders": 6})
    sync = TopicSync(source, target)
    # When ensured
    with caplog.at_level(logging.WARNING, logger="kmirror.topics"):
        actions = sync.ensure({"orders": 2})
    # Then nothing is changed or returned, and the user is told
    assert actions == []
    assert target.created == [] and target.grown == []
    assert any("target has 6 partitions" in r.getMessage() for r in caplog.records)
    # And the larger count is remembered: no further admin calls
    calls = target.calls
    assert sync.ensure({"orders": 6}) == []
    assert target.calls == calls


def test_ensure_only_asks_about_topics_not_known_big_enough() -> None:
    # Given "a" already ensured
    source = FakeSource(Topic("a", 1), Topic("b", 2))
    target = FakeTarget()
    sync = TopicSync(source, target)
    sync.ensure({"a": 1})
    # When "a" and "b" are needed
    actions = sync.ensure({"a": 1, "b": 2})
    # Then only "b" is described and created
    assert source.describe_calls[-1] == ["b"]
    assert [a.target_topic for a in actions] == ["b"]
    assert [c[0] for c in target.created] == ["a", "b"]


def test_ensure_creates_several_topics_in_one_go() -> None:
    source = FakeSource(Topic("a", 1), Topic("b", 2), Topic("c", 3))
    target = FakeTarget({"b": 2})
    actions = TopicSync(source, target).ensure({"a": 1, "b": 2, "c": 3})
    assert [(a.target_topic, a.action) for a in actions] == [("a", CREATE), ("c", CREATE)]
    assert target.existing == {"a": 1, "b": 2, "c": 3}
    assert len(source.describe_calls) == 1 and target.topics_calls == 1


def test_many_topics_created_are_told_in_one_line_and_a_few_one_per_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given 25 topics to create, then 2 more
    names = [f"t{i:02d}" for i in range(27)]
    source = FakeSource(*(Topic(n, 1) for n in names))
    sync = TopicSync(source, FakeTarget({}))
    caplog.set_level(logging.DEBUG, logger="kmirror")
    sync.ensure({n: 1 for n in names[:25]})
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    # Then one line counts the many (each is listed at debug, for --verbose)
    assert info == ["created 25 target topics (t00, t01, t02, ...; --verbose lists each)"]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert sum(m.startswith("created target topic t") for m in debug) == 25
    # And a few are listed one per line
    caplog.clear()
    sync.ensure({n: 1 for n in names})
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "created target topic t25: create, 1 partitions",
        "created target topic t26: create, 1 partitions"]


def test_ensure_tolerates_a_topic_created_meanwhile() -> None:
    # Given a target that says the topic already exists when asked to create it (a race with
    # another stream or mirror)
    source = FakeSource(Topic("orders", 3))
    target = FakeTarget()
    sync = TopicSync(source, target)
    target.topics = lambda: {}  # type: ignore[method-assign]  # stale listing
    target.existing["orders"] = 3
    # When ensured, no error and no further attempts afterwards
    sync.ensure({"orders": 3})
    assert len(target.created) == 1
    sync.ensure({"orders": 3})
    assert len(target.created) == 1


def test_plan_uses_fresh_metadata() -> None:
    source = FakeSource(Topic("orders", 3))
    target = FakeTarget({"orders": 1})
    sync = TopicSync(source, target)
    assert [a.action for a in sync.plan(["orders"])] == [GROW]
    target.existing["orders"] = 3
    assert [a.action for a in sync.plan(["orders"])] == [OK]
    # plan() does not change anything on its own
    assert target.grown == [] and target.created == []


def test_a_target_topic_with_other_settings_is_a_conflict_named_in_the_plan() -> None:
    # Given a compacted source topic, and a target topic of that name that deletes instead
    source = FakeSource(Topic("users", 3, configs={"cleanup.policy": "compact",
                                                   "retention.ms": "1000"}))
    target = FakeTarget({"users": 3}, {"users": {"cleanup.policy": "delete",
                                                 "retention.ms": "1000"}})
    # When the plan is computed
    [action] = TopicSync(source, target).plan(["users"])
    # Then it is a conflict naming the setting, both values, and that nothing is changed
    assert action.action == CONFLICT
    assert action.conflicts == {"cleanup.policy": ("compact", "delete")}
    assert "cleanup.policy source=compact target=delete" in action.describe()
    assert action.as_json()["conflicts"] == {
        "cleanup.policy": {"source": "compact", "target": "delete"}}


def test_a_setting_the_target_leaves_at_the_broker_default_differs_too() -> None:
    source = FakeSource(Topic("logs", 1, configs={"retention.ms": "1000"}))
    target = FakeTarget({"logs": 1})
    [action] = TopicSync(source, target).plan(["logs"])
    assert action.action == CONFLICT
    assert "retention.ms source=1000 target=(broker default)" in action.describe()


def test_a_prefix_name_is_planned_under_the_target_name() -> None:
    source = FakeSource(Topic("orders", 2))
    target = FakeTarget({"east.orders": 1})
    [action] = TopicSync(source, target, rename=lambda t: f"east.{t}").plan(["orders"])
    assert (action.source_topic, action.target_topic, action.action) == (
        "orders", "east.orders", GROW)
