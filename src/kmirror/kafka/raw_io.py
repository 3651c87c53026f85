"""Kafka's wire protocol for raw record batches: Fetch and Produce without touching records.

The record path (reader.py, writer.py) goes through librdkafka, which never hands out a
batch as bytes. Shallow iteration needs exactly that, so this module speaks the five
requests it needs itself — ApiVersions, Metadata, InitProducerId, Fetch and Produce — over
plain sockets. Messages are encoded and decoded by kafka-python's protocol classes, which are
generated from Kafka's own JSON schemas (so every version and tagged field is right); the
``records`` field passes through as bytes. kafka-python's network client is not used: its
3.0 connection layer is being rewritten, and a mirror needs one selector over two clusters
inside its own loop.

Requests on one connection are answered in order (the broker handles one at a time per
connection), which is what keeps a partition's batches in order when several are in flight.

Connections are secured as the client config says (TLS, mutual TLS, SASL PLAIN, SCRAM and
unsecured OAUTHBEARER: ``wire_auth.py``), negotiated right after ApiVersions.
"""

from __future__ import annotations

import logging
import selectors
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka.protocol.consumer.fetch import FetchRequest
from kafka.protocol.metadata.metadata import MetadataRequest
from kafka.protocol.producer.produce import ProduceRequest
from kafka.protocol.producer.transaction import InitProducerIdRequest
from kafka.record.default_records import DefaultRecordBatch

from kmirror.errors import MirrorError
from kmirror.kafka.batches import AbortedTransaction, RecordBatch
from kmirror.kafka.fetch_session import SESSION_ERRORS, FetchSession, SessionRequest
from kmirror.kafka.raw_wire import Broker as Broker
from kmirror.kafka.raw_wire import Connection
from kmirror.kafka.raw_wire import KafkaCode as KafkaCode
from kmirror.kafka.raw_wire import WireError as WireError
from kmirror.kafka.wire_auth import WireSecurity

_log = logging.getLogger("kmirror.raw_io")

Key = tuple[str, int]

READ_COMMITTED = 1
# Fetch names topics by id from this version on (KIP-516). The broker keeps a fetch session's
# partitions in an open-addressing hash table keyed by topic and partition, and moves each
# partition that answered with records to the end of it. By name, topics named in sequence
# (orders-0001, orders-0002, ...) hash next to one another and fill one long run of the table,
# and each move then shifts the whole run: at 10,000 such partitions one answer to a burst of
# writes took the broker 8 to 30 s of a core (thread dumps: ImplicitLinkedHashCollection.
# removeElementAtSlot under IncrementalFetchContext). Topic ids hash at random.
FETCH_BY_TOPIC_ID = 13
_NO_TOPIC_ID = uuid.UUID(int=0)
# (debug log) incremental fetches changing this many partitions, answers this late past the wait
_LOGGED_CHANGES = 100
_SLOW_ANSWER_S = 5.0


@dataclass
class Metadata:
    """Leaders of the partitions asked about, and the brokers."""

    brokers: dict[int, Broker]
    leaders: dict[Key, int]  # -1 while a partition has no leader
    errors: dict[str, KafkaCode] = field(default_factory=dict)  # per topic
    topic_ids: dict[str, uuid.UUID] = field(default_factory=dict)  # (brokers before 2.8: none)


@dataclass
class FetchedPartition:
    """One partition of a fetch response."""

    topic: str
    partition: int
    fetch_offset: int
    error: KafkaCode | None
    records: bytes
    aborted: list[AbortedTransaction]
    high_watermark: int
    log_start_offset: int


@dataclass
class ProduceResult:
    """What the target said about one produced batch."""

    topic: str
    partition: int
    base_offset: int
    error: KafkaCode | None
    message: str | None


@dataclass(frozen=True)
class DecodedRecord:
    """A record of a batch that goes through the record path."""

    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


def decode_records(batch: RecordBatch) -> list[DecodedRecord]:
    """The records of one batch, decompressed (for the record-path fallback)."""
    decoded = DefaultRecordBatch(bytes(batch.data))
    return [
        DecodedRecord(r.offset, r.timestamp, r.key, r.value, list(r.headers))
        for r in decoded
    ]


class RawCluster:
    """Connections to the brokers of one cluster, registered with a shared selector."""

    def __init__(self, bootstrap_servers: str, client_id: str, label: str,
                 selector: selectors.BaseSelector, request_timeout_s: float = 30.0,
                 security: WireSecurity | None = None) -> None:
        self.label, self.client_id = label, client_id
        self.security = security or WireSecurity()
        self.timeout_s = request_timeout_s
        self._selector = selector
        self._bootstrap = [_parse_address(a) for a in bootstrap_servers.split(",") if a.strip()]
        self.brokers: dict[int, Broker] = {}
        self._connections: dict[int, Connection] = {}
        self._any: Connection | None = None
        self._sessions: dict[int, FetchSession] = {}  # per broker (fetch(session=True))
        self._topic_ids: dict[str, uuid.UUID] = {}  # every topic any metadata answer named
        self._topic_names: dict[uuid.UUID, str] = {}

    def connection(self, node_id: int) -> Connection:
        """The open connection to ``node_id`` (opened now if needed)."""
        conn = self._connections.get(node_id)
        if conn is not None and not conn.closed:
            return conn
        if conn is not None:
            self._forget(conn)
        broker = self.brokers.get(node_id)
        if broker is None:
            raise WireError(f"{self.label}: broker {node_id} is not in the metadata")
        conn = Connection(broker, self.client_id, self.label, self.timeout_s, self.security)
        self._connections[node_id] = conn
        self._selector.register(conn.sock, selectors.EVENT_READ, conn)
        return conn

    def _forget(self, conn: Connection) -> None:
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        if self._connections.get(conn.broker.node_id) is conn:
            del self._connections[conn.broker.node_id]
            self._sessions.pop(conn.broker.node_id, None)
        if self._any is conn:
            self._any = None

    def _some_connection(self) -> Connection:
        """A connection for setup requests, apart from the pipelined ones (never selected)."""
        if self._any is not None and not self._any.closed:
            return self._any
        errors = []
        known = [(b.host, b.port) for b in self.brokers.values()]
        for host, port in [*self._bootstrap, *known]:
            try:
                conn = Connection(Broker(-1, host, port), self.client_id, self.label,
                                   self.timeout_s, self.security)
            except WireError as exc:
                errors.append(str(exc))
                continue
            self._any = conn
            return conn
        raise WireError("; ".join(errors) or f"{self.label}: no bootstrap server")

    def metadata(self, topics: Iterable[str]) -> Metadata:
        """Brokers and partition leaders of ``topics`` (retried once on a lost connection)."""
        names = sorted(set(topics))
        for attempt in (1, 2):
            conn = self._some_connection()
            try:
                response = conn.call(MetadataRequest, {
                    "topics": [MetadataRequest.MetadataRequestTopic(name=n) for n in names],
                    "allow_auto_topic_creation": False,
                })
                break
            except WireError:
                conn.close()
                self._any = None
                if attempt == 2:
                    raise
        brokers = {b.node_id: Broker(b.node_id, b.host, b.port) for b in response.brokers}
        self.brokers = brokers
        leaders: dict[Key, int] = {}
        errors: dict[str, KafkaCode] = {}
        ids: dict[str, uuid.UUID] = {}
        for topic in response.topics:
            if topic.error_code:
                errors[topic.name] = KafkaCode.of(topic.error_code)
                continue
            if topic.topic_id and topic.topic_id != _NO_TOPIC_ID:
                ids[topic.name] = topic.topic_id
            for part in topic.partitions:
                leaders[(topic.name, part.partition_index)] = (
                    part.leader_id if not part.error_code else -1
                )
        self._learn_ids(ids)
        return Metadata(brokers, leaders, errors, ids)

    def _learn_ids(self, ids: Mapping[str, uuid.UUID]) -> None:
        known = self._topic_ids
        if any(known.get(name, topic_id) != topic_id for name, topic_id in ids.items()):
            # A topic created again under its name: sessions naming its old id start anew.
            self._sessions.clear()
            for name, topic_id in ids.items():
                self._topic_names.pop(known.get(name, topic_id), None)
        known.update(ids)
        self._topic_names.update((topic_id, name) for name, topic_id in ids.items())

    def _topic_field(self, topic: str, by_id: bool) -> dict[str, Any]:
        """How a Fetch of this version names ``topic``."""
        if not by_id:
            return {"topic": topic}
        topic_id = self._topic_ids.get(topic)
        if topic_id is None:
            raise WireError(f"{self.label}: topic {topic}: no topic id known yet; asking the "
                            "metadata again")
        return {"topic_id": topic_id}

    def fetch(self, node_id: int, positions: Mapping[Key, int], *, max_wait_ms: int,
              max_bytes: int, partition_max_bytes: int, isolation_level: int,
              callback: Callable[[list[FetchedPartition], WireError | None], None],
              session: bool = False) -> None:
        """One Fetch to ``node_id`` for these partitions at these offsets. With ``session``,
        in this cluster's fetch session with the broker (kafka/fetch_session.py): the answer
        lists only the partitions with something new, and only one such fetch per broker may
        be in flight."""
        conn = self.connection(node_id)
        version = conn.version(FetchRequest)
        by_id = version >= FETCH_BY_TOPIC_ID
        wanted = {key: (offset, partition_max_bytes) for key, offset in positions.items()}
        fetch_session = self._sessions.setdefault(node_id, FetchSession()) if session else None
        asked = (fetch_session.request(wanted) if fetch_session is not None
                 else SessionRequest(0, -1, wanted, []))
        name = self._topic_field
        fields = {
            "replica_id": -1, "max_wait_ms": max_wait_ms, "min_bytes": 1, "max_bytes": max_bytes,
            "isolation_level": isolation_level,
            "session_id": asked.session_id, "session_epoch": asked.epoch,
            "topics": [
                FetchRequest.FetchTopic(**name(topic, by_id), partitions=[
                    FetchRequest.FetchTopic.FetchPartition(
                        partition=partition, fetch_offset=offset, partition_max_bytes=limit)
                    for partition, (offset, limit) in parts])
                for topic, parts in _by_topic(asked.send)],
            "forgotten_topics_data": [
                FetchRequest.ForgottenTopic(**name(topic, by_id), partitions=[p for p, _ in parts])
                for topic, parts in _by_topic(dict.fromkeys(asked.forget, None))],
        }

        if len(asked.send) + len(asked.forget) >= _LOGGED_CHANGES and not asked.full:
            _log.debug("%s: fetch session %d epoch %d with broker %d: %d partitions added or "
                       "moved, %d forgotten, wait up to %d ms", self.label, asked.session_id,
                       asked.epoch, node_id, len(asked.send), len(asked.forget), max_wait_ms)
        sent_at = time.monotonic()

        def done(response: Any, error: WireError | None) -> None:
            took = time.monotonic() - sent_at
            if took > max_wait_ms / 1000 + _SLOW_ANSWER_S:
                _log.debug("%s: fetch (session %d epoch %d, %d partitions named) answered "
                           "after %.1f s: %s", self.label, asked.session_id, asked.epoch,
                           len(asked.send), took, error or "ok")
            if error is None and response.error_code in SESSION_ERRORS and fetch_session:
                _log.debug("%s: fetch session with broker %d ended (%s): fetching in full",
                           self.label, node_id, KafkaCode.of(response.error_code).name)
                fetch_session.reset()
                callback([], None)
                return
            if error is None and response.error_code:
                error = WireError(
                    f"{self.label}: fetch failed: {KafkaCode.of(response.error_code).name}")
            if error is not None:
                if fetch_session is not None:
                    fetch_session.reset()
                callback([], error)
                return
            if fetch_session is not None:
                fetch_session.answered(response.session_id)
                if asked.full:
                    _log.debug("%s: fetch session %d with broker %d, %d partitions", self.label,
                               response.session_id, node_id, len(asked.send))
            cached = fetch_session.cached if fetch_session is not None else {}

            def offset_of(key: Key) -> int:
                want = asked.send.get(key) or cached.get(key)
                return want[0] if want is not None else -1

            out = []
            for topic in response.responses:
                topic_name = self._topic_names.get(topic.topic_id) if by_id else topic.topic
                if topic_name is None:
                    _log.debug("%s: fetch answered for topic id %s, not known here: left out",
                               self.label, topic.topic_id)
                    continue
                for part in topic.partitions:
                    out.append(FetchedPartition(
                        topic_name, part.partition_index,
                        offset_of((topic_name, part.partition_index)),
                        KafkaCode.of(part.error_code) if part.error_code else None,
                        part.records or b"",
                        [AbortedTransaction(a.producer_id, a.first_offset)
                         for a in (part.aborted_transactions or [])],
                        part.high_watermark, part.log_start_offset,
                    ))
            callback(out, None)

        # (its answer: up to max_bytes of records, or a partition's limit raised to fit a batch)
        conn.send(FetchRequest, fields, version, done,
                  answer_max_bytes=max(max_bytes, partition_max_bytes))

    def produce(self, node_id: int, batches: Mapping[Key, bytes], timeout_ms: int,
                callback: Callable[[list[ProduceResult], WireError | None], None]) -> None:
        """One Produce (acks=all) of one batch per partition to ``node_id``."""
        conn = self.connection(node_id)
        by_topic: dict[str, list[Any]] = {}
        for (topic, partition), data in batches.items():
            by_topic.setdefault(topic, []).append(
                ProduceRequest.TopicProduceData.PartitionProduceData(index=partition, records=data)
            )
        fields = {
            "transactional_id": None, "acks": -1, "timeout_ms": timeout_ms,
            "topic_data": [ProduceRequest.TopicProduceData(name=t, partition_data=p)
                           for t, p in by_topic.items()],
        }

        def done(response: Any, error: WireError | None) -> None:
            if error is not None:
                callback([], error)
                return
            out = []
            for topic in response.responses:
                for part in topic.partition_responses:
                    out.append(ProduceResult(
                        topic.name, part.index, part.base_offset,
                        KafkaCode.of(part.error_code) if part.error_code else None,
                        part.error_message,
                    ))
            callback(out, None)

        conn.send(ProduceRequest, fields, conn.version(ProduceRequest), done)

    def init_producer_id(self) -> tuple[int, int]:
        """A new idempotent producer id and epoch (duplicate detection on the target).

        A broker that has not yet been given a block of ids answers with a retriable code
        (COORDINATOR_LOAD_IN_PROGRESS on a fresh cluster): asked again until the timeout."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            conn = self._some_connection()
            response = conn.call(InitProducerIdRequest, {
                "transactional_id": None, "transaction_timeout_ms": 2**31 - 1,
            })
            if not response.error_code:
                return int(response.producer_id), int(response.producer_epoch)
            code = KafkaCode.of(response.error_code)
            if not code.retriable or time.monotonic() >= deadline:
                raise MirrorError(f"{self.label}: cannot get a producer id for --shallow: "
                                  f"{code.name}")
            time.sleep(0.2)

    def in_flight(self, node_id: int | None = None) -> int:
        """Requests sent and not answered (to one broker, or all)."""
        if node_id is not None:
            conn = self._connections.get(node_id)
            return len(conn.waiting) if conn is not None else 0
        return sum(len(c.waiting) for c in self._connections.values())

    def expire(self) -> None:
        """Fail connections whose oldest request is overdue; drop closed ones."""
        now = time.monotonic()
        for conn in list(self._connections.values()):
            conn.expire(now)
            if conn.closed:
                self._forget(conn)

    def close(self) -> None:
        """Close every connection."""
        for conn in list(self._connections.values()):
            self._forget(conn)
            conn.close()
        if self._any is not None:
            self._any.close()
            self._any = None


def _by_topic(keyed: Mapping[Key, Any]) -> list[tuple[str, list[tuple[int, Any]]]]:
    """``{(topic, partition): value}`` grouped as ``[(topic, [(partition, value)])]``."""
    grouped: dict[str, list[tuple[int, Any]]] = {}
    for (topic, partition), value in keyed.items():
        grouped.setdefault(topic, []).append((partition, value))
    return list(grouped.items())


def _parse_address(address: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port``, maybe after ``PROTOCOL://``; without a port,
    9092 (as librdkafka, which reads the same bootstrap.servers)."""
    address = address.strip()
    address = address.split("://", 1)[-1]  # PLAINTEXT://, SASL_SSL://, ...
    host, colon, port = address.rpartition(":")
    if not colon or "]" in port:  # no port: "kafka1", "[::1]"
        host, port = address, ""
    return host.strip("[]") or "localhost", int(port or 9092)


class RawIO:
    """One selector for the connections of both clusters."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()

    def cluster(self, bootstrap_servers: str, client_id: str, label: str,
                request_timeout_s: float = 30.0,
                security: WireSecurity | None = None) -> RawCluster:
        """Connections to one cluster, served by this selector."""
        return RawCluster(bootstrap_servers, client_id, label, self.selector, request_timeout_s,
                          security)

    def poll(self, timeout_s: float) -> int:
        """Serve answers that arrived (waiting up to ``timeout_s`` for the first)."""
        if not self.selector.get_map():
            time.sleep(timeout_s)
            return 0
        events = self.selector.select(timeout_s)
        for key, _mask in events:
            key.data.on_readable()
        return len(events)

    def close(self) -> None:
        """Release the selector."""
        self.selector.close()
