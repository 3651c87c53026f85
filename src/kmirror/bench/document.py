"""Regenerate the measured part of ``docs/benchmarks.md`` (and the chart) from a results file.

The page has hand-written analysis around one generated block between two marker comments;
only the block is replaced, so the prose survives a rerun. A page without markers gets the
block appended.
"""

from __future__ import annotations

from pathlib import Path

from kmirror.bench.report import (
    chart,
    failures,
    latency_table,
    load_results,
    throughput_table,
)

START = "<!-- bench:generated:start (kmirror bench report rewrites this block) -->"
END = "<!-- bench:generated:end -->"


def generated_block(results: Path, chart_name: str) -> str:
    """The Markdown block describing one results file."""
    meta, rows = load_results(results)
    machine = meta.get("machine", {})
    lines = [
        START,
        f"Measured {meta.get('date', '?')} (UTC) with `{meta.get('command', '?')}`; results "
        f"file `{results.as_posix()}`. Kafka {meta.get('kafka_version', '?')} brokers (local, "
        f"KRaft, one node each) on {machine.get('cpu', '?')}, {machine.get('cores', '?')} "
        f"cores, {machine.get('memory_gib', '?')} GiB, {machine.get('os', '?')}, Python "
        f"{machine.get('python', '?')}. Brokers, tools and the harness share these cores. "
        f"Figures are medians of {meta.get('repetitions', '?')} repetitions; records/s and "
        "MB/s are the steady copy (from 10 % to 90 % of the records on the target), start-up "
        "is launch → first record on the target, total is launch → every record; CPU is the "
        "tool's whole process tree over the steady copy; MB = 2^20 bytes of record values.",
        "",
        *throughput_table(rows),
        "",
        f"![median MB/s per scenario and tool]({chart_name})",
        "",
        "Replication latency (target append time − source send time) at a steady rate:",
        "",
        *latency_table(rows),
    ]
    failed = failures(rows)
    if failed:
        lines += ["", "Runs that failed:", "", *failed]
    lines.append(END)
    return "\n".join(lines) + "\n"


def regenerate(results: Path, page: Path) -> None:
    """Rewrite the generated block of ``page`` and the chart beside it."""
    _, rows = load_results(results)
    png = page.with_suffix(".png")
    chart(rows, png)
    block = generated_block(results, png.name)
    text = page.read_text() if page.exists() else "# Benchmarks\n\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text)
