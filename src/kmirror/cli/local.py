"""`kmirror local`: real Kafka clusters on this machine (up, status, down, logs)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from kmirror import local
from kmirror.errors import LocalClusterError
from kmirror.local.manager import LocalReport


def register(commands: Any) -> None:
    """Add the `local` subcommand and its actions."""
    parser = commands.add_parser(
        "local",
        help="run real single-node Kafka clusters locally (KRaft, from Maven Central jars)",
        description="Real Apache Kafka clusters as local Java processes, on free loopback "
        "ports, for trying kmirror and for its tests. State lives in $KMIRROR_LOCAL_DIR "
        "(default ~/.cache/kmirror/local).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    fetch = actions.add_parser(
        "fetch", help="download the pinned Kafka jars from Maven Central (done by `up` too)"
    )
    fetch.set_defaults(handler=_fetch)

    up = actions.add_parser("up", help="start the clusters (idempotent) and print their addresses")
    up.add_argument(
        "--name", action="append", dest="names", metavar="NAME",
        help="cluster to start (repeatable; default: source and target)",
    )
    up.add_argument("--json", action="store_true", help="print JSON")
    up.add_argument(
        "--security", action="store_true",
        help="TLS + SASL (SCRAM, PLAIN, OAUTHBEARER) and mutual-TLS listeners, ACLs enforced; "
        "client configs for each listener are listed (see docs/security.md)",
    )
    up.add_argument(
        "--heap", default=local.HEAP, metavar="SIZE",
        help=f"each broker's Java heap (default {local.HEAP}; 2g for 10,000 partitions, see "
        "docs/tuning.md)",
    )
    up.set_defaults(handler=_up)

    status = actions.add_parser("status", help="show the local clusters")
    status.add_argument("--name", action="append", dest="names", metavar="NAME")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_status)

    down = actions.add_parser("down", help="stop the clusters")
    down.add_argument("--name", action="append", dest="names", metavar="NAME")
    down.add_argument("--purge", action="store_true", help="also delete their data and logs")
    down.set_defaults(handler=_down)

    logs = actions.add_parser("logs", help="print a cluster's broker log")
    logs.add_argument("name", metavar="NAME")
    logs.add_argument("--lines", type=int, default=0, help="only the last N lines")
    logs.set_defaults(handler=_logs)


def _print_report(report: LocalReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.as_json()))
        return
    console = Console()
    table = Table(title=f"Kafka {report.kafka_version} local clusters")
    for column in ("name", "bootstrap servers", "state", "pid", "data"):
        table.add_column(column)
    for cluster in report.clusters:
        state = "running" if cluster.pid else "stopped"
        table.add_row(
            cluster.name, cluster.bootstrap_servers, state, str(cluster.pid or "-"),
            cluster.data_dir,
        )
    console.print(table)


def _fetch(args: argparse.Namespace) -> int:
    dist = local.ensure_kafka(quiet=False)
    print(f"Kafka {dist.version}: {dist.libs_dir}")
    return 0


def _up(args: argparse.Namespace) -> int:
    report = local.up(args.names or local.DEFAULT_NAMES, secure=args.security,
                      heap=args.heap)
    _print_report(report, args.json)
    return 0


def _status(args: argparse.Namespace) -> int:
    report = local.status(args.names)
    _print_report(report, args.json)
    return 0


def _down(args: argparse.Namespace) -> int:
    names = local.down(args.names, purge=args.purge)
    verb = "stopped and purged" if args.purge else "stopped"
    print(f"{verb}: {', '.join(names) if names else '(no clusters)'}", file=sys.stderr)
    return 0


def _logs(args: argparse.Namespace) -> int:
    cluster = local.LocalCluster(args.name)
    if not cluster.log_file.exists():
        raise LocalClusterError(
            f"no log for cluster '{args.name}' at {cluster.log_file} "
            "(known clusters: see `kmirror local status`)"
        )
    lines = cluster.log_file.read_text(errors="replace").splitlines()
    for line in lines[-args.lines:] if args.lines > 0 else lines:
        print(line)
    return 0
