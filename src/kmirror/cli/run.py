"""`kmirror run`: mirror topics from one or more source clusters into a target cluster.

The classic MirrorMaker invocation works verbatim:
``kmirror run --consumer.config source.properties --num.streams 2
--producer.config target.properties --whitelist=".*"``
"""

from __future__ import annotations

import argparse
from typing import Any

from kmirror.config import secrets
from kmirror.config.settings import MirrorSettings, load_mirror_settings
from kmirror.errors import ConfigError
from kmirror.observe.server import DEFAULT_METRICS_PORT


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def register(commands: Any) -> None:
    """Add the `run` subcommand."""
    parser = commands.add_parser(
        "run",
        help="mirror topics from source cluster(s) into a target cluster",
        description="Mirror topics, losslessly and in order: source partition p goes to "
        "target partition p; source offsets are committed only after the target "
        "acknowledged every earlier record.",
    )
    clusters = parser.add_argument_group("clusters")
    clusters.add_argument(
        "--consumer.config", dest="consumer_configs", action="append", metavar="FILE",
        default=[],
        help="source cluster settings (.properties); repeat for several source clusters",
    )
    clusters.add_argument(
        "--producer.config", dest="producer_config", metavar="FILE",
        help="target cluster settings (.properties)",
    )
    topics = parser.add_argument_group(
        "topics", "Java regular expressions matched against the whole topic name; a comma "
        "means 'or' (a,b selects topics a and b); \\Q...\\E quotes. Internal topics are "
        "never mirrored.",
    )
    topics.add_argument("--whitelist", "--include", dest="include", metavar="REGEX",
                        action=_Once, help="topics to mirror")
    topics.add_argument("--blacklist", "--exclude", dest="exclude", metavar="REGEX",
                        action=_Once, help="topics to leave out")
    topics.add_argument(
        "--topic.refresh.interval.ms", dest="topic_refresh_interval_ms", type=int,
        default=10000, metavar="MS", help="how often to look for new topics and partitions "
        "(default 10000)",
    )
    topics.add_argument(
        "--recreate.target.topics", dest="recreate_target_topics", action="store_true",
        help="create a target topic again when it is deleted while mirroring (default: "
        "report it and stop its partitions)",
    )
    topics.add_argument(
        "--replication.factor", dest="replication_factor", type=int, default=-1, metavar="N",
        help="replication factor of created target topics (default: the target's default)",
    )
    work = parser.add_argument_group("parallelism and delivery")
    work.add_argument("--num.streams", dest="num_streams", type=int, default=1, metavar="N",
                      help="stream processes per source cluster, one group member each "
                      "(default 1)")
    work.add_argument("--num.producers", dest="num_producers", type=int, default=1,
                      metavar="N", help="producers per stream; a partition always uses the "
                      "same one (default 1)")
    work.add_argument(
        "--offset.commit.interval.ms", dest="offset_commit_interval_ms", type=int,
        default=5000, metavar="MS", help="how often acknowledged source offsets are "
        "committed (default 5000)",
    )
    work.add_argument(
        "--abort.on.send.failure", dest="abort_on_send_failure", type=_bool, default=True,
        metavar="BOOL", help="true (default): a record the target refuses stops the mirror; "
        "false: only its partition stops, and is reported",
    )
    work.add_argument("--message.handler", dest="message_handler", metavar="MODULE:CLASS",
                      help="a class with handle(record) -> records, to transform records")
    work.add_argument("--message.handler.args", dest="message_handler_args", metavar="TEXT",
                      help="the argument passed to the handler's constructor")
    work.add_argument(
        "--on.source.gap", dest="on_source_gap", choices=("fail", "continue"), default="fail",
        help="when records were deleted from the source before they were mirrored, or a "
        "topic was re-created: fail (default: stop, naming the lost offsets) or continue "
        "(from the log start, counted in kmirror_source_gap_records_total, with a warning)",
    )
    work.add_argument(
        "--until-caught-up", dest="until_caught_up", action="store_true",
        help="stop (exit 0) once every selected partition reached the end offset it had "
        "when mirroring began",
    )
    work.add_argument(
        "--shallow", dest="shallow", action="store_true",
        help="forward the source's compressed record batches whole: no decompression, no "
        "recompression (also shallow.iterator.enable=true in a consumer config); see "
        "docs/shallow.md",
    )
    work.add_argument(
        "--dry-run", dest="dry_run", action="store_true",
        help="connect, print the plan (selected topics and partitions; per target topic: "
        "create, add partitions, exists, or conflict) and exit without writing anything",
    )
    work.add_argument("--json", dest="json", action="store_true",
                      help="with --dry-run: the plan as JSON")
    work.add_argument(
        "--print-config", dest="print_config", action="store_true",
        help="print every effective client setting (defaults, files, flags; secrets masked) "
        "and exit without connecting",
    )
    failover = parser.add_argument_group(
        "naming and failover", "see docs/failover.md",
    )
    failover.add_argument(
        "--replication.policy", dest="replication_policy", default="identity",
        metavar="POLICY", help="identity (default: target topics keep their names), prefix "
        "(SOURCEALIAS.topic, never mirrored back into SOURCEALIAS), or MODULE:CLASS",
    )
    failover.add_argument(
        "--replication.policy.separator", dest="replication_policy_separator", default=".",
        metavar="SEP", help="what joins alias and topic with --replication.policy prefix "
        "(default .)",
    )
    failover.add_argument(
        "--source.alias", dest="source_alias", metavar="NAME",
        help="the source cluster's name (one --consumer.config only; default: its "
        "kmirror.cluster.alias key, else the file name)",
    )
    failover.add_argument(
        "--target.alias", dest="target_alias", metavar="NAME",
        help="the target cluster's name (default: the producer config's kmirror.cluster.alias "
        "key, else the file name)",
    )
    failover.add_argument(
        "--provenance.header", dest="provenance_header", action="store_true",
        help="mark mirrored records with a kmirror.provenance header naming the cluster they "
        "were born in, and never mirror a record back into it (active-active with identity "
        "names)",
    )
    failover.add_argument(
        "--exactly-once", dest="exactly_once", action="store_true",
        help="transactional writes: records and source positions committed atomically in the "
        "target; no duplicates for read_committed readers, even after a crash",
    )
    failover.add_argument(
        "--emit.offset.syncs", dest="emit_offset_syncs", type=_bool, default=True,
        metavar="BOOL", help="record source->target offset pairs in the target topic "
        "kmirror.offset-syncs, for `kmirror offsets translate` (default true)",
    )
    failover.add_argument(
        "--sync.group.offsets", dest="sync_group_offsets", action="store_true",
        help="keep translating the source's consumer groups onto the target (groups with no "
        "active members there)",
    )
    failover.add_argument(
        "--sync.group.offsets.groups", dest="sync_group_offsets_groups", default=".*",
        metavar="REGEX", help="which groups --sync.group.offsets translates (default .*)",
    )
    failover.add_argument(
        "--sync.group.offsets.interval.ms", dest="sync_group_offsets_interval_ms", type=int,
        default=60000, metavar="MS", help="how often (default 60000)",
    )
    observe = parser.add_argument_group("observability")
    observe.add_argument(
        "--metrics.port", dest="metrics_port", type=int, default=DEFAULT_METRICS_PORT,
        metavar="PORT", help=f"serve /metrics, /health and /ready on this port (default "
        f"{DEFAULT_METRICS_PORT}; 0 disables)",
    )
    observe.add_argument(
        "--no-live", dest="live", action="store_false", default=True,
        help="plain status lines instead of the live table, even on a terminal",
    )
    parser.set_defaults(handler=_run)


class _Once(argparse.Action):
    """A flag given once, under any of its names (--whitelist and --include conflict)."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
        values: Any, option_string: str | None = None,
    ) -> None:
        seen = getattr(namespace, f"_{self.dest}_flag", None)
        if seen is not None:
            raise ConfigError([
                f"{option_string} conflicts with {seen}: give the {self.dest} regular "
                "expression once (a comma joins several: a,b)"
            ])
        setattr(namespace, f"_{self.dest}_flag", option_string)
        setattr(namespace, self.dest, values)


def _run(args: argparse.Namespace) -> int:
    import sys

    from kmirror.mirror.supervisor import RunOptions, run_mirror

    if not 0 <= args.metrics_port <= 65535:
        raise ConfigError([f"--metrics.port {args.metrics_port}: use 1-65535, or 0 to disable"])

    settings = load_mirror_settings(
        consumer_configs=args.consumer_configs,
        producer_config=args.producer_config,
        include=args.include,
        exclude=args.exclude,
        num_streams=args.num_streams,
        num_producers=args.num_producers,
        offset_commit_interval_ms=args.offset_commit_interval_ms,
        abort_on_send_failure=args.abort_on_send_failure,
        message_handler=args.message_handler,
        message_handler_args=args.message_handler_args,
        replication_factor=args.replication_factor,
        topic_refresh_interval_ms=args.topic_refresh_interval_ms,
        until_caught_up=args.until_caught_up,
        shallow=args.shallow,
        on_source_gap=args.on_source_gap,
        recreate_target_topics=args.recreate_target_topics,
        replication_policy=args.replication_policy,
        replication_policy_separator=args.replication_policy_separator,
        source_alias=args.source_alias,
        target_alias=args.target_alias,
        provenance_header=args.provenance_header,
        exactly_once=args.exactly_once,
        emit_offset_syncs=args.emit_offset_syncs,
        sync_group_offsets=args.sync_group_offsets,
        sync_group_offsets_groups=args.sync_group_offsets_groups,
        sync_group_offsets_interval_ms=args.sync_group_offsets_interval_ms,
    )
    if args.print_config:
        _print_config(settings)
        return 0
    if args.dry_run:
        from kmirror.mirror.supervisor import plan_mirror

        return plan_mirror(settings, args.json)
    options = RunOptions(
        metrics_port=args.metrics_port, live=args.live and sys.stderr.isatty()
    )
    return run_mirror(settings, verbose=args.verbose, options=options)


def _print_config(settings: MirrorSettings) -> None:
    """Every effective setting per client, secrets masked (kmirror run --print-config)."""
    for source in settings.sources:
        print(f"# source '{source.alias}' consumer ({source.config_file})")
        for key, value in sorted(secrets.masked(source.client).items()):
            print(f"{key}={value}")
        print()
    print(f"# target producer ({settings.target_config_file})")
    for key, value in sorted(secrets.masked(settings.target).items()):
        print(f"{key}={value}")
