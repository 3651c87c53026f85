"""--exactly-once on real brokers: fencing of a previous owner, and positions stored atomically."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicPartition

from kmirror.kafka.txn_writer import Fenced, TransactionalWriter
from tests.helpers.kafka_io import Clusters, create_topic, read_all

pytestmark = pytest.mark.integration


class _Sink:
    def acked(self, offset: int) -> None:
        pass

    def failed(self, offset: int) -> None:
        raise AssertionError(f"record {offset} refused")


def _writer(bootstrap: str, group: str) -> TransactionalWriter:
    return TransactionalWriter({"bootstrap.servers": bootstrap},
                               {"bootstrap.servers": bootstrap}, "target",
                               transactional_prefix=f"kmirror.test.{group}",
                               positions_group=f"kmirror-positions.test.{group}")


def test_a_second_owner_fences_the_first_and_only_its_records_count(
    clusters: Clusters, topic_name: str
) -> None:
    create_topic(clusters.target, topic_name, 1)
    key = (topic_name, 0)
    # Given a process that owns the partition and has written in its open transaction
    old = _writer(clusters.target, topic_name)
    old.claim(key)
    old.send(topic_name, 0, b"k", b"from-old", None, 0, _Sink(), 41)
    old.flush(10)
    # When a second process claims the same partition (as after a rebalance or a restart)
    new = _writer(clusters.target, topic_name)
    new.claim(key)
    # Then the first one can no longer commit: it is fenced, its records never become visible
    with pytest.raises(Fenced, match="another kmirror process now owns this partition"):
        old.commit({key: 42})
    # And the new owner's records and position commit together
    new.send(topic_name, 0, b"k", b"from-new", None, 0, _Sink(), 41)
    assert new.commit({key: 42}) == [key]
    assert [r.value for r in read_all(clusters.target, topic_name)] == [b"from-new"]
    assert new.stored_positions([key]) == {key: 42}
    consumer = Consumer({"bootstrap.servers": clusters.target,
                         "group.id": f"kmirror-positions.test.{topic_name}",
                         "isolation.level": "read_committed"})
    try:
        [stored] = consumer.committed([TopicPartition(topic_name, 0)], timeout=10)
    finally:
        consumer.close()
    assert stored.offset == 42
    new.close()
    old.close()
