"""`kmirror lag`: the offset checker for any consumer group, with exact lag in seconds."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from kmirror.config.settings import connection_settings_from_file
from kmirror.errors import BadInputError
from kmirror.lag import LagReport, StatusWindow, check_lag, connect, human_seconds


def register(commands: Any) -> None:
    """Add `lag` and the legacy `offset-checker` subcommands."""
    parser = commands.add_parser(
        "lag", help="per-partition lag of a consumer group, in records and seconds",
        description="The offset checker: owner, committed offset, log-end offset and lag (in "
        "records, and in seconds = now - timestamp of the first record not yet consumed) for "
        "every partition of a consumer group.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--bootstrap-server", dest="bootstrap", metavar="HOST:PORT",
                       help="the cluster the group lives on")
    where.add_argument("--consumer.config", dest="consumer_config", metavar="FILE",
                       help="a .properties file with bootstrap.servers and security settings")
    parser.add_argument("--group", required=True, help="the consumer group")
    parser.add_argument("--topic", action="append", default=[], metavar="TOPIC",
                        help="only these topics (repeatable; default: every topic of the group)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--watch", type=float, metavar="SECONDS",
                        help="refresh every SECONDS, with a status per partition")
    parser.add_argument("--zookeeper", metavar="HOSTS", help=argparse.SUPPRESS)
    parser.set_defaults(handler=_lag)

    legacy = commands.add_parser("offset-checker", help="see `kmirror lag`",
                                 add_help=False, prefix_chars="\0")
    legacy.add_argument("rest", nargs=argparse.REMAINDER)
    legacy.set_defaults(handler=_offset_checker)


_MODERN = (
    "kmirror lag --bootstrap-server HOST:9092 --group GROUP [--topic T] [--json] [--watch 5]"
)


def _offset_checker(_args: argparse.Namespace) -> int:
    raise BadInputError(
        f"the ConsumerOffsetChecker is `kmirror lag` now (brokers, not ZooKeeper): {_MODERN}"
    )


def _settings(args: argparse.Namespace) -> dict[str, str]:
    if args.zookeeper:
        raise BadInputError(
            f"--zookeeper {args.zookeeper}: group offsets live in the brokers since Kafka 0.9 and "
            f"ZooKeeper is gone since 4.0; use a broker address: {_MODERN}"
        )
    if args.consumer_config:
        return connection_settings_from_file(args.consumer_config, "C")
    if not args.bootstrap:
        raise BadInputError("give --bootstrap-server HOST:PORT or --consumer.config FILE")
    return {"bootstrap.servers": args.bootstrap}


def _lag(args: argparse.Namespace) -> int:
    settings = _settings(args)
    label = f"cluster {settings['bootstrap.servers']}"
    if args.consumer_config:
        label += f" (from {args.consumer_config})"
    reader = connect(settings, label)
    if args.watch is None:
        report = check_lag(reader, args.group, args.topic)
        _print(report, args.json)
        return 0
    if args.watch <= 0:
        raise BadInputError(f"--watch {args.watch}: give a number of seconds above 0")
    window = StatusWindow()
    console = Console()
    if args.json or not console.is_terminal:
        while True:
            _print(window.classify(check_lag(reader, args.group, args.topic)), args.json)
            time.sleep(args.watch)
    with Live(console=console, auto_refresh=False) as live:
        while True:
            report = window.classify(check_lag(reader, args.group, args.topic))
            live.update(lag_table(report), refresh=True)
            time.sleep(args.watch)


def _print(report: LagReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.as_json()), flush=True)
        return
    console = Console()
    console.print(lag_table(report))
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)


def lag_table(report: LagReport) -> Table:
    """The offset checker's table, with totals per topic and for the group."""
    with_status = any(r.status for r in report.partitions)
    table = Table(title=f"group {report.group}", title_justify="left")
    columns = ["topic", "partition", "owner", "committed", "log end", "lag", "lag time"]
    for column in columns + (["status"] if with_status else []):
        table.add_column(column, justify="right" if column not in ("topic", "owner") else "left")
    totals = report.totals()
    topic_totals: dict[str, dict[str, float]] = totals["topics"]  # type: ignore[assignment]
    last_topic = None
    for row in report.partitions:
        if last_topic is not None and row.topic != last_topic:
            _add_total(table, last_topic, topic_totals[last_topic], with_status)
        last_topic = row.topic
        cells = [
            row.topic, str(row.partition), row.owner,
            "-" if row.committed_offset is None else f"{row.committed_offset:,}",
            f"{row.log_end_offset:,}",
            "-" if row.lag_messages is None else f"{row.lag_messages:,}",
            human_seconds(row.lag_seconds),
        ]
        table.add_row(*cells, *([row.status or ""] if with_status else []))
    if last_topic is not None:
        _add_total(table, last_topic, topic_totals[last_topic], with_status)
    table.add_row(
        "group total", "", "", "", "", f"{totals['lag_messages']:,}",
        human_seconds(float(totals["max_lag_seconds"])),  # type: ignore[arg-type]
        *([""] if with_status else []), style="bold",
    )
    return table


def _add_total(table: Table, topic: str, total: dict[str, float], with_status: bool) -> None:
    table.add_row(
        f"{topic} total", "", "", "", "", f"{int(total['lag_messages']):,}",
        human_seconds(total["max_lag_seconds"]), *([""] if with_status else []),
        style="dim", end_section=True,
    )
