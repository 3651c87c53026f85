"""The target's ``kmirror.source-topics``: lineages read and written (see topics/lineage.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaException, Producer

from kmirror.errors import MirrorError
from kmirror.kafka.admin import Admin, client_logger
from kmirror.kafka.scan import PartitionScanner
from kmirror.topics.lineage import Lineage, decode
from kmirror.topics.naming import LINEAGE_TOPIC

WRITE_TIMEOUT_S = 30.0


class TargetLineageStore:
    """Lineages kept in one compacted partition of the target cluster."""

    def __init__(self, settings: Mapping[str, str], admin: Admin,
                 topic: str = LINEAGE_TOPIC) -> None:
        self._settings = dict(settings)
        self._admin = admin
        self.topic = topic
        self._producer: Any = None

    def create(self, replication_factor: int) -> None:
        """Create the compacted topic unless it exists."""
        self._admin.create_topic(self.topic, 1, replication_factor,
                                 {"cleanup.policy": "compact"})

    def read(self) -> dict[bytes, Lineage]:
        """Every lineage, newest per key (an absent topic holds none)."""
        if self.topic not in self._admin.topics():
            return {}
        scanner = PartitionScanner(self._settings, f"target cluster, topic {self.topic}")
        found: dict[bytes, Lineage] = {}
        try:
            low, high = scanner.bounds(self.topic, 0)
            for _offset, key, value, _headers, _ts in scanner.records(self.topic, 0, low, high):
                lineage = decode(value)
                if key is not None and lineage is not None:
                    found[key] = lineage
                elif key is not None:
                    found.pop(key, None)
        finally:
            scanner.close()
        return found

    def write(self, lineages: Iterable[Lineage]) -> None:
        """Write and wait for the target's acknowledgement of every one."""
        records = [lineage.encode() for lineage in lineages]
        if not records:
            return
        if self._producer is None:
            self._producer = Producer({
                **self._settings, "logger": client_logger(), "enable.idempotence": True,
                "allow.auto.create.topics": False, "message.timeout.ms": int(
                    WRITE_TIMEOUT_S * 1000),
            })
        failures: list[str] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                failures.append(err.str())

        try:
            for key, value in records:
                self._producer.produce(self.topic, value, key, on_delivery=delivered)
        except (BufferError, KafkaException) as exc:
            failures.append(str(exc))
        left = self._producer.flush(WRITE_TIMEOUT_S + 5)
        if failures or left:
            raise MirrorError(
                f"target cluster: cannot write to topic {self.topic}: "
                f"{failures[0] if failures else 'no acknowledgement in time'}"
            )
