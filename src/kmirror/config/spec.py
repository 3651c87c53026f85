"""Every ``kmirror run`` setting, declared once: flags, type, default, help, check, destination.

The table ``RUN_SETTINGS`` is the only place a run setting is written down. Derived from it:

* the argparse arguments of ``kmirror run`` (``kmirror.cli.run``), in the table's order and
  groups, so ``--help`` lists every setting;
* the relay into the frozen ``MirrorSettings`` (``kmirror.config.settings``): a setting whose
  ``fills`` is ``Fills.SETTINGS`` sets the field named by its ``field``;
* validation (``Setting.missing``, ``Setting.problem``): what is required, the type of values
  given through the Python API, and each setting's own check, reported with every other
  problem in one ``ConfigError``;
* ``docs/configuration.md`` (``kmirror.config.docs``; ``make docs`` regenerates it, a unit test
  fails when it is out of date).

A setting with several flags (``--whitelist``/``--include``) may be given once, under any of its
names. ``{default}`` in a help text shows the default as it is typed on the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from kmirror.errors import BadInputError
from kmirror.topics.filter import compile_java_regex


class Kind(Enum):
    """How a setting is written on the command line (and which Python type it holds)."""

    NUMBER = "whole number"  # int
    TEXT = "text"  # str, or None when not given and without a default
    FILE = "file"  # str: a path; an empty one names no file
    REGEX = "Java regex"  # str: matched against a whole name (see kmirror.topics.filter)
    BOOL = "true or false"  # bool, written true/false (also yes/no, 1/0)
    SWITCH = "switch"  # bool: True when the flag is given
    OFF_SWITCH = "switch, turns off"  # bool: False when the flag is given
    CHOICE = "one of"  # str, one of Setting.choices
    FILES = "file, repeatable"  # list of str, one per flag given


class Fills(Enum):
    """Where a setting's value goes."""

    SETTINGS = "the MirrorSettings field of the same name"
    LOADING = "read while the settings are loaded (files, aliases); not a field as such"
    COMMAND = "how `kmirror run` runs (cli/run.py): not part of the settings"


@dataclass(frozen=True)
class Group:
    """A titled section of ``kmirror run --help`` and of docs/configuration.md."""

    title: str
    description: str | None = None


Check = Callable[[Any], str | None]
"""What is wrong with a value of the setting's kind (type already checked), or None if fine."""


@dataclass(frozen=True)
class Setting:
    """One ``kmirror run`` setting."""

    flags: tuple[str, ...]  # the classic (MirrorMaker) name first, then its aliases
    field: str  # the MirrorSettings field (or argparse dest) it fills
    kind: Kind
    group: Group
    help: str
    default: object = None
    metavar: str | None = None  # what the value is (FILE, REGEX, N, MS ...)
    choices: tuple[str, ...] = ()
    check: Check | None = None
    required: str = ""  # why it is needed, when it must be given
    fills: Fills = Fills.SETTINGS

    @property
    def flag(self) -> str:
        """The name problems are reported under (the classic one)."""
        return self.flags[0]

    @property
    def given_once(self) -> bool:
        """True when the setting has aliases: giving it twice, under any names, is refused."""
        return len(self.flags) > 1

    @property
    def unit(self) -> str:
        """The unit of a number, from the field's name (``_ms``: milliseconds)."""
        return "milliseconds" if self.field.endswith("_ms") else ""

    def shown_default(self) -> str:
        """The default as typed on the command line ('' when there is none)."""
        if isinstance(self.default, bool):
            return str(self.default).lower()
        return "" if self.default in (None, ()) else str(self.default)

    def help_text(self) -> str:
        """The help text, with its default filled in."""
        return self.help.replace("{default}", self.shown_default())

    def missing(self, value: object) -> str | None:
        """The problem when a required setting was not given, else None."""
        # An empty path names no file; an empty --include is left to the topic filter, which
        # explains that it selects nothing.
        given = value not in (None, [], ()) and (value != "" or self.kind is not Kind.FILE)
        if not self.required or given:
            return None
        return f"{'/'.join(self.flags)} {self.metavar} is required ({self.required})"

    def problem(self, value: object) -> str | None:
        """What is wrong with ``value`` (its type, then the setting's check), or None."""
        what = None if _of_kind(self, value) else f"must be {_expected(self)}"
        if what is None and self.check is not None:
            what = self.check(value)
        if what is None:
            return None
        shown = repr(value) if isinstance(value, str) else value
        return f"{self.flag} {shown}: {what}"


def _of_kind(setting: Setting, value: object) -> bool:
    kind = setting.kind
    if kind is Kind.NUMBER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in (Kind.TEXT, Kind.FILE, Kind.REGEX):  # None: not given (and no default)
        return isinstance(value, str) or (value is None and setting.default is None)
    if kind is Kind.CHOICE:
        return value in setting.choices
    if kind is Kind.FILES:
        return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    return isinstance(value, bool)


_EXPECTED = {
    Kind.NUMBER: "a whole number", Kind.TEXT: "text", Kind.FILE: "a file name",
    Kind.REGEX: "a regular expression", Kind.FILES: "a list of file names",
}


def _expected(setting: Setting) -> str:
    if setting.kind is Kind.CHOICE:
        return f"one of {', '.join(setting.choices)}"
    return _EXPECTED.get(setting.kind, "true or false")


# --- checks ----------------------------------------------------------------------------------


def positive(value: int) -> str | None:
    """Counts and intervals: at least 1."""
    return None if value >= 1 else "must be a whole number of at least 1"


def replication_factor(value: int) -> str | None:
    """A replication factor, or -1 for the target cluster's default."""
    return None if value >= 1 or value == -1 else (
        "must be at least 1 (or -1 for the target's default)")


def port(value: int) -> str | None:
    """A TCP port to listen on, or 0 for none."""
    return None if 0 <= value <= 65535 else "use 1-65535, or 0 to disable"


def non_empty_separator(value: str) -> str | None:
    """What joins alias and topic: at least one character."""
    return None if value else "give a non-empty separator, e.g. . or _"


def group_regex(value: str) -> str | None:
    """A Java regex for group ids, compiled as --include is (one line, position included)."""
    flag = "--sync.group.offsets.groups"
    try:
        compile_java_regex(value, flag=flag)
    except BadInputError as exc:
        return str(exc).splitlines()[0].removeprefix(f"{flag}: ") + "; e.g. '.*' for every group"
    return None


# --- the table -------------------------------------------------------------------------------

DEFAULT_METRICS_PORT = 9713  # /metrics, /health and /ready of kmirror run

CLUSTERS = Group("clusters")
TOPICS = Group(
    "topics", "Java regular expressions matched against the whole topic name; a comma means "
    "'or' (a,b selects topics a and b); \\Q...\\E quotes. Internal topics are never mirrored.")
DELIVERY = Group("parallelism and delivery")
FAILOVER = Group("naming and failover", "see docs/failover.md")
OBSERVE = Group("observability")

RUN_SETTINGS: tuple[Setting, ...] = (
    Setting(("--consumer.config",), "consumer_configs", Kind.FILES, CLUSTERS,
            "source cluster settings (.properties); repeat for several source clusters",
            default=(), metavar="FILE", required="the source cluster's settings",
            fills=Fills.LOADING),
    Setting(("--producer.config",), "producer_config", Kind.FILE, CLUSTERS,
            "target cluster settings (.properties)", metavar="FILE",
            required="the target cluster's settings", fills=Fills.LOADING),
    Setting(("--whitelist", "--include"), "include", Kind.REGEX, TOPICS, "topics to mirror",
            metavar="REGEX", required="e.g. --include '.*' for every topic"),
    Setting(("--blacklist", "--exclude"), "exclude", Kind.REGEX, TOPICS, "topics to leave out",
            metavar="REGEX"),
    Setting(("--topic.refresh.interval.ms",), "topic_refresh_interval_ms", Kind.NUMBER, TOPICS,
            "how often to look for new topics and partitions (default {default})",
            default=10000, metavar="MS", check=positive),
    Setting(("--recreate.target.topics",), "recreate_target_topics", Kind.SWITCH, TOPICS,
            "create a target topic again when it is deleted while mirroring (default: report "
            "it and stop its partitions)", default=False),
    Setting(("--replication.factor",), "replication_factor", Kind.NUMBER, TOPICS,
            "replication factor of created target topics (default: the target's default)",
            default=-1, metavar="N", check=replication_factor),
    Setting(("--num.streams",), "num_streams", Kind.NUMBER, DELIVERY,
            "stream processes per source cluster, one group member each (default {default})",
            default=1, metavar="N", check=positive),
    Setting(("--num.producers",), "num_producers", Kind.NUMBER, DELIVERY,
            "producers per stream; a partition always uses the same one (default {default})",
            default=1, metavar="N", check=positive),
    Setting(("--offset.commit.interval.ms",), "offset_commit_interval_ms", Kind.NUMBER,
            DELIVERY, "how often acknowledged source offsets are committed (default {default})",
            default=5000, metavar="MS", check=positive),
    Setting(("--abort.on.send.failure",), "abort_on_send_failure", Kind.BOOL, DELIVERY,
            "true (default): a record the target refuses stops the mirror; false: only its "
            "partition stops, and is reported", default=True, metavar="BOOL"),
    Setting(("--message.handler",), "message_handler", Kind.TEXT, DELIVERY,
            "a class with handle(record) -> records, to transform records",
            metavar="MODULE:CLASS"),
    Setting(("--message.handler.args",), "message_handler_args", Kind.TEXT, DELIVERY,
            "the argument passed to the handler's constructor", metavar="TEXT"),
    Setting(("--on.source.gap",), "on_source_gap", Kind.CHOICE, DELIVERY,
            "when records were deleted from the source before they were mirrored, or a topic "
            "was re-created: fail (default: stop, naming the lost offsets) or continue (from "
            "the log start, counted in kmirror_source_gap_records_total, with a warning)",
            default="fail", choices=("fail", "continue")),
    Setting(("--until-caught-up",), "until_caught_up", Kind.SWITCH, DELIVERY,
            "stop (exit 0) once every selected partition reached the end offset it had when "
            "mirroring began", default=False),
    Setting(("--shallow",), "shallow", Kind.SWITCH, DELIVERY,
            "forward the source's record batches whole on every partition, small batches too "
            "(also shallow.iterator.enable=true in a consumer config). Without it batches go "
            "whole where that pays, chosen per partition; see docs/shallow.md", default=False),
    Setting(("--no-shallow",), "no_shallow", Kind.SWITCH, DELIVERY,
            "copy record by record on every partition, never batches whole (also "
            "shallow.iterator.enable=false in a consumer config)", default=False),
    Setting(("--dry-run",), "dry_run", Kind.SWITCH, DELIVERY,
            "connect, print the plan (selected topics and partitions; per target topic: "
            "create, add partitions, exists, or conflict) and exit without writing anything",
            default=False, fills=Fills.COMMAND),
    Setting(("--json",), "json", Kind.SWITCH, DELIVERY, "with --dry-run: the plan as JSON",
            default=False, fills=Fills.COMMAND),
    Setting(("--print-config",), "print_config", Kind.SWITCH, DELIVERY,
            "print every effective client setting (defaults, files, flags; secrets masked) "
            "and exit without connecting", default=False, fills=Fills.COMMAND),
    Setting(("--replication.policy",), "replication_policy", Kind.TEXT, FAILOVER,
            "identity (default: target topics keep their names), prefix (SOURCEALIAS.topic, "
            "never mirrored back into SOURCEALIAS), or MODULE:CLASS",
            default="identity", metavar="POLICY"),
    Setting(("--replication.policy.separator",), "replication_policy_separator", Kind.TEXT,
            FAILOVER, "what joins alias and topic with --replication.policy prefix "
            "(default {default})", default=".", metavar="SEP", check=non_empty_separator),
    Setting(("--source.alias",), "source_alias", Kind.TEXT, FAILOVER,
            "the source cluster's name (one --consumer.config only; default: its "
            "kmirror.cluster.alias key, else the file name)", metavar="NAME",
            fills=Fills.LOADING),
    Setting(("--target.alias",), "target_alias", Kind.TEXT, FAILOVER,
            "the target cluster's name (default: the producer config's kmirror.cluster.alias "
            "key, else the file name)", metavar="NAME", fills=Fills.LOADING),
    Setting(("--provenance.header",), "provenance_header", Kind.SWITCH, FAILOVER,
            "mark mirrored records with a kmirror.provenance header naming the cluster they "
            "were born in, and never mirror a record back into it (active-active with "
            "identity names)", default=False),
    Setting(("--exactly-once",), "exactly_once", Kind.SWITCH, FAILOVER,
            "transactional writes: records and source positions committed atomically in the "
            "target; no duplicates for read_committed readers, even after a crash",
            default=False),
    Setting(("--emit.offset.syncs",), "emit_offset_syncs", Kind.BOOL, FAILOVER,
            "record source->target offset pairs in the target topic kmirror.offset-syncs, for "
            "`kmirror offsets translate` (default {default})", default=True, metavar="BOOL"),
    Setting(("--sync.group.offsets",), "sync_group_offsets", Kind.SWITCH, FAILOVER,
            "keep translating the source's consumer groups onto the target (groups with no "
            "active members there)", default=False),
    Setting(("--sync.group.offsets.groups",), "sync_group_offsets_groups", Kind.REGEX, FAILOVER,
            "which groups --sync.group.offsets translates (default {default})",
            default=".*", metavar="REGEX", check=group_regex),
    Setting(("--sync.group.offsets.interval.ms",), "sync_group_offsets_interval_ms",
            Kind.NUMBER, FAILOVER, "how often --sync.group.offsets translates the groups (default "
            "{default})", default=60000, metavar="MS", check=positive),
    Setting(("--metrics.port",), "metrics_port", Kind.NUMBER, OBSERVE,
            "serve /metrics, /health and /ready on this port (default {default}; 0 disables)",
            default=DEFAULT_METRICS_PORT, metavar="PORT", check=port, fills=Fills.COMMAND),
    Setting(("--no-live",), "live", Kind.OFF_SWITCH, OBSERVE,
            "plain status lines instead of the live table, even on a terminal", default=True,
            fills=Fills.COMMAND),
)

BY_FIELD = {setting.field: setting for setting in RUN_SETTINGS}


def groups() -> list[Group]:
    """The groups, in the order their first setting appears in the table."""
    return list(dict.fromkeys(setting.group for setting in RUN_SETTINGS))


def with_defaults(given: Mapping[str, object]) -> dict[str, object]:
    """Every setting's value: the given ones, the default for the rest. A name that is no
    setting is a programming error (TypeError, as for an unknown keyword argument)."""
    unknown = sorted(set(given) - set(BY_FIELD))
    if unknown:
        raise TypeError(f"not a kmirror run setting: {', '.join(unknown)}")
    return {s.field: given.get(s.field, _copy(s.default)) for s in RUN_SETTINGS}


def _copy(default: object) -> object:
    return list(default) if isinstance(default, tuple) else default


def missing(values: Mapping[str, object]) -> list[str]:
    """One problem per required setting not given."""
    return [p for s in RUN_SETTINGS if (p := s.missing(values[s.field])) is not None]


def problems(values: Mapping[str, object]) -> list[str]:
    """One problem per setting whose value is of the wrong type or fails its check."""
    return [p for s in RUN_SETTINGS if (p := s.problem(values[s.field])) is not None]
