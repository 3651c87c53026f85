"""Bad input to the real `kmirror` process: one table of cases, each run as a subprocess.

Every case must be answered with exit code 2, within 30 s, without a traceback, by a message on
stderr that names what is wrong and where (file, key, flag, cluster address, topic, ...), and
without writing anything: a `run` that reached the clusters has committed no source offset and
created no target topic. Most cases are refused before any broker is contacted (their config
files point at a port nobody listens on, so a case that wrongly got that far fails on its
expected message instead of passing by accident).

Cases marked ``xfail(strict=True, reason="BUG: ...")`` describe the correct answer the program
does not give yet; fixing the program turns them into failures until the mark is removed.

Not here, because it is not bad input: a record the target refuses is a runtime refusal (exit
code 1, naming topic, partition and offset, its offset never committed past); see
tests/integration/test_run.py::test_a_refused_record_stops_the_mirror_and_is_never_committed_past.
A filter that selects nothing is not an error either (see the last test of this file).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from tests.conftest import kmirror_cmd
from tests.helpers.kafka_io import (
    Clusters,
    Record,
    committed,
    create_topic,
    produce,
    topic_partitions,
)
from tests.helpers.mirror_run import MirrorProcess

pytestmark = pytest.mark.integration

ANSWER_WITHIN_S = 30.0
PROCESS_TIMEOUT_S = 180.0  # generous: other broker tests may share this machine
NO_OFFSET = -1001  # what the consumer API reports for a partition without a committed offset
PARTITIONS = 2
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# --- what a case sees ------------------------------------------------------------------------


@dataclass
class Ctx:
    """Everything a case's lambdas may use: files, addresses, the unique topic and group."""

    workdir: Path
    topic: str
    dead: str  # host:port of a free port nobody listens on
    env: dict[str, str]
    clusters: Clusters | None = None
    not_kafka: str | None = None  # host:port of a TCP server answering HTTP garbage
    fresh: str | None = None  # host:port of a just-started cluster no group ever used

    @property
    def group(self) -> str:
        return f"g-{self.topic}"

    @property
    def source_address(self) -> str:
        return self.clusters.source if self.clusters else self.dead

    @property
    def target_address(self) -> str:
        return self.clusters.target if self.clusters else self.dead

    @property
    def local_dir(self) -> str:
        return self.env["KMIRROR_LOCAL_DIR"]

    def path(self, name: str) -> str:
        return str(self.workdir / f"{name}.properties")

    def config(self, name: str, content: str | bytes) -> str:
        """Write a config file (text or raw bytes) and return its path."""
        file = Path(self.path(name))
        if isinstance(content, bytes):
            file.write_bytes(content)
        else:
            file.write_text(content, encoding="utf-8")
        return str(file)

    def source(self, bootstrap: str | None = None) -> str:
        """A valid consumer config (the session's source cluster, or the dead port)."""
        return self.config(
            "source", f"bootstrap.servers={bootstrap or self.source_address}\n"
            f"group.id={self.group}\n"
        )

    def target(self, bootstrap: str | None = None) -> str:
        """A valid producer config (the session's target cluster, or the dead port)."""
        return self.config("target", f"bootstrap.servers={bootstrap or self.target_address}\n")

    def run(
        self, *extra: str, consumer: str | None = None, producer: str | None = None,
        include: str | None = "x",
    ) -> list[str]:
        """`run` with valid files and flags unless told otherwise."""
        args = ["run", "--consumer.config", consumer or self.source(),
                "--producer.config", producer or self.target()]
        if include is not None:
            args += ["--include", include]
        if self.clusters is not None:  # should it get past the check: no port clash, an end
            args += ["--metrics.port", "0", "--until-caught-up"]
        return [*args, *extra]


Args = Callable[[Ctx], list[str]]
Check = Callable[[Ctx, "subprocess.CompletedProcess[str]"], None]


@dataclass(frozen=True)
class Case:
    """One bad input and the answer it must get."""

    name: str
    args: Args
    expect: Callable[[Ctx], list[str]]
    """Fragments stderr must contain: what is wrong and where."""
    brokers: bool = False
    """The case needs the session's real clusters."""
    not_kafka: bool = False
    """The case needs a TCP server that is not Kafka."""
    fresh_cluster: bool = False
    """The case needs its own just-started cluster (slow: only for what needs it)."""
    setup: Callable[[Ctx], None] | None = None
    nothing_written: bool = False
    """After it: the group committed nothing on the source topic, and no target topic exists."""
    target_is_source: bool = False
    """The target is the source cluster: the topic exists there, of course."""
    check: Check | None = None
    traceback: bool = False
    """--verbose: a traceback is expected (and still exit 2 and the one-line answer)."""
    bug: str | None = None
    skip_if: tuple[bool, str] | None = None

    def param(self) -> object:
        marks: list[pytest.MarkDecorator] = []
        if self.bug:
            marks.append(pytest.mark.xfail(strict=True, reason=f"BUG: {self.bug}"))
        if self.skip_if:
            marks.append(pytest.mark.skipif(self.skip_if[0], reason=self.skip_if[1]))
        return pytest.param(self, id=self.name, marks=marks)


# --- helpers used by cases -------------------------------------------------------------------


def _source_topic(ctx: Ctx) -> None:
    """A source topic with records, so a mirror that wrongly started would have work to commit."""
    assert ctx.clusters is not None
    create_topic(ctx.clusters.source, ctx.topic, PARTITIONS)
    produce(ctx.clusters.source, ctx.topic,
            [Record(key=b"k%d" % i, value=b"v", partition=i % PARTITIONS) for i in range(20)])


def _group_with_an_offset(ctx: Ctx) -> None:
    """An existing group: it committed offset 1 of partition 0 of the source topic."""
    _source_topic(ctx)
    assert ctx.clusters is not None
    deadline = time.monotonic() + 60
    while True:
        consumer = Consumer({"bootstrap.servers": ctx.clusters.source, "group.id": ctx.group})
        try:
            consumer.commit(offsets=[TopicPartition(ctx.topic, 0, 1)], asynchronous=False)
            return
        except KafkaException:  # a young cluster may answer NOT_COORDINATOR at first
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        finally:
            consumer.close()


def _groups_in_use(ctx: Ctx) -> None:
    """Make sure the source cluster already serves groups (its __consumer_offsets exists).

    The first group request a new cluster gets is answered NOT_COORDINATOR; that answer is
    the subject of its own case (lag-nonexistent-group-on-a-new-cluster), not of these.
    """
    assert ctx.clusters is not None
    _committed(ctx.clusters.source, f"warm-{ctx.group}", ctx.topic)


def _caret_at(position: int) -> Check:
    """The regex answer shows the text, then a caret under the character at ``position``."""

    def check(_ctx: Ctx, out: subprocess.CompletedProcess[str]) -> None:
        lines = out.stderr.splitlines()
        quoted = next(i for i, line in enumerate(lines) if line.lstrip().startswith('"'))
        caret = lines[quoted + 1]
        assert caret.strip() == "^", out.stderr
        assert caret.index("^") == lines[quoted].index('"') + 1 + position, out.stderr

    return check


def _address_once(ctx: Ctx, out: subprocess.CompletedProcess[str]) -> None:
    assert out.stderr.count(ctx.dead) == 1, out.stderr


def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """helpers.kafka_io.committed, retried: a young cluster may briefly answer NOT_COORDINATOR."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return committed(bootstrap, group, topic, range(PARTITIONS))
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _binary_file(ctx: Ctx) -> str:
    # 35 bytes of text, then bytes no UTF-8 text holds
    return ctx.config("source", b"bootstrap.servers=127.0.0.1:1\nok=1\n\xff\xfe\x00\x01\x80")


def _unreadable_file(ctx: Ctx) -> str:
    path = ctx.source()
    os.chmod(path, 0)
    return path


# --- the table -------------------------------------------------------------------------------

CASES = [
    # config files
    Case(
        "missing-config-file",
        lambda c: c.run(consumer=str(c.workdir / "nope.properties")),
        lambda c: [f"{c.workdir / 'nope.properties'}: no such file"],
    ),
    Case(
        "config-file-is-a-folder",
        lambda c: c.run(consumer=str(c.workdir)),
        lambda c: [f"{c.workdir}: is a folder, not a .properties file"],
    ),
    Case(
        "unreadable-config-file",
        lambda c: c.run(consumer=_unreadable_file(c)),
        lambda c: [f"{c.path('source')}: not readable (permission denied)"],
        skip_if=(IS_ROOT, "root reads any file, chmod 000 or not"),
    ),
    Case(
        "binary-config-file",
        lambda c: c.run(consumer=_binary_file(c)),
        lambda c: [f"{c.path('source')}: not a text file", "byte 35"],
    ),
    Case(
        "malformed-escape-in-config-file",
        lambda c: c.run(consumer=c.config("source", "bootstrap.servers=h:1\\uZZZZ\n")),
        lambda c: [f"{c.path('source')}: malformed properties file", "\\uZZZZ"],
    ),
    Case(
        "missing-bootstrap-servers",
        lambda c: c.run(consumer=c.config("source", "group.id=g\n")),
        lambda c: [f"{c.path('source')}: bootstrap.servers is missing",
                   "`bootstrap.servers=HOST:9092`"],
    ),
    Case(
        "unknown-key-with-suggestion",
        lambda c: c.run(consumer=c.config("source", f"bootstrap.server={c.dead}\n")),
        lambda c: [f"{c.path('source')}: bootstrap.server: unknown setting",
                   "did you mean bootstrap.servers?"],
    ),
    Case(
        "zookeeper-connect",
        lambda c: c.run(consumer=c.config("source", "zookeeper.connect=zk:2181\ngroup.id=g\n")),
        lambda c: [f"{c.path('source')}: zookeeper.connect:", "`bootstrap.servers=HOST:9092"],
    ),
    Case(
        "zk-connect",
        lambda c: c.run(consumer=c.config("source", "zk.connect=zk:2181\n")),
        lambda c: [f"{c.path('source')}: zk.connect:", "`bootstrap.servers=HOST:9092"],
    ),
    Case(
        "acks-1-in-producer-config",
        lambda c: c.run(producer=c.config("target", f"bootstrap.servers={c.dead}\nacks=1\n")),
        lambda c: [f"{c.path('target')}: acks=1:", "acks=all"],
    ),
    Case(
        "idempotence-off-in-producer-config",
        lambda c: c.run(producer=c.config(
            "target", f"bootstrap.servers={c.dead}\nenable.idempotence=false\n")),
        lambda c: [f"{c.path('target')}: enable.idempotence=false:",
                   "enable.idempotence=true"],
    ),
    Case(
        "every-problem-of-two-files-and-a-flag-at-once",
        lambda c: c.run(
            "--num.streams", "0",
            consumer=c.config("source", "zookeeper.connect=zk:2181\n"),
            producer=c.config("target", f"bootstrap.servers={c.dead}\nacks=1\n"),
        ),
        lambda c: [f"{c.path('source')}: zookeeper.connect:",
                   f"{c.path('source')}: bootstrap.servers is missing",
                   f"{c.path('target')}: acks=1:", "--num.streams 0"],
    ),
    # flags
    Case(
        "whitelist-and-include",
        lambda c: c.run("--whitelist", "a", "--include", "b", include=None),
        lambda c: ["--include conflicts with --whitelist"],
    ),
    Case(
        "blacklist-and-exclude",
        lambda c: c.run("--blacklist", "a", "--exclude", "b"),
        lambda c: ["--exclude conflicts with --blacklist"],
    ),
    Case(
        "regex-unclosed-group",
        lambda c: c.run(include="abc("),
        lambda c: ["--include: invalid regular expression", "at position 3", '"abc("'],
        check=_caret_at(3),
    ),
    Case(
        "regex-unterminated-set",
        lambda c: c.run(include="[a-"),
        lambda c: ["--include: invalid regular expression", "at position 0", '"[a-"'],
        check=_caret_at(0),
    ),
    Case(
        "regex-nothing-to-repeat",
        lambda c: c.run(include="*x"),
        lambda c: ["--include: invalid regular expression", "at position 0", '"*x"'],
        check=_caret_at(0),
    ),
    Case(
        "exclude-regex-unbalanced",
        lambda c: c.run("--exclude", "a)b"),
        lambda c: ["--exclude: invalid regular expression", "at position 1", '"a)b"'],
        check=_caret_at(1),
    ),
    Case(
        "abbreviated-flag-is-unknown",
        lambda c: c.run("--num.stream", "2"),
        lambda c: ["unrecognized arguments: --num.stream 2", "did you mean --num.streams?"],
    ),
    Case(
        "dash-instead-of-dot-in-flag",
        lambda c: ["run", "--consumer-config", c.source(), "--producer.config", c.target(),
                   "--include", "x"],
        lambda c: ["unrecognized arguments: --consumer-config",
                   "did you mean --consumer.config?"],
    ),
    Case(
        "num-streams-0",
        lambda c: c.run("--num.streams", "0"),
        lambda c: ["--num.streams 0: must be a whole number of at least 1"],
    ),
    Case(
        "num-streams-negative",
        lambda c: c.run("--num.streams", "-1"),
        lambda c: ["--num.streams -1: must be a whole number of at least 1"],
    ),
    Case(
        "num-streams-not-a-number",
        lambda c: c.run("--num.streams", "abc"),
        lambda c: ["argument --num.streams: invalid int value: 'abc'"],
    ),
    Case(
        "num-producers-0",
        lambda c: c.run("--num.producers", "0"),
        lambda c: ["--num.producers 0: must be a whole number of at least 1"],
    ),
    Case(
        "offset-commit-interval-0",
        lambda c: c.run("--offset.commit.interval.ms", "0"),
        lambda c: ["--offset.commit.interval.ms 0: must be a whole number of at least 1"],
    ),
    Case(
        "metrics-port-out-of-range",
        lambda c: c.run("--metrics.port", "70000"),
        lambda c: ["--metrics.port 70000", "1-65535"],
    ),
    Case(
        "abort-on-send-failure-maybe",
        lambda c: c.run("--abort.on.send.failure", "maybe"),
        lambda c: ["argument --abort.on.send.failure", "true or false", "'maybe'"],
    ),
    Case(
        "missing-producer-config",
        lambda c: ["run", "--consumer.config", c.source(), "--include", "x"],
        lambda c: ["--producer.config FILE is required"],
    ),
    Case(
        "missing-include",
        lambda c: c.run(include=None),
        lambda c: ["--whitelist/--include REGEX is required"],
    ),
    Case(
        "verbose-shows-the-traceback-of-an-expected-error",
        lambda c: ["--verbose", *c.run(consumer=str(c.workdir / "nope.properties"))],
        lambda c: [f"ConfigError: {c.workdir / 'nope.properties'}: no such file"],
        traceback=True,
    ),
    # clusters
    Case(
        "unreachable-source",
        lambda c: c.run(consumer=c.source(c.dead)),
        lambda c: [f"source cluster 'source' ({c.dead})", "did not answer"],
        brokers=True, nothing_written=True,
    ),
    Case(
        "unreachable-source-named-once",
        lambda c: c.run(consumer=c.source(c.dead)),
        lambda c: [f"source cluster 'source' ({c.dead}) did not answer"],
        brokers=True, check=_address_once,
    ),
    Case(
        "unreachable-target",
        lambda c: c.run(producer=c.target(c.dead)),
        lambda c: [f"target cluster ({c.dead})", "did not answer"],
        brokers=True, setup=_source_topic, nothing_written=True,
    ),
    Case(
        "source-port-is-not-kafka",
        lambda c: c.run(consumer=c.source(c.not_kafka)),
        lambda c: [f"source cluster 'source' ({c.not_kafka})", "did not answer"],
        brokers=True, not_kafka=True, nothing_written=True,
    ),
    Case(
        "source-is-target",
        lambda c: c.run(producer=c.target(c.source_address), include=c.topic),
        lambda c: [f"{c.path('source')}: the source cluster ({c.source_address}) is the "
                   f"target cluster ({c.source_address})", "into itself"],
        brokers=True, setup=_source_topic, nothing_written=True, target_is_source=True,
    ),
    Case(
        "message-handler-module-missing",
        lambda c: c.run("--message.handler", "nosuchmodule:X", include=c.topic),
        lambda c: ["--message.handler nosuchmodule:X", "cannot import nosuchmodule"],
        brokers=True, setup=_source_topic, nothing_written=True,
    ),
    Case(
        "message-handler-class-missing",
        lambda c: c.run("--message.handler", "json:NoSuchClass", include=c.topic),
        lambda c: ["--message.handler json:NoSuchClass", "json has no NoSuchClass"],
        brokers=True, setup=_source_topic, nothing_written=True,
    ),
    Case(
        "message-handler-bad-spec",
        lambda c: c.run("--message.handler", "bad-spec", include=c.topic),
        lambda c: ["--message.handler bad-spec", "module:Class"],
        brokers=True, setup=_source_topic, nothing_written=True,
    ),
    # lag, offset-checker, verify, local
    Case(
        "lag-without-group",
        lambda c: ["lag", "--bootstrap-server", c.dead],
        lambda c: ["kmirror lag", "the following arguments are required: --group"],
    ),
    Case(
        "lag-nonexistent-group",
        lambda c: ["lag", "--bootstrap-server", c.source_address, "--group", c.group],
        lambda c: [f"group {c.group} does not exist"],
        brokers=True, setup=_groups_in_use,
    ),
    Case(
        "lag-nonexistent-group-names-the-cluster",
        lambda c: ["lag", "--consumer.config", c.source(), "--group", c.group],
        lambda c: [f"group {c.group} does not exist", c.source_address],
        brokers=True, setup=_groups_in_use,
    ),
    Case(
        "lag-nonexistent-group-on-a-new-cluster",
        lambda c: ["lag", "--bootstrap-server", str(c.fresh), "--group", c.group],
        lambda c: [f"group {c.group} does not exist"],
        fresh_cluster=True,
    ),
    Case(
        "lag-nonexistent-topic",
        lambda c: ["lag", "--bootstrap-server", c.source_address, "--group", c.group,
                   "--topic", f"{c.topic}-nope"],
        lambda c: ["not found", f"{c.topic}-nope"],
        brokers=True, setup=_group_with_an_offset,
    ),
    Case(
        "lag-zookeeper",
        lambda c: ["lag", "--zookeeper", "127.0.0.1:2181", "--group", "g"],
        lambda c: ["--zookeeper 127.0.0.1:2181", "kmirror lag --bootstrap-server"],
    ),
    Case(
        "offset-checker",
        lambda c: ["offset-checker", "--zookeeper", "127.0.0.1:2181", "--group", "g"],
        lambda c: ["`kmirror lag`", "kmirror lag --bootstrap-server"],
    ),
    Case(
        "verify-regex-matches-nothing",
        lambda c: ["verify", "--source.bootstrap.servers", c.source_address,
                   "--target.bootstrap.servers", c.target_address,
                   "--include", f"{c.topic}-nope-.*"],
        lambda c: [f"--include '{c.topic}-nope-.*' selects none"],
        brokers=True,
    ),
    Case(
        "local-logs-of-unknown-cluster",
        lambda c: ["local", "logs", "nosuchcluster"],
        lambda c: ["'nosuchcluster'",
                   str(Path(c.local_dir) / "nosuchcluster" / "broker.log")],
    ),
]


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def dead_address() -> str:
    """host:port of a port nobody listens on (bound, then released)."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{free.getsockname()[1]}"


class _HttpGarbage(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            self.request.recv(1024)
            self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def not_kafka_address() -> Iterator[str]:
    """A TCP server that accepts, answers like an HTTP server and closes."""
    server = _Server(("127.0.0.1", 0), _HttpGarbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def fresh_cluster_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A single-node cluster of its own, just started, in a private local dir."""
    env = dict(os.environ)
    env["KMIRROR_LOCAL_DIR"] = str(tmp_path_factory.mktemp("kmirror-fresh"))
    up = subprocess.run(kmirror_cmd("local", "up", "--name", "fresh", "--json"), env=env,
                        capture_output=True, text=True, timeout=300, check=False)
    try:
        assert up.returncode == 0, up.stderr
        yield json.loads(up.stdout)["clusters"][0]["bootstrap_servers"]
    finally:
        subprocess.run(kmirror_cmd("local", "down", "--purge"), env=env, capture_output=True,
                       timeout=120, check=False)


# --- the tests -------------------------------------------------------------------------------


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 32
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_bad_input_is_answered_with_exit_2_and_a_clear_message(
    case: Case, request: pytest.FixtureRequest, workdir: Path, topic_name: str,
    dead_address: str, local_env: dict[str, str],
) -> None:
    ctx = Ctx(workdir=workdir, topic=topic_name, dead=dead_address, env=local_env)
    if case.brokers:
        ctx.clusters = request.getfixturevalue("clusters")
    if case.not_kafka:
        ctx.not_kafka = request.getfixturevalue("not_kafka_address")
    if case.fresh_cluster:
        ctx.fresh = request.getfixturevalue("fresh_cluster_address")
    if case.setup:
        case.setup(ctx)
    argv = case.args(ctx)

    started = time.monotonic()
    try:
        out = subprocess.run(kmirror_cmd(*argv), capture_output=True, text=True,
                             timeout=PROCESS_TIMEOUT_S, env=ctx.env, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"no answer within {PROCESS_TIMEOUT_S:g} s to kmirror {argv}: {exc.stderr!r}")
    elapsed = time.monotonic() - started
    shown = f"kmirror {' '.join(argv)}\nexit {out.returncode} after {elapsed:.1f} s\n" \
            f"stderr:\n{out.stderr}\nstdout:\n{out.stdout}"

    assert out.returncode == 2, shown
    for fragment in case.expect(ctx):
        assert fragment in out.stderr, f"{fragment!r} not in the answer\n{shown}"
    if case.traceback:
        assert "Traceback (most recent call last)" in out.stderr, shown
    else:
        assert "Traceback" not in out.stderr, shown
    assert elapsed < ANSWER_WITHIN_S, shown
    if case.check:
        case.check(ctx, out)
    if case.nothing_written:
        assert ctx.clusters is not None
        offsets = _committed(ctx.clusters.source, ctx.group, ctx.topic)
        assert set(offsets.values()) == {NO_OFFSET}, f"committed {offsets}\n{shown}"
        if not case.target_is_source:
            assert topic_partitions(ctx.clusters.target, ctx.topic) == 0, \
                f"target topic {ctx.topic} was created\n{shown}"


def test_a_filter_that_selects_nothing_warns_and_keeps_watching(
    clusters: Clusters, workdir: Path, topic_name: str, dead_address: str,
    local_env: dict[str, str],
) -> None:
    # Given a mirror whose --include matches no source topic (not an error: it may appear later)
    ctx = Ctx(workdir=workdir, topic=topic_name, dead=dead_address, env=local_env,
              clusters=clusters)
    regex = f"{topic_name}-no-such-topic-.*"
    args = ["--consumer.config", ctx.source(), "--producer.config", ctx.target(),
            "--include", regex, "--metrics.port", "0", "--no-live"]
    mirror = MirrorProcess(args, workdir / "mirror.log")
    try:
        # Then it warns, naming the regex and saying it keeps looking
        mirror.wait_for("keeps looking", timeout_s=60)
        output = mirror.output()
        assert f"--include '{regex}' selects none" in output, output
        assert "Traceback" not in output, output
        # And it keeps running
        time.sleep(3)
        assert mirror.process.poll() is None, mirror.output()
    finally:
        code = mirror.stop(signal.SIGTERM)
    # And SIGTERM stops it cleanly
    assert code == 0, mirror.output()
    assert "Traceback" not in mirror.output(), mirror.output()
