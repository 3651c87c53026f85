"""kmirror.kafka.raw_io over a stand-in for raw_wire's Connection (tested on its own in
test_raw_wire.py): bootstrap addresses, what Metadata, Fetch, Produce and InitProducerId ask
(request bodies byte-exact against the protocol spec), how their answers (bytes written from
the spec in tests/helpers/wire.py, decoded by the real response classes) become Metadata,
FetchedPartition and ProduceResult, the connections' lifecycle, and records decoded for the
record path."""

from __future__ import annotations

import selectors
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kafka.protocol.consumer.fetch import FetchRequest, FetchResponse
from kafka.protocol.metadata.metadata import MetadataRequest, MetadataResponse
from kafka.protocol.producer.produce import ProduceRequest, ProduceResponse
from kafka.protocol.producer.transaction import InitProducerIdRequest, InitProducerIdResponse

import kmirror.kafka.raw_io as raw_io
from kmirror.errors import MirrorError
from kmirror.kafka.batches import AbortedTransaction, Codec, parse_batch
from kmirror.kafka.raw_io import (
    Broker,
    DecodedRecord,
    FetchedPartition,
    KafkaCode,
    Metadata,
    ProduceResult,
    RawCluster,
    RawIO,
    WireError,
    _parse_address,
    decode_records,
)
from tests.helpers.batches import batch, record, with_header
from tests.helpers.wire import (
    TAGS,
    FakeConnection,
    World,
    compact_array,
    compact_bytes,
    compact_string,
    fetch_partition,
    fetch_v12,
    fetch_v13,
    fetched,
    i16,
    i32,
    i64,
    metadata_v12,
    produced,
)

T0 = 1_700_000_000_000  # base timestamp of helpers.batches.batch; its max timestamp T0 + 5


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    here = World()
    monkeypatch.setattr(raw_io, "Connection", lambda *args: FakeConnection(here, *args))
    yield here
    for conn in here.opened:
        conn.close()


@pytest.fixture
def cluster(world: World) -> Iterator[RawCluster]:
    with selectors.DefaultSelector() as selector:
        raw = RawCluster("kafka1:9092,kafka2:9093", "kmirror-test", "source", selector,
                         request_timeout_s=0.3)
        raw.brokers = {1: Broker(1, "kafka1", 9092), 2: Broker(2, "kafka2", 9093)}
        yield raw


def answered(conn: FakeConnection, response_class: Any, body: bytes) -> None:
    """Hand the oldest request sent on ``conn`` its answer, decoded as raw_wire would."""
    conn.waiting.pop(0).callback(response_class.decode(body, version=12), None)


# --- bootstrap servers -------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "host", "port"), [
    ("kafka1:9093", "kafka1", 9093),
    (" SASL_SSL://kafka1:9093 ", "kafka1", 9093),
    ("[::1]:9094", "::1", 9094),
    ("kafka1", "kafka1", 9092),  # librdkafka's default port
    ("[::1]", "::1", 9092),
    ("PLAINTEXT://kafka1", "kafka1", 9092),
])
def test_a_bootstrap_server_is_read_as_librdkafka_reads_it(address: str, host: str,
                                                           port: int) -> None:
    assert _parse_address(address) == (host, port)


# --- metadata ----------------------------------------------------------------------------------


def metadata(topics: list[tuple[int, str, list[tuple[int, int, int]]]]) -> Any:
    """A Metadata v12 answer (see metadata_v12) as a Connection hands it up."""
    return MetadataResponse.decode(metadata_v12(topics), version=12)


def test_metadata_maps_leaders_and_keeps_topic_errors(world: World,
                                                      cluster: RawCluster) -> None:
    world.answers = [metadata([(0, "a", [(0, 0, 2), (5, 1, 2)]), (3, "b", [])])]
    cluster.brokers = {}
    assert cluster.metadata(["b", "a", "b"]) == Metadata(
        brokers={1: Broker(1, "kafka1", 9092), 2: Broker(2, "kafka2", 9093)},
        leaders={("a", 0): 2, ("a", 1): -1},  # LEADER_NOT_AVAILABLE: no leader yet
        errors={"b": KafkaCode.of(3)},
    )
    assert cluster.brokers[2] == Broker(2, "kafka2", 9093)
    [conn] = world.opened
    assert conn.broker == Broker(-1, "kafka1", 9092)  # the first bootstrap server
    [(request, fields)] = conn.calls
    assert request is MetadataRequest
    assert [t.name for t in fields["topics"]] == ["a", "b"]
    assert fields["allow_auto_topic_creation"] is False


def test_metadata_goes_to_the_next_bootstrap_server_that_answers(world: World) -> None:
    world.refused = {("kafka1", 9092)}
    world.answers = [metadata([])]
    with selectors.DefaultSelector() as selector:
        RawCluster("kafka1:9092,kafka2", "c", "source", selector).metadata([])
    assert [c.broker for c in world.opened] == [Broker(-1, "kafka2", 9092)]


def test_no_bootstrap_server_answering_says_why_for_each(world: World,
                                                         cluster: RawCluster) -> None:
    world.refused = {("kafka1", 9092), ("kafka2", 9093)}
    cluster.brokers = {}
    with pytest.raises(WireError, match=r"^kafka1:9092 refused; kafka2:9093 refused$"):
        cluster.metadata(["a"])


def test_metadata_is_asked_again_once_on_a_new_connection(world: World,
                                                          cluster: RawCluster) -> None:
    world.answers = [WireError("lost"), metadata([(0, "a", [(0, 0, 1)])])]
    assert cluster.metadata(["a"]).leaders == {("a", 0): 1}
    first, second = world.opened
    assert first.closed and not second.closed
    world.answers = [WireError("lost"), WireError("lost again")]
    with pytest.raises(WireError, match="lost again"):
        cluster.metadata(["a"])


# --- fetch -------------------------------------------------------------------------------------


Results = list[tuple[list[Any], WireError | None]]


def fetch(world: World, cluster: RawCluster, results: Results) -> FakeConnection:
    cluster.fetch(1, {("orders", 0): 100, ("orders", 1): 7, ("audit", 0): 0}, max_wait_ms=500,
                  max_bytes=1 << 20, partition_max_bytes=65536, isolation_level=1,
                  callback=lambda parts, error: results.append((parts, error)))
    [conn] = world.opened
    return conn


def test_fetch_asks_every_partition_in_one_sessionless_request(world: World,
                                                               cluster: RawCluster) -> None:
    conn = fetch(world, cluster, [])
    [sent] = conn.waiting
    assert (sent.request, sent.version, conn.broker.node_id) == (FetchRequest, 12, 1)
    assert sent.body() == (
        i32(-1) + i32(500) + i32(1) + i32(1 << 20) + b"\x01"  # replica, wait, min, max, isolation
        + i32(0) + i32(-1)  # no fetch session
        + compact_array([
            compact_string("orders") + compact_array(
                [fetch_partition(0, 100), fetch_partition(1, 7)]) + TAGS,
            compact_string("audit") + compact_array([fetch_partition(0, 0)]) + TAGS,
        ])
        + compact_array([]) + compact_string("") + TAGS  # nothing forgotten, no rack
    )
    assert sent.answer_max_bytes == 1 << 20  # so large an answer is taken


def test_a_fetch_takes_an_answer_as_large_as_a_partition_limit_raised_for_a_batch(
        world: World, cluster: RawCluster) -> None:
    cluster.fetch(1, {("orders", 0): 100}, max_wait_ms=500, max_bytes=1 << 20,
                  partition_max_bytes=150 << 20, isolation_level=1, callback=lambda *_: None)
    [conn] = world.opened
    [sent] = conn.waiting
    assert sent.answer_max_bytes == 150 << 20


def test_fetch_answers_become_fetched_partitions(world: World, cluster: RawCluster) -> None:
    results: Results = []
    conn = fetch(world, cluster, results)
    batches = batch([record(0, b"k", b"v")], base_offset=100)
    answered(conn, FetchResponse, fetch_v12(0, [
        fetched(0, 0, batches, [(4242, 90)]),
        fetched(1, 1, None, None),  # OFFSET_OUT_OF_RANGE
        fetched(5, 0, b"", []),  # not asked for
    ]))
    [(parts, error)] = results
    assert error is None
    assert parts == [
        FetchedPartition("orders", 0, 100, None, batches, [AbortedTransaction(4242, 90)], 120, 0),
        FetchedPartition("orders", 1, 7, KafkaCode.of(1), b"", [], 120, 0),
        FetchedPartition("orders", 5, -1, None, b"", [], 120, 0),
    ]
    assert parts[1].error is not None and parts[1].error.out_of_range


def test_a_failed_fetch_reports_no_partitions(world: World, cluster: RawCluster) -> None:
    results: Results = []
    conn = fetch(world, cluster, results)
    answered(conn, FetchResponse, fetch_v12(71, []))  # INVALID_FETCH_SESSION_EPOCH
    lost = WireError("source: broker kafka1:9092: connection lost")
    fetch(world, cluster, results)
    conn.waiting.pop(0).callback(None, lost)
    assert [(parts, str(error)) for parts, error in results] == [
        ([], "source: fetch failed: INVALID_FETCH_SESSION_EPOCH"), ([], str(lost))]


def session_fetch(cluster: RawCluster, positions: dict[tuple[str, int], int],
                  results: Results) -> None:
    cluster.fetch(1, positions, max_wait_ms=500, max_bytes=1 << 20, partition_max_bytes=65536,
                  isolation_level=0, session=True,
                  callback=lambda parts, error: results.append((parts, error)))


def session_of(sent: Any) -> tuple[int, int, dict[tuple[str, int], int], list[tuple[str, int]]]:
    """A sent Fetch's session id and epoch, the partitions it names, those it forgets."""
    fields = sent.fields
    named = {(t.topic, p.partition): p.fetch_offset for t in fields["topics"] for p in t.partitions}
    forgotten = [(t.topic, p) for t in fields["forgotten_topics_data"] for p in t.partitions]
    return fields["session_id"], fields["session_epoch"], named, forgotten


def test_a_session_fetch_names_only_what_changed_after_the_first(world: World,
                                                                 cluster: RawCluster) -> None:
    results: Results = []
    positions = {("orders", 0): 100, ("orders", 1): 7, ("orders", 2): 50}
    session_fetch(cluster, positions, results)
    [conn] = world.opened
    sent = conn.waiting[0]
    assert session_of(sent) == (0, 0, positions, [])  # full, asking for a session
    answered(conn, FetchResponse, fetch_v12(0, [fetched(0, 0, b"", [])], session_id=77))

    session_fetch(cluster, positions, results)  # nothing moved: names nothing
    sent = conn.waiting[0]
    assert session_of(sent) == (77, 1, {}, [])
    assert sent.body() == (
        i32(-1) + i32(500) + i32(1) + i32(1 << 20) + b"\x00"
        + i32(77) + i32(1) + compact_array([]) + compact_array([]) + compact_string("") + TAGS)
    records = batch([record(0, b"k", b"v")], base_offset=50)
    answered(conn, FetchResponse, fetch_v12(0, [fetched(2, 0, records, [])], session_id=77))
    # (a partition the request did not name is answered at the offset the session holds)
    assert results[-1] == ([FetchedPartition("orders", 2, 50, None, records, [], 120, 0)], None)

    session_fetch(cluster, {("orders", 0): 100, ("orders", 2): 51}, results)  # 2 moved, 1 gone
    sent = conn.waiting[0]
    assert session_of(sent) == (77, 2, {("orders", 2): 51}, [("orders", 1)])
    assert sent.body().endswith(
        compact_array([compact_string("orders") + compact_array([i32(1)]) + TAGS])
        + compact_string("") + TAGS)
    answered(conn, FetchResponse, fetch_v12(0, [], session_id=77))
    assert results[-1] == ([], None)
    session_fetch(cluster, {("orders", 0): 100, ("orders", 2): 51, ("orders", 1): 9}, results)
    assert session_of(conn.waiting[0]) == (77, 3, {("orders", 1): 9}, [])


@pytest.mark.parametrize("ending", ["session unknown", "wrong epoch", "connection lost"])
def test_a_session_that_ended_starts_again_with_a_full_fetch(world: World, cluster: RawCluster,
                                                             ending: str) -> None:
    results: Results = []
    positions = {("orders", 0): 100, ("orders", 1): 7}
    session_fetch(cluster, positions, results)
    [conn] = world.opened
    answered(conn, FetchResponse, fetch_v12(0, [], session_id=77))
    session_fetch(cluster, positions, results)
    assert session_of(conn.waiting[0])[:2] == (77, 1)
    if ending == "connection lost":
        conn.waiting.pop(0).callback(None, WireError("source: connection lost"))
        parts, error = results[-1]
        assert (parts, str(error)) == ([], "source: connection lost")
    else:  # (answered without an error: the next fetch is simply a full one)
        code = 70 if ending == "session unknown" else 71
        answered(conn, FetchResponse, fetch_v12(code, [], session_id=0))
        assert results[-1] == ([], None)
    session_fetch(cluster, positions, results)
    assert session_of(conn.waiting[0]) == (0, 0, positions, [])


def test_a_broker_without_room_for_a_session_gets_full_fetches(world: World,
                                                               cluster: RawCluster) -> None:
    results: Results = []
    positions = {("orders", 0): 100}
    for _ in range(2):
        session_fetch(cluster, positions, results)
        [conn] = world.opened
        assert session_of(conn.waiting[0]) == (0, 0, positions, [])
        answered(conn, FetchResponse, fetch_v12(0, [fetched(0, 0, b"", [])], session_id=0))
        assert results[-1] == ([FetchedPartition("orders", 0, 100, None, b"", [], 120, 0)], None)


# --- fetch by topic id (Fetch v13+) -----------------------------------------------------------

ORDERS_ID, AUDIT_ID = bytes(range(1, 17)), bytes(range(101, 117))


def knowing_ids(world: World, cluster: RawCluster, ids: dict[str, bytes]) -> None:
    """The broker speaks Fetch v13, and a metadata answer told the cluster these topic ids."""
    world.fetch_version = 13
    world.answers = [metadata_with_ids(ids)]
    cluster.metadata(ids)


def metadata_with_ids(ids: dict[str, bytes]) -> Any:
    return MetadataResponse.decode(
        metadata_v12([(0, name, [(0, 0, 1)]) for name in ids], ids), version=12)


def test_metadata_keeps_each_topics_id(world: World, cluster: RawCluster) -> None:
    world.answers = [metadata_with_ids({"orders": ORDERS_ID, "audit": bytes(16)})]
    # (the zero id: a broker before Kafka 2.8, which has none)
    assert cluster.metadata(["orders", "audit"]).topic_ids == {"orders": uuid.UUID(bytes=ORDERS_ID)}


def test_a_broker_speaking_fetch_13_is_asked_by_topic_id(world: World,
                                                         cluster: RawCluster) -> None:
    # Topics named in sequence, named by name in a fetch session of 10,000 partitions, cost
    # the broker seconds per answer (raw_io.FETCH_BY_TOPIC_ID); by id they cost nothing.
    knowing_ids(world, cluster, {"orders": ORDERS_ID, "audit": AUDIT_ID})
    results: Results = []
    session_fetch(cluster, {("orders", 0): 100, ("orders", 1): 7, ("audit", 0): 0}, results)
    conn = world.opened[-1]
    [sent] = conn.waiting
    assert sent.version == 13
    assert sent.body() == (
        i32(-1) + i32(500) + i32(1) + i32(1 << 20) + b"\x00" + i32(0) + i32(0)  # new session
        + compact_array([
            ORDERS_ID + compact_array([fetch_partition(0, 100), fetch_partition(1, 7)]) + TAGS,
            AUDIT_ID + compact_array([fetch_partition(0, 0)]) + TAGS,
        ])
        + compact_array([]) + compact_string("") + TAGS)
    records = batch([record(0, b"k", b"v")], base_offset=100)
    conn.waiting.pop(0).callback(FetchResponse.decode(fetch_v13(0, {
        ORDERS_ID: [fetched(0, 0, records, [])],
        bytes(range(50, 66)): [fetched(0, 0, records, [])],  # an id nobody asked for: left out
    }, session_id=77), version=13), None)
    assert results == [([FetchedPartition("orders", 0, 100, None, records, [], 120, 0)], None)]

    session_fetch(cluster, {("orders", 0): 101, ("orders", 1): 7}, results)  # audit forgotten
    [sent] = conn.waiting
    assert sent.body() == (
        i32(-1) + i32(500) + i32(1) + i32(1 << 20) + b"\x00" + i32(77) + i32(1)
        + compact_array([ORDERS_ID + compact_array([fetch_partition(0, 101)]) + TAGS])
        + compact_array([AUDIT_ID + compact_array([i32(0)]) + TAGS])
        + compact_string("") + TAGS)


def test_a_topic_without_a_known_id_is_not_fetched_until_the_metadata_names_it(
        world: World, cluster: RawCluster) -> None:
    knowing_ids(world, cluster, {"orders": ORDERS_ID})
    with pytest.raises(WireError, match=r"^source: topic audit: no topic id known yet; "
                                        r"asking the metadata again$"):
        cluster.fetch(1, {("orders", 0): 0, ("audit", 0): 0}, max_wait_ms=500, max_bytes=1024,
                      partition_max_bytes=1024, isolation_level=0, callback=lambda *_: None)


def test_a_topic_created_again_under_its_name_starts_the_session_anew(
        world: World, cluster: RawCluster) -> None:
    knowing_ids(world, cluster, {"orders": ORDERS_ID})
    results: Results = []
    positions = {("orders", 0): 100}
    session_fetch(cluster, positions, results)
    conn = world.opened[-1]
    conn.waiting.pop(0).callback(
        FetchResponse.decode(fetch_v13(0, {}, session_id=77), version=13), None)
    session_fetch(cluster, positions, results)
    assert session_of_ids(conn.waiting.pop(0))[:2] == (77, 1)

    world.answers = [metadata_with_ids({"orders": AUDIT_ID})]  # orders, deleted and created
    cluster.metadata(["orders"])
    session_fetch(cluster, positions, results)
    sent = conn.waiting.pop(0)
    assert session_of_ids(sent) == (0, 0, {(uuid.UUID(bytes=AUDIT_ID), 0): 100})
    answer = fetch_v13(0, {ORDERS_ID: [fetched(0, 0, b"", [])]}, session_id=78)
    sent.callback(FetchResponse.decode(answer, version=13), None)
    assert results[-1] == ([], None)  # (the old id's answer: nobody's now)


def session_of_ids(sent: Any) -> tuple[int, int, dict[tuple[uuid.UUID, int], int]]:
    fields = sent.fields
    return fields["session_id"], fields["session_epoch"], {
        (t.topic_id, p.partition): p.fetch_offset for t in fields["topics"] for p in t.partitions}


# --- produce -----------------------------------------------------------------------------------


def test_produce_sends_one_batch_per_partition_with_acks_all(world: World,
                                                             cluster: RawCluster) -> None:
    results: list[tuple[list[ProduceResult], WireError | None]] = []
    cluster.produce(2, {("orders", 0): b"batch-0", ("orders", 1): b"batch-1"}, 30_000,
                    lambda parts, error: results.append((parts, error)))
    [conn] = world.opened
    [sent] = conn.waiting
    assert (sent.request, conn.broker.node_id) == (ProduceRequest, 2)
    assert sent.body() == (
        compact_string(None) + i16(-1) + i32(30_000)  # no transactional id, acks=all, timeout
        + compact_array([compact_string("orders") + compact_array([
            i32(0) + compact_bytes(b"batch-0") + TAGS,
            i32(1) + compact_bytes(b"batch-1") + TAGS,
        ]) + TAGS])
        + TAGS
    )
    topic = compact_string("orders") + compact_array([
        produced(0, 0, 500, None), produced(1, 46, -1, None), produced(2, 10, -1, "too big"),
    ]) + TAGS
    answered(conn, ProduceResponse, compact_array([topic]) + i32(0) + TAGS)
    assert results == [([
        ProduceResult("orders", 0, 500, None, None),
        ProduceResult("orders", 1, -1, KafkaCode.of(46), None),  # a duplicate
        ProduceResult("orders", 2, -1, KafkaCode.of(10), "too big"),
    ], None)]


# --- producer id -------------------------------------------------------------------------------


def init_producer_id_v4(error: int, producer_id: int = -1, epoch: int = -1) -> Any:
    body = i32(0) + i16(error) + i64(producer_id) + i16(epoch) + TAGS
    return InitProducerIdResponse.decode(body, version=4)


def test_a_producer_id_is_asked_again_while_the_broker_is_not_ready(
        world: World, cluster: RawCluster) -> None:
    world.answers = [init_producer_id_v4(14), init_producer_id_v4(0, 4242, 0)]  # 14: loading
    assert cluster.init_producer_id() == (4242, 0)
    [conn] = world.opened
    assert conn.calls == [(InitProducerIdRequest, {
        "transactional_id": None, "transaction_timeout_ms": 2**31 - 1})] * 2


@pytest.mark.parametrize(("code", "most_asks"), [(31, 1), (14, 3)],
                         ids=["not retriable", "retriable past the timeout"])
def test_a_producer_id_refused_stops_the_batch_path(world: World, cluster: RawCluster,
                                                    code: int, most_asks: int) -> None:
    world.answers = [init_producer_id_v4(code)] * 20
    name = KafkaCode.of(code).name
    with pytest.raises(MirrorError, match=f"^source: cannot get a producer id for --shallow: "
                       f"{name}$"):
        cluster.init_producer_id()
    [conn] = world.opened
    assert 1 <= len(conn.calls) <= most_asks  # asked every 0.2 s until the 0.3 s timeout


def test_a_setup_connection_that_failed_is_replaced(world: World, cluster: RawCluster) -> None:
    world.answers = [WireError("lost"), init_producer_id_v4(0, 7, 1)]
    with pytest.raises(WireError, match=r"^lost$"):
        cluster.init_producer_id()
    assert cluster.init_producer_id() == (7, 1)
    assert [c.closed for c in world.opened] == [True, False]


# --- connections -------------------------------------------------------------------------------


def test_a_connection_is_opened_once_per_broker_and_again_after_it_closed(
        world: World, cluster: RawCluster) -> None:
    selector = cluster._selector
    first = cluster.connection(1)
    assert cluster.connection(1) is first and len(world.opened) == 1
    assert selector.get_key(first.sock).data is first
    first.closed = True
    second = cluster.connection(1)
    assert second is not first and second.broker == Broker(1, "kafka1", 9092)
    assert [key.data for key in selector.get_map().values()] == [second]
    with pytest.raises(WireError, match=r"^source: broker 7 is not in the metadata$"):
        cluster.connection(7)


def test_in_flight_expire_and_close(world: World, cluster: RawCluster) -> None:
    cluster.produce(1, {("orders", 0): b"x"}, 1000, lambda *_: None)
    cluster.produce(1, {("orders", 0): b"y"}, 1000, lambda *_: None)
    cluster.produce(2, {("orders", 1): b"z"}, 1000, lambda *_: None)
    assert (cluster.in_flight(1), cluster.in_flight(2), cluster.in_flight(3)) == (2, 1, 0)
    assert cluster.in_flight() == 3
    one, two = world.opened
    one.overdue = True
    cluster.expire()
    assert [c.closed for c in world.opened] == [True, False] and cluster.in_flight() == 1
    assert [key.data for key in cluster._selector.get_map().values()] == [two]
    cluster.close()
    assert [c.closed for c in world.opened] == [True, True]
    assert not cluster._selector.get_map()


def test_poll_serves_each_readable_connection() -> None:
    io = RawIO()
    assert io.poll(0.01) == 0  # nothing registered
    ours, theirs = socket.socketpair()
    served: list[bytes] = []

    class Readable:
        def on_readable(self) -> None:
            served.append(ours.recv(16))

    io.selector.register(ours, selectors.EVENT_READ, Readable())
    theirs.sendall(b"answer")
    assert (io.poll(1.0), served) == (1, [b"answer"])
    assert io.poll(0.01) == 0
    io.close()
    ours.close()
    theirs.close()


# --- records for the record path ---------------------------------------------------------------


@pytest.mark.parametrize("codec", [Codec.NONE, Codec.GZIP])
def test_records_are_decoded_with_their_offsets_times_and_headers(codec: Codec) -> None:
    raw = batch([with_header(b"a", b"1", (b"trace", b"t1")), record(1, None, b"2", ts_delta=3)],
                base_offset=100, codec=codec)
    assert decode_records(parse_batch(raw)) == [
        DecodedRecord(100, T0, b"a", b"1", [("trace", b"t1")]),
        DecodedRecord(101, T0 + 3, None, b"2", []),
    ]


def test_a_log_append_time_batch_gives_every_record_the_append_time() -> None:
    raw = batch([record(0, b"a", b"1"), record(1, b"b", b"2", ts_delta=3)], attributes=0x08)
    assert [r.timestamp_ms for r in decode_records(parse_batch(raw))] == [T0 + 5, T0 + 5]
