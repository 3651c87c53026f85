"""Tests for kmirror.config.legacy: answers for MirrorMaker-era and Java client keys.

Each case writes a real .properties file and reads it through ``load_client_config`` (reading,
translation, required settings and defaults), so the messages are checked as the user sees them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kmirror.config.legacy import translate
from kmirror.config.settings import load_client_config

BOOTSTRAP = "bootstrap.servers=localhost:9092"


@dataclass
class Loaded:
    path: Path
    settings: dict[str, str] | None
    problems: list[str]
    warnings: list[str]


def load(tmp_path: Path, scope: str, *lines: str, bootstrap: bool = True) -> Loaded:
    """Write the lines (plus a bootstrap address) to a file and load it for ``scope``."""
    name = "source.properties" if scope == "C" else "target.properties"
    path = tmp_path / name
    body = ([BOOTSTRAP] if bootstrap else []) + list(lines)
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    problems: list[str] = []
    warnings: list[str] = []
    settings = load_client_config(str(path), scope, problems, warnings)
    return Loaded(path, settings, problems, warnings)


@dataclass
class Case:
    """One legacy key and what kmirror should answer."""

    id: str
    scope: str
    lines: list[str]
    settings: dict[str, str] = field(default_factory=dict)  # must be present, with the value
    absent: list[str] = field(default_factory=list)  # must not be in the settings
    warnings: list[str] = field(default_factory=list)  # substrings of one warning each
    problems: list[str] = field(default_factory=list)  # substrings of one problem each
    bootstrap: bool = True


CASES = [
    # --- ZooKeeper: a problem that says what to write instead
    *(
        Case(
            f"{key}-{scope}", scope, [f"{key}=zk1:2181,zk2:2181/kafka"],
            absent=[key],
            problems=[key, "ZooKeeper", "bootstrap.servers="],
        )
        for key in ("zk.connect", "zookeeper.connect")
        for scope in ("C", "P")
    ),
    # --- renamed keys, mapped with a deprecation warning
    *(
        Case(
            f"{key}-{scope}", scope, [f"{key}=b1:9092,b2:9092"],
            settings={"bootstrap.servers": "b1:9092,b2:9092"},
            absent=[key],
            warnings=[key, "deprecated", "bootstrap.servers"],
            bootstrap=False,
        )
        for key in ("broker.list", "metadata.broker.list")
        for scope in ("C", "P")
    ),
    Case(
        "groupid", "C", ["groupid=legacy-group"],
        settings={"group.id": "legacy-group"}, absent=["groupid"],
        warnings=["groupid", "deprecated", "group.id"],
    ),
    Case(
        "socket.buffersize", "C", ["socket.buffersize=65536"],
        settings={"socket.receive.buffer.bytes": "65536"}, absent=["socket.buffersize"],
        warnings=["socket.buffersize", "deprecated", "socket.receive.buffer.bytes"],
    ),
    *(
        Case(
            f"{key}-{scope}", scope, [f"{key}=131072"], settings={key: "131072"}
        )
        for key in ("socket.receive.buffer.bytes", "socket.send.buffer.bytes")
        for scope in ("C", "P")
    ),
    *(
        Case(
            key, "C", [f"{key}=2097152"],
            settings={"max.partition.fetch.bytes": "2097152"}, absent=[key],
            warnings=[key, "deprecated", "max.partition.fetch.bytes"],
        )
        for key in ("fetch.size", "fetch.message.max.bytes")
    ),
    Case(
        "auto.offset.reset=smallest", "C", ["auto.offset.reset=smallest"],
        settings={"auto.offset.reset": "earliest"},
        warnings=["auto.offset.reset=smallest", "earliest"],
    ),
    Case(
        "auto.offset.reset=largest", "C", ["auto.offset.reset=largest"],
        settings={"auto.offset.reset": "latest"},
        warnings=["auto.offset.reset=largest", "latest"],
    ),
    Case(
        "auto.offset.reset=latest", "C", ["auto.offset.reset=latest"],
        settings={"auto.offset.reset": "latest"},
    ),
    Case(
        "compression.codec=gzip", "P", ["compression.codec=gzip"],
        settings={"compression.type": "gzip"}, absent=["compression.codec"],
        warnings=["compression.codec", "deprecated", "compression.type"],
    ),
    *(
        Case(
            f"compression.codec={number}", "P", [f"compression.codec={number}"],
            settings={"compression.type": name}, absent=["compression.codec"],
            warnings=["compression.codec", "compression.type"],
        )
        for number, name in [("0", "none"), ("1", "gzip"), ("2", "snappy"), ("3", "lz4")]
    ),
    Case(
        "request.required.acks=-1", "P", ["request.required.acks=-1"],
        settings={"acks": "all"}, absent=["request.required.acks"],
        warnings=["request.required.acks", "deprecated", "acks"],
    ),
    Case(
        "request.required.acks=1", "P", ["request.required.acks=1"],
        warnings=["request.required.acks", "deprecated"],
        problems=["kmirror needs acks=all"],
    ),
    # --- MirrorMaker knobs that no longer apply: a warning with the reason, never a problem
    Case(
        "queue.enqueueTimeout.ms", "P", ["queue.enqueueTimeout.ms=-1"],
        absent=["queue.enqueueTimeout.ms"],
        warnings=["queue.enqueueTimeout.ms", "ignored", "blocks", "never drops"],
    ),
    Case(
        "queue.enqueue.timeout.ms", "P", ["queue.enqueue.timeout.ms=0"],
        absent=["queue.enqueue.timeout.ms"],
        warnings=["queue.enqueue.timeout.ms", "blocks", "never drops"],
    ),
    Case(
        "producer.type", "P", ["producer.type=async"],
        absent=["producer.type"],
        warnings=["producer.type", "ignored", "asynchronously", "acknowledged"],
    ),
    Case(
        "enable.auto.commit=true", "C", ["enable.auto.commit=true"],
        settings={"enable.auto.commit": "false"},
        warnings=["enable.auto.commit", "ignored", "commits source offsets itself"],
    ),
    Case(
        "auto.commit.interval.ms", "C", ["auto.commit.interval.ms=1000"],
        absent=["auto.commit.interval.ms"],
        warnings=["auto.commit.interval.ms", "--offset.commit.interval.ms"],
    ),
    Case(
        "zookeeper.session.timeout.ms", "C", ["zookeeper.session.timeout.ms=6000"],
        absent=["zookeeper.session.timeout.ms"],
        warnings=["zookeeper.session.timeout.ms", "ZooKeeper is not used"],
    ),
    Case(
        "mirror.topics.whitelist", "C", ["mirror.topics.whitelist=.*"],
        warnings=["mirror.topics.whitelist", "--whitelist/--include"],
    ),
    # --- Java JAAS line for PLAIN / SCRAM: user and password taken out
    Case(
        "jaas-plain", "C",
        [
            "sasl.mechanism=PLAIN",
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
            'required username="alice" password="alice-secret";',
        ],
        settings={"sasl.username": "alice", "sasl.password": "alice-secret"},
        absent=["sasl.jaas.config"],
        warnings=["sasl.jaas.config", "sasl.username/sasl.password"],
    ),
    Case(
        "jaas-scram", "P",
        [
            "sasl.mechanism=SCRAM-SHA-512",
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule "
            'required password="p=w;d" username="bob";',
        ],
        settings={"sasl.username": "bob", "sasl.password": "p=w;d"},
        absent=["sasl.jaas.config"],
        warnings=["sasl.jaas.config", "sasl.username/sasl.password"],
    ),
    Case(
        "jaas-no-password", "C",
        [
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
            'required username="alice";'
        ],
        absent=["sasl.username", "sasl.password", "sasl.jaas.config"],
        problems=["sasl.jaas.config", "username=", "sasl.username and sasl.password"],
    ),
    Case(
        "jaas-other-module", "C",
        [
            "sasl.jaas.config=org.apache.kafka.common.security.oauthbearer."
            "OAuthBearerLoginModule required;"
        ],
        absent=["sasl.jaas.config"],
        problems=["sasl.jaas.config", "PlainLoginModule and ScramLoginModule"],
    ),
    # --- unknown keys: a problem with the closest valid name
    *(
        Case(
            f"bootstrap.server-{scope}", scope, ["bootstrap.server=localhost:9092"],
            absent=["bootstrap.server"],
            problems=["bootstrap.server", "unknown setting", "did you mean bootstrap.servers"],
        )
        for scope in ("C", "P")
    ),
    Case(
        "nothing-close", "C", ["qqqqqqqqqq=1"],
        problems=["qqqqqqqqqq", "unknown setting"],
    ),
    # --- a setting of the other client: ignored with advice to move it
    Case(
        "linger.ms-in-consumer", "C", ["linger.ms=5"],
        absent=["linger.ms"],
        warnings=["linger.ms", "producer setting in a consumer config", "--producer.config"],
    ),
    Case(
        "fetch.min.bytes-in-producer", "P", ["fetch.min.bytes=1024"],
        absent=["fetch.min.bytes"],
        warnings=["fetch.min.bytes", "consumer setting in a producer config",
                  "--consumer.config"],
    ),
    # --- ordinary modern keys pass through untouched
    Case("client.id", "C", ["client.id=mm"], settings={"client.id": "mm"}),
    Case("security.protocol", "P", ["security.protocol=SASL_SSL"],
         settings={"security.protocol": "SASL_SSL"}),
    Case("linger.ms-in-producer", "P", ["linger.ms=50"], settings={"linger.ms": "50"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_legacy_key(tmp_path: Path, case: Case) -> None:
    # Given a file with the key
    # When it is loaded
    got = load(tmp_path, case.scope, *case.lines, bootstrap=case.bootstrap)
    # Then the settings, warnings and problems are the expected ones
    assert got.settings is not None
    for key, value in case.settings.items():
        assert got.settings.get(key) == value, (key, got.settings)
    for key in case.absent:
        assert key not in got.settings
    if case.warnings:
        assert any(all(p in w for p in case.warnings) for w in got.warnings), got.warnings
    else:
        assert got.warnings == []
    if case.problems:
        assert any(all(p in m for p in case.problems) for m in got.problems), got.problems
    else:
        assert got.problems == []
    # And every message names the file
    for message in got.warnings + got.problems:
        assert message.startswith(f"{got.path}: ")


@pytest.mark.parametrize("key", ["zk.connect", "zookeeper.connect"])
def test_zookeeper_problem_names_file_and_key_and_says_what_to_write(
    tmp_path: Path, key: str
) -> None:
    got = load(tmp_path, "C", f"{key}=zk:2181", bootstrap=False)
    zk = [p for p in got.problems if key in p]
    assert len(zk) == 1
    assert zk[0].startswith(f"{got.path}: {key}: ")
    assert "bootstrap.servers=" in zk[0]
    assert "not the ZooKeeper port" in zk[0]
    # And bootstrap.servers is reported missing too (all problems at once)
    assert any("bootstrap.servers is missing" in p for p in got.problems)


def test_renamed_key_problem_names_old_and_new_key(tmp_path: Path) -> None:
    # Given the old acks name with a value that loses data
    got = load(tmp_path, "P", "request.required.acks=0")
    # Then the problem mentions acks=0 and what is needed
    [problem] = got.problems
    assert "acks=0" in problem and "kmirror needs acks=all" in problem


def test_every_legacy_key_of_a_classic_mirrormaker_file_at_once(tmp_path: Path) -> None:
    # Given a typical MirrorMaker 0.8 consumer file
    got = load(
        tmp_path, "C",
        "zk.connect=zk:2181",
        "groupid=mm",
        "auto.offset.reset=smallest",
        "socket.buffersize=1048576",
        "fetch.size=1048576",
        "autocommit.enable=false",
        bootstrap=False,
    )
    # Then one problem for ZooKeeper, one for the missing bootstrap address, and the rest mapped
    assert len(got.problems) == 2
    assert got.settings is not None
    assert got.settings["group.id"] == "mm"
    assert got.settings["auto.offset.reset"] == "earliest"
    assert got.settings["socket.receive.buffer.bytes"] == "1048576"
    assert got.settings["max.partition.fetch.bytes"] == "1048576"
    assert len(got.warnings) == 5


def test_jaas_escaped_quote_in_password_is_unescaped() -> None:
    # Given the JAAS value  password="a\"b\\c"  (Java reads the password a"b\c)
    value = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="u" password="a\\"b\\\\c";'
    )
    out = translate("mem.properties", {"sasl.jaas.config": value}, "C")
    assert out.settings["sasl.password"] == 'a"b\\c'


def test_translate_is_pure_and_reports_by_scope() -> None:
    # translate() on its own: no file access, the path only labels the messages
    out = translate("mem.properties", {"linger.ms": "5", "groupid": "g"}, "C")
    assert out.settings == {"group.id": "g"}
    assert out.problems == []
    assert len(out.warnings) == 2
    assert all(w.startswith("mem.properties: ") for w in out.warnings)
