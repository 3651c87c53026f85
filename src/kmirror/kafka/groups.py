"""Read-only views of consumer groups: members, committed offsets, and record timestamps.

What `kmirror lag` needs from a cluster, for any group (not only kmirror's). Nothing here joins
a group or commits anything.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from kmirror.errors import AccessDenied, BadInputError, ClusterUnreachable
from kmirror.kafka.acls import acl_line
from kmirror.kafka.admin import client_logger
from kmirror.kafka.client_errors import COORDINATOR_NOT_READY, code_of, retriable, translated
from kmirror.kafka.connection import ConnectionErrors, wait_for_metadata
from kmirror.kafka.group_records import GroupMember, GroupView, Key

TIMESTAMP_READ_TIMEOUT_S = 15.0


class GroupReader:
    """Group and offset queries against one cluster."""

    def __init__(self, settings: Mapping[str, str], label: str, timeout_s: float = 20.0) -> None:
        self.label = label
        self._settings = dict(settings)
        self._timeout_s = timeout_s
        self._errors = ConnectionErrors()
        self._admin = AdminClient({**self._settings, "logger": client_logger(),
                                   "error_cb": self._errors})

    def _unreachable(self, exc: KafkaException) -> ClusterUnreachable:
        return translated(
            ClusterUnreachable,
            f"{self.label} ({self._settings.get('bootstrap.servers', '?')}) did not answer within "
            f"{self._timeout_s:g} s: check the address, that the brokers run, and the security "
            "settings", exc,
        )

    def topics(self) -> dict[str, int]:
        """Every topic with its partition count."""
        where = f"{self.label} ({self._settings.get('bootstrap.servers', '?')})"
        try:
            metadata = wait_for_metadata(self._admin, self._errors, self._timeout_s, where)
        except KafkaException as exc:
            raise self._unreachable(exc) from exc
        return {n: len(t.partitions) for n, t in metadata.topics.items() if t.error is None}

    def group(self, group: str) -> GroupView | None:
        """The group's members and committed offsets; None when the group does not exist."""
        self.topics()  # fails fast, with a clear line, on an unreachable cluster
        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                described = self._admin.describe_consumer_groups(
                    [group], request_timeout=self._timeout_s
                )[group].result()
                break
            except KafkaException as exc:
                error = exc.args[0]
                if code_of(exc) == KafkaError.GROUP_ID_NOT_FOUND:
                    return None
                # A fresh cluster answers NOT_COORDINATOR until its group coordinator loaded.
                not_ready = retriable(exc) or code_of(exc) in COORDINATOR_NOT_READY
                if not_ready and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                if code_of(exc) == KafkaError.GROUP_AUTHORIZATION_FAILED:
                    raise translated(
                        AccessDenied, f"{self.label}: not allowed to describe group {group} "
                        f"({error.name()}); grant it with: "
                        + acl_line(self._settings, ["Describe"], "--group", group), exc,
                    ) from exc
                raise translated(
                    BadInputError, f"{self.label}: cannot describe group {group}: "
                    f"{error.str() or error.name()}", exc,
                ) from exc
        members = tuple(
            GroupMember(
                m.client_id, m.host,
                tuple((tp.topic, tp.partition) for tp in (m.assignment.topic_partitions or [])),
            )
            for m in described.members
        )
        committed = self._committed(group)
        state = str(getattr(described.state, "name", described.state))
        if state == "DEAD" or (not members and not committed):
            return None
        return GroupView(group, state, members, committed)

    def _committed(self, group: str) -> dict[Key, int]:
        request = [ConsumerGroupTopicPartitions(group)]
        try:
            result = self._admin.list_consumer_group_offsets(
                request, request_timeout=self._timeout_s
            )[group].result()
        except KafkaException as exc:
            raise translated(
                BadInputError, f"{self.label}: cannot read the committed offsets of group "
                f"{group}: {exc.args[0].str()}", exc,
            ) from exc
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions
            if tp.offset >= 0 and tp.error is None
        }

    def end_offsets(self, keys: Iterable[Key]) -> dict[Key, int]:
        """Log-end offsets (high watermarks) of the partitions."""
        return self._list_offsets(keys, OffsetSpec.latest())

    def start_offsets(self, keys: Iterable[Key]) -> dict[Key, int]:
        """Log-start offsets of the partitions."""
        return self._list_offsets(keys, OffsetSpec.earliest())

    def _list_offsets(self, keys: Iterable[Key], spec: Any) -> dict[Key, int]:
        request = {TopicPartition(t, p): spec for t, p in keys}
        if not request:
            return {}
        futures = self._admin.list_offsets(
            request, isolation_level=IsolationLevel.READ_UNCOMMITTED,
            request_timeout=self._timeout_s,
        )
        out = {}
        for tp, future in futures.items():
            try:
                out[(tp.topic, tp.partition)] = future.result().offset
            except KafkaException as exc:
                raise translated(
                    BadInputError, f"{self.label}: cannot read the offsets of "
                    f"{tp.topic}[{tp.partition}]: {exc.args[0].str()}", exc,
                ) from exc
        return out

    def timestamps_at(self, positions: Mapping[Key, int]) -> dict[Key, tuple[int, int]]:
        """For each partition, (offset, timestamp ms) of the first record at or after a position.

        One consumer reads one record per partition (all partitions fetched together, each
        paused once it answered), without joining any group. Partitions that return nothing
        before the timeout are left out.
        """
        if not positions:
            return {}
        consumer = Consumer({
            **self._settings, "group.id": f"kmirror-lag-{uuid.uuid4()}",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "isolation.level": "read_uncommitted", "max.partition.fetch.bytes": 65536,
            "fetch.queue.backoff.ms": 5, "logger": client_logger(),
        })
        found: dict[Key, tuple[int, int]] = {}
        try:
            consumer.assign([TopicPartition(t, p, o) for (t, p), o in positions.items()])
            deadline = time.monotonic() + TIMESTAMP_READ_TIMEOUT_S
            while len(found) < len(positions) and time.monotonic() < deadline:
                answered = []
                for msg in consumer.consume(1000, 0.5):
                    key = (msg.topic(), msg.partition())
                    if msg.error() is not None or key in found:
                        continue
                    found[key] = (msg.offset(), msg.timestamp()[1])
                    answered.append(TopicPartition(*key))
                if answered:
                    consumer.pause(answered)
        finally:
            consumer.close()
        return found
