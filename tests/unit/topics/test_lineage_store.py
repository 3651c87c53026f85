"""The target's kmirror.source-topics (kmirror.topics.lineage_store over
kmirror.kafka.compacted), with an in-memory log behind the client seam: lineages written are
read back, newest per key, and what this version cannot read removes its key."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest
from confluent_kafka import KafkaError

import kmirror.kafka.compacted as compacted
from kmirror.errors import MirrorError
from kmirror.topics.lineage import Lineage
from kmirror.topics.lineage_store import TargetLineageStore
from kmirror.topics.naming import LINEAGE_TOPIC

Record = tuple[bytes | None, bytes | None]


class FakeAdmin:
    def __init__(self) -> None:
        self.created: list[tuple[str, int, int, dict[str, str]]] = []

    def topics(self) -> dict[str, int]:
        return {name: partitions for name, partitions, _, _ in self.created}

    def create_topic(self, name: str, partitions: int, replication_factor: int,
                     configs: Mapping[str, str]) -> bool:
        self.created.append((name, partitions, replication_factor, dict(configs)))
        return True


class Log:
    """Partition 0 of the topic: what the fake producer appended, read by the fake scan."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.refuse: KafkaError | None = None
        self.labels: list[str] = []

    def producer(self, config: Mapping[str, Any]) -> Any:
        log = self

        class Producer:
            def produce(self, topic: str, value: bytes, key: bytes,
                        on_delivery: Callable[[Any, Any], None]) -> None:
                # Durable and in order, without the idempotent producer's first-write delay
                assert topic == LINEAGE_TOPIC and config["acks"] == "all"
                assert config["max.in.flight.requests.per.connection"] == 1
                assert config["enable.idempotence"] is False
                if log.refuse is None:
                    log.records.append((key, value))
                on_delivery(log.refuse, None)

            def flush(self, _timeout: float) -> int:
                return 0

        return Producer()

    def read_to_end(self, _settings: Mapping[str, str], label: str, topic: str,
                    partitions: Iterable[int], on_record: Callable[[bytes | None, bytes | None],
                                                                   None]) -> dict[int, int]:
        assert topic == LINEAGE_TOPIC and list(partitions) == [0]
        self.labels.append(label)
        for key, value in self.records:
            on_record(key, value)
        return {0: len(self.records)}


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> Log:
    log = Log()
    monkeypatch.setattr(compacted, "Producer", log.producer)
    monkeypatch.setattr(compacted, "read_to_end", log.read_to_end)
    return log


def lineage(source_id: str, since_ms: int, topic: str = "t") -> Lineage:
    return Lineage("cluster-1", "east", topic, source_id, f"east.{topic}", "T1", since_ms)


def test_lineages_written_are_read_back_newest_per_key(log: Log) -> None:
    admin = FakeAdmin()
    store = TargetLineageStore({"bootstrap.servers": "t:9092"}, admin)  # type: ignore[arg-type]
    # Given no topic yet: nothing is stored, and nothing is read
    assert store.read() == {}
    assert log.labels == []
    # When the topic is created and lineages are written, one of them twice
    store.create(3)
    store.write([lineage("S1", 1), lineage("S1", 2, "u")])
    store.write([lineage("S2", 3)])
    store.write([])  # nothing to write: nothing sent
    # Then the topic is compacted with one partition, and the newest lineage per key is read
    assert admin.created == [(LINEAGE_TOPIC, 1, 3, {"cleanup.policy": "compact"})]
    assert len(log.records) == 3
    assert store.read() == {lineage("S2", 3).key(): lineage("S2", 3),
                            lineage("S1", 2, "u").key(): lineage("S1", 2, "u")}
    assert log.labels == [f"target cluster, topic {LINEAGE_TOPIC}"]


def test_a_tombstone_or_an_unknown_format_removes_its_key(log: Log) -> None:
    admin = FakeAdmin()
    store = TargetLineageStore({}, admin)  # type: ignore[arg-type]
    store.create(1)
    kept, dropped = lineage("S1", 1), lineage("S1", 1, "u")
    store.write([kept, dropped])
    log.records.append((dropped.key(), None))  # a tombstone
    log.records.append((kept.key(), b'{"v": 99}'))  # a newer format: not this version's
    log.records.append((None, kept.encode()[1]))  # no key: ignored
    assert store.read() == {}


def test_a_refused_write_is_a_mirror_error_naming_the_topic(log: Log) -> None:
    admin = FakeAdmin()
    store = TargetLineageStore({}, admin)  # type: ignore[arg-type]
    log.refuse = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Broker: Topic authorization "
                            "failed")
    with pytest.raises(MirrorError) as caught:
        store.write([lineage("S1", 1)])
    assert str(caught.value) == (f"target cluster: cannot write to topic {LINEAGE_TOPIC}: "
                                 "Broker: Topic authorization failed")
    assert caught.value.retriable is False
