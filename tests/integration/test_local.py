"""`kmirror local` against real brokers: up, idempotent up, down, restart, taken port, purge.

These tests run their own clusters in a private local dir, apart from the session's clusters.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import kmirror_cmd
from tests.helpers.kafka_io import cluster_metadata, create_topic, topic_partitions

pytestmark = pytest.mark.integration


def _kmirror(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        kmirror_cmd(*args), env=env, capture_output=True, text=True, timeout=240, check=False
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture
def own_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["KMIRROR_LOCAL_DIR"] = str(tmp_path / "local")
    yield env
    subprocess.run(kmirror_cmd("local", "down", "--purge"), env=env, timeout=120, check=False)


def _up(env: dict[str, str], *names: str) -> dict[str, dict[str, object]]:
    args = ["local", "up", "--json"]
    for name in names:
        args += ["--name", name]
    info = json.loads(_kmirror(env, *args).stdout)
    return {c["name"]: c for c in info["clusters"]}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_up_twice_gives_the_same_two_clusters_with_different_ids(
    clusters: object, local_env: dict[str, str]
) -> None:
    # Given the session's clusters are up
    first = json.loads(_kmirror(local_env, "local", "up", "--json").stdout)
    # When up runs again
    second = json.loads(_kmirror(local_env, "local", "up", "--json").stdout)
    # Then it prints exactly the same clusters, in the documented shape
    assert first == second
    assert set(first) == {"kafka_version", "kafka_libs", "clusters"}
    assert first["kafka_version"].startswith("4.")
    assert [c["name"] for c in first["clusters"]] == ["source", "target"]
    for cluster in first["clusters"]:
        assert set(cluster) == {"name", "bootstrap_servers", "data_dir", "log_file", "pid"}
        assert cluster["bootstrap_servers"].startswith("127.0.0.1:")
        assert _alive(cluster["pid"])
    # And an independent client (confluent-kafka, not kmirror's code) reads each cluster's
    # metadata: each answers with its own id (the one in its data dir); their ids differ
    ids = []
    for cluster in first["clusters"]:
        cluster_id, brokers = cluster_metadata(cluster["bootstrap_servers"])
        assert brokers and brokers[0].startswith("127.0.0.1:"), brokers
        assert cluster_id == _cluster_id(Path(cluster["data_dir"]))
        ids.append(cluster_id)
    assert ids[0] and ids[1] and ids[0] != ids[1]


def _cluster_id(data_dir: Path) -> str:
    for line in (data_dir / "meta.properties").read_text().splitlines():
        if line.startswith("cluster.id="):
            return line.split("=", 1)[1]
    return ""


def test_down_then_up_restarts_with_the_same_address_and_data(own_env: dict[str, str]) -> None:
    # Given a running cluster with a topic
    before = _up(own_env, "solo")["solo"]
    create_topic(before["bootstrap_servers"], "kept", 3)
    # When it is stopped
    _kmirror(own_env, "local", "down")
    status = json.loads(_kmirror(own_env, "local", "status", "--json").stdout)
    # Then status shows it stopped and its process is gone
    assert status["clusters"][0]["pid"] is None
    assert not _alive(before["pid"])
    # When it is started again
    after = _up(own_env, "solo")["solo"]
    # Then it has the same address and still holds its topic
    assert after["bootstrap_servers"] == before["bootstrap_servers"]
    assert after["pid"] != before["pid"]
    assert topic_partitions(after["bootstrap_servers"], "kept") == 3


def test_a_taken_port_is_replaced_by_a_free_one(own_env: dict[str, str]) -> None:
    # Given a cluster that was stopped and whose port another program took meanwhile
    first = _up(own_env, "solo")["solo"]
    _kmirror(own_env, "local", "down")
    port = int(str(first["bootstrap_servers"]).rsplit(":", 1)[1])
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        # When it is started again
        second = _up(own_env, "solo")["solo"]
    # Then it runs on another port and answers there
    assert second["bootstrap_servers"] != first["bootstrap_servers"]
    create_topic(second["bootstrap_servers"], "after-move", 1)
    assert topic_partitions(second["bootstrap_servers"], "after-move") == 1


def test_down_purge_removes_the_data(own_env: dict[str, str]) -> None:
    info = _up(own_env, "solo")["solo"]
    data_dir = Path(str(info["data_dir"]))
    assert (data_dir / "meta.properties").exists()
    out = _kmirror(own_env, "local", "down", "--purge")
    assert "purged" in out.stderr
    assert not data_dir.exists()
    assert not data_dir.parent.exists()


def test_stale_pid_files(own_env: dict[str, str]) -> None:
    # Given a stopped cluster whose pid file names a dead process (a crash leftover)
    info = _up(own_env, "solo")["solo"]
    home = Path(str(info["data_dir"])).parent
    _kmirror(own_env, "local", "down")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (home / "broker.pid").write_text(f"{dead.pid}\n")
    # Then up starts it anyway
    assert _alive(int(_up(own_env, "solo")["solo"]["pid"]))
    _kmirror(own_env, "local", "down")
    # Given a pid file naming a live process that is not the broker
    other = subprocess.Popen(["sleep", "60"])
    try:
        (home / "broker.pid").write_text(f"{other.pid}\n")
        out = _kmirror(own_env, "local", "up", "--name", "solo", check=False)
        # Then up refuses with one clear line, exit 2 and no traceback, and leaves it alone
        assert out.returncode == 2
        assert "stale pid file" in out.stderr and str(other.pid) in out.stderr
        assert "Traceback" not in out.stderr
        assert other.poll() is None
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()
        (home / "broker.pid").unlink(missing_ok=True)


def test_a_broker_that_cannot_start_shows_its_log(own_env: dict[str, str]) -> None:
    # Given a cluster whose data dir belongs to another node (a corrupt setup)
    info = _up(own_env, "solo")["solo"]
    _kmirror(own_env, "local", "down")
    meta = Path(str(info["data_dir"])) / "meta.properties"
    meta.write_text(meta.read_text().replace("node.id=1", "node.id=7"))
    started = time.monotonic()
    # When it is started
    out = _kmirror(own_env, "local", "up", "--name", "solo", check=False)
    # Then it fails fast with exit 2 and the tail of the broker log
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "last lines of" in out.stderr.lower()
    assert time.monotonic() - started < 90
