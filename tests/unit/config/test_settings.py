"""Tests for kmirror.config.settings and kmirror.config.properties (no broker needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kmirror.config import MirrorSettings, load_mirror_settings
from kmirror.config.properties import read_properties
from kmirror.config.settings import (
    CONSUMER_REQUIRED,
    PRODUCER_REQUIRED,
    load_client_config,
)
from kmirror.errors import BadInputError, ConfigError

SOURCE_OK = "bootstrap.servers=source:9092\n"
TARGET_OK = "bootstrap.servers=target:9092\n"


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def load(
    tmp_path: Path,
    source: str | list[str] = SOURCE_OK,
    target: str | None = TARGET_OK,
    include: str | None = ".*",
    **options: Any,
) -> MirrorSettings:
    """load_mirror_settings with the given file contents written to tmp_path."""
    sources = [source] if isinstance(source, str) else source
    consumer_configs = [
        write(tmp_path, f"source{i or ''}.properties", text) for i, text in enumerate(sources)
    ]
    producer_config = write(tmp_path, "target.properties", target) if target is not None else None
    return load_mirror_settings(
        consumer_configs=consumer_configs,
        producer_config=producer_config,
        include=include,
        exclude=None,
        **options,
    )


def problems_of(tmp_path: Path, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, **kwargs)
    return info.value.problems


# --------------------------------------------------------------------------- valid settings


def test_minimal_files_get_defaults_and_required_settings(tmp_path: Path) -> None:
    # Given only bootstrap addresses
    settings = load(tmp_path)
    # Then the consumer side has kmirror's defaults and guarantees
    [source] = settings.sources
    assert source.bootstrap_servers == "source:9092"
    assert source.group_id == "kmirror"
    assert source.client["auto.offset.reset"] == "earliest"
    assert source.client["isolation.level"] == "read_committed"
    for key, value in CONSUMER_REQUIRED.items():
        assert source.client[key] == value
    assert source.client["enable.auto.commit"] == "false"
    # And the producer side too
    assert settings.target["bootstrap.servers"] == "target:9092"
    assert settings.target["enable.idempotence"] == "true"
    assert settings.target["acks"] == "all"
    assert settings.target["message.timeout.ms"] == "0"  # never give up on a record
    for key, value in PRODUCER_REQUIRED.items():
        assert settings.target[key] == value
    # And the flags and file names are kept
    assert settings.include == ".*"
    assert settings.exclude is None
    assert settings.target_config_file == str(tmp_path / "target.properties")
    assert source.config_file == str(tmp_path / "source.properties")
    assert settings.warnings == ()


def test_user_values_override_defaults(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        source=SOURCE_OK + "group.id=mm\nauto.offset.reset=latest\n",
        target=TARGET_OK + "linger.ms=50\n",
    )
    assert settings.sources[0].group_id == "mm"
    assert settings.sources[0].client["auto.offset.reset"] == "latest"
    assert settings.target["linger.ms"] == "50"


@pytest.mark.parametrize(
    ("scope", "line", "key", "expected"),
    [
        ("P", "acks=all", "acks", "all"),
        ("P", "acks=-1", "acks", "all"),  # the same as all, normalised
        ("P", "acks=ALL", "acks", "all"),
        ("P", "enable.idempotence=true", "enable.idempotence", "true"),
        ("P", "enable.idempotence=TRUE", "enable.idempotence", "true"),
        ("C", "enable.auto.offset.store=false", "enable.auto.offset.store", "false"),
        ("C", "enable.partition.eof=false", "enable.partition.eof", "false"),
    ],
)
def test_required_settings_accept_the_safe_value_and_win(
    tmp_path: Path, scope: str, line: str, key: str, expected: str
) -> None:
    if scope == "P":
        settings = load(tmp_path, target=f"{TARGET_OK}{line}\n")
        assert settings.target[key] == expected
    else:
        settings = load(tmp_path, source=f"{SOURCE_OK}{line}\n")
        assert settings.sources[0].client[key] == expected


@pytest.mark.parametrize("value", ["true", "false"])
def test_enable_auto_commit_is_only_a_warning_and_stays_off(tmp_path: Path, value: str) -> None:
    # Given enable.auto.commit in the consumer file (classic MirrorMaker files have it)
    settings = load(tmp_path, source=f"{SOURCE_OK}enable.auto.commit={value}\n")
    # Then it is explained and ignored (not obeyed, not a stop)
    assert settings.sources[0].client["enable.auto.commit"] == "false"
    assert any(
        "enable.auto.commit" in w and "commits source offsets itself" in w
        for w in settings.warnings
    )


def test_warnings_of_every_file_are_kept(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        source=SOURCE_OK + "groupid=g\n",
        target=TARGET_OK + "producer.type=async\n",
    )
    assert len(settings.warnings) == 2
    assert any("groupid" in w for w in settings.warnings)
    assert any("producer.type" in w for w in settings.warnings)


def test_options_are_passed_through(tmp_path: Path) -> None:
    settings = load(
        tmp_path, num_streams=3, num_producers=2, offset_commit_interval_ms=100,
        replication_factor=3, until_caught_up=True,
    )
    assert (settings.num_streams, settings.num_producers) == (3, 2)
    assert settings.offset_commit_interval_ms == 100
    assert settings.replication_factor == 3
    assert settings.until_caught_up is True


def test_admin_settings_keep_only_connection_keys(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        source=SOURCE_OK + "security.protocol=SSL\nfetch.min.bytes=10\n",
        target=TARGET_OK + "client.id=t\n",
    )
    admin = settings.sources[0].admin_settings
    assert admin["bootstrap.servers"] == "source:9092"
    assert admin["security.protocol"] == "SSL"
    for consumer_only in ("group.id", "enable.auto.commit", "fetch.min.bytes",
                          "auto.offset.reset"):
        assert consumer_only not in admin
    target_admin = settings.target_admin_settings
    assert target_admin["client.id"] == "t"
    for producer_only in ("acks", "enable.idempotence", "linger.ms"):
        assert producer_only not in target_admin


# --------------------------------------------------------------------------- aliases


def test_alias_defaults_to_the_file_stem(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings.sources[0].alias == "source"


def test_cluster_alias_key_sets_the_alias(tmp_path: Path) -> None:
    # Given a consumer file naming its cluster
    settings = load(tmp_path, source=SOURCE_OK + "kmirror.cluster.alias=east\n")
    # Then the alias is taken from it, and the key is not passed to librdkafka
    [source] = settings.sources
    assert source.alias == "east"
    assert "kmirror.cluster.alias" not in source.client


def test_same_stem_in_two_folders_gets_distinct_aliases(tmp_path: Path) -> None:
    a = write(tmp_path / "dc1", "cluster.properties", SOURCE_OK)
    b = write(tmp_path / "dc2", "cluster.properties", "bootstrap.servers=other:9092\n")
    target = write(tmp_path, "target.properties", TARGET_OK)
    settings = load_mirror_settings(
        consumer_configs=[a, b], producer_config=target, include=".*", exclude=None
    )
    aliases = [s.alias for s in settings.sources]
    assert aliases[0] == "cluster"
    assert len(set(aliases)) == 2
    assert aliases[1].startswith("cluster")


# --------------------------------------------------------------------------- problems


@pytest.mark.parametrize(
    ("target_line", "expected"),
    [
        ("acks=1", "kmirror needs acks=all"),
        ("acks=0", "kmirror needs acks=all"),
        ("enable.idempotence=false", "kmirror needs enable.idempotence=true"),
    ],
)
def test_producer_settings_that_lose_data_are_refused(
    tmp_path: Path, target_line: str, expected: str
) -> None:
    problems = problems_of(tmp_path, target=f"{TARGET_OK}{target_line}\n")
    [problem] = problems
    assert expected in problem
    assert target_line in problem
    assert problem.startswith(str(tmp_path / "target.properties"))


@pytest.mark.parametrize(
    "line", ["enable.auto.offset.store=true", "enable.partition.eof=true"]
)
def test_consumer_settings_that_break_tracking_are_refused(tmp_path: Path, line: str) -> None:
    [problem] = problems_of(tmp_path, source=f"{SOURCE_OK}{line}\n")
    assert line in problem and "kmirror needs" in problem


def test_all_problems_of_all_files_are_reported_at_once(tmp_path: Path) -> None:
    # Given two consumer files and a producer file, each with its own problem
    problems = problems_of(
        tmp_path,
        source=[SOURCE_OK + "zookeeper.connect=zk:2181\n", SOURCE_OK + "bootstrap.server=x\n"],
        target=TARGET_OK + "acks=1\n",
        num_streams=0,
    )
    # Then one ConfigError carries every one of them
    text = "\n".join(problems)
    assert "source.properties: zookeeper.connect" in text
    assert "source1.properties: bootstrap.server" in text
    assert "did you mean bootstrap.servers" in text
    assert "kmirror needs acks=all" in text
    assert "--num.streams 0" in text
    assert len(problems) == 4


def test_config_error_message_has_one_line_per_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, source=SOURCE_OK + "zk.connect=zk\n", target=TARGET_OK + "acks=0\n")
    assert str(info.value).splitlines() == info.value.problems
    assert isinstance(info.value, BadInputError)
    assert info.value.exit_code == 2


def test_missing_flags_are_all_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_mirror_settings(
            consumer_configs=[], producer_config=None, include=None, exclude=None
        )
    text = "\n".join(info.value.problems)
    assert "--consumer.config" in text
    assert "--producer.config" in text
    assert "--whitelist/--include" in text


def test_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.properties")
    target = write(tmp_path, "target.properties", TARGET_OK)
    with pytest.raises(ConfigError) as info:
        load_mirror_settings(
            consumer_configs=[missing], producer_config=target, include=".*", exclude=None
        )
    assert info.value.problems == [f"{missing}: no such file"]


def test_folder_given_as_file(tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    source = write(tmp_path, "source.properties", SOURCE_OK)
    with pytest.raises(ConfigError) as info:
        load_mirror_settings(
            consumer_configs=[source], producer_config=str(folder), include=".*", exclude=None
        )
    [problem] = info.value.problems
    assert problem.startswith(str(folder))
    assert "is a folder" in problem


def test_missing_bootstrap_servers(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, source="group.id=g\n")
    assert "bootstrap.servers is missing" in problem
    assert "bootstrap.servers=HOST:9092" in problem


def test_empty_bootstrap_servers_is_missing(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, target="bootstrap.servers=\n")
    assert "bootstrap.servers is missing" in problem


@pytest.mark.parametrize(
    ("option", "value", "flag"),
    [
        ("num_streams", 0, "--num.streams"),
        ("num_streams", -1, "--num.streams"),
        ("num_producers", 0, "--num.producers"),
        ("offset_commit_interval_ms", 0, "--offset.commit.interval.ms"),
        ("topic_refresh_interval_ms", -5, "--topic.refresh.interval.ms"),
        ("sync_group_offsets_interval_ms", 0, "--sync.group.offsets.interval.ms"),
        ("replication_factor", 0, "--replication.factor"),
        ("replication_factor", -2, "--replication.factor"),
    ],
)
def test_bad_numbers_are_problems(tmp_path: Path, option: str, value: int, flag: str) -> None:
    [problem] = problems_of(tmp_path, **{option: value})
    assert problem.startswith(f"{flag} {value}: ")


@pytest.mark.parametrize(
    ("option", "value"),
    [("num_streams", 1), ("num_streams", 16), ("replication_factor", -1),
     ("replication_factor", 1)],
)
def test_good_numbers_are_accepted(tmp_path: Path, option: str, value: int) -> None:
    settings = load(tmp_path, **{option: value})
    assert getattr(settings, option) == value


def test_value_without_a_key(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, source=SOURCE_OK + "=orphan\n")
    assert "a value without a key" in problem


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "source.properties"
    path.write_bytes(b"bootstrap.servers=source:9092\n# caf\xe9\n")
    target = write(tmp_path, "target.properties", TARGET_OK)
    with pytest.raises(ConfigError) as info:
        load_mirror_settings(
            consumer_configs=[str(path)], producer_config=target, include=".*", exclude=None
        )
    [problem] = info.value.problems
    assert "not a text file" in problem


def test_malformed_unicode_escape(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, source=SOURCE_OK + "client.id=\\uZZZZ\n")
    assert "malformed properties file" in problem


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read any file"
)
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "source.properties"
    path.write_text(SOURCE_OK, encoding="utf-8")
    path.chmod(0)
    problems: list[str] = []
    assert read_properties(str(path), problems) is None
    assert problems == [f"{path}: not readable (permission denied)"]


def test_load_client_config_returns_none_for_an_unreadable_file(tmp_path: Path) -> None:
    problems: list[str] = []
    warnings: list[str] = []
    missing = str(tmp_path / "x.properties")
    assert load_client_config(missing, "C", problems, warnings) is None
    assert problems == [f"{missing}: no such file"]


# --------------------------------------------------------------------------- properties syntax


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1\n", {"a": "1"}),
        ("a = 1 \n", {"a": "1"}),  # whitespace around keys and values is trimmed
        ("a:1\n", {"a": "1"}),
        ("a 1\n", {"a": "1"}),
        ("# comment\n! also a comment\na=1\n", {"a": "1"}),
        ("a=1\\\n   2\n", {"a": "12"}),  # line continuation
        ("a=x=y\n", {"a": "x=y"}),  # only the first separator splits
        ("a=1\na=2\n", {"a": "2"}),  # the last one wins, as in Java
        ("a=\n", {"a": ""}),
        ("", {}),
        ("a=caf\u00e9\n", {"a": "caf\u00e9"}),
        ("a=\\u0041\n", {"a": "A"}),
    ],
)
def test_read_properties_syntax(tmp_path: Path, text: str, expected: dict[str, str]) -> None:
    path = tmp_path / "x.properties"
    path.write_text(text, encoding="utf-8")
    problems: list[str] = []
    assert read_properties(str(path), problems) == expected
    assert problems == []


# --------------------------------------------------------------------------- --shallow


def test_shallow_flag_and_the_classic_key_mean_the_same(tmp_path: Path) -> None:
    # Given --shallow, or the classic key in a consumer file
    by_flag = load(tmp_path, shallow=True)
    by_key = load(tmp_path, source=SOURCE_OK + "shallow.iterator.enable=true\n")
    # Then both ask for shallow iteration, and the key never reaches librdkafka
    assert by_flag.shallow and by_key.shallow
    assert "shallow.iterator.enable" not in by_key.sources[0].client
    assert not load(tmp_path, source=SOURCE_OK + "shallow.iterator.enable=false\n").shallow
    assert not load(tmp_path).shallow


def test_no_shallow_and_the_classic_key_set_false_force_the_record_path(tmp_path: Path) -> None:
    # Given --no-shallow, or shallow.iterator.enable=false written in a consumer file
    by_flag = load(tmp_path, no_shallow=True)
    by_key = load(tmp_path, source=SOURCE_OK + "shallow.iterator.enable=false\n")
    # Then both force records everywhere; without either, batches go whole where they can
    for settings in (by_flag, by_key):
        assert settings.no_shallow and not settings.shallow
        reason = settings.record_path_reason(settings.sources[0])
        assert reason is not None and "--no-shallow" in reason
    default = load(tmp_path)
    assert default.record_path_reason(default.sources[0]) is None
    forced = load(tmp_path, shallow=True)
    assert forced.record_path_reason(forced.sources[0]) is None


def test_shallow_and_no_shallow_together_are_a_problem(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, no_shallow=True,
                           source=SOURCE_OK + "shallow.iterator.enable=true\n")
    assert any("choose one" in p and "--no-shallow" in p for p in problems), problems


@pytest.mark.parametrize("options,lines,expected", [
    ({"message_handler": "mod:Cls"}, "", "--message.handler"),
    ({"exactly_once": True}, "", "--exactly-once"),
    ({"provenance_header": True}, "", "--provenance.header"),
    ({}, "security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\n", "sasl.mechanism=GSSAPI"),
    ({}, "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\n", None),
])
def test_the_default_says_why_every_partition_goes_record_by_record(
    tmp_path: Path, options: dict[str, Any], lines: str, expected: str | None
) -> None:
    settings = load(tmp_path, source=SOURCE_OK + lines, **options)
    reason = settings.record_path_reason(settings.sources[0])
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason, reason


def test_shallow_key_with_a_bad_value_is_a_problem(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, source=SOURCE_OK + "shallow.iterator.enable=yes\n")
    assert any("shallow.iterator.enable=yes: write true or false" in p for p in problems)


def test_shallow_key_in_the_producer_file_is_a_warning(tmp_path: Path) -> None:
    settings = load(tmp_path, target=TARGET_OK + "shallow.iterator.enable=true\n")
    assert not settings.shallow
    assert "shallow.iterator.enable" not in settings.target
    assert any("move it to the --consumer.config" in w for w in settings.warnings)


def test_shallow_refuses_a_message_handler(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, shallow=True, message_handler="mod:Cls")
    assert any("--message.handler" in p and "--shallow" in p for p in problems)


@pytest.mark.parametrize("side", ["source", "target"])
@pytest.mark.parametrize("lines,refused", [
    ("security.protocol=SSL\n", None),
    ("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n", None),
    ("security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\n", "sasl.mechanism=GSSAPI"),
    ("security.protocol=SASL_SSL\nsasl.mechanism=OAUTHBEARER\n"
     "sasl.oauthbearer.method=oidc\n", "sasl.mechanism=OAUTHBEARER"),
])
def test_shallow_secures_what_it_can_and_names_what_it_cannot(
    tmp_path: Path, side: str, lines: str, refused: str | None
) -> None:
    kwargs: dict[str, Any] = {side: (SOURCE_OK if side == "source" else TARGET_OK) + lines}
    if refused is None:
        assert load(tmp_path, shallow=True, **kwargs).shallow
        return
    problems = problems_of(tmp_path, shallow=True, **kwargs)
    assert any(f"{side}.properties: {refused}" in p and "without --shallow" in p
               for p in problems), problems
