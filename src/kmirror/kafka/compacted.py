"""One of kmirror's own compacted topics on a cluster, as bytes: created, read, written.

kmirror keeps its bookkeeping in compacted topics of the target (``kmirror.source-topics``
for topic lineages, see ``kmirror.topics.lineage_store``). This module knows how to create
such a topic, read every record of its partition 0 back, and write records waiting for the
cluster's acknowledgement of every one; what the bytes mean is the domain's business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaException, Producer

from kmirror.errors import MirrorError
from kmirror.kafka.admin import Admin, client_logger
from kmirror.kafka.client_errors import error_of, translated
from kmirror.kafka.scan import read_to_end

WRITE_TIMEOUT_S = 30.0
KeyValue = tuple[bytes | None, bytes | None]


class CompactedTopic:
    """A compacted, single-partition topic of ``cluster_label`` ("target cluster")."""

    def __init__(self, settings: Mapping[str, str], admin: Admin, topic: str,
                 cluster_label: str = "target cluster") -> None:
        self._settings = dict(settings)
        self._admin = admin
        self.topic = topic
        self.cluster_label = cluster_label
        self._producer: Any = None

    def create(self, replication_factor: int) -> None:
        """Create the compacted topic unless it exists."""
        self._admin.create_topic(self.topic, 1, replication_factor,
                                 {"cleanup.policy": "compact"})

    def records(self) -> list[KeyValue]:
        """Every record (key, value) of partition 0 up to its end as it is now, in offset
        order (compaction keeps them few); an absent topic has none."""
        if self.topic not in self._admin.topics():
            return []
        found: list[KeyValue] = []
        read_to_end(self._settings, f"{self.cluster_label}, topic {self.topic}", self.topic,
                    [0], lambda key, value: found.append((key, value)))
        return found

    def write(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Write (key, value) records and wait for the acknowledgement of every one; raises
        MirrorError when the cluster refuses one or does not answer in time."""
        if not records:
            return
        if self._producer is None:
            # Not idempotent: librdkafka's idempotent producer holds its first write about
            # 500 ms (measured on Kafka 4.4), which every first start paid before mirroring.
            # A compacted store needs no duplicate detection (a record written twice leaves
            # the same last value per key), and one request in flight keeps retries in order.
            self._producer = Producer({
                **self._settings, "logger": client_logger(), "enable.idempotence": False,
                "acks": "all", "max.in.flight.requests.per.connection": 1,
                "allow.auto.create.topics": False, "message.timeout.ms": int(
                    WRITE_TIMEOUT_S * 1000),
            })
        failures: list[str] = []
        failed: list[Any] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                failures.append(err.str())
                failed.append(err)

        try:
            for key, value in records:
                self._producer.produce(self.topic, value, key, on_delivery=delivered)
        except (BufferError, KafkaException) as exc:
            failures.append(str(exc))
            failed.append(error_of(exc))
        left = self._producer.flush(WRITE_TIMEOUT_S + 5)
        if failures or left:
            raise translated(
                MirrorError, f"{self.cluster_label}: cannot write to topic {self.topic}: "
                f"{failures[0] if failures else 'no acknowledgement in time'}",
                failed[0] if failed else None,
            )
