"""Cluster metadata and topic administration over confluent-kafka's AdminClient."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
)

from kmirror.errors import AccessDenied, ClusterUnreachable, KmirrorError, MirrorError
from kmirror.kafka.acls import acl_line
from kmirror.kafka.client_errors import text_of, translated
from kmirror.kafka.connection import ConnectionErrors, wait_for_metadata

_QUIET = {"log_level": 0}
# The client reports a config entry's source as a plain int, not as the ConfigSource enum.
_DYNAMIC_TOPIC = ConfigSource.DYNAMIC_TOPIC_CONFIG.value
_log = logging.getLogger("kmirror.librdkafka")
# Topics per CreateTopics / CreatePartitions request: one request for many topics, each
# request in flight with the others (one request per topic took ~35 ms apiece: 30 s for 800
# new topics before the first record).
ADMIN_BATCH = 500
OFFSETS_BATCH = 1000  # partitions per ListOffsets request (end_offsets)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def client_logger() -> logging.Logger:
    """The logger librdkafka's messages are routed to (instead of raw stderr)."""
    return _log


def probe_cluster(bootstrap_servers: str, timeout_s: float) -> str:
    """Ask a cluster for its metadata; return its cluster id or raise ClusterUnreachable."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, **_QUIET})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise translated(
            ClusterUnreachable,
            f"{bootstrap_servers}: no answer to a metadata request within {timeout_s:g} s", exc,
        ) from exc
    return str(metadata.cluster_id)


@dataclass(frozen=True)
class TopicDescription:
    """A topic as the mirror needs to know it."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)
    """Settings set on the topic itself (not broker defaults)."""


class Admin:
    """Admin operations on one cluster; ``label`` names it in error messages."""

    def __init__(self, settings: Mapping[str, str], label: str) -> None:
        self.label = label
        self._settings = dict(settings)
        self._errors = ConnectionErrors()
        self._client = AdminClient({**self._settings, "logger": _log, "error_cb": self._errors})

    def _metadata(self, timeout_s: float, topic: str | None = None) -> Any:
        try:
            return wait_for_metadata(self._client, self._errors, timeout_s, self._where(),
                                     topic)
        except KafkaException as exc:
            raise translated(ClusterUnreachable, self._unreachable(timeout_s), exc) from exc

    def _where(self) -> str:
        servers = self._settings.get("bootstrap.servers", "?")
        return self.label if servers in self.label else f"{self.label} cluster ({servers})"

    def cluster_id(self, timeout_s: float = 15.0, topic: str | None = None) -> str:
        """The cluster's id; raises ClusterUnreachable when it does not answer. ``topic``:
        ask for that one topic's metadata (existing or not) instead of all of it: a liveness
        check every few seconds read 10,000 partitions' metadata each time. (DescribeCluster,
        cheaper still, crashed the process in librdkafka 2.16 during a target broker restart,
        `rd_kafka_admin_response_parse: Assertion rko_result failed`.)"""
        return str(self._metadata(timeout_s, topic).cluster_id)

    def _unreachable(self, timeout_s: float) -> str:
        return (
            f"{self._where()} did not answer a metadata request within "
            f"{timeout_s:g} s: check bootstrap.servers, that the brokers run, and the "
            "security settings"
        )

    def topics(self, timeout_s: float = 15.0) -> dict[str, int]:
        """Every topic of the cluster with its partition count."""
        metadata = self._metadata(timeout_s)
        return {
            name: len(topic.partitions)
            for name, topic in metadata.topics.items()
            if topic.error is None or topic.error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART
        }

    def topic_ids(self, names: Iterable[str], timeout_s: float = 10.0) -> dict[str, str]:
        """The topic id of each of those topics that exists (ids change when a topic is
        deleted and created again under the same name)."""
        names = sorted(set(names))
        if not names:
            return {}
        futures = self._client.describe_topics(TopicCollection(names),
                                               request_timeout=timeout_s)
        ids: dict[str, str] = {}
        for name, future in futures.items():
            try:
                ids[name] = str(future.result().topic_id)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    continue
                raise translated(
                    MirrorError, f"{self._where()}: cannot describe topic {name}: "
                    f"{error.str() if error is not None else exc}", exc,
                ) from exc
        return ids

    def describe(
        self, names: Iterable[str], timeout_s: float = 30.0
    ) -> dict[str, TopicDescription]:
        """Partition count, replication factor and topic-level configs of existing topics."""
        names = list(names)
        if not names:
            return {}
        try:
            metadata = self._client.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            raise translated(
                MirrorError, f"{self.label} cluster: cannot read the metadata of topics "
                f"{', '.join(names)}: {text_of(exc)}", exc,
            ) from exc
        resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
        futures = self._client.describe_configs(resources, request_timeout=timeout_s)
        result: dict[str, TopicDescription] = {}
        for resource, future in futures.items():
            name = resource.name
            try:
                entries = future.result()
            except KafkaException as exc:
                raise translated(
                    MirrorError, f"{self.label} cluster: cannot read the configs of topic "
                    f"{name}: {text_of(exc)}", exc,
                ) from exc
            topic = metadata.topics.get(name)
            if topic is None:
                continue
            replicas = max((len(p.replicas) for p in topic.partitions.values()), default=1)
            configs = {
                key: entry.value
                for key, entry in entries.items()
                if int(getattr(entry.source, "value", entry.source)) == _DYNAMIC_TOPIC
                and entry.value is not None
            }
            result[name] = TopicDescription(name, len(topic.partitions), replicas, configs)
        return result

    def topic_config(self, names: Iterable[str], key: str,
                     timeout_s: float = 30.0) -> dict[str, str | None]:
        """The effective value of one config (set on the topic, or the broker's default)."""
        resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
        if not resources:
            return {}
        futures = self._client.describe_configs(resources, request_timeout=timeout_s)
        out: dict[str, str | None] = {}
        for resource, future in futures.items():
            try:
                entry = future.result().get(key)
            except KafkaException as exc:
                raise translated(
                    MirrorError, f"{self.label} cluster: cannot read the configs of topic "
                    f"{resource.name}: {text_of(exc)}", exc,
                ) from exc
            out[resource.name] = entry.value if entry is not None else None
        return out

    def create_topic(
        self, name: str, partitions: int, replication_factor: int, configs: Mapping[str, str]
    ) -> bool:
        """Create a topic; False when it already exists (created meanwhile by another stream)."""
        outcome = self.create_topics({name: (partitions, configs)}, replication_factor)[name]
        if isinstance(outcome, KmirrorError):
            raise outcome
        return outcome

    def create_topics(
        self, topics: Mapping[str, tuple[int, Mapping[str, str]]], replication_factor: int
    ) -> dict[str, bool | KmirrorError]:
        """Create topics (name -> (partitions, configs)), many per request, every request in
        flight together; per topic: True, False when it exists already (created meanwhile by
        another stream), or the error that refused it (not raised: the others may have been
        created)."""
        out: dict[str, bool | KmirrorError] = {}
        names = sorted(topics)
        futures = {}
        for chunk in _chunks(names, ADMIN_BATCH):
            futures.update(self._client.create_topics(
                [NewTopic(n, topics[n][0], replication_factor, config=dict(topics[n][1]))
                 for n in chunk], request_timeout=30))
        for name in names:
            try:
                futures[name].result()
                out[name] = True
            except KafkaException as exc:
                out[name] = self._create_error(name, topics[name][0], exc)
        return out

    def _create_error(self, name: str, partitions: int, exc: KafkaException) -> bool | KmirrorError:
        error = exc.args[0]
        if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        if error.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED,
                            KafkaError.CLUSTER_AUTHORIZATION_FAILED):
            return translated(
                AccessDenied, f"{self.label} cluster: not allowed to create topic {name} "
                f"({error.name()}); grant it with: "
                + acl_line(self._settings, ["Create", "Describe", "Write", "Alter",
                                            "DescribeConfigs"], "--topic", name), exc)
        return translated(
            MirrorError, f"{self.label} cluster: cannot create topic {name} "
            f"({partitions} partitions): {error.str()}", exc)

    def add_partitions(self, name: str, total: int) -> None:
        """Grow a topic to ``total`` partitions."""
        failure = self.grow_topics({name: total})[name]
        if failure is not None:
            raise failure

    def grow_topics(self, totals: Mapping[str, int]) -> dict[str, KmirrorError | None]:
        """Grow topics (name -> total partitions) in batched requests; per topic None when
        done (or already that large), else the error that refused it."""
        names = sorted(totals)
        futures = {}
        for chunk in _chunks(names, ADMIN_BATCH):
            futures.update(self._client.create_partitions(
                [NewPartitions(n, totals[n]) for n in chunk], request_timeout=30))
        out: dict[str, KmirrorError | None] = {}
        for name in names:
            try:
                futures[name].result()
                out[name] = None
            except KafkaException as exc:
                error = exc.args[0]
                out[name] = None if error.code() == KafkaError.INVALID_PARTITIONS else translated(
                    MirrorError, f"{self.label} cluster: cannot grow topic {name} to "
                    f"{totals[name]} partitions: {error.str()}", exc)  # (None: a race)
        return out

    def delete_topics(self, names: Iterable[str], timeout_s: float = 60.0) -> None:
        """Delete topics and wait until the cluster no longer lists them."""
        names = list(names)
        if not names:
            return
        futures = self._client.delete_topics(names, operation_timeout=timeout_s)
        for name, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise translated(
                        MirrorError, f"{self.label} cluster: cannot delete topic {name}: "
                        f"{exc.args[0].str()}", exc,
                    ) from exc
        deadline = time.monotonic() + timeout_s
        while set(names) & set(self.topics()):
            if time.monotonic() > deadline:
                raise MirrorError(f"{self.label} cluster: topics {names} still listed after delete")
            time.sleep(0.2)

    def end_offsets(self, partitions: Iterable[tuple[str, int]], timeout_s: float = 30.0,
                    partial: bool = False) -> dict[tuple[str, int], int]:
        """The log-end offsets (read_committed: last stable offsets) of the given partitions;
        MirrorError when the cluster does not answer in time. ``partial``: those whose
        leaders answered, the others left out (a partition just created, not led yet)."""
        tps = [TopicPartition(t, p) for t, p in partitions]
        futures: dict[Any, Any] = {}
        # In slices, all in flight: the client matches each partition of a request to its
        # leader by a search through the request (10,000 partitions in one: most of its time).
        for start in range(0, len(tps), OFFSETS_BATCH):
            futures.update(self._client.list_offsets(
                {tp: OffsetSpec.latest() for tp in tps[start:start + OFFSETS_BATCH]},
                isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=timeout_s))
        try:
            if partial:
                return self._answered(futures)
            return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}
        except KafkaException as exc:
            raise translated(MirrorError, f"{self.label} cluster: cannot read end offsets: "
                             f"{text_of(exc)}", exc) from exc

    def _answered(self, futures: Mapping[Any, Any]) -> dict[tuple[str, int], int]:
        """The offsets of the partitions that answered. When the client's metadata did not
        know a topic (created after it last looked), the metadata is read again for the next
        call: librdkafka's admin client never looks again by itself (seen: 500 new topics
        "not found" for minutes after they were created)."""
        ends: dict[tuple[str, int], int] = {}
        unknown = False
        for tp, future in futures.items():
            try:
                ends[(tp.topic, tp.partition)] = int(future.result().offset)
            except KafkaException as exc:
                unknown = unknown or (bool(exc.args) and exc.args[0].code() == KafkaError._NOENT)
        if unknown:
            with contextlib.suppress(KafkaException):
                self._client.list_topics(timeout=5.0)
        return ends

    def committed_offsets(
        self, group: str, partitions: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        """The group's committed offsets for those partitions (-1 where none); MirrorError
        when the cluster does not answer."""
        tps = [TopicPartition(t, p) for t, p in partitions]
        if not tps:
            return {}
        request = [ConsumerGroupTopicPartitions(group, tps)]
        future = self._client.list_consumer_group_offsets(request, request_timeout=30)[group]
        try:
            result = future.result()
        except KafkaException as exc:
            raise translated(
                MirrorError, f"{self.label} cluster: cannot read the committed offsets of group "
                f"{group}: {text_of(exc)}", exc,
            ) from exc
        return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions}



ACL_RESOURCES = ("topic", "group", "broker", "transactional_id")  # broker = the cluster


def grant_acls(bootstrap_servers: str, principal: str,
               grants: list[tuple[str, str, list[str]]], timeout_s: float = 30.0) -> None:
    """Allow ``principal`` (e.g. ``User:mirror``) each (resource type, name or ``*``,
    operations) on any host; used for local secured clusters, through a super-user listener."""
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    admin = AdminClient({"bootstrap.servers": bootstrap_servers, **_QUIET})
    bindings = [
        AclBinding(
            ResourceType[resource.upper()], name, ResourcePatternType.LITERAL, principal, "*",
            AclOperation[operation.upper()], AclPermissionType.ALLOW,
        )
        for resource, name, operations in grants
        for operation in operations
    ]
    for binding, future in admin.create_acls(bindings, request_timeout=timeout_s).items():
        try:
            future.result()
        except KafkaException as exc:
            raise translated(MirrorError, f"{bootstrap_servers}: cannot create ACL {binding}: "
                             f"{exc}", exc) from exc
