"""Results file, ``docs/benchmarks.md`` and ``docs/benchmarks.png`` from the measured rows.

The results file is the record: ``{"meta": {...}, "runs": [...]}`` with one row per copy,
limit measurement or latency measurement. The Markdown and the chart are regenerated from it
(``kmirror bench report FILE``), so the committed figures always match a committed file.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

Row = Mapping[str, Any]
BASELINE = "mm2-1"
"""The tool kmirror's ratios are taken against (MirrorMaker 2 with one task)."""


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        memory_gib = None
    return {
        "cpu": model or platform.processor(), "cores": os.cpu_count(),
        "memory_gib": memory_gib, "os": platform.platform(), "python": platform.python_version(),
    }


def write_results(path: Path, meta: Mapping[str, Any], rows: Iterable[Row]) -> None:
    """Write the results file (JSON, one row per line for readable diffs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    runs = ",\n".join("    " + json.dumps(dict(row), sort_keys=True) for row in rows)
    path.write_text(
        "{\n"
        f'  "meta": {json.dumps(dict(meta), sort_keys=True)},\n'
        f'  "runs": [\n{runs}\n  ]\n'
        "}\n"
    )


def load_results(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read a results file back: (meta, rows)."""
    data = json.loads(path.read_text())
    return data["meta"], data["runs"]


def medians(rows: Iterable[Row]) -> dict[tuple[str, str], dict[str, float]]:
    """Median of each numeric figure per (scenario, tool), over successful repetitions."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        if not row.get("error"):
            groups[(row["scenario"], row["tool"])].append(row)
    result: dict[tuple[str, str], dict[str, float]] = {}
    for key, group in groups.items():
        figures: dict[str, float] = {"repetitions": len(group)}
        for name in group[0]:
            values = [r[name] for r in group if isinstance(r.get(name), int | float)
                      and not isinstance(r.get(name), bool)]
            if values and name != "repetition":
                figures[name] = statistics.median(values)
        result[key] = figures
    return result


def _limit(table: Mapping[tuple[str, str], Mapping[str, float]], scenario: str) -> float | None:
    rates = [table[(scenario, t)]["records_per_s"] for t in ("limit-consume", "limit-produce")
             if (scenario, t) in table]
    return min(rates) if len(rates) == 2 else None


def _fmt(value: float | None, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{suffix}"


def throughput_table(rows: Sequence[Row]) -> list[str]:
    """Markdown table of median throughput, CPU and memory per scenario and tool."""
    copies = [r for r in rows if r.get("scenario") != "latency"]
    table = medians(copies)
    scenarios = list(dict.fromkeys(r["scenario"] for r in copies))
    lines = [
        "| scenario | tool | streams | records/s | MB/s | vs MM2 | vs limit | CPU s/GB "
        "| peak RSS MB (largest process) | start-up s | total s | reps |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in scenarios:
        limit = _limit(table, scenario)
        baseline = table.get((scenario, BASELINE))
        tools = list(dict.fromkeys(r["tool"] for r in copies if r["scenario"] == scenario))
        for tool in tools:
            figures = table.get((scenario, tool))
            if figures is None:
                lines.append(f"| {scenario} | {tool} | | failed | | | | | | | | 0 |")
                continue
            rate = figures["records_per_s"]
            vs_mm2 = rate / baseline["records_per_s"] if baseline else None
            vs_limit = rate / limit if limit else None
            rss = figures.get("peak_rss_mb")
            rss_text = (f"{rss:,.0f} ({figures.get('peak_process_rss_mb', rss):,.0f})"
                        if rss is not None else "–")
            lines.append(
                f"| {scenario} | {tool} | {int(figures.get('streams', 1))} | {_fmt(rate)} "
                f"| {_fmt(figures.get('mb_per_s'), 1)} | {_fmt(vs_mm2, 2, '×')} "
                f"| {_fmt(vs_limit, 2, '×')} | {_fmt(figures.get('cpu_seconds_per_gb'), 1)} "
                f"| {rss_text} | {_fmt(figures.get('startup_seconds'), 1)} "
                f"| {_fmt(figures.get('total_seconds'), 1)} | {int(figures['repetitions'])} |"
            )
    return lines


def latency_table(rows: Sequence[Row]) -> list[str]:
    """Markdown table of median replication latency per tool."""
    table = medians([r for r in rows if r.get("scenario") == "latency"])
    lines = [
        "| tool | rate records/s | p50 ms | p99 ms | max ms | CPU s per 30 s | reps |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (_, tool), figures in sorted(table.items()):
        per_30s = figures["cpu_seconds"] / figures["seconds"] * 30 if figures["seconds"] else None
        lines.append(
            f"| {tool} | {_fmt(figures['rate_per_s'])} | {_fmt(figures['p50_ms'], 1)} "
            f"| {_fmt(figures['p99_ms'], 1)} | {_fmt(figures['max_ms'], 1)} "
            f"| {_fmt(per_30s, 1)} | {int(figures['repetitions'])} |"
        )
    return lines


def failures(rows: Sequence[Row]) -> list[str]:
    """One line per failed run."""
    return [f"- {r['tool']} on {r['scenario']}, repetition {r['repetition']}: {r['error']}"
            for r in rows if r.get("error")]


def chart(rows: Sequence[Row], path: Path) -> None:
    """Grouped bars: median MB/s per scenario and tool."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    copies = [r for r in rows if r.get("scenario") != "latency"]
    table = medians(copies)
    scenarios = list(dict.fromkeys(r["scenario"] for r in copies))
    tools = list(dict.fromkeys(r["tool"] for r in copies))
    width = 0.8 / max(1, len(tools))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, tool in enumerate(tools):
        values = [table.get((s, tool), {}).get("mb_per_s", 0.0) for s in scenarios]
        ax.bar([x + i * width for x in range(len(scenarios))], values, width, label=tool)
    ax.set_xticks([x + width * (len(tools) - 1) / 2 for x in range(len(scenarios))])
    ax.set_xticklabels(scenarios)
    ax.set_ylabel("MB/s (median, steady copy)")
    ax.set_title("kmirror vs MirrorMaker 2, classic MirrorMaker and the limit")
    ax.legend(fontsize="small", ncols=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
