"""Frozen mirror settings, built once from the command line and the config files.

``load_mirror_settings`` gathers every problem of every file and flag before raising one
``ConfigError``, so the user fixes everything in one go. Client settings that would break the
no-loss guarantee (acks other than all, idempotence off) are refused; auto commit is
ignored with a warning (kmirror commits itself, after acknowledgements). The `kmirror run`
flags, their defaults and their own checks are declared in ``kmirror.config.spec``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmirror.config import secrets, spec
from kmirror.config.known_keys import key_scope
from kmirror.config.legacy import translate
from kmirror.config.properties import read_properties
from kmirror.config.providers import provided_keys
from kmirror.config.providers import resolve as resolve_placeholders
from kmirror.errors import ConfigError
from kmirror.topics.filter import compile_java_regex
from kmirror.topics.naming import ReplicationPolicy, load_policy

DEFAULT_GROUP_ID = "kmirror"
ALIAS_KEY = "kmirror.cluster.alias"

# Settings kmirror needs for its guarantees: a file may not change them.
CONSUMER_REQUIRED: Mapping[str, str] = {
    "enable.auto.commit": "false",  # offsets move only on target acknowledgements
    "enable.auto.offset.store": "false",
    "enable.partition.eof": "false",
}
PRODUCER_REQUIRED: Mapping[str, str] = {
    "enable.idempotence": "true",  # no duplicates or reordering from internal retries
    "acks": "all",
}
# Defaults a file may override (see docs/tuning.md for why each).
CONSUMER_DEFAULTS: Mapping[str, str] = {
    "group.id": DEFAULT_GROUP_ID,
    # A mirror that starts at the end silently misses what is already there.
    "auto.offset.reset": "earliest",
    "isolation.level": "read_committed",
    "group.protocol": "consumer",  # KIP-848: the broker assigns, rebalances are incremental
    # Prefetch memory per stream. Every prefetched record pins its whole fetch response, so the
    # fetch sizes bound memory too: 16 MiB queue, 16 MiB responses, 1 MiB per partition keep a
    # stream under 150 MB RSS (measured: 230 MB with 32 MiB / 50 MiB / 4 MiB) at no
    # measured cost in throughput on a LAN; docs/tuning.md says what to raise across a WAN.
    "queued.max.messages.kbytes": "16384",
    "fetch.max.bytes": "16777216",
    # librdkafka waits 1 s before fetching again once its queue was full: a mirror that just
    # drained its queue wants the next records now (measured: 150k -> 780k records/s).
    "fetch.queue.backoff.ms": "5",
    "max.partition.fetch.bytes": "1048576",
    "topic.metadata.refresh.interval.ms": "10000",
}
PRODUCER_DEFAULTS: Mapping[str, str] = {
    "linger.ms": "5",
    "queue.buffering.max.messages": "100000",
    "queue.buffering.max.kbytes": "32768",  # bound in-flight bytes per producer (32 MiB)
    # Never give up on a record: a target that is down makes the mirror wait, not skip.
    "message.timeout.ms": "0",
    # A target topic deleted while mirroring is reported, never re-created with the broker's
    # defaults by the producer's metadata request (--recreate.target.topics re-creates it).
    "allow.auto.create.topics": "false",
    # A target topic kmirror just created is refused as unknown until the broker's metadata
    # shows it, after 30 s by default: a broker making 10,000 new partitions took longer
    # (measured on a loaded 2-core machine). A topic deleted while mirroring is reported by
    # the topic refresh, not by this wait.
    "topic.metadata.propagation.max.ms": "300000",
}
_ALLOWED_ACKS = {"all", "-1"}


@dataclass(frozen=True)
class SourceCluster:
    """One source cluster: its config file, its alias and its consumer settings."""

    config_file: str
    alias: str
    client: Mapping[str, str]

    @property
    def bootstrap_servers(self) -> str:
        """The source brokers' addresses."""
        return self.client["bootstrap.servers"]

    @property
    def admin_settings(self) -> dict[str, str]:
        """Connection and security settings only, for an admin client of this cluster."""
        return connection_settings(self.client)

    @property
    def group_id(self) -> str:
        """The consumer group every stream of this source joins."""
        return self.client["group.id"]


@dataclass(frozen=True)
class MirrorSettings:
    """Everything `kmirror run` needs, validated. Built only by ``load_mirror_settings``: the
    fields after ``target`` are `kmirror run` settings, declared (flag, default, check) in
    config/spec.py; ``target_alias``, ``shallow`` and ``no_shallow`` are what loading made of
    their flags (and of shallow.iterator.enable)."""

    sources: tuple[SourceCluster, ...]
    target_config_file: str
    target: Mapping[str, str]
    include: str
    exclude: str | None
    num_streams: int
    num_producers: int
    offset_commit_interval_ms: int
    abort_on_send_failure: bool
    message_handler: str | None
    message_handler_args: str | None
    replication_factor: int
    topic_refresh_interval_ms: int
    until_caught_up: bool
    shallow: bool  # --shallow: batches whole everywhere (an error where they cannot be)
    no_shallow: bool  # --no-shallow: records everywhere
    replication_policy: str
    replication_policy_separator: str
    target_alias: str
    provenance_header: bool
    exactly_once: bool
    emit_offset_syncs: bool
    sync_group_offsets: bool
    sync_group_offsets_groups: str
    sync_group_offsets_interval_ms: int
    on_source_gap: str
    recreate_target_topics: bool
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def policy(self) -> ReplicationPolicy:
        """The naming policy (built anew: policies need not pickle to stream processes)."""
        return load_policy(self.replication_policy, self.replication_policy_separator)

    def target_topic(self, source: SourceCluster, topic: str) -> str:
        """The target topic that mirrors ``topic`` of ``source``."""
        return self.policy().target_topic(source.alias, topic)

    @property
    def sync_group_offsets_regex(self) -> re.Pattern[str]:
        """--sync.group.offsets.groups compiled with Java-regex semantics, like --include
        (validated when the settings were loaded, so this never raises)."""
        return compile_java_regex(self.sync_group_offsets_groups,
                                  flag="--sync.group.offsets.groups")

    def record_path_reason(self, source: SourceCluster) -> str | None:
        """Why every partition of ``source`` goes the record path, or None when batches go
        whole wherever they can (the default: chosen per partition, docs/shallow.md)."""
        if self.shallow:
            return None
        if self.no_shallow:
            return "--no-shallow (or shallow.iterator.enable=false)"
        if self.message_handler:
            return "--message.handler needs each record"
        if self.exactly_once:
            return "--exactly-once writes through transactions"
        if self.provenance_header:
            return "--provenance.header adds a header to each record"
        for where, client in ((source.config_file, source.client),
                              (self.target_config_file, self.target)):
            problem = _shallow_security_problem(client)
            if problem:
                return f"{problem.split(':')[0]} (in {where}) is not spoken by the batch path"
        return None

    @property
    def target_admin_settings(self) -> dict[str, str]:
        """Connection and security settings only, for an admin client of the target."""
        return connection_settings(self.target)


def connection_settings_from_file(path: str, scope: str) -> dict[str, str]:
    """Connection and security settings of one config file (for lag and verify)."""
    problems: list[str] = []
    client = load_client_config(path, scope, problems, [])
    if problems or client is None:
        raise ConfigError(problems)
    return connection_settings(client)


def connection_settings(client: Mapping[str, str]) -> dict[str, str]:
    """The settings of a client config that any client type accepts (no consumer/producer keys)."""
    return {k: v for k, v in client.items() if key_scope(k) == "*"}


def load_client_config(
    path: str, scope: str, problems: list[str], warnings: list[str]
) -> dict[str, str] | None:
    """Read and translate one config file; problems and warnings are appended."""
    raw = read_properties(path, problems)
    if raw is None:
        return None
    if "" in raw:
        problems.append(f"{path}: malformed line: a value without a key")
    provided = provided_keys(raw)
    raw = resolve_placeholders(path, raw, problems)
    secrets.remember(raw, provided)
    translation = translate(path, {k: v for k, v in raw.items() if k}, scope)
    problems.extend(translation.problems)
    warnings.extend(translation.warnings)
    settings = translation.settings
    if not settings.get("bootstrap.servers"):
        problems.append(
            f"{path}: bootstrap.servers is missing: write `bootstrap.servers=HOST:9092`"
        )
    required = CONSUMER_REQUIRED if scope == "C" else PRODUCER_REQUIRED
    for key, value in required.items():
        given = settings.get(key)
        if given is not None and given.lower() != value and not _same_acks(key, given):
            problems.append(
                f"{path}: {key}={given}: kmirror needs {key}={value} so that nothing is lost; "
                "remove the line"
            )
    defaults = CONSUMER_DEFAULTS if scope == "C" else PRODUCER_DEFAULTS
    return {**defaults, **settings, **required}


def _same_acks(key: str, value: str) -> bool:
    return key == "acks" and value.lower() in _ALLOWED_ACKS


def load_mirror_settings(
    *,
    consumer_configs: Sequence[str],
    producer_config: str | None,
    include: str | None,
    exclude: str | None,
    **options: object,
) -> MirrorSettings:
    """Build validated settings from flags and files, or raise ConfigError with every problem.

    ``options`` are the other `kmirror run` settings by field name (config/spec.py); those not
    given take their defaults. The command's own settings (--metrics.port, --dry-run ...) may
    be given too, so that their problems are reported with the rest; the result has no place
    for them.
    """
    values = spec.with_defaults({
        "consumer_configs": consumer_configs, "producer_config": producer_config,
        "include": include, "exclude": exclude, **options,
    })
    problems = spec.missing(values)
    warnings: list[str] = []
    sources: list[SourceCluster] = []
    aliases: set[str] = set()
    shallow, no_shallow = bool(values["shallow"]), bool(values["no_shallow"])
    source_alias = str(values["source_alias"] or "")
    if source_alias and len(consumer_configs) > 1:
        problems.append("--source.alias names one source cluster: with several "
                        "--consumer.config files write kmirror.cluster.alias in each")
    for path in consumer_configs:
        client = load_client_config(path, "C", problems, warnings)
        if client is None:
            continue
        enable = _shallow_key(path, client.pop("shallow.iterator.enable", None), problems)
        shallow |= enable is True
        no_shallow |= enable is False
        alias = base = (source_alias if len(consumer_configs) == 1 else None) or alias_of(
            client, path)
        client.pop(ALIAS_KEY, None)
        suffix = 1
        while alias in aliases:
            suffix += 1
            alias = f"{base}-{suffix}"
        aliases.add(alias)
        sources.append(SourceCluster(path, alias, client))
    target: dict[str, str] | None = None
    target_alias: str | None = None  # known once the producer config is loaded
    if producer_config:
        target = load_client_config(producer_config, "P", problems, warnings)
        if target is not None and "shallow.iterator.enable" in target:
            del target["shallow.iterator.enable"]
            warnings.append(f"{producer_config}: shallow.iterator.enable: a consumer setting "
                            "in the producer config: ignored (move it to the --consumer.config "
                            "file, or use --shallow)")
        if target is not None:
            target_alias = str(values["target_alias"] or "") or alias_of(target, producer_config)
            target.pop(ALIAS_KEY, None)
    problems.extend(spec.problems(values))
    checked = {**values, "shallow": shallow, "target_alias": target_alias}
    if shallow and no_shallow:
        problems.append("--shallow (or shallow.iterator.enable=true) forces batches whole and "
                        "--no-shallow (or shallow.iterator.enable=false) forces records: "
                        "choose one, or neither for the default (chosen per partition)")
    _check_naming(checked, sources, problems)
    if shallow:
        _check_shallow(checked, [*consumer_configs, producer_config or ""],
                       [s.client for s in sources] + ([target] if target else []), problems)
    if problems:
        raise ConfigError(problems)
    assert target is not None and target_alias is not None and producer_config is not None
    # Every value has the type its setting's kind promises (spec.problems checked it), and a
    # unit test holds each kind to the type of the field it fills.
    fields: dict[str, Any] = {s.field: values[s.field] for s in spec.RUN_SETTINGS
                              if s.fills is spec.Fills.SETTINGS}
    fields.update(shallow=shallow, no_shallow=no_shallow,  # what loading made of them
                  target_alias=target_alias)
    return MirrorSettings(sources=tuple(sources), target_config_file=producer_config,
                          target=target, warnings=tuple(warnings), **fields)


def _shallow_key(path: str, value: str | None, problems: list[str]) -> bool | None:
    """shallow.iterator.enable, the classic MirrorMaker key: true means --shallow, false
    --no-shallow; None when absent (or wrong, reported)."""
    if value is None:
        return None
    if value.strip().lower() not in ("true", "false"):
        problems.append(f"{path}: shallow.iterator.enable={value}: write true or false")
        return None
    return value.strip().lower() == "true"


def _check_naming(options: Mapping[str, object], sources: Sequence[SourceCluster],
                  problems: list[str]) -> None:
    """A policy that loads, aliases a prefix can use, and what --exactly-once cannot do."""
    name = str(options.get("replication_policy") or "identity")
    separator = str(options.get("replication_policy_separator", "."))
    if not separator:
        return  # reported already (spec: non_empty_separator), and no policy can use it
    try:
        load_policy(name, separator)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if name == "prefix":
        for source in sources:
            if separator in source.alias:
                problems.append(
                    f"{source.config_file}: source alias {source.alias!r} contains the "
                    f"separator {separator!r}, so its remote topics could not be told apart: "
                    "set kmirror.cluster.alias (or --source.alias) to a name without it"
                )
        target_alias = str(options.get("target_alias"))
        if separator in target_alias:
            problems.append(
                f"the target alias {target_alias!r} contains the separator {separator!r}, so "
                "copies of its topics could not be recognised: set kmirror.cluster.alias in the "
                "producer config (or --target.alias) to a name without it"
            )
        if target_alias in {s.alias for s in sources}:
            problems.append(
                f"the target alias {options.get('target_alias')!r} is also a source alias: "
                "give the clusters different names (kmirror.cluster.alias or --source.alias / "
                "--target.alias)"
            )
    if options.get("exactly_once") and options.get("shallow"):
        problems.append("--exactly-once writes through transactions, which --shallow's own "
                        "producer does not speak: drop one of them")
    if options.get("provenance_header") and options.get("shallow"):
        problems.append("--provenance.header adds a header to each record, which --shallow "
                        "(batches forwarded whole) cannot: drop one of them")


def _check_shallow(options: Mapping[str, object], paths: Sequence[str],
                   clients: Sequence[Mapping[str, str]], problems: list[str]) -> None:
    """What --shallow cannot do: a message handler, SASL mechanisms it does not speak."""
    if options.get("message_handler"):
        problems.append(
            "--shallow forwards record batches whole, so a --message.handler (which needs "
            "each record) cannot run: drop one of them"
        )
    for path, client in zip(paths, clients, strict=False):
        problem = _shallow_security_problem(client)
        if problem:
            problems.append(f"{path}: {problem}")


SHALLOW_SASL = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


def _shallow_security_problem(client: Mapping[str, str]) -> str | None:
    """Why --shallow's own connections cannot be secured like this, or None when they can."""
    protocol = client.get("security.protocol", "plaintext").lower()
    if protocol not in ("sasl_plaintext", "sasl_ssl"):
        return None
    mechanism = client.get("sasl.mechanism", client.get("sasl.mechanisms", "GSSAPI")).upper()
    if mechanism not in SHALLOW_SASL:
        return (f"sasl.mechanism={mechanism}: --shallow speaks {', '.join(SHALLOW_SASL)}; "
                "mirror without --shallow")
    if mechanism == "OAUTHBEARER" and (
            client.get("sasl.oauthbearer.method", "default").lower() != "default"
            or client.get("enable.sasl.oauthbearer.unsecure.jwt", "false").lower() != "true"):
        return ("sasl.mechanism=OAUTHBEARER: --shallow builds only librdkafka's unsecured "
                "token (enable.sasl.oauthbearer.unsecure.jwt=true), not tokens from an OIDC "
                "endpoint; mirror without --shallow")
    return None


def alias_of(client: Mapping[str, str], path: str) -> str:
    """A cluster's alias as every command names it: the config's ``kmirror.cluster.alias``
    key, else the config file's name (``east.properties`` -> ``east``)."""
    return client.get(ALIAS_KEY) or Path(path).stem


def cluster_alias(path: str | None, default: str) -> str:
    """The alias of a config file not loaded otherwise (``alias_of``), or ``default``."""
    if not path:
        return default
    return alias_of(read_properties(path, []) or {}, path)
