"""Secured clusters (`kmirror local up --security`): TLS, mutual TLS, SASL, ACLs, refusals.

Started once for this module in a private local dir. Every check uses the client configs the
local clusters list in their JSON, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.conftest import kmirror_cmd
from tests.helpers.kafka_io import Record, create_topic, end_offsets, produce, read_all
from tests.helpers.mirror_run import MirrorProcess

pytestmark = pytest.mark.integration


class Secured:
    def __init__(self, info: dict[str, object], env: dict[str, str]) -> None:
        clusters = {c["name"]: c for c in info["clusters"]}  # type: ignore[attr-defined]
        self.plain = {name: c["bootstrap_servers"] for name, c in clusters.items()}
        self.configs = {name: c["listeners"]["client_configs"] for name, c in clusters.items()}
        self.env = env
        root = Path(env["KMIRROR_LOCAL_DIR"])
        self.password = (root / "security" / "mirror.password").read_text().strip()
        self.untrusted_ca = root / "security" / "untrusted-ca.pem"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    env = {**os.environ, "KMIRROR_LOCAL_DIR": str(tmp_path_factory.mktemp("secured"))}
    out = subprocess.run(kmirror_cmd("local", "up", "--security", "--json"), env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    yield Secured(json.loads(out.stdout), env)
    subprocess.run(kmirror_cmd("local", "down", "--purge"), env=env, timeout=120, check=False)


def _with(path: str, workdir: Path, name: str, drop: tuple[str, ...] = (),
          **settings: str) -> Path:
    lines = [line for line in Path(path).read_text().splitlines()
             if line.split("=", 1)[0] not in drop and line.split("=", 1)[0] not in settings]
    lines += [f"{k.replace('__', '.')}={v}" for k, v in settings.items()]
    out = workdir / f"{name}.properties"
    out.write_text("\n".join(lines) + "\n")
    return out


def _kmirror(secured: Secured, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    out = subprocess.run(kmirror_cmd(*args), capture_output=True, text=True, timeout=120,
                         env=secured.env, check=False)
    return out, time.monotonic() - started


def _refused(out: subprocess.CompletedProcess[str], took: float, *words: str) -> None:
    """Exit 2 within 30 s, one line, no traceback, the words, no password."""
    assert out.returncode == 2, out.stderr
    assert took < 30, took
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("source_way,target_way,shallow", [
    ("scram", "mtls", False),
    ("scram", "mtls", True),  # --shallow's own connections: SCRAM over TLS, mutual TLS
    ("oauthbearer", "plain", True),  # and unsecured OAUTHBEARER, PLAIN
])
def test_mirror_over_secured_listeners_is_exact(
    secured: Secured, workdir: Path, topic_name: str, source_way: str, target_way: str,
    shallow: bool,
) -> None:
    # Given records on the source (written through its plain listener)
    create_topic(secured.plain["source"], topic_name, 2)
    base = int(time.time() * 1000)
    produce(secured.plain["source"], topic_name, [
        Record(key=b"k%d" % i, value=b"v%d" % i, partition=i % 2, timestamp_ms=base + i)
        for i in range(2000)])
    source = _with(secured.configs["source"][source_way], workdir, "src", group__id="g-sec")
    target = secured.configs["target"][target_way]
    # When mirrored, e.g. over SASL_SSL SCRAM-SHA-512 into the mutual-TLS listener
    out, _ = _kmirror(secured, "run", "--consumer.config", str(source), "--producer.config",
                      target, "--include", topic_name, "--until-caught-up", "--metrics.port",
                      "0", "--no-live", "--verbose", *(["--shallow"] if shallow else []))
    assert out.returncode == 0, out.stderr
    if shallow:  # the batches really went over the raw path's secured connections
        assert "through the record path" in out.stderr, out.stderr[-2000:]
        assert re.search(r"shallow: [1-9]\d* batches forwarded whole", out.stderr), (
            out.stderr[-2000:])
    # (nothing any process printed, stream processes' debug logs included, shows the password)
    assert secured.password not in out.stdout + out.stderr
    # Then the copy is exact (independent reader, and verify over the secured listeners)
    src = read_all(secured.plain["source"], topic_name)
    dst = read_all(secured.plain["target"], topic_name, expected=2000)
    assert [r.content() for r in dst] == [r.content() for r in src]
    out, _ = _kmirror(secured, "verify", "--consumer.config", str(source), "--producer.config",
                      target, "--include", topic_name, "--strict")
    assert out.returncode == 0, out.stderr
    assert secured.password not in out.stdout + out.stderr


@pytest.mark.parametrize("way", ["plain", "oauthbearer"])
def test_plain_and_oauthbearer_connect_for_lag_and_verify(
    secured: Secured, workdir: Path, topic_name: str, way: str
) -> None:
    create_topic(secured.plain["source"], topic_name, 1)
    create_topic(secured.plain["target"], topic_name, 1)
    # (a group with a committed offset, made through the plain listener)
    consumer = Consumer({"bootstrap.servers": secured.plain["source"], "group.id": "g-lag"})
    consumer.commit(offsets=[TopicPartition(topic_name, 0, 0)], asynchronous=False)
    consumer.close()
    source = _with(secured.configs["source"][way], workdir, "src", group__id="g-sec")
    out, _ = _kmirror(secured, "lag", "--consumer.config", str(source), "--group", "g-lag",
                      "--json")
    assert out.returncode == 0, out.stderr
    assert topic_name in out.stdout  # the committed offset was read over this listener
    out, _ = _kmirror(secured, "verify", "--consumer.config", str(source), "--producer.config",
                      secured.configs["target"][way], "--include", topic_name)
    assert out.returncode == 0, out.stderr


def test_wrong_password(secured: Secured, workdir: Path) -> None:
    bad = _with(secured.configs["source"]["scram"], workdir, "bad", sasl__password="nope-nope")
    out, took = _kmirror(secured, "lag", "--consumer.config", str(bad), "--group", "g")
    _refused(out, took, "authentication failed", "sasl.password", "bad.properties")


def test_untrusted_broker_certificate(secured: Secured, workdir: Path) -> None:
    bad = _with(secured.configs["source"]["scram"], workdir, "bad",
                ssl__ca__location=str(secured.untrusted_ca))
    out, took = _kmirror(secured, "lag", "--consumer.config", str(bad), "--group", "g")
    _refused(out, took, "certificate is not trusted", "ssl.ca.location")


def test_missing_client_certificate(secured: Secured, workdir: Path) -> None:
    bad = _with(secured.configs["target"]["mtls"], workdir, "bad",
                drop=("ssl.certificate.location", "ssl.key.location"))
    source = _with(secured.configs["source"]["scram"], workdir, "src", group__id="g")
    out, took = _kmirror(secured, "verify", "--consumer.config", str(source),
                         "--producer.config", str(bad), "--include", "x")
    _refused(out, took, "target cluster", "client certificate", "ssl.certificate.location")


def test_missing_acl_names_the_acl_to_add(secured: Secured, workdir: Path,
                                          topic_name: str) -> None:
    create_topic(secured.plain["source"], topic_name, 1)
    source = _with(secured.configs["source"]["scram"], workdir, "src", group__id="g")
    # The target user has no ACL: creating the target topic is refused
    out, took = _kmirror(secured, "run", "--consumer.config", str(source), "--producer.config",
                         secured.configs["target"]["scram-no-acls"], "--include", topic_name,
                         "--metrics.port", "0", "--no-live", "--until-caught-up")
    _refused(out, took, f"not allowed to create topic {topic_name}", "kafka-acls.sh",
             "--allow-principal User:nobody", "--operation Create")
    # And a source user without a group ACL, for lag
    nobody = _with(secured.configs["source"]["scram-no-acls"], workdir, "nobody",
                   group__id="g")
    out, took = _kmirror(secured, "lag", "--consumer.config", str(nobody), "--group", "g")
    _refused(out, took, "not allowed to describe group g", "--operation Describe --group 'g'")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> str:
    """The body, whatever the status (/ready answers 503 while not ready)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError as exc:
        return str(exc.read().decode())


def test_a_running_secured_mirror_shows_its_password_nowhere(
    secured: Secured, workdir: Path, topic_name: str
) -> None:
    # Given a mirror running --verbose over SCRAM on both sides, its metrics served
    create_topic(secured.plain["source"], topic_name, 2)
    produce(secured.plain["source"], topic_name,
            [Record(key=b"k", value=b"v%d" % i, partition=i % 2) for i in range(500)])
    source = _with(secured.configs["source"]["scram"], workdir, "src", group__id="g-metrics")
    target = secured.configs["target"]["scram"]
    port = _free_port()
    mirror = MirrorProcess(["--consumer.config", str(source), "--producer.config", target,
                            "--include", topic_name, "--metrics.port", str(port), "--no-live",
                            "--verbose"], workdir / "mirror.log")
    try:
        mirror.wait_for("/metrics")
        deadline = time.monotonic() + 60
        while sum(end_offsets(secured.plain["target"], topic_name).values()) < 500:
            assert time.monotonic() < deadline, mirror.output()[-3000:]
            time.sleep(0.5)
        text = _get(f"http://127.0.0.1:{port}/metrics")
        # Then /metrics, /ready and /health (labels included) never show the password
        pages = [_get(f"http://127.0.0.1:{port}/metrics")] + [
            _get(f"http://127.0.0.1:{port}/{page}") for page in ("health", "ready")]
        assert "kmirror_mirrored_records_total" in text
        for page in pages:
            assert secured.password not in page
    finally:
        code = mirror.stop()
    # And neither did anything the main or the stream processes logged (--verbose)
    assert code == 0, mirror.output()[-3000:]
    assert "mirrored 500 records" in mirror.output()
    assert secured.password not in mirror.output()
    # Nor lag and verify, --verbose, over the same settings
    for args in (["lag", "--consumer.config", str(source), "--group", "g-metrics"],
                 ["verify", "--consumer.config", str(source), "--producer.config", target,
                  "--include", topic_name]):
        out, _ = _kmirror(secured, *args, "--verbose")
        assert out.returncode == 0, out.stderr[-2000:]
        assert secured.password not in out.stdout + out.stderr
