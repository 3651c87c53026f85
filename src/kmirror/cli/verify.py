"""`kmirror verify`: check that the target holds every source record, unchanged and in order."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from kmirror.config.settings import cluster_alias, connection_settings_from_file
from kmirror.errors import BadInputError, ConfigError
from kmirror.topics.filter import RegexTopicFilter
from kmirror.topics.naming import INTERNAL_TOPICS, PROVENANCE_HEADER, load_policy
from kmirror.verify import KINDS, PartitionResult, compare, totals, verdict


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
    from kmirror.kafka.acls import hidden_topics_hint
    from kmirror.kafka.groups import GroupReader
    from kmirror.kafka.scan import PartitionScanner

    topic_filter = RegexTopicFilter(args.include, args.exclude)
    policy = load_policy(args.replication_policy, args.replication_policy_separator)
    alias = args.source_alias or cluster_alias(args.consumer_config, "source")
    source_settings = _side(args.consumer_config, args.source_bootstrap, "C",
                            "--source.bootstrap.servers")
    target_settings = _side(args.producer_config, args.target_bootstrap, "P",
                            "--target.bootstrap.servers")
    source_topics = GroupReader(source_settings, "source cluster").topics()
    target_topics = GroupReader(target_settings, "target cluster").topics()
    selected = {t: n for t, n in sorted(source_topics.items())
                if topic_filter.should_mirror(t) and t not in INTERNAL_TOPICS}
    if not selected:
        raise BadInputError(
            f"--include {args.include!r} selects none of the {len(source_topics)} source topics"
            + hidden_topics_hint(source_settings)
        )
    source = PartitionScanner(source_settings, "source cluster")
    target = PartitionScanner(target_settings, "target cluster")
    results: list[PartitionResult] = []
    started = time.monotonic()
    console = Console(stderr=True)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
        "{task.completed:,}/{task.total:,} records"), TimeRemainingColumn(),
        console=console, disable=args.json or not console.is_terminal)
    plan = []
    for topic, partitions in selected.items():
        for partition in range(partitions):
            plan.append((topic, partition, source.bounds(topic, partition)))
    with progress:
        task = progress.add_task("verifying", total=sum(h - lo for _, _, (lo, h) in plan))
        for topic, partition, (s_low, s_high) in plan:
            result = PartitionResult(topic, partition)
            copy = policy.target_topic(alias, topic)
            if copy not in target_topics or partition >= target_topics[copy]:
                result.missing = s_high - s_low
                result.first_problem = (f"partition {partition} does not exist on the target "
                                        f"(topic {copy})")
                results.append(result)
                progress.advance(task, s_high - s_low)
                continue
            t_low, t_high = target.bounds(copy, partition)
            if args.from_timestamp is not None:
                s_low = _from_time(source, topic, partition, args.from_timestamp, s_low, s_high)
                t_low = _from_time(target, copy, partition, args.from_timestamp, t_low, t_high)
            result.source_range, result.target_range = (s_low, s_high), (t_low, t_high)
            counted = _counting(source.records(topic, partition, s_low, s_high),
                                lambda n: progress.advance(task, n))
            src: Iterator[Any] = ((o, (k, v, _own(h), ts)) for o, k, v, h, ts in counted)
            dst: Iterator[Any] = ((o, (k, v, _own(h), ts)) for o, k, v, h, ts in
                   target.records(copy, partition, t_low, t_high))
            if s_low > 0 and args.from_timestamp is None:
                src, dst = _align(result, src, dst, s_low)
            results.append(compare(result, src, dst))
    source.close()
    target.close()
    elapsed = time.monotonic() - started
    total = totals(results)
    _print(results, total, elapsed, args.json)
    return verdict(total, args.strict)


def _own(headers: Any) -> Any:
    """Headers without kmirror's provenance mark (--provenance.header adds it on the way)."""
    if not headers or not any(name == PROVENANCE_HEADER for name, _ in headers):
        return headers
    return tuple((name, value) for name, value in headers if name != PROVENANCE_HEADER)


def _from_time(scanner: Any, topic: str, partition: int, ts: int, low: int, high: int) -> int:
    offset = scanner.offset_for_time(topic, partition, ts)
    return high if offset < 0 else max(low, offset)


def _counting(records: Iterator[Any], advance: Any) -> Iterator[Any]:
    count = 0
    for record in records:
        yield record
        count += 1
        if count % 10_000 == 0:
            advance(10_000)
    advance(count % 10_000)


def _align(
    result: PartitionResult, src: Iterator[Any], dst: Iterator[Any], s_low: int
) -> tuple[Iterator[Any], Iterator[Any]]:
    """The source's retention removed offsets below s_low: skip the target's older copies."""
    first = next(src, None)
    if first is None:
        return iter(()), dst
    for skipped, item in enumerate(dst):
        if item[1] == first[1]:
            result.notes.append(
                f"the source no longer holds offsets below {s_low} (retention); compared from "
                f"there, skipping {skipped} older target record(s)"
            )
            return _chain(first, src), _chain(item, dst)
    result.notes.append(f"the source starts at offset {s_low} and the target holds none of it")
    return _chain(first, src), iter(())


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


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
