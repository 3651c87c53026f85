"""What `kmirror run` prints about itself: the plan, status lines, the summary, --dry-run JSON.

Only text from plain values: the mirror hands each function what it knows (a ``PlannedSource``
per source cluster, counts, rows of the live view), so nothing here reads a running mirror.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kmirror.config.settings import MirrorSettings
from kmirror.observe.view import TopicRow
from kmirror.topics.plan import LISTED_TOPICS, MORE, TopicAction

_ACTION_WORDS = {"create": "to create", "add-partitions": "to grow", "ok": "existing"}


@dataclass(frozen=True)
class Refusal:
    """A selected source topic the lineage check refuses to mirror."""

    source_topic: str
    target_topic: str
    reason: str  # the verdict's kind
    message: str | None


@dataclass(frozen=True)
class PlannedSource:
    """One source cluster's plan as printed: its topics and what happens on the target."""

    alias: str
    bootstrap_servers: str
    group: str
    topics: Mapping[str, int]  # selected topic -> partitions
    actions: Sequence[TopicAction]
    refused: Sequence[Refusal]  # sorted by source topic
    not_mirrored: Sequence[str]  # copies of the target's own topics (they would loop), sorted


def plan_lines(settings: MirrorSettings, sources: Sequence[PlannedSource],
               dry_run: bool) -> list[str]:
    """The plan printed before the streams start (and by --dry-run)."""
    streams = settings.num_streams
    parts = [
        f"'{s.alias}' ({s.bootstrap_servers}, group {s.group}): {len(s.topics)} topics, "
        f"{sum(s.topics.values())} partitions"
        for s in sources
    ]
    lines = [
        f"kmirror: mirroring {'; '.join(parts)} -> target "
        f"({settings.target['bootstrap.servers']}) with {streams} stream(s) per source, "
        f"{settings.num_producers} producer(s) per stream"
    ]
    for source in sources:
        path = path_words(settings, source.alias)
        shown, counted = _shown_actions(source.actions, dry_run)
        for action in shown:
            lines.append(f"  {source.alias} -> target: {action.describe()}; path: {path}")
        if counted:
            kinds = Counter(_ACTION_WORDS.get(a.action, a.action) for a in counted)
            lines.append(
                f"  {source.alias} -> target: {len(counted)} more topic(s), "
                + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
                + f"; path: {path} (`kmirror run --dry-run` lists each topic)")
        for refusal in source.refused:
            lines.append(f"  {source.alias} -> target: {refusal.target_topic}: not mirrored "
                         f"({refusal.reason})"
                         + (f": {refusal.message}" if dry_run else ": see the error above"))
        partitions = sum(source.topics.values())
        if 0 < partitions < streams:
            lines.append(
                f"warning: {streams} streams for {partitions} partitions of "
                f"'{source.alias}': {streams - partitions} stream(s) will be idle"
            )
    lines.extend(f"warning: {warning}" for warning in settings.warnings)
    return lines


def _shown_actions(actions: Sequence[TopicAction], dry_run: bool
                   ) -> tuple[list[TopicAction], list[TopicAction]]:
    """The actions listed one per line, and those only counted: a dry run lists them all; a
    run lists every one that needs attention (settings that differ, extra target partitions)
    and the first ``LISTED_TOPICS`` others (1,000 topics made 1,000 lines)."""
    if dry_run or len(actions) <= LISTED_TOPICS:
        return list(actions), []
    shown: list[TopicAction] = []
    counted: list[TopicAction] = []
    plain = 0
    for action in actions:
        if action.conflicts or action.action == MORE:
            shown.append(action)
        elif plain < LISTED_TOPICS:
            shown.append(action)
            plain += 1
        else:
            counted.append(action)
    return shown, counted


def path_words(settings: MirrorSettings, alias: str) -> str:
    """Which way the records of a source's topics go (docs/shallow.md)."""
    if settings.shallow:
        return "batches whole (--shallow)"
    reason = next((settings.record_path_reason(s) for s in settings.sources
                   if s.alias == alias), None)
    if reason:
        return f"records ({reason.split()[0].rstrip(':')})"
    return "batches whole or records, per partition"


def plan_json(settings: MirrorSettings, sources: Sequence[PlannedSource],
              messages: Sequence[str]) -> str:
    """``kmirror run --dry-run --json``: the plan and every message printed while planning."""
    return json.dumps({
        "target": {"bootstrap_servers": settings.target["bootstrap.servers"],
                   "alias": settings.target_alias},
        "sources": [{
            "alias": s.alias, "bootstrap_servers": s.bootstrap_servers,
            "group": s.group, "topics": dict(s.topics),
            "actions": [action.as_json() for action in s.actions],
            "refused": [{"source_topic": r.source_topic, "target_topic": r.target_topic,
                         "reason": r.reason, "message": r.message} for r in s.refused],
            "not_mirrored": list(s.not_mirrored),
            "path": path_words(settings, s.alias),
        } for s in sources],
        "messages": list(messages),
    }, indent=2)


def summarize(rows: Sequence[TopicRow]) -> str:
    """One plain status line over all topics."""
    records = sum(r.records_per_s for r in rows)
    mb = sum(r.mb_per_s for r in rows)
    lag = sum(r.lag_records for r in rows)
    lag_s = max((r.lag_seconds for r in rows), default=0.0)
    fill = max((r.queue_fill for r in rows), default=0.0)
    paths: dict[str, int] = {}
    for row in rows:
        if row.path:
            side = "both" if "," in row.path else row.path
            paths[side] = paths.get(side, 0) + 1
    by_path = ", ".join(f"{side} {n}" for side, n in sorted(paths.items()))
    return (f"{records:,.0f} records/s, {mb:.1f} MB/s, lag {lag:,} records "
            f"({lag_s:.1f} s), producer queue {fill:.0%} full"
            + (f"; topics by path: {by_path}" if by_path else ""))


def status_line(records: int, rows: Sequence[TopicRow]) -> str:
    """The status line printed every few seconds without --live."""
    return f"mirrored {records:,} records: {summarize(rows)}"


def live_header(records: int, streams: int) -> str:
    """The title of the live table."""
    return f"kmirror: {records:,} records mirrored, {streams} stream(s) running"


def summary_line(records: int, size_bytes: int, elapsed_s: float, errors: Sequence[str],
                 stopped_partitions: int) -> str:
    """The last line of a run: totals, rate, and what stopped it."""
    rate = records / elapsed_s if elapsed_s > 0 else 0.0
    return (
        f"kmirror: mirrored {records:,} records ({size_bytes / 1e6:.1f} MB) in "
        f"{elapsed_s:.1f} s ({rate:,.0f} records/s)"
        + (f"; stopped by: {errors[0]}" if errors else "")
        + (f"; {stopped_partitions} partition(s) stopped (see the errors above)"
           if stopped_partitions and not errors else "")
    )


def print_to_stderr(line: str) -> None:
    """Where `kmirror run` prints its lines (stdout is left to --dry-run's plan)."""
    print(line, file=sys.stderr, flush=True)


def one_line_at_a_time(out: Callable[[str], None]) -> Callable[[str], None]:
    """``out`` for several threads (the watch loop and background jobs): lines never
    interleave."""
    lock = threading.Lock()

    def locked(line: str) -> None:
        with lock:
            out(line)

    return locked
