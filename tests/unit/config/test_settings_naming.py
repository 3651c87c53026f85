"""Tests for the naming side of kmirror.config.settings: cluster aliases and the policy checks.

A source cluster's alias is ``--source.alias`` (one consumer config only), else the file's
``kmirror.cluster.alias`` key, else the file's name; the target's is ``--target.alias``, else
the producer file's key, else its name. ``--replication.policy prefix`` puts the source alias
into target topic names, so aliases must not contain the separator and must differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.config.test_settings import SOURCE_OK, TARGET_OK, load, problems_of, write

from kmirror.config import MirrorSettings, load_mirror_settings
from kmirror.errors import ConfigError


def load_named(tmp_path: Path, consumers: dict[str, str], producer: str = "target.properties",
               target: str = TARGET_OK, **options: Any) -> MirrorSettings:
    """load_mirror_settings with consumer files of the given names (and contents)."""
    return load_mirror_settings(
        consumer_configs=[write(tmp_path, name, text) for name, text in consumers.items()],
        producer_config=write(tmp_path, producer, target),
        include=".*",
        exclude=None,
        **options,
    )


def problems_named(tmp_path: Path, consumers: dict[str, str], **options: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_named(tmp_path, consumers, **options)
    return info.value.problems


# --------------------------------------------------------------------------- source alias


def test_source_alias_is_the_file_stem_by_default(tmp_path: Path) -> None:
    # Given a consumer config named east.properties without an alias key
    settings = load_named(tmp_path, {"east.properties": SOURCE_OK})
    # Then the cluster is called after the file
    assert [s.alias for s in settings.sources] == ["east"]


def test_source_alias_from_the_cluster_alias_key(tmp_path: Path) -> None:
    # Given a consumer config that names its cluster
    settings = load_named(tmp_path, {"east.properties": SOURCE_OK + "kmirror.cluster.alias=dc1\n"})
    # Then the key wins over the file name, and never reaches the client
    [source] = settings.sources
    assert source.alias == "dc1"
    assert "kmirror.cluster.alias" not in source.client


def test_source_alias_option_wins_with_one_consumer_config(tmp_path: Path) -> None:
    # Given --source.alias and a file with its own alias key
    settings = load_named(tmp_path, {"east.properties": SOURCE_OK + "kmirror.cluster.alias=dc1\n"},
                          source_alias="primary")
    # Then the flag names the cluster
    assert [s.alias for s in settings.sources] == ["primary"]
    assert "kmirror.cluster.alias" not in settings.sources[0].client


def test_source_alias_option_with_two_consumer_configs_is_a_problem(tmp_path: Path) -> None:
    # Given --source.alias and two source clusters
    problems = problems_named(tmp_path, {"east.properties": SOURCE_OK,
                                         "west.properties": SOURCE_OK}, source_alias="primary")
    # Then the flag is refused, saying how to name each cluster instead
    [problem] = problems
    assert "--source.alias" in problem
    assert "kmirror.cluster.alias" in problem


def test_two_consumer_configs_keep_their_own_aliases(tmp_path: Path) -> None:
    settings = load_named(tmp_path, {"east.properties": SOURCE_OK,
                                     "b.properties": SOURCE_OK + "kmirror.cluster.alias=west\n"})
    assert [s.alias for s in settings.sources] == ["east", "west"]


# --------------------------------------------------------------------------- target alias


def test_target_alias_from_the_producer_cluster_alias_key(tmp_path: Path) -> None:
    # Given a producer config that names its cluster
    settings = load(tmp_path, target=TARGET_OK + "kmirror.cluster.alias=backup\n")
    # Then that is the target alias, and the key never reaches the producer
    assert settings.target_alias == "backup"
    assert "kmirror.cluster.alias" not in settings.target


def test_target_alias_option_wins_over_the_key(tmp_path: Path) -> None:
    settings = load(tmp_path, target=TARGET_OK + "kmirror.cluster.alias=backup\n",
                    target_alias="dr")
    assert settings.target_alias == "dr"
    assert "kmirror.cluster.alias" not in settings.target


def test_target_alias_is_the_producer_file_stem_by_default(tmp_path: Path) -> None:
    settings = load_named(tmp_path, {"east.properties": SOURCE_OK}, producer="dr-site.properties")
    assert settings.target_alias == "dr-site"


# --------------------------------------------------------------------------- prefix policy


def test_prefix_names_target_topics_after_the_source_alias(tmp_path: Path) -> None:
    # Given the prefix policy and a source cluster called east
    settings = load(tmp_path, source=SOURCE_OK + "kmirror.cluster.alias=east\n",
                    replication_policy="prefix")
    [source] = settings.sources
    # Then its topics are east.TOPIC in the target
    assert settings.target_topic(source, "orders") == "east.orders"


def test_prefix_with_a_custom_separator(tmp_path: Path) -> None:
    settings = load(tmp_path, source=SOURCE_OK + "kmirror.cluster.alias=east\n",
                    replication_policy="prefix", replication_policy_separator="_")
    assert settings.target_topic(settings.sources[0], "orders") == "east_orders"


def test_identity_keeps_topic_names(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings.replication_policy == "identity"
    assert settings.target_topic(settings.sources[0], "orders") == "orders"


def test_prefix_with_a_source_alias_from_the_key_containing_the_separator(tmp_path: Path) -> None:
    # Given a source alias "us.east" and the separator "."
    problems = problems_of(tmp_path, source=SOURCE_OK + "kmirror.cluster.alias=us.east\n",
                           replication_policy="prefix")
    # Then the problem names the consumer file and the alias, and says what to do
    [problem] = problems
    assert problem.startswith(str(tmp_path / "source.properties") + ": ")
    assert "'us.east'" in problem and "separator '.'" in problem
    assert "kmirror.cluster.alias" in problem


def test_prefix_with_a_file_stem_containing_the_separator(tmp_path: Path) -> None:
    # Given a consumer file us.east.properties (alias us.east, from its name)
    problems = problems_named(tmp_path, {"us.east.properties": SOURCE_OK},
                              replication_policy="prefix")
    [problem] = problems
    assert problem.startswith(str(tmp_path / "us.east.properties") + ": ")
    assert "'us.east'" in problem


def test_prefix_with_a_custom_separator_in_the_alias(tmp_path: Path) -> None:
    # Given the separator "-" and the alias "us-east" (fine with ".", not with "-")
    accepted = load(tmp_path, source_alias="us-east", replication_policy="prefix")
    assert accepted.sources[0].alias == "us-east"
    problems = problems_of(tmp_path, source_alias="us-east", replication_policy="prefix",
                           replication_policy_separator="-")
    [problem] = problems
    assert "'us-east'" in problem and "separator '-'" in problem


def test_identity_does_not_mind_the_separator_in_an_alias(tmp_path: Path) -> None:
    settings = load(tmp_path, source_alias="us.east")
    assert settings.sources[0].alias == "us.east"


def test_prefix_with_a_target_alias_containing_the_separator(tmp_path: Path) -> None:
    # Given the target alias "us.west" and the separator "."
    problems = problems_of(tmp_path, target_alias="us.west", replication_policy="prefix")
    # Then it is refused like a source alias would be
    assert any("'us.west'" in p and "separator" in p for p in problems), problems


def test_prefix_with_an_empty_separator_is_a_problem(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, replication_policy="prefix",
                           replication_policy_separator="")
    assert any("separator" in p for p in problems), problems


def test_prefix_with_the_target_alias_equal_to_a_source_alias(tmp_path: Path) -> None:
    # Given a source and a target both called east
    problems = problems_of(tmp_path, source=SOURCE_OK + "kmirror.cluster.alias=east\n",
                           target_alias="east", replication_policy="prefix")
    # Then the clash is a problem that says how to rename
    [problem] = problems
    assert "target alias 'east' is also a source alias" in problem
    assert "--target.alias" in problem


def test_prefix_with_a_target_alias_from_the_key_equal_to_a_source_alias(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, source=SOURCE_OK + "kmirror.cluster.alias=east\n",
                           target=TARGET_OK + "kmirror.cluster.alias=east\n",
                           replication_policy="prefix")
    assert any("target alias 'east'" in p for p in problems), problems


def test_identity_allows_equal_aliases(tmp_path: Path) -> None:
    settings = load(tmp_path, source_alias="east", target_alias="east")
    assert settings.sources[0].alias == settings.target_alias == "east"


# --------------------------------------------------------------------------- policy names


@pytest.mark.parametrize("name", ["fancy", "no_such_module_for_kmirror:Policy"])
def test_an_unknown_policy_is_a_problem(tmp_path: Path, name: str) -> None:
    [problem] = problems_of(tmp_path, replication_policy=name)
    assert problem.startswith(f"--replication.policy {name}: ")


def test_a_custom_policy_is_accepted(tmp_path: Path) -> None:
    settings = load(tmp_path, source_alias="east",
                    replication_policy="tests.unit.topics.test_naming:ByTeamPolicy")
    assert settings.target_topic(settings.sources[0], "orders") == "orders@east"


def test_every_naming_problem_is_reported_at_once(tmp_path: Path) -> None:
    # Given an unknown policy and --exactly-once with --shallow
    problems = problems_of(tmp_path, replication_policy="fancy", exactly_once=True,
                           shallow=True, provenance_header=True)
    # Then all three are in the one error
    assert len(problems) == 3
    assert problems[0].startswith("--replication.policy fancy")


# --------------------------------------------------------------------------- --shallow


def test_exactly_once_with_shallow_is_a_problem(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, exactly_once=True, shallow=True)
    assert "--exactly-once" in problem and "--shallow" in problem


def test_provenance_header_with_shallow_is_a_problem(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, provenance_header=True, shallow=True)
    assert "--provenance.header" in problem and "--shallow" in problem


@pytest.mark.parametrize("option", ["exactly_once", "provenance_header"])
def test_without_shallow_exactly_once_and_provenance_are_accepted(tmp_path: Path,
                                                                   option: str) -> None:
    flag: dict[str, Any] = {option: True}
    settings = load(tmp_path, **flag)
    assert getattr(settings, option) is True
    assert settings.shallow is False


def test_exactly_once_with_the_classic_shallow_key_is_a_problem(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, source=SOURCE_OK + "shallow.iterator.enable=true\n",
                           exactly_once=True)
    assert any("--exactly-once" in p and "--shallow" in p for p in problems), problems


def test_provenance_header_with_the_classic_shallow_key_is_a_problem(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, source=SOURCE_OK + "shallow.iterator.enable=true\n",
                           provenance_header=True)
    assert any("--provenance.header" in p and "--shallow" in p for p in problems), problems
