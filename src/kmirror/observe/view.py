"""The live view of `kmirror run` on a terminal: a table per topic, refreshed every second."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from kmirror.lag import human_seconds

COLUMNS = ("source", "topic", "records/s", "MB/s", "lag", "lag time", "queue", "mirrored",
           "path")


@dataclass(frozen=True)
class TopicRow:
    """One topic's figures for the view."""

    source: str
    topic: str
    records_per_s: float
    mb_per_s: float
    lag_records: int
    lag_seconds: float
    queue_fill: float
    mirrored: int
    path: str = ""  # "batches", "records", or both with their partition counts


def live_table(
    rows: Sequence[TopicRow], header: str, progress: tuple[int, int, float | None] | None = None
) -> RenderableType:
    """The table (and, with --until-caught-up, a progress bar with its ETA)."""
    table = Table(title=header, title_justify="left", expand=False)
    for column in COLUMNS:
        if column in ("source", "topic"):
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            row.source, row.topic, f"{row.records_per_s:,.0f}", f"{row.mb_per_s:.2f}",
            f"{row.lag_records:,}", human_seconds(row.lag_seconds), f"{row.queue_fill:.0%}",
            f"{row.mirrored:,}", row.path,
        )
    if progress is None:
        return table
    done, total, eta_s = progress
    bar = ProgressBar(total=max(total, 1), completed=min(done, total), width=40)
    eta = "-" if eta_s is None else human_seconds(eta_s)
    line = Text(f" {done:,}/{total:,} records to catch up, ETA {eta}")
    return Group(table, Group(bar, line))
