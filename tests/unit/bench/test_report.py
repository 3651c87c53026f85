"""The benchmark's arithmetic and reporting: medians, ratios, tables, the regenerated page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kmirror.bench import document
from kmirror.bench.java import BenchError, parse_consumer_output, parse_producer_output
from kmirror.bench.latency import percentile
from kmirror.bench.report import latency_table, load_results, medians, throughput_table
from kmirror.bench.report import write_results as write
from kmirror.bench.scenarios import SCENARIOS


def _copy(tool: str, rate: float, rep: int, **extra: Any) -> dict[str, Any]:
    row = {"tool": tool, "scenario": "100B", "streams": 1, "records": 1000, "bytes": 100_000,
           "seconds": 1000 / rate if rate else 0.0, "records_per_s": rate,
           "mb_per_s": rate * 100 / 2**20,
           "cpu_seconds": 1.0, "peak_rss_mb": 100.0, "repetition": rep,
           "cpu_seconds_per_gb": 10.0, "startup_seconds": 1.0, "peak_process_rss_mb": 90.0,
           "error": None}
    row.update(extra)
    return row


def test_medians_ignore_failed_runs_and_use_the_middle_value() -> None:
    rows = [_copy("kmirror-1", r, i) for i, r in enumerate((100.0, 300.0, 200.0), 1)]
    rows.append(_copy("kmirror-1", 0.0, 4, error="stalled"))
    figures = medians(rows)[("100B", "kmirror-1")]
    assert figures["records_per_s"] == 200.0
    assert figures["repetitions"] == 3


def test_throughput_table_gives_ratios_to_mm2_and_to_the_smaller_limit() -> None:
    rows = [
        _copy("kmirror-1", 300.0, 1), _copy("mm2-1", 100.0, 1),
        _copy("limit-consume", 1000.0, 1), _copy("limit-produce", 400.0, 1),
    ]
    line = next(x for x in throughput_table(rows) if "| kmirror-1 |" in x)
    assert "| 3.00× |" in line  # vs MM2
    assert "| 0.75× |" in line  # vs min(1000, 400)


def test_a_tool_with_only_failed_runs_is_shown_as_failed() -> None:
    rows = [_copy("mm1-1", 0.0, 1, error="exited"), _copy("kmirror-1", 10.0, 1)]
    assert any("| mm1-1 |" in x and "failed" in x for x in throughput_table(rows))


def test_latency_table_reports_median_percentiles() -> None:
    rows = [{"tool": "kmirror-1", "scenario": "latency", "streams": 1, "rate_per_s": 10000,
             "records": 10, "seconds": 30.0, "p50_ms": p50, "p99_ms": p50 * 3, "max_ms": 99.0,
             "cpu_seconds": 3.0, "repetition": i, "error": None}
            for i, p50 in enumerate((5.0, 7.0, 6.0), 1)]
    line = next(x for x in latency_table(rows) if "kmirror-1" in x)
    assert "| 6.0 | 18.0 |" in line


@pytest.mark.parametrize(("q", "expected"), [(0.5, 50), (0.99, 99), (1.0, 100), (0.0, 1)])
def test_percentile_is_nearest_rank(q: float, expected: float) -> None:
    assert percentile([float(v) for v in range(100, 0, -1)], q) == expected


def test_producer_summary_is_the_last_line() -> None:
    out = ("5000 records sent, 1000.0 records/sec (0.10 MB/sec), 3.0 ms avg latency.\n"
           "20000 records sent, 4000.0 records/sec (0.38 MB/sec), 5.1 ms avg latency, 420.00 ms "
           "max latency, 4 ms 50th, 9 ms 95th, 12 ms 99th, 30 ms 99.9th.\n")
    rate = parse_producer_output(out)
    assert (rate.records, rate.seconds, rate.mb_per_s) == (20000, 5.0, 0.38)
    with pytest.raises(BenchError, match="no summary"):
        parse_producer_output("Exception in thread main")


def test_consumer_rate_is_the_fetch_rate_without_the_group_join() -> None:
    out = ("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
           "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n"
           "2026-11-26 13:32:14:865, 2026-11-26 13:32:15:496, 0.9766, 1.5476, 1000, 1584.7861, "
           "462, 169, 5.7785, 5917.1598\n")
    rate = parse_consumer_output(out)
    assert rate.records == 1000
    assert rate.seconds == pytest.approx(0.169)
    assert rate.records_per_s == pytest.approx(1000 / 0.169)


def test_scaled_scenarios_keep_their_shape() -> None:
    small = SCENARIOS["1KB-zstd"].scaled(0.01)
    assert (small.records, small.record_size, small.compression) == (5000, 1024, "zstd")
    assert small.topic == "bench.1KB-zstd"


def test_the_page_keeps_its_prose_and_replaces_only_the_generated_block(tmp_path: Path) -> None:
    results = tmp_path / "r.json"
    write(results, {"date": "2026-11-26T10:00:00Z", "command": "kmirror bench run",
                    "repetitions": 1, "machine": {"cpu": "test", "cores": 2}},
          [_copy("kmirror-1", 300.0, 1), _copy("mm2-1", 100.0, 1)])
    assert load_results(results)[1][0]["tool"] == "kmirror-1"
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nHand-written analysis.\n")
    document.regenerate(results, page)
    first = page.read_text()
    assert "Hand-written analysis." in first
    assert "| 100B | kmirror-1 |" in first
    assert (tmp_path / "benchmarks.png").stat().st_size > 1000
    page.write_text(first + "\nMore prose after.\n")
    document.regenerate(results, page)
    second = page.read_text()
    assert second.count(document.START) == 1
    assert "More prose after." in second
    assert "Hand-written analysis." in second
