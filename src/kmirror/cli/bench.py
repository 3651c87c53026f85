"""`kmirror bench`: kmirror vs MirrorMaker 2, classic MirrorMaker and the limit, in one run."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from kmirror.errors import BadInputError

DEFAULT_RESULTS_DIR = Path("bench/results")
DEFAULT_DOCS = Path("docs/benchmarks.md")
_log = logging.getLogger("kmirror.bench")


def register(commands: Any) -> None:
    """Add the `bench` subcommand and its actions."""
    from kmirror.bench.scenarios import DEFAULT, SCENARIOS
    from kmirror.bench.tools import TOOLS

    parser = commands.add_parser(
        "bench", help="benchmark kmirror against MirrorMaker 2, classic MirrorMaker and the limit",
        description="Mirror each scenario with each tool on the local clusters (or the given "
        "ones), time it, sample CPU and memory, measure replication latency at a steady rate, "
        "and write bench/results/<UTC date>.json plus docs/benchmarks.md and .png.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser("run", help="measure (about 25 min with the defaults on 2 cores)")
    run.add_argument("--scenarios", default=",".join(DEFAULT),
                     help=f"comma list of {', '.join(SCENARIOS)} (default: %(default)s)")
    run.add_argument("--tools", default="kmirror-1,kmirror-records-1,kmirror-2,mm2-1,mm2-2,mm1-1",
                     help=f"comma list of {', '.join(TOOLS)} (default: %(default)s)")
    run.add_argument("--repetitions", type=int, default=3, metavar="N")
    run.add_argument("--scale", type=float, default=1.0, metavar="F",
                     help="multiply every scenario's record count (smoke runs: 0.01)")
    run.add_argument("--no-limit", dest="limit", action="store_false",
                     help="skip the perf-tool limit measurements")
    run.add_argument("--latency-tools",
                     default="kmirror-1,kmirror-shallow-1,kmirror-records-1,mm2-1", metavar="LIST",
                     help="tools whose latency at a steady rate is measured ('' for none)")
    run.add_argument("--latency-seconds", type=float, default=30.0, metavar="S")
    run.add_argument("--source.bootstrap.servers", dest="source_bootstrap", metavar="HOSTS",
                     help="default: the local cluster `source` (started when needed)")
    run.add_argument("--target.bootstrap.servers", dest="target_bootstrap", metavar="HOSTS",
                     help="default: the local cluster `target` (started when needed)")
    run.add_argument("--results", type=Path, metavar="FILE",
                     help="results file (default: bench/results/<UTC date>.json)")
    run.add_argument("--docs", default=str(DEFAULT_DOCS), metavar="FILE",
                     help="Markdown page to regenerate ('' to skip; default: %(default)s)")
    run.set_defaults(handler=_run)

    report = actions.add_parser("report", help="regenerate docs/benchmarks.md and .png from "
                                "a results file")
    report.add_argument("results", type=Path, metavar="FILE")
    report.add_argument("--docs", type=Path, default=DEFAULT_DOCS, metavar="FILE")
    report.set_defaults(handler=_report)


def _pick(text: str, known: dict[str, Any], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BadInputError(f"unknown {what} {', '.join(unknown)}: choose from "
                            f"{', '.join(known)}")
    return names


def _run(args: argparse.Namespace) -> int:
    from kmirror.bench import document
    from kmirror.bench.latency import measure
    from kmirror.bench.report import machine, write_results
    from kmirror.bench.runner import Clusters, Run, run_matrix
    from kmirror.bench.scenarios import SCENARIOS
    from kmirror.bench.tools import TOOLS
    from kmirror.local.distribution import pinned_kafka_version

    scenarios = [SCENARIOS[n].scaled(args.scale)
                 for n in _pick(args.scenarios, SCENARIOS, "scenario")]
    tools = {n: TOOLS[n] for n in _pick(args.tools, TOOLS, "tool")}
    latency_tools = _pick(args.latency_tools, TOOLS, "tool")
    if args.repetitions < 1:
        raise BadInputError("--repetitions must be at least 1")
    logging.getLogger("kmirror.bench").setLevel(logging.INFO)
    source, target = _clusters(args)
    clusters = Clusters(source, target)
    started = dt.datetime.now(dt.UTC)
    results = args.results or DEFAULT_RESULTS_DIR / f"{started:%Y-%m-%d}.json"
    meta = {
        "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(["kmirror bench run", shlex.join(sys.argv[3:])]).strip(),
        "machine": machine(), "kafka_version": pinned_kafka_version(),
        "scale": args.scale, "repetitions": args.repetitions,
        "note": "brokers, tools and harness share this machine's cores",
    }
    rows: list[dict[str, Any]] = []

    def keep(row: Run | Any) -> None:
        rows.append(row.as_json())
        _log.info("%s", _one_line(row.as_json()))
        write_results(results, meta, rows)  # a crash keeps what was measured

    # Each tool's configs and log stay here for a look after the run.
    workdir = Path(tempfile.mkdtemp(prefix=f"kmirror-bench-{started:%Y%m%d-%H%M%S}-"))
    print(f"tool configs and logs: {workdir}")
    run_matrix(clusters, scenarios, tools, args.repetitions, args.limit, workdir, keep)
    for repetition in range(1, args.repetitions + 1):
        for key in latency_tools:
            keep(measure(clusters, key, TOOLS[key], repetition, workdir,
                         window_s=args.latency_seconds))
    clusters.reset_target()
    meta["finished"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_results(results, meta, rows)
    print(f"results: {results}")
    if args.docs:
        docs = Path(args.docs)
        document.regenerate(results, docs)
        print(f"report: {docs} and {docs.with_suffix('.png')}")
    return 0


def _one_line(row: dict[str, Any]) -> str:
    if row.get("error"):
        return (f"{row['tool']:<14} {row['scenario']:<10} #{row['repetition']} "
                f"FAILED: {row['error']}")
    if row["scenario"] == "latency":
        return (f"{row['tool']:<14} latency    #{row['repetition']} p50 {row['p50_ms']} ms, "
                f"p99 {row['p99_ms']} ms over {row['records']} records")
    return (f"{row['tool']:<14} {row['scenario']:<10} #{row['repetition']} "
            f"{row['records_per_s']:>11,.0f} rec/s {row['mb_per_s']:>7.1f} MB/s "
            f"cpu {row['cpu_seconds']} s rss {row['peak_rss_mb']} MB "
            f"start-up {row['startup_seconds']} s")


def _clusters(args: argparse.Namespace) -> tuple[str, str]:
    if args.source_bootstrap and args.target_bootstrap:
        return args.source_bootstrap, args.target_bootstrap
    if args.source_bootstrap or args.target_bootstrap:
        raise BadInputError("give both --source.bootstrap.servers and "
                            "--target.bootstrap.servers, or neither (local clusters)")
    from kmirror.local import manager

    report = manager.up()
    addresses = {c.name: c.bootstrap_servers for c in report.clusters}
    return addresses["source"], addresses["target"]


def _report(args: argparse.Namespace) -> int:
    from kmirror.bench import document

    if not args.results.is_file():
        raise BadInputError(f"{args.results}: no such results file")
    document.regenerate(args.results, args.docs)
    print(f"report: {args.docs} and {args.docs.with_suffix('.png')}")
    return 0
