"""Tests for kmirror.topics.naming: replication policies, the cycle check and topic selection.

``identity`` keeps names; ``prefix`` names a copy ``{source_alias}{separator}{topic}``, so a
copy that came from the target can be recognised and is never mirrored back there.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kmirror.errors import ConfigError
from kmirror.topics.naming import (
    OFFSET_SYNCS_TOPIC,
    IdentityPolicy,
    PrefixPolicy,
    ReplicationPolicy,
    TopicSelection,
    load_policy,
    loops_back,
)

THIS_MODULE = "tests.unit.topics.test_naming"


class ByTeamPolicy:
    """A custom policy for load_policy: ``{topic}@{source_alias}``."""

    def __init__(self, separator: str) -> None:
        self.separator = separator

    def target_topic(self, source_alias: str, topic: str) -> str:
        return f"{topic}@{source_alias}"

    def upstream_alias(self, topic: str) -> str | None:
        _, found, alias = topic.rpartition("@")
        return alias if found else None

    def upstream_topic(self, topic: str) -> str | None:
        name, found, _ = topic.rpartition("@")
        return name if found else None


class NotAPolicy:
    """Builds with a separator but has none of the three methods."""

    def __init__(self, separator: str) -> None:
        self.separator = separator


class CountingPolicy(PrefixPolicy):
    """A prefix policy that counts how often it names a target topic."""

    def __init__(self, separator: str = ".") -> None:
        super().__init__(separator)
        self.named: list[str] = []

    def target_topic(self, source_alias: str, topic: str) -> str:
        self.named.append(topic)
        return super().target_topic(source_alias, topic)


def flag_problem(name: str) -> str:
    """The one problem load_policy reports for ``name``."""
    with pytest.raises(ConfigError) as info:
        load_policy(name)
    [problem] = info.value.problems
    return problem


# --------------------------------------------------------------------------- IdentityPolicy


def test_identity_keeps_the_name_and_knows_no_upstream() -> None:
    # Given the identity policy
    policy = IdentityPolicy()
    # Then a target topic has the source topic's name, whatever the alias
    assert policy.target_topic("east", "orders") == "orders"
    assert policy.target_topic("east", "west.orders") == "west.orders"
    # And no name says where it came from
    for topic in ("orders", "west.orders", ".orders"):
        assert policy.upstream_alias(topic) is None
        assert policy.upstream_topic(topic) is None


# --------------------------------------------------------------------------- PrefixPolicy


def test_prefix_names_a_copy_after_its_source_and_reads_it_back() -> None:
    # Given the prefix policy with the default separator
    policy = PrefixPolicy()
    # When a topic of cluster east is named in the target
    name = policy.target_topic("east", "orders")
    # Then the name is alias.topic, and both parts can be read back
    assert name == "east.orders"
    assert policy.upstream_alias(name) == "east"
    assert policy.upstream_topic(name) == "orders"


def test_prefix_splits_at_the_first_separator_only() -> None:
    # Given a copy of a copy (orders of west, mirrored to east, then mirrored on)
    policy = PrefixPolicy()
    # Then the alias is the outermost one and the rest is the upstream topic
    assert policy.upstream_alias("east.west.orders") == "east"
    assert policy.upstream_topic("east.west.orders") == "west.orders"


def test_prefix_with_a_custom_separator() -> None:
    # Given the separator "_"
    policy = PrefixPolicy("_")
    # Then it joins alias and topic, and dots are just part of a topic name
    assert policy.target_topic("east", "orders.v1") == "east_orders.v1"
    assert policy.upstream_alias("east_orders.v1") == "east"
    assert policy.upstream_topic("east_orders.v1") == "orders.v1"
    assert policy.upstream_alias("east.orders") is None


def test_prefix_with_a_separator_of_several_characters() -> None:
    policy = PrefixPolicy("--")
    assert policy.target_topic("east", "orders") == "east--orders"
    assert policy.upstream_alias("east--orders") == "east"
    assert policy.upstream_topic("east--orders") == "orders"
    assert policy.upstream_alias("east-orders") is None


@pytest.mark.parametrize("topic", [
    "orders",  # no separator: a local topic
    ".orders",  # leading separator: no alias before it
    "orders.",  # trailing separator: no topic after it
    ".",
    "",
])
def test_prefix_finds_no_upstream_in_names_without_both_parts(topic: str) -> None:
    # Given a name that lacks an alias or a topic around the separator
    policy = PrefixPolicy()
    # Then it is a local topic
    assert policy.upstream_alias(topic) is None
    assert policy.upstream_topic(topic) is None


def test_both_policies_keep_their_separator_and_satisfy_the_protocol() -> None:
    for policy in (IdentityPolicy("_"), PrefixPolicy("_")):
        assert policy.separator == "_"
        assert isinstance(policy, ReplicationPolicy)


# --------------------------------------------------------------------------- load_policy


def test_load_policy_builds_the_named_policies_with_the_separator() -> None:
    # When identity and prefix are loaded by name
    identity = load_policy("identity", "_")
    prefix = load_policy("prefix", "_")
    # Then they are the built-in classes, built with the separator
    assert isinstance(identity, IdentityPolicy)
    assert isinstance(prefix, PrefixPolicy)
    assert prefix.target_topic("east", "orders") == "east_orders"
    assert load_policy("prefix").target_topic("east", "orders") == "east.orders"


def test_load_policy_builds_a_custom_policy_from_module_and_class() -> None:
    # Given a policy class of our own, named module:Class
    policy = load_policy(f"{THIS_MODULE}:ByTeamPolicy", "_")
    # Then it is built with the separator and used as is
    assert type(policy).__name__ == "ByTeamPolicy"
    assert getattr(policy, "separator", None) == "_"
    assert policy.target_topic("east", "orders") == "orders@east"
    assert policy.upstream_alias("orders@east") == "east"
    assert policy.upstream_topic("orders@east") == "orders"


@pytest.mark.parametrize("name", ["fancy", "Prefix", "", "module.only", ":ByTeamPolicy",
                                  f"{THIS_MODULE}:"])
def test_load_policy_without_module_and_class_says_what_to_write(name: str) -> None:
    # When the name is neither a built-in policy nor module:Class
    problem = flag_problem(name)
    # Then the problem names the flag and the accepted forms
    assert problem.startswith(f"--replication.policy {name}: ")
    assert "identity, prefix, or module:Class" in problem


def test_load_policy_with_a_missing_module() -> None:
    problem = flag_problem("no_such_module_for_kmirror:Policy")
    assert problem.startswith("--replication.policy no_such_module_for_kmirror:Policy: ")
    assert "cannot load it" in problem
    assert "no_such_module_for_kmirror" in problem


def test_load_policy_with_a_missing_class() -> None:
    problem = flag_problem(f"{THIS_MODULE}:NoSuchPolicy")
    assert problem.startswith(f"--replication.policy {THIS_MODULE}:NoSuchPolicy: ")
    assert "cannot load it" in problem
    assert "NoSuchPolicy" in problem


def test_load_policy_with_a_class_that_cannot_be_built_with_a_separator() -> None:
    # Given a name that is not a class taking one argument (a constant of this module)
    problem = flag_problem(f"{THIS_MODULE}:THIS_MODULE")
    assert problem.startswith(f"--replication.policy {THIS_MODULE}:THIS_MODULE: ")
    assert "cannot load it" in problem


def test_load_policy_with_a_class_without_the_methods() -> None:
    # Given a class that builds but has none of the policy's methods
    problem = flag_problem(f"{THIS_MODULE}:NotAPolicy")
    # Then the problem names the flag and the methods it needs
    assert problem.startswith(f"--replication.policy {THIS_MODULE}:NotAPolicy: ")
    assert "target_topic, upstream_alias and upstream_topic" in problem


# --------------------------------------------------------------------------- loops_back


@pytest.mark.parametrize(("topic", "expected"), [
    ("a.orders", True),  # a copy of a's orders: mirroring it to a closes a loop
    ("b.a.orders", True),  # a copy (in b) of a copy from a: still a's
    ("c.b.a.orders", True),
    ("b.orders", False),  # came from b, not from the target
    ("orders", False),  # local
    ("a", False),
    (".a.orders", False),  # no alias before the leading separator
    ("ab.orders", False),  # an alias that only starts like the target's
])
def test_loops_back_with_prefix_names(topic: str, expected: bool) -> None:
    # Given the prefix policy and a mirror into cluster a
    # Then a topic loops back when any alias in its chain is a's
    assert loops_back(PrefixPolicy(), topic, "a") is expected


def test_loops_back_with_a_custom_separator() -> None:
    policy = PrefixPolicy("_")
    assert loops_back(policy, "b_a_orders", "a")
    assert not loops_back(policy, "a.orders", "a")


@pytest.mark.parametrize("topic", ["a.orders", "b.a.orders", "orders", "a"])
def test_loops_back_is_never_true_with_identity_names(topic: str) -> None:
    # Given identity names, which say nothing about where a topic came from
    # Then the name never reveals a loop (the provenance header does that instead)
    assert not loops_back(IdentityPolicy(), topic, "a")


def test_loops_back_gives_up_on_an_absurdly_long_chain() -> None:
    # Given a chain of 40 aliases with the target's at the very end
    topic = ".".join([*(f"c{i}" for i in range(40)), "a", "orders"])
    # Then the check stops following it (and does not loop for ever)
    assert not loops_back(PrefixPolicy(), topic, "a")


# --------------------------------------------------------------------------- TopicSelection


def selection(policy: ReplicationPolicy | None = None,
              should_mirror: Callable[[str], bool] = lambda topic: True) -> TopicSelection:
    """Mirrors cluster b into cluster a; the filter selects everything unless told."""
    return TopicSelection(should_mirror, policy or PrefixPolicy(), "b", "a")


def test_selection_follows_the_filter() -> None:
    # Given a filter that selects only orders*
    chosen = selection(should_mirror=lambda topic: topic.startswith("orders"))
    # Then only those topics are mirrored
    assert chosen.selects("orders")
    assert chosen.selects("orders-eu")
    assert not chosen.selects("payments")


@pytest.mark.parametrize("policy", [IdentityPolicy(), PrefixPolicy()])
def test_selection_never_mirrors_the_offset_syncs_topic(policy: ReplicationPolicy) -> None:
    # Given a filter that selects every topic
    chosen = selection(policy)
    # Then kmirror's own offset-sync topic is still not mirrored
    assert OFFSET_SYNCS_TOPIC == "kmirror.offset-syncs"
    assert not chosen.selects(OFFSET_SYNCS_TOPIC)
    assert chosen.selects("orders")


def test_selection_skips_topics_that_came_from_the_target() -> None:
    # Given prefix names and a mirror from b into a, selecting every topic
    chosen = selection(PrefixPolicy())
    # Then copies of a's topics (directly or through a chain) are not mirrored back to a
    assert not chosen.selects("a.orders")
    assert not chosen.selects("c.a.orders")
    assert chosen.loops_back("a.orders")
    # And local topics and copies from other clusters are mirrored
    assert chosen.selects("orders")
    assert chosen.selects("c.orders")
    assert not chosen.loops_back("c.orders")


def test_selection_with_identity_names_keeps_topics_that_look_like_copies() -> None:
    chosen = selection(IdentityPolicy())
    assert chosen.selects("a.orders")
    assert not chosen.loops_back("a.orders")


def test_selection_names_target_topics_with_the_source_alias() -> None:
    assert selection(PrefixPolicy()).target_topic("orders") == "b.orders"
    assert selection(IdentityPolicy()).target_topic("orders") == "orders"


def test_selection_remembers_target_names() -> None:
    # Given a policy that counts how often it is asked
    policy = CountingPolicy()
    chosen = selection(policy)
    # When the target name of a topic is asked for once per record
    names = [chosen.target_topic("orders") for _ in range(3)]
    names.append(chosen.target_topic("payments"))
    names.append(chosen.target_topic("orders"))
    # Then the policy named each topic once, and every answer is the same
    assert names == ["b.orders"] * 3 + ["b.payments", "b.orders"]
    assert policy.named == ["orders", "payments"]
