"""Kafka's wire format written byte by byte from the protocol spec, for the unit tests of
kmirror.kafka.raw_wire and raw_io, and stand-ins on either side of raw_wire's Connection: a
loopback peer that speaks only the framing (FakePeer) and a scripted Connection (FakeConnection).

Every frame is encoded here, independently of the kafka-python classes raw_wire encodes and
decodes with, so requests and answers are checked against the spec, not against themselves.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kmirror.kafka.raw_wire import Broker, Connection, WireError
from kmirror.kafka.wire_auth import WireSecurity

CLIENT_ID = "kmirror-test"
TAGS = b"\x00"  # an empty tagged-field section (flexible versions)


i16, i32, i64 = (struct.Struct(">" + code).pack for code in "hiq")  # INT16, INT32, INT64


def uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def string(text: str) -> bytes:
    """STRING: int16 length, then UTF-8."""
    return i16(len(text.encode())) + text.encode()


def compact_string(text: str | None) -> bytes:
    """COMPACT_(NULLABLE_)STRING: uvarint length + 1 (0 for null), then UTF-8."""
    return uvarint(0) if text is None else compact_bytes(text.encode())


def compact_bytes(data: bytes) -> bytes:
    return uvarint(len(data) + 1) + data


def array(items: list[bytes]) -> bytes:
    return i32(len(items)) + b"".join(items)


def compact_array(items: list[bytes]) -> bytes:
    return uvarint(len(items) + 1) + b"".join(items)


def frame(payload: bytes) -> bytes:
    """A message on the wire: int32 size of what follows, then the message."""
    return i32(len(payload)) + payload


def request_header(api_key: int, version: int, correlation_id: int, flexible: bool) -> bytes:
    """Request header v1, or v2 with tagged fields; client_id stays a STRING in both."""
    head = i16(api_key) + i16(version) + i32(correlation_id) + string(CLIENT_ID)
    return head + TAGS if flexible else head


# --- messages ----------------------------------------------------------------------------------

# api key: (min, max), as a Kafka 4 broker answers ApiVersions
VERSIONS = {18: (0, 4), 3: (0, 13), 1: (4, 17), 0: (3, 13), 22: (0, 6), 17: (0, 1), 36: (0, 2)}


def api_versions_v0(table: dict[int, tuple[int, int]], error_code: int = 0) -> bytes:
    keys = [i16(key) + i16(low) + i16(high) for key, (low, high) in table.items()]
    return i16(error_code) + array(keys)


def init_producer_id_v4(producer_id: int, epoch: int, error_code: int = 0) -> bytes:
    """Response header v1 (flexible, no tags) and body: throttle, error, id, epoch."""
    return TAGS + i32(0) + i16(error_code) + i64(producer_id) + i16(epoch) + TAGS


def metadata_v12(topics: list[tuple[int, str, list[tuple[int, int, int]]]],
                 topic_ids: dict[str, bytes] | None = None) -> bytes:
    """Brokers 1 and 2; topics as (error, name, partitions as (error, index, leader)), with
    these 16-byte topic ids (else the zero id)."""
    brokers = [i32(node) + compact_string(f"kafka{node}") + i32(9091 + node)
               + compact_string(None) + TAGS for node in (1, 2)]
    ids = topic_ids or {}
    encoded = [
        i16(error) + compact_string(name) + ids.get(name, bytes(16)) + b"\x00" + compact_array([
            i16(p_error) + i32(index) + i32(leader) + i32(0) + compact_array([])
            + compact_array([]) + compact_array([]) + TAGS
            for p_error, index, leader in partitions
        ]) + i32(0) + TAGS
        for error, name, partitions in topics
    ]
    return (i32(0) + compact_array(brokers) + compact_string("c") + i32(1)
            + compact_array(encoded) + TAGS)


def fetch_partition(partition: int, offset: int) -> bytes:
    """No leader epoch, no last fetched epoch, no log start offset: the spec's -1s."""
    return i32(partition) + i32(-1) + i64(offset) + i32(-1) + i64(-1) + i32(65536) + TAGS


def fetched(index: int, error: int, records: bytes | None,
            aborted: list[tuple[int, int]] | None) -> bytes:
    """A partition of a Fetch v12 answer: high watermark 120, last stable 110, start 0."""
    aborted_txns = b"\x00" if aborted is None else compact_array(  # 0: null
        [i64(pid) + i64(first) + TAGS for pid, first in aborted])
    return (i32(index) + i16(error) + i64(120) + i64(110) + i64(0) + aborted_txns + i32(-1)
            + (b"\x00" if records is None else compact_bytes(records)) + TAGS)


def fetch_v12(error: int, partitions: list[bytes], session_id: int = 0) -> bytes:
    """A Fetch v12 answer (no throttle) with these partitions of topic orders (none: an
    incremental answer with nothing new)."""
    topics = [compact_string("orders") + compact_array(partitions) + TAGS] if partitions else []
    return i32(0) + i16(error) + i32(session_id) + compact_array(topics) + TAGS


def fetch_v13(error: int, topics: dict[bytes, list[bytes]], session_id: int = 0) -> bytes:
    """A Fetch v13 answer: as v12, its topics named by 16-byte topic id."""
    named = [topic_id + compact_array(parts) + TAGS for topic_id, parts in topics.items()]
    return i32(0) + i16(error) + i32(session_id) + compact_array(named) + TAGS


def produced(index: int, error: int, base_offset: int, message: str | None) -> bytes:
    """A partition of a Produce v12 answer: no log append time, log start 0, no record errors."""
    return (i32(index) + i16(error) + i64(base_offset) + i64(-1) + i64(0) + compact_array([])
            + compact_string(message) + TAGS)


# --- a loopback peer ---------------------------------------------------------------------------


class Unframed(bytes):
    """Bytes a peer sends as they are, not as an answer (a peer that is not Kafka)."""


class FakePeer:
    """The broker end of one loopback connection, speaking only the framing.

    Connection's constructor blocks until ApiVersions (and SASL) are answered, so a thread
    answers those from ``setup``; afterwards the test drives ``sock`` itself."""

    def __init__(self, setup: list[bytes]) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(5)
        self.port = self._listener.getsockname()[1]
        self.requests: list[bytes] = []
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, args=(setup,), daemon=True)
        self._thread.start()

    def _serve(self, setup: list[bytes]) -> None:
        self._sock, _ = self._listener.accept()
        self._sock.settimeout(5)
        for answer in setup:
            request = self.read_frame()
            if not request:
                return
            self.requests.append(request)
            if isinstance(answer, Unframed):
                self._sock.sendall(answer)
            else:
                self.reply(request, answer)

    @property
    def sock(self) -> socket.socket:
        self._thread.join(5)
        assert self._sock is not None, "nobody connected"
        return self._sock

    def read_frame(self) -> bytes:
        """One whole request, size prefix included (b"" when the other end closed)."""
        head = self._read(4)
        return head + self._read(struct.unpack(">i", head)[0]) if head else b""

    def closed_by_the_client(self) -> bool:
        """True once the client closed (a reset, when it left some of our bytes unread)."""
        try:
            return self.read_frame() == b""
        except ConnectionResetError:
            return True

    def _read(self, count: int) -> bytes:
        assert self._sock is not None
        data = b""
        while len(data) < count:
            chunk = self._sock.recv(count - len(data))
            if not chunk:
                return data
            data += chunk
        return data

    def reply(self, request: bytes, rest: bytes) -> None:
        """Answer ``request`` with its correlation id, then ``rest`` (header tags, body)."""
        assert self._sock is not None
        self._sock.sendall(frame(request[8:12] + rest))

    def close(self) -> None:
        self._thread.join(5)
        if self._sock is not None:
            self._sock.close()
        self._listener.close()


class Answers:
    """What a Connection hands a request's callback, in order."""

    def __init__(self) -> None:
        self.responses: list[Any] = []
        self.errors: list[WireError] = []

    def __call__(self, response: Any, error: WireError | None) -> None:
        if error is None:
            self.responses.append(response)
        else:
            self.errors.append(error)

    def count(self) -> int:
        return len(self.responses) + len(self.errors)


def connect(peer: FakePeer, timeout_s: float = 5.0,
            security: WireSecurity | None = None) -> Connection:
    broker = Broker(1, "127.0.0.1", peer.port)
    return Connection(broker, CLIENT_ID, "target", timeout_s, security or WireSecurity())


def read_until(conn: Connection, done: Callable[[], object]) -> None:
    """Serve the connection as raw_io's selector would until ``done()``."""
    deadline = time.monotonic() + 5
    while not done():
        assert time.monotonic() < deadline, "no answer in 5 s"
        readable, _, _ = select.select([conn.sock], [], [], 0.1)
        if readable:
            conn.on_readable()


# --- a stand-in Connection ---------------------------------------------------------------------


@dataclass
class Sent:
    request: Any
    fields: dict[str, Any]
    version: int
    callback: Callable[[Any, WireError | None], None]
    answer_max_bytes: int

    def body(self) -> bytes:
        """The request's body as it goes on the wire (after the request header)."""
        return bytes(self.request(version=self.version, **self.fields).encode())


class FakeConnection:
    """Stands in for raw_wire.Connection: records requests, answers ``call`` from a script."""

    def __init__(self, world: World, broker: Broker, client_id: str, label: str,
                 timeout_s: float, security: object) -> None:
        if (broker.host, broker.port) in world.refused:
            raise WireError(f"{broker.host}:{broker.port} refused")
        self.world, self.broker = world, broker
        self.sock, self._peer = socket.socketpair()
        self.closed = self.overdue = False
        self.waiting: list[Sent] = []
        self.calls: list[tuple[Any, dict[str, Any]]] = []
        world.opened.append(self)

    def version(self, request: Any) -> int:
        # (Fetch and Produce v12: the last versions naming topics; Fetch v13 names topic ids)
        return self.world.fetch_version if request.__name__ == "FetchRequest" else 12

    def send(self, request: Any, fields: dict[str, Any], version: int,
             callback: Callable[[Any, WireError | None], None], *,
             answer_max_bytes: int = 0) -> None:
        self.waiting.append(Sent(request, fields, version, callback, answer_max_bytes))

    def call(self, request: Any, fields: dict[str, Any]) -> Any:
        self.calls.append((request, fields))
        answer = self.world.answers.pop(0)
        if isinstance(answer, WireError):
            self.closed = True  # as Connection fails itself
            raise answer
        return answer

    def expire(self, now: float) -> None:
        self.closed = self.closed or self.overdue

    def close(self) -> None:
        self.closed = True
        self.sock.close()
        self._peer.close()


class World:
    """What the fake connections find: refused addresses, scripted answers, who was opened."""

    def __init__(self) -> None:
        self.refused: set[tuple[str, int]] = set()
        self.answers: list[Any] = []
        self.fetch_version = 12
        self.opened: list[FakeConnection] = []
