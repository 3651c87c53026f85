"""`kmirror offsets translate`: move consumer groups from the source onto the target (failover).

Reads the offset syncs kmirror keeps in the target, plans every partition of each group (see
``kmirror.offsets.translate`` for the rules: never backwards, never ahead of the target, never
a group with active members), prints the plan, then writes it unless ``--dry-run``. Every
check that could refuse a group runs before anything is written.
"""

from __future__ import annotations

import argparse
import difflib
import json
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from kmirror.config.settings import alias_of, connection_settings, load_client_config
from kmirror.errors import BadInputError, ConfigError
from kmirror.offsets.clusters import connect, read_syncs
from kmirror.offsets.syncs import SYNC_TOPIC, SyncStore
from kmirror.offsets.translate import (
    SKIP,
    GroupPlan,
    Key,
    PartitionPlan,
    aliases,
    apply_plan,
    plan_for,
    store_for,
    summary,
)


def register(commands: Any) -> None:
    """Add the `offsets` subcommand and its `translate` action."""
    parser = commands.add_parser(
        "offsets", help="move consumer groups onto the target (failover)",
        description="Consumer-group offsets across the mirror, from the offset syncs kmirror "
        f"keeps in the target ({SYNC_TOPIC}).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    translate = actions.add_parser(
        "translate", help="commit on the target where each group stopped on the source",
        description="For each --group: translate its committed source offsets into target "
        "offsets, print the plan, and commit the 'write' rows on the target (not with "
        "--dry-run). Never moves a group backwards, never past the target's end offset, and "
        "refuses a group with active members on the target. Exit 0 when written (or planned), "
        "2 on bad input.",
    )
    translate.add_argument("--consumer.config", dest="consumer_config", required=True,
                           metavar="FILE", help="the source cluster's settings (as for run)")
    translate.add_argument("--producer.config", dest="producer_config", required=True,
                           metavar="FILE", help="the target cluster's settings (as for run)")
    translate.add_argument("--group", dest="groups", action="append", required=True,
                           metavar="GROUP", help="a consumer group to move (repeatable)")
    translate.add_argument("--source.alias", dest="source_alias", metavar="ALIAS",
                           help="the source's alias in the syncs (default: kmirror.cluster.alias "
                           "in the consumer config, else its file name without extension)")
    translate.add_argument("--dry-run", action="store_true",
                           help="print the plan, write nothing")
    translate.add_argument("--json", action="store_true", help="print JSON")
    translate.set_defaults(handler=_translate)


def _translate(args: argparse.Namespace) -> int:
    problems: list[str] = []
    source_client = load_client_config(args.consumer_config, "C", problems, [])
    target_client = load_client_config(args.producer_config, "P", problems, [])
    if problems or source_client is None or target_client is None:
        raise ConfigError(problems)
    alias = args.source_alias or alias_of(source_client, args.consumer_config)
    source = connect(connection_settings(source_client), "source cluster")
    target = connect(connection_settings(target_client), "target cluster")
    store = _store(read_syncs(target).syncs, alias, target.label, args)
    plans = [plan_for(group, alias, store, source, target) for group in dict.fromkeys(args.groups)]
    _refuse(plans, source, target.label, args.consumer_config)
    if not args.json:
        _print_plans(plans)
    written: dict[str, dict[Key, int]] = {}
    if not args.dry_run:
        written = {plan.group: apply_plan(plan, target) for plan in plans}
    if args.json:
        print(json.dumps({
            "source_alias": alias, "dry_run": args.dry_run,
            "groups": [{**plan.as_json(), "written": [
                {"topic": t, "partition": p, "offset": o}
                for (t, p), o in sorted(written.get(plan.group, {}).items())
            ]} for plan in plans],
        }))
        return 0
    console = Console()
    for plan in plans:
        line = (f"group {plan.group}: dry run, nothing written" if args.dry_run
                else summary(plan, written[plan.group]))
        console.print(line, highlight=False)
    return 0


def _store(syncs: Any, alias: str, where: str, args: argparse.Namespace) -> SyncStore:
    """The syncs of ``alias``, or a BadInputError saying why there are none."""
    if not syncs:
        raise BadInputError(
            f"{where}: no offset syncs in topic {SYNC_TOPIC} (missing or empty): kmirror "
            f"writes them while it mirrors; check that --producer.config {args.producer_config} "
            "is the mirror's target and that `kmirror run` has run against it"
        )
    found = aliases(syncs)
    if alias not in found:
        given = "--source.alias" if args.source_alias else f"the alias of {args.consumer_config}"
        raise BadInputError(
            f"{given} is {alias!r} but the offset syncs in {where} are from "
            f"{', '.join(map(repr, found))}: give --source.alias with one of them (the alias "
            "kmirror run used: its --source.alias, else kmirror.cluster.alias in its consumer "
            "config, else that file's name without extension)"
        )
    return store_for(syncs, alias)


def _refuse(plans: list[GroupPlan], source: Any, target_label: str, consumer_config: str) -> None:
    """ConfigError for unknown groups and groups active on the target, before any write."""
    problems = []
    known: list[str] | None = None
    for plan in plans:
        if not plan.partitions:
            if known is None:
                known = source.groups()
            close = difflib.get_close_matches(plan.group, known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            problems.append(
                f"--group {plan.group}: no committed offsets on the {source.label}{hint}: check "
                f"the group id (`kmirror lag --consumer.config {consumer_config} --group "
                f"{plan.group}` shows what it committed)"
            )
        elif plan.skipped is not None:
            problems.append(f"--group {plan.group}: {plan.target_state.members} member(s) "
                            f"active on the {target_label}: stop them first, then run this "
                            "again (nothing was written)")
    if problems:
        raise ConfigError(problems)


def _precision(row: PartitionPlan) -> str:
    if row.target_offset is None:
        return "-"
    if row.exact:
        return "exact"
    return f"re-read ≤ {row.reread_at_most:,}" if row.reread_at_most else "inexact"


def _print_plans(plans: list[GroupPlan]) -> None:
    """One table per group; each row's reason on a line of its own under it (readable at
    any width)."""
    console = Console()
    for plan in plans:
        table = Table(title=f"group {plan.group} (from source {plan.source_alias})",
                      title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                      collapse_padding=True)
        table.add_column("source", overflow="fold")
        table.add_column("committed", justify="right")
        table.add_column("target", overflow="fold")
        for column in ("resume at", "before"):
            table.add_column(column, justify="right")
        table.add_column("action")
        table.add_column("precision")
        for row in plan.partitions:
            target = "-" if row.target_topic is None \
                else f"{row.target_topic}[{row.source_partition}]"
            table.add_row(
                f"{row.source_topic}[{row.source_partition}]", f"{row.source_offset:,}",
                target, _number(row.target_offset), _number(row.target_committed),
                row.action, _precision(row), style="dim" if row.action == SKIP else None,
            )
        console.print(table)
        for row in plan.partitions:
            console.print(f"  {row.source_topic}[{row.source_partition}]: {row.action}: "
                          f"{row.reason}", highlight=False)


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
