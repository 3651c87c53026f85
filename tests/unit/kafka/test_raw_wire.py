"""kmirror.kafka.raw_wire: what Kafka's error codes mean for the batch path, and Connection's
framing over a loopback socket.

The peer here speaks only the framing; every frame it sends or expects is written byte by byte
from Kafka's protocol spec (tests/helpers/wire.py), so requests and responses are checked against
the spec, not against kafka-python's classes that raw_wire uses to encode them.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import pytest
from kafka.protocol.consumer.fetch import FetchRequest
from kafka.protocol.metadata.metadata import MetadataRequest
from kafka.protocol.producer.transaction import InitProducerIdRequest

import kmirror.kafka.raw_wire as raw_wire
from kmirror.errors import MirrorError
from kmirror.kafka.raw_wire import Broker, Connection, KafkaCode, WireError
from kmirror.kafka.wire_auth import AuthenticationFailed, WireSecurity
from tests.helpers.wire import (
    CLIENT_ID,
    TAGS,
    VERSIONS,
    Answers,
    FakePeer,
    Unframed,
    api_versions_v0,
    array,
    compact_array,
    compact_bytes,
    compact_string,
    connect,
    frame,
    i16,
    i32,
    i64,
    init_producer_id_v4,
    read_until,
    request_header,
    string,
    uvarint,
)


def send_init_producer_id(conn: Connection, answers: Answers) -> None:
    fields = {"transactional_id": None, "transaction_timeout_ms": 60_000}
    conn.send(InitProducerIdRequest, fields, 4, answers)


@pytest.fixture
def peer() -> Iterator[FakePeer]:
    fake = FakePeer([api_versions_v0(VERSIONS)])
    yield fake
    fake.close()


@pytest.fixture
def conn(peer: FakePeer) -> Iterator[Connection]:
    connection = connect(peer)
    yield connection
    connection.close()


# --- error codes -------------------------------------------------------------------------------

# (code, name as KafkaCode gives it, retriable, the one flag it sets); names are Kafka's except
# where kafka-python's table differs, as noted.
FLAGGED = [
    (1, "OFFSET_OUT_OF_RANGE", False, "out_of_range"),
    (3, "UNKNOWN_TOPIC_OR_PARTITION", True, "stale_metadata"),
    (5, "LEADER_NOT_AVAILABLE", True, "stale_metadata"),
    (6, "NOT_LEADER_FOR_PARTITION", True, "stale_metadata"),  # Kafka: NOT_LEADER_OR_FOLLOWER
    (10, "MESSAGE_SIZE_TOO_LARGE", False, "too_large"),  # Kafka: MESSAGE_TOO_LARGE
    (18, "RECORD_LIST_TOO_LARGE", False, "too_large"),
    (45, "OUT_OF_ORDER_SEQUENCE_NUMBER", False, "needs_new_producer_id"),
    (46, "DUPLICATE_SEQUENCE_NUMBER", False, "duplicate"),
    (47, "INVALID_PRODUCER_EPOCH", False, "needs_new_producer_id"),
    (56, "KAFKA_STORAGE_ERROR", True, "stale_metadata"),
    (59, "UNKNOWN_PRODUCER_ID", False, "needs_new_producer_id"),
    (74, "FENCED_LEADER_EPOCH", True, "stale_metadata"),
    (75, "UNKNOWN_LEADER_EPOCH", True, "stale_metadata"),
    (78, "OFFSET_NOT_AVAILABLE", True, "stale_metadata"),
    (100, "UNKNOWN_TOPIC_ID", True, "stale_metadata"),  # (fetches by topic id: Fetch v13+)
    (103, "INCONSISTENT_TOPIC_ID", True, "stale_metadata"),
]
FLAGS = ("too_large", "duplicate", "needs_new_producer_id", "stale_metadata", "out_of_range")


def flags_of(code: KafkaCode) -> set[str]:
    return {flag for flag in FLAGS if getattr(code, flag)}


@pytest.mark.parametrize(("code", "name", "retriable", "flag"), FLAGGED)
def test_a_code_the_batch_path_acts_on_sets_exactly_its_flag(
        code: int, name: str, retriable: bool, flag: str) -> None:
    answer = KafkaCode.of(code)
    assert (answer.code, answer.name, answer.retriable) == (code, name, retriable)
    assert flags_of(answer) == {flag}


def test_no_other_code_sets_a_flag() -> None:
    flagged = {code for code in range(-1, 200) if flags_of(KafkaCode.of(code))}
    assert flagged == {code for code, *_ in FLAGGED}


@pytest.mark.parametrize(("code", "name", "retriable"), [
    (2, "CORRUPT_MESSAGE", False),  # Kafka calls it retriable: the batch path must refuse it
    (7, "REQUEST_TIMED_OUT", True),
    (14, "COORDINATOR_LOAD_IN_PROGRESS", True),  # what InitProducerId waits out
    (19, "NOT_ENOUGH_REPLICAS", True),
    (29, "TOPIC_AUTHORIZATION_FAILED", False),
    (87, "INVALID_RECORD", False),
    (9999, "UNKNOWN", False),  # a code newer than the table
])
def test_other_codes_are_retried_or_refused_by_retriability(
        code: int, name: str, retriable: bool) -> None:
    answer = KafkaCode.of(code)
    assert (answer.code, answer.name, answer.retriable) == (code, name, retriable)


# --- connecting --------------------------------------------------------------------------------


def test_connecting_asks_api_versions_v0_and_keeps_the_brokers_ranges(
        peer: FakePeer, conn: Connection) -> None:
    [asked] = peer.requests
    assert asked == frame(request_header(18, 0, 1, flexible=False))
    assert conn.versions == VERSIONS
    assert conn.version(MetadataRequest) == 12  # ours: the last version naming topics
    assert conn.version(FetchRequest) == 13  # ours: the first naming topic ids
    assert conn.version(InitProducerIdRequest) == 4


def test_a_request_no_common_version_exists_for_is_refused_with_advice() -> None:
    peer = FakePeer([api_versions_v0({18: (0, 4), 3: (13, 13)})])
    conn = connect(peer)
    try:
        with pytest.raises(MirrorError, match=r"does not speak MetadataRequest in a version "
                           r"kmirror knows \(broker 13-13\); mirror record by record "
                           r"\(--no-shallow\)"):
            conn.version(MetadataRequest)
        with pytest.raises(MirrorError, match="does not speak InitProducerIdRequest"):
            conn.version(InitProducerIdRequest)
    finally:
        conn.close()
        peer.close()


def test_api_versions_refused_fails_the_connection_and_closes_it() -> None:
    peer = FakePeer([api_versions_v0({}, error_code=35)])
    try:
        with pytest.raises(WireError, match=r"target: broker 127\.0\.0\.1:\d+: ApiVersions "
                           r"failed: UNSUPPORTED_VERSION"):
            connect(peer)
        assert peer.read_frame() == b""
    finally:
        peer.close()


def test_nothing_listening_is_a_wire_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    with pytest.raises(WireError, match=f"target: broker 127.0.0.1:{port} does not accept"):
        Connection(Broker(1, "127.0.0.1", port), CLIENT_ID, "target", 5.0, WireSecurity())


TOO_SHORT = "too short to hold a correlation id"
NOT_KAFKA = [
    (b"HTTP/1.1 400 Bad Request\r\n\r\n",
     "b'HTTP' (an HTTP server), read as a size of 1213486160 bytes, more than an answer can be "
     "(105906176)"),  # the cap: 100 MiB, and 1 MiB for a fetch answer's own fields
    (b"\x15\x03\x03\x00\x02\x02\x0a",  # a TLS alert (unexpected message) to plaintext
     r"b'\x15\x03\x03\x00' (TLS: that listener wants security.protocol SSL or SASL_SSL), "
     "read as a size of 352518912 bytes, more than an answer can be (105906176)"),
    (i32(-2) + bytes(8), r"b'\xff\xff\xff\xfe', read as a negative size (-2)"),
    (i32(2) + b"\x00\x01", rf"b'\x00\x00\x00\x02', read as a 2-byte answer, {TOO_SHORT}"),
    (i32(0), rf"b'\x00\x00\x00\x00', read as a 0-byte answer, {TOO_SHORT}"),
]


@pytest.mark.parametrize(("answer", "read_as"), NOT_KAFKA,
                         ids=["HTTP", "TLS", "negative", "short", "empty"])
def test_a_peer_that_is_not_kafka_is_named_with_what_to_check(answer: bytes,
                                                              read_as: str) -> None:
    peer = FakePeer([Unframed(answer)])
    try:
        with pytest.raises(WireError) as raised:
            connect(peer, timeout_s=2.0)
        assert str(raised.value) == (
            f"target: broker 127.0.0.1:{peer.port} does not look like a Kafka broker on that "
            f"listener: it answered {read_as}; check that the port is a Kafka listener's and "
            "that security.protocol is the one that listener expects")
        assert peer.closed_by_the_client()
    finally:
        peer.close()


PLAIN = WireSecurity(mechanism="PLAIN", username="alice", password="secret")
HANDSHAKE_OK = i16(0) + array([string("PLAIN")])


def sasl_authenticate_v2(error_code: int, message: str | None) -> bytes:
    """Header tags, then error, message, auth bytes (none), session lifetime, tags."""
    return TAGS + i16(error_code) + compact_string(message) + compact_bytes(b"") + i64(0) + TAGS


def test_sasl_plain_handshakes_then_authenticates_in_flexible_v2() -> None:
    peer = FakePeer([api_versions_v0(VERSIONS), HANDSHAKE_OK, sasl_authenticate_v2(0, None)])
    conn = connect(peer, security=PLAIN)
    try:
        _, handshake, authenticate = peer.requests
        assert handshake == frame(request_header(17, 1, 2, flexible=False) + string("PLAIN"))
        assert authenticate == frame(request_header(36, 2, 3, flexible=True)
                                     + compact_bytes(b"alice\0alice\0secret") + TAGS)
        assert not conn.closed
    finally:
        conn.close()
        peer.close()


@pytest.mark.parametrize(("answers", "message"), [
    ([i16(33) + array([string("SCRAM-SHA-512")])],
     r"does not take SASL PLAIN as user 'alice' \(it offers SCRAM-SHA-512\); "
     r"check sasl.mechanism"),
    ([HANDSHAKE_OK, sasl_authenticate_v2(58, "Invalid username or password")],
     r"authentication failed \(SASL PLAIN as user 'alice'\): Invalid username or password; "
     r"check sasl.username and sasl.password"),
], ids=["mechanism not enabled", "password refused"])
def test_a_sasl_refusal_says_what_to_check(answers: list[bytes], message: str) -> None:
    peer = FakePeer([api_versions_v0(VERSIONS), *answers])
    try:
        with pytest.raises(AuthenticationFailed, match=message):
            connect(peer, security=PLAIN)
        assert peer.read_frame() == b""  # closed
    finally:
        peer.close()


# --- requests and answers ----------------------------------------------------------------------


def test_a_flexible_request_and_an_answer_with_header_tags(
        peer: FakePeer, conn: Connection) -> None:
    answers = Answers()
    topic = MetadataRequest.MetadataRequestTopic(name="orders")
    conn.send(MetadataRequest, {"topics": [topic], "allow_auto_topic_creation": False}, 12,
              answers)
    request = peer.read_frame()
    no_topic_id = bytes(16)
    assert request == frame(
        request_header(3, 12, 2, flexible=True)
        + compact_array([no_topic_id + compact_string("orders") + TAGS])
        + b"\x00" + b"\x00" + TAGS  # allow auto creation, include topic authorized operations
    )
    header_tags = uvarint(1) + uvarint(7) + uvarint(2) + b"xy"  # one field: tag 7, 2 bytes
    broker = i32(4) + compact_string("kafka4") + i32(9093) + compact_string(None) + TAGS
    partition = (i16(0) + i32(2) + i32(4) + i32(9) + compact_array([i32(4)])
                 + compact_array([i32(4)]) + compact_array([]) + TAGS)
    topic_answer = (i16(0) + compact_string("orders") + bytes(range(16)) + b"\x00"
                    + compact_array([partition]) + i32(-(2**31)) + TAGS)
    body = (i32(0) + compact_array([broker]) + compact_string("cluster") + i32(4)
            + compact_array([topic_answer]) + TAGS)
    peer.reply(request, header_tags + body)
    read_until(conn, answers.count)
    [response] = answers.responses
    assert [(b.node_id, b.host, b.port) for b in response.brokers] == [(4, "kafka4", 9093)]
    [orders] = response.topics
    [part] = orders.partitions
    assert (orders.name, part.partition_index, part.leader_id, part.leader_epoch) == (
        "orders", 2, 4, 9)


def test_an_answer_read_one_byte_at_a_time_is_assembled(peer: FakePeer, conn: Connection) -> None:
    answers = Answers()
    send_init_producer_id(conn, answers)
    request = peer.read_frame()
    assert request == frame(request_header(22, 4, 2, flexible=True) + compact_string(None)
                            + i32(60_000) + i64(-1) + i16(-1) + TAGS)
    data = frame(request[8:12] + init_producer_id_v4(4242, 3))
    for position in range(len(data)):
        assert answers.count() == 0
        peer.sock.sendall(data[position:position + 1])
        select.select([conn.sock], [], [], 5)
        conn.on_readable()
    [response] = answers.responses
    assert (response.error_code, response.producer_id, response.producer_epoch) == (0, 4242, 3)


def test_pipelined_answers_in_one_read_reach_their_requests_in_order(
        peer: FakePeer, conn: Connection) -> None:
    first, second = Answers(), Answers()
    send_init_producer_id(conn, first)
    send_init_producer_id(conn, second)
    one, two = peer.read_frame(), peer.read_frame()
    assert (one[8:12], two[8:12]) == (i32(2), i32(3))
    peer.sock.sendall(frame(one[8:12] + init_producer_id_v4(1, 0))
                      + frame(two[8:12] + init_producer_id_v4(2, 0)))
    read_until(conn, lambda: second.count() > 0)
    assert ([r.producer_id for r in first.responses],
            [r.producer_id for r in second.responses]) == ([1], [2])
    assert not conn.waiting


@pytest.mark.parametrize("sent", [2, 4 + 5], ids=["inside the size", "inside the body"])
def test_the_peer_closing_mid_frame_fails_every_waiting_request(
        peer: FakePeer, conn: Connection, sent: int) -> None:
    answers = Answers()
    send_init_producer_id(conn, answers)
    send_init_producer_id(conn, answers)
    request, _ = peer.read_frame(), peer.read_frame()  # (unread data would make it a reset)
    peer.sock.sendall(frame(request[8:12] + init_producer_id_v4(5, 0))[:sent])
    peer.sock.close()
    read_until(conn, lambda: answers.count() == 2)
    assert answers.responses == []
    assert [str(e) for e in answers.errors] == [
        f"target: broker 127.0.0.1:{peer.port}: connection lost (the broker closed the "
        "connection)"] * 2
    assert conn.closed and not conn.waiting


def test_an_answer_out_of_order_fails_the_connection(peer: FakePeer, conn: Connection) -> None:
    answers = Answers()
    send_init_producer_id(conn, answers)
    send_init_producer_id(conn, answers)
    peer.read_frame()
    second = peer.read_frame()
    peer.reply(second, init_producer_id_v4(9, 0))
    read_until(conn, lambda: answers.count() == 2)
    assert [str(e).rsplit(": ", 1)[1] for e in answers.errors] == ["answers out of order"] * 2
    assert conn.closed


def test_an_answer_nobody_asked_for_closes_the_connection(peer: FakePeer,
                                                         conn: Connection) -> None:
    peer.sock.sendall(frame(i32(99) + init_producer_id_v4(1, 0)))
    read_until(conn, lambda: conn.closed)
    assert peer.read_frame() == b""


@pytest.mark.parametrize(("asked", "largest"), [(0, 64 + 16), (1000, 1000 + 16)],
                         ids=["the floor", "a fetch asking for more"])
def test_an_answer_may_be_as_large_as_the_floor_or_the_largest_ask_and_no_larger(
        peer: FakePeer, conn: Connection, monkeypatch: pytest.MonkeyPatch, asked: int,
        largest: int) -> None:
    monkeypatch.setattr(raw_wire, "ANSWER_FLOOR_BYTES", 64)
    monkeypatch.setattr(raw_wire, "ANSWER_HEADROOM_BYTES", 16)
    answers = Answers()
    fields = {"transactional_id": None, "transaction_timeout_ms": 60_000}
    conn.send(InitProducerIdRequest, fields, 4, answers, answer_max_bytes=asked)
    send_init_producer_id(conn, answers)
    first, second = peer.read_frame(), peer.read_frame()
    body = first[8:12] + init_producer_id_v4(7, 0)
    peer.sock.sendall(frame(body.ljust(largest, b"\x00")))  # as large as may be: taken
    peer.sock.sendall(i32(largest + 1) + second[8:12])  # a byte more: refused
    read_until(conn, lambda: answers.count() == 2)
    assert [r.producer_id for r in answers.responses] == [7]
    [error] = answers.errors
    assert (f"read as a size of {largest + 1} bytes, more than an answer can be ({largest});"
            in str(error))
    assert conn.closed


def test_a_silent_broker_times_a_call_out() -> None:
    peer = FakePeer([api_versions_v0(VERSIONS)])
    conn = connect(peer, timeout_s=0.3)
    try:
        with pytest.raises(WireError, match=r"127.0.0.1:\d+: no answer within"):
            conn.call(InitProducerIdRequest, {"transactional_id": None,
                                              "transaction_timeout_ms": 60_000})
        assert conn.closed
    finally:
        peer.close()


def test_expire_fails_only_an_overdue_request(peer: FakePeer, conn: Connection) -> None:
    answers = Answers()
    send_init_producer_id(conn, answers)
    conn.expire(time.monotonic())
    assert answers.count() == 0 and not conn.closed
    conn.expire(time.monotonic() + 6)  # past the 5 s timeout
    [error] = answers.errors
    assert str(error).endswith(": no answer within 5 s (request timed out)")
    assert conn.closed


def test_after_close_waiting_and_new_requests_fail_at_once(
        peer: FakePeer, conn: Connection) -> None:
    waiting, late = Answers(), Answers()
    send_init_producer_id(conn, waiting)
    conn.close()
    send_init_producer_id(conn, late)
    assert [str(e).rsplit(": ", 1)[1] for e in waiting.errors] == ["closed"]
    assert [str(e).rsplit(": ", 1)[1] for e in late.errors] == ["connection closed"]
    assert not conn.waiting
