"""Consumer-group offsets over confluent-kafka, for failover onto the target.

What ``kmirror offsets translate`` and ``--sync.group.offsets`` read and write: the records of
a topic as bytes (the offset syncs kept in the target; ``kmirror.offsets.clusters`` decodes
them), the groups of the source and their committed offsets, the state, offsets and end
offsets of a group on the target, and the commit that moves a group there. Nothing here joins
a group. Client errors become kmirror's (``AccessDenied`` with the ACL to add,
``ClusterUnreachable`` with a diagnosis).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from kmirror.errors import AccessDenied, BadInputError, ClusterUnreachable, KmirrorError
from kmirror.kafka.acls import acl_line
from kmirror.kafka.admin import client_logger
from kmirror.kafka.client_errors import (
    GROUP_ACTIVE,
    code_of,
    error_of,
    is_authorization,
    translated,
    worth_waiting,
)
from kmirror.kafka.connection import ConnectionErrors, wait_for_metadata
from kmirror.kafka.group_records import GroupState, Key
from kmirror.kafka.scan import read_to_end

T = TypeVar("T")
_RETRY_S = 0.5


class OffsetsClient:
    """Group-offset queries and commits against one cluster; ``label`` names it in errors
    ("source cluster", "target cluster (from target.properties)")."""

    def __init__(self, settings: Mapping[str, str], label: str, timeout_s: float = 20.0) -> None:
        self._settings = dict(settings)
        servers = self._settings.get("bootstrap.servers", "?")
        self.label = label if servers in label else f"{label} ({servers})"
        self._timeout_s = timeout_s
        self._errors = ConnectionErrors()
        self._admin = AdminClient({**self._settings, "logger": client_logger(),
                                   "error_cb": self._errors})

    def topics(self) -> dict[str, int]:
        """Every topic with its partition count; fails fast, with advice, when unreachable."""
        try:
            metadata = wait_for_metadata(self._admin, self._errors, self._timeout_s, self.label)
        except KafkaException as exc:
            raise translated(
                ClusterUnreachable, f"{self.label} did not answer within {self._timeout_s:g} s: "
                "check bootstrap.servers, that the brokers run, and the security settings", exc,
            ) from exc
        return {n: len(t.partitions) for n, t in metadata.topics.items() if t.error is None}

    def read_topic(self, topic: str, on_record: Callable[[bytes | None, bytes | None], None],
                   start: Mapping[int, int] | None = None) -> dict[int, int]:
        """Every record of ``topic`` from ``start`` (per partition; default the beginning) up
        to the end offsets as they are now, in order, handed to ``on_record(key, value)``;
        returns per partition the offset to read on from. A missing topic has no records."""
        partitions = self.topics().get(topic, 0)
        if partitions == 0:
            return dict(start or {})
        return read_to_end(self._settings, self.label, topic, range(partitions), on_record,
                           start)

    def groups(self) -> list[str]:
        """The ids of every consumer group of the cluster."""
        self.topics()
        try:
            listed = self._admin.list_consumer_groups(request_timeout=self._timeout_s).result()
        except KafkaException as exc:
            raise self._error("cannot list the consumer groups", "", exc) from exc
        if listed.errors and not listed.valid:
            raise self._error("cannot list the consumer groups", "", listed.errors[0])
        return sorted(g.group_id for g in (listed.valid or []))

    def committed(self, group: str) -> dict[Key, int]:
        """Every committed offset of the group (empty for a group that does not exist)."""
        request = [ConsumerGroupTopicPartitions(group)]
        result = self._group_call(
            group, "read the committed offsets of",
            lambda: self._admin.list_consumer_group_offsets(
                request, request_timeout=self._timeout_s)[group].result())
        if result is None:
            return {}
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions
            if tp.offset >= 0 and tp.error is None
        }

    def group_state(self, group: str) -> GroupState:
        """The group's state and member count; a group that does not exist has no members."""
        self.topics()
        described = self._group_call(
            group, "describe",
            lambda: self._admin.describe_consumer_groups(
                [group], request_timeout=self._timeout_s)[group].result())
        if described is None:
            return GroupState("MISSING", 0)
        state = str(getattr(described.state, "name", described.state))
        return GroupState(state, len(described.members or []))

    def end_offsets(self, keys: Iterable[Key]) -> dict[Key, int]:
        """High watermarks of the partitions that exist; missing ones are left out."""
        topics = self.topics()
        request = {TopicPartition(t, p): OffsetSpec.latest()
                   for t, p in keys if p < topics.get(t, 0)}
        if not request:
            return {}
        futures = self._admin.list_offsets(
            request, isolation_level=IsolationLevel.READ_UNCOMMITTED,
            request_timeout=self._timeout_s)
        out: dict[Key, int] = {}
        for tp, future in futures.items():
            try:
                out[(tp.topic, tp.partition)] = future.result().offset
            except KafkaException as exc:
                raise self._error(f"cannot read the end offset of {tp.topic}[{tp.partition}]",
                                  "", exc) from exc
        return out

    def write_offsets(self, group: str, offsets: Mapping[Key, int]) -> None:
        """Commit ``offsets`` for ``group`` (the group must have no active members)."""
        if not offsets:
            return
        request = [ConsumerGroupTopicPartitions(
            group, [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())])]
        result = self._group_call(
            group, "commit offsets for",
            lambda: self._admin.alter_consumer_group_offsets(
                request, request_timeout=self._timeout_s)[group].result(), write=True)
        if result is None:
            raise KmirrorError(f"{self.label}: group {group} vanished while its offsets were "
                               "committed: run this again")
        failed = [tp for tp in result.topic_partitions if tp.error is not None]
        if failed:
            first = failed[0]
            raise self._write_error(group, first.error, f"{first.topic}[{first.partition}]")

    def _group_call(self, group: str, what: str, call: Callable[[], T],
                    write: bool = False) -> T | None:
        """``call`` retried while the group coordinator is not ready (a fresh cluster);
        None when the group does not exist."""
        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                return call()
            except KafkaException as exc:
                error = exc.args[0]
                if code_of(exc) == KafkaError.GROUP_ID_NOT_FOUND:
                    return None
                if worth_waiting(exc) and time.monotonic() < deadline:
                    time.sleep(_RETRY_S)
                    continue
                if write:
                    raise self._write_error(group, error, "") from exc
                raise self._error(f"cannot {what} group {group}", group, exc) from exc

    def _write_error(self, group: str, error: Any, where: str) -> KmirrorError:
        at = f" ({where})" if where else ""
        code = code_of(error)
        if code in GROUP_ACTIVE:
            return translated(
                BadInputError, f"{self.label}: group {group} refused the commit{at} because it "
                f"has active members ({error.name()}): stop its consumers first, then run this "
                "again", error)
        if code in (KafkaError.GROUP_AUTHORIZATION_FAILED,
                    KafkaError.TOPIC_AUTHORIZATION_FAILED):
            resource, name = ("--group", group) \
                if code == KafkaError.GROUP_AUTHORIZATION_FAILED else ("--topic", "*")
            return translated(
                AccessDenied, f"{self.label}: not allowed to commit offsets for group "
                f"{group}{at} ({error.name()}); grant it with: "
                + acl_line(self._settings, ["Read", "Describe"], resource, name), error)
        return translated(
            KmirrorError, f"{self.label}: cannot commit offsets for group {group}{at}: "
            f"{error.str() or error.name()}", error)

    def _error(self, what: str, group: str, failure: Any) -> KmirrorError:
        """``failure`` (a KafkaException, or a KafkaError of a result) as kmirror's error."""
        error = error_of(failure)
        text = (error.str() or error.name()) if error is not None else str(failure)
        if error is not None and is_authorization(error):
            resource, name = ("--group", group or "*") \
                if error.code() != KafkaError.TOPIC_AUTHORIZATION_FAILED else ("--topic", "*")
            return translated(
                AccessDenied, f"{self.label}: {what} ({error.name()}); grant it with: "
                + acl_line(self._settings, ["Describe"], resource, name), error)
        return translated(BadInputError, f"{self.label}: {what}: {text}", error)
