"""`kmirror verify`: check that the target holds every source record, unchanged and in order."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from kmirror.config.settings import cluster_alias, connection_settings_from_file
from kmirror.errors import ConfigError
from kmirror.topics.filter import RegexTopicFilter
from kmirror.topics.naming import load_policy
from kmirror.verify import (
    KINDS,
    PartitionResult,
    VerifyClusters,
    plan_partitions,
    totals,
    verdict,
    verify_partition,
)


def register(commands: Any) -> None:
    """Add the `verify` subcommand."""
    parser = commands.add_parser(
        "verify", help="prove the target holds every source record, unchanged and in order",
        description="Walk every selected partition on both clusters in order and compare key, "
        "value, headers and timestamp of every record. Exit 0 when nothing is missing, "
        "mismatched or reordered, 1 otherwise, 2 on bad input.",
    )
    parser.add_argument("--consumer.config", dest="consumer_config", metavar="FILE",
                        help="the source cluster's settings (as for kmirror run)")
    parser.add_argument("--producer.config", dest="producer_config", metavar="FILE",
                        help="the target cluster's settings (as for kmirror run)")
    parser.add_argument("--source.bootstrap.servers", dest="source_bootstrap", metavar="HOSTS")
    parser.add_argument("--target.bootstrap.servers", dest="target_bootstrap", metavar="HOSTS")
    parser.add_argument("--include", "--whitelist", dest="include", required=True,
                        metavar="REGEX", help="topics to verify (Java regex, as for run)")
    parser.add_argument("--exclude", "--blacklist", dest="exclude", metavar="REGEX")
    parser.add_argument("--from-timestamp", dest="from_timestamp", type=int, metavar="MS",
                        help="compare only records from this timestamp (ms since the epoch)")
    parser.add_argument("--strict", action="store_true",
                        help="also fail on duplicates and extra records")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--replication.policy", dest="replication_policy", default="identity",
        metavar="POLICY", help="how the mirror named target topics (as for run; default "
        "identity)")
    parser.add_argument("--replication.policy.separator", dest="replication_policy_separator",
                        default=".", metavar="SEP")
    parser.add_argument("--source.alias", dest="source_alias", metavar="NAME",
                        help="the source cluster's alias (as for run)")
    parser.set_defaults(handler=_verify)


def _side(path: str | None, bootstrap: str | None, scope: str, flag: str) -> dict[str, str]:
    if path and bootstrap:
        raise ConfigError([f"give either the config file or {flag}, not both"])
    if bootstrap:
        return {"bootstrap.servers": bootstrap}
    if not path:
        side = "--consumer.config" if scope == "C" else "--producer.config"
        raise ConfigError([f"give {side} FILE or {flag} HOSTS"])
    return connection_settings_from_file(path, scope)


def _verify(args: argparse.Namespace) -> int:
    topic_filter = RegexTopicFilter(args.include, args.exclude)
    policy = load_policy(args.replication_policy, args.replication_policy_separator)
    alias = args.source_alias or cluster_alias(args.consumer_config, "source")
    source_settings = _side(args.consumer_config, args.source_bootstrap, "C",
                            "--source.bootstrap.servers")
    target_settings = _side(args.producer_config, args.target_bootstrap, "P",
                            "--target.bootstrap.servers")
    clusters = VerifyClusters(source_settings, target_settings)
    selected = clusters.select(topic_filter.should_mirror, args.include)
    source, target = clusters.open()
    results: list[PartitionResult] = []
    started = time.monotonic()
    console = Console(stderr=True)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
        "{task.completed:,}/{task.total:,} records"), TimeRemainingColumn(),
        console=console, disable=args.json or not console.is_terminal)
    plan = plan_partitions(source, selected)
    with progress:
        task = progress.add_task("verifying", total=sum(h - lo for _, _, (lo, h) in plan))
        for planned in plan:
            copy = policy.target_topic(alias, planned[0])
            results.append(verify_partition(
                source, target, clusters.target_topics, copy, planned, args.from_timestamp,
                lambda n: progress.advance(task, n)))
    clusters.close()
    elapsed = time.monotonic() - started
    total = totals(results)
    _print(results, total, elapsed, args.json)
    return verdict(total, args.strict)


def _print(results: list[PartitionResult], total: dict[str, int], elapsed: float,
           as_json: bool) -> None:
    if as_json:
        print(json.dumps({"topics": [r.as_json() for r in results], "totals": total,
                          "seconds": round(elapsed, 3)}))
        return
    table = Table(title="kmirror verify", title_justify="left")
    table.add_column("topic", overflow="fold", min_width=14)
    table.add_column("part", justify="right", no_wrap=True)
    short = {"mismatched": "mismatch", "duplicates": "dups", "reordered": "reorder"}
    for kind in KINDS:
        table.add_column(short.get(kind, kind), justify="right", no_wrap=True)
    for r in results:
        table.add_row(r.topic, str(r.partition), *(f"{getattr(r, k):,}" for k in KINDS))
    table.add_row("total", "", *(f"{total[k]:,}" for k in KINDS), style="bold")
    console = Console()
    console.print(table)
    compared = total["matched"] + total["missing"] + total["mismatched"]
    rate = compared / elapsed if elapsed > 0 else 0.0
    for r in results:
        for note in r.notes:
            console.print(f"note: {r.topic}[{r.partition}]: {note}", highlight=False)
        if r.first_problem and any(getattr(r, k) for k in KINDS[1:]):
            console.print(f"first problem in {r.topic}[{r.partition}]: {r.first_problem}",
                          highlight=False)
    print(f"{compared:,} source records compared in {elapsed:.1f} s ({rate:,.0f}/s)",
          file=sys.stderr)
