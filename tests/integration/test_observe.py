"""Metrics, health, readiness and the live view of `kmirror run`, on real brokers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.dump_log import partition_dirs
from tests.helpers.kafka_io import Clusters, Record, create_topic, produce
from tests.helpers.mirror_run import MirrorProcess, write_config

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _samples(port: int) -> dict[str, float]:
    """Sample name + labels -> value, summed per name for convenience under the bare name."""
    _, text = _get(f"http://127.0.0.1:{port}/metrics")
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def _wait(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("path", ["records", "default"])
def test_metrics_health_and_ready_while_mirroring(
    clusters: Clusters, workdir: Path, topic_name: str, path: str
) -> None:
    # Given 20,000 records on the source and a mirror serving its metrics
    create_topic(clusters.source, topic_name, 4)
    produce(clusters.source, topic_name, [Record(b"k", b"v" * 50, i % 4) for i in range(20_000)])
    source = write_config(workdir, "source", bootstrap__servers=clusters.source,
                          group__id=f"g-{topic_name}")
    target = write_config(workdir, "target", bootstrap__servers=clusters.target)
    port = _free_port()
    mirror = MirrorProcess(["--consumer.config", str(source), "--producer.config", str(target),
                            "--include", topic_name, "--metrics.port", str(port),
                            *(["--no-shallow"] if path == "records" else [])],
                           workdir / "mirror.log")
    target_pid = next(c["pid"] for c in clusters.info["clusters"] if c["name"] == "target")
    try:
        mirror.wait_for("/metrics")
        # Then the counters reach the records produced, and the lag falls to 0
        _wait(lambda: _samples(port).get("kmirror_mirrored_records_total", 0) >= 20_000, 90,
              "all records counted")
        _wait(lambda: _samples(port).get("kmirror_lag_records", 1) == 0, 60, "lag 0")
        samples = _samples(port)
        assert samples["kmirror_mirrored_records_total"] == 20_000
        if path == "records":  # (record value bytes)
            assert samples["kmirror_mirrored_bytes_total"] == 20_000 * 50
        else:  # (a batch forwarded whole counts its bytes: at most what the source stored)
            stored = sum(f.stat().st_size for d in partition_dirs(clusters, "source", topic_name)
                         .values() for f in d.glob("*.log"))
            assert 20_000 * 50 <= samples["kmirror_mirrored_bytes_total"] <= stored
        assert samples["kmirror_assigned_partitions"] == 4
        assert samples["kmirror_replication_latency_seconds_count"] > 0
        assert "kmirror_producer_queue_fill_ratio" in samples
        if path == "records":
            return  # (readiness is the same on both paths: checked once, on the default)
        # And /health and /ready answer 200
        _wait(lambda: _get(f"http://127.0.0.1:{port}/ready")[0] == 200, 30, "ready")
        assert _get(f"http://127.0.0.1:{port}/health")[0] == 200
        # When the target broker stops answering
        os.kill(target_pid, signal.SIGSTOP)
        try:
            _wait(lambda: _get(f"http://127.0.0.1:{port}/ready")[0] == 503, 30, "not ready")
            _, body = _get(f"http://127.0.0.1:{port}/ready")
            assert "target cluster" in json.loads(body)["reasons"][0]
            # Then it is still alive, only not ready
            assert _get(f"http://127.0.0.1:{port}/health")[0] == 200
        finally:
            os.kill(target_pid, signal.SIGCONT)
        # When the target is back, it is ready again
        _wait(lambda: _get(f"http://127.0.0.1:{port}/ready")[0] == 200, 60, "ready again")
    finally:
        os.kill(target_pid, signal.SIGCONT)
        assert mirror.stop() == 0, mirror.output()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_live_view_on_a_terminal(clusters: Clusters, workdir: Path, topic_name: str) -> None:
    # Given a mirror started on a real terminal (tmux)
    create_topic(clusters.source, topic_name, 2)
    produce(clusters.source, topic_name, [Record(b"k", b"v", i % 2) for i in range(5000)])
    source = write_config(workdir, "source", bootstrap__servers=clusters.source,
                          group__id=f"g-{topic_name}")
    target = write_config(workdir, "target", bootstrap__servers=clusters.target)
    session = f"kmirror-{topic_name[-8:]}"
    command = " ".join([
        sys.executable, "-m", "kmirror", "run", "--consumer.config", str(source),
        "--producer.config", str(target), "--include", topic_name, "--metrics.port", "0",
    ])
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40",
                    command], check=True)
    try:
        screen = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True, check=False).stdout
            if "5,000 records mirrored" in screen and "records/s" in screen:
                break
            time.sleep(0.5)
        (workdir / "screen.txt").write_text(screen)
        # Then the live table shows its columns and the topic's figures
        for column in ("source", "topic", "records/s", "MB/s", "lag", "lag time", "queue",
                       "mirrored"):
            assert column in screen, screen
        assert "5,000 records mirrored" in screen, screen
        assert topic_name[:12] in screen, screen
    finally:
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=False)
        # (the session ends when kmirror exits; give it 10 s to stop, then kill the session)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(
                ["tmux", "has-session", "-t", session], capture_output=True,
                check=False).returncode == 0:
            time.sleep(0.2)
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True,
                       check=False)
