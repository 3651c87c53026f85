"""`kmirror bench` end to end on a tiny scenario: every tool starts, copies and is measured."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import kmirror_cmd
from tests.helpers.kafka_io import Clusters, create_topic, topic_partitions

pytestmark = pytest.mark.integration


def test_bench_smoke_measures_every_tool_and_leaves_other_topics_alone(
    clusters: Clusters, topic_name: str, tmp_path: Path
) -> None:
    # Given a topic of someone else's on the target, and a tiny zstd scenario (4,000 records)
    create_topic(clusters.target, topic_name, 1)
    results, page = tmp_path / "results.json", tmp_path / "benchmarks.md"
    # When the harness runs kmirror, MirrorMaker 2, the classic MirrorMaker, the limit and a
    # short latency measurement
    out = subprocess.run(
        kmirror_cmd(
            "bench", "run", "--scenarios", "100B-zstd", "--scale", "0.002",
            "--tools", "kmirror-1,mm2-1,mm1-1", "--repetitions", "1",
            "--latency-tools", "kmirror-1", "--latency-seconds", "3",
            "--source.bootstrap.servers", clusters.source,
            "--target.bootstrap.servers", clusters.target,
            "--results", str(results), "--docs", str(page),
        ),
        env=clusters.env, capture_output=True, text=True, timeout=900, check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # Then every tool copied all 4,000 records, with rates, CPU and memory measured
    rows = json.loads(results.read_text())["runs"]
    by_tool = {row["tool"]: row for row in rows}
    assert set(by_tool) == {"kmirror-1", "mm2-1", "mm1-1", "limit-consume", "limit-produce"}
    for tool in ("kmirror-1", "mm2-1", "mm1-1"):
        row = next(r for r in rows if r["tool"] == tool and r["scenario"] == "100B-zstd")
        assert row["error"] is None, row
        assert row["records"] == 4000
        assert row["records_per_s"] > 0
        assert row["cpu_seconds"] is not None and row["peak_rss_mb"] > 10
        assert row["startup_seconds"] > 0
    latency = next(r for r in rows if r["scenario"] == "latency")
    assert latency["error"] is None and latency["records"] > 1000
    assert 0 < latency["p50_ms"] <= latency["p99_ms"]
    # And the page and chart were generated from the results
    text = page.read_text()
    assert "| 100B-zstd | kmirror-1 |" in text and "| kmirror-1 | 10,000 |" in text
    assert page.with_suffix(".png").stat().st_size > 1000
    # And the target topic that was not the harness's own is still there
    assert topic_partitions(clusters.target, topic_name) == 1
