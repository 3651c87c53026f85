"""One connection to one broker, for kafka/raw_io.py: framing, correlation ids, answers in order.

Requests on one connection are answered in order (the broker handles one at a time per
connection), which is what keeps a partition's batches in order when several are in flight.
Connections are secured as the client config says (``wire_auth.py``), negotiated right after
ApiVersions. Messages are encoded and decoded by kafka-python's protocol classes.
"""

from __future__ import annotations

import itertools
import logging
import select
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kafka.errors as kafka_errors
from kafka.protocol.consumer.fetch import FetchRequest, FetchResponse
from kafka.protocol.metadata.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafka.protocol.metadata.metadata import MetadataRequest, MetadataResponse
from kafka.protocol.producer.produce import ProduceRequest, ProduceResponse
from kafka.protocol.producer.transaction import InitProducerIdRequest, InitProducerIdResponse
from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)

from kmirror.errors import MirrorError
from kmirror.kafka.batches import read_uvarint
from kmirror.kafka.outcomes import RefusalKind, wire_refusal_kind
from kmirror.kafka.wire_auth import AuthenticationFailed, WireSecurity

_log = logging.getLogger("kmirror.raw_io")

Callback = Callable[[Any, "WireError | None"], None]
# Kafka's error codes (by number: kafka-python's names differ from Kafka's own in places, e.g.
# MESSAGE_SIZE_TOO_LARGE for Kafka's MESSAGE_TOO_LARGE).
_TOO_LARGE = {10, 18}  # MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE
_DUPLICATE_SEQUENCE = 46
_NEW_PRODUCER_ID = {45, 47, 59}  # OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH,
# UNKNOWN_PRODUCER_ID
_STALE_METADATA = {3, 5, 6, 56, 74, 75, 78, 100, 103}  # UNKNOWN_TOPIC_OR_PARTITION,
# LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR, FENCED_LEADER_EPOCH,
# UNKNOWN_LEADER_EPOCH, OFFSET_NOT_AVAILABLE, UNKNOWN_TOPIC_ID, INCONSISTENT_TOPIC_ID
_OFFSET_OUT_OF_RANGE = 1

# Highest versions we speak: the last ones that name topics (13+ use topic ids).
_MAX_VERSION = {
    ApiVersionsRequest: 0, MetadataRequest: 12, FetchRequest: 13, ProduceRequest: 12,
    InitProducerIdRequest: 4, SaslHandshakeRequest: 1, SaslAuthenticateRequest: 2,
}
_RESPONSE = {
    ApiVersionsRequest: ApiVersionsResponse, MetadataRequest: MetadataResponse,
    FetchRequest: FetchResponse, ProduceRequest: ProduceResponse,
    InitProducerIdRequest: InitProducerIdResponse,
    SaslHandshakeRequest: SaslHandshakeResponse, SaslAuthenticateRequest: SaslAuthenticateResponse,
}
_SIZE = struct.Struct(">i")
_CORRELATION = struct.Struct(">i")
CONNECT_TIMEOUT_S = 10.0

# A size prefix is checked before room is made for the answer: one shorter than a correlation
# id, or larger than any answer can be, is not Kafka's. Another protocol's bytes read as a
# size would otherwise allocate that much and then time out: an HTTP server's "HTTP" reads as
# 1.2 GB, a TLS alert to a plaintext client as 352 MB. The cap never refuses a real answer:
# the largest are Fetch's, at most the fetch's max_bytes (or a partition's limit, raised to a
# batch seen cut off), except that a first batch larger than that comes whole (KIP-74). That
# batch came in one produce request, which a broker takes up to socket.request.max.bytes:
# 100 MiB by default, the floor. A fetch asking for more raises the cap (``answer_max_bytes``).
# (librdkafka, on the record path, refuses answers over receive.message.max.bytes: 100 MB or
# fetch.max.bytes + 512.)
ANSWER_FLOOR_BYTES = 100 * 1024 * 1024
ANSWER_HEADROOM_BYTES = 1024 * 1024  # a fetch answer's own fields around its records


class WireError(MirrorError):
    """A request that got no answer (connection lost, timed out): retriable."""


@dataclass(frozen=True)
class KafkaCode:
    """A Kafka error code with its name and whether a retry can succeed, and what it means
    for the batch path (so nothing above kafka/ reads error names)."""

    code: int
    name: str
    retriable: bool
    message: str

    @property
    def too_large(self) -> bool:
        """The target found the batch too large: its records can go one by one."""
        return self.code in _TOO_LARGE

    @property
    def duplicate(self) -> bool:
        """The target holds this batch already (an idempotent re-send): a success."""
        return self.code == _DUPLICATE_SEQUENCE

    @property
    def needs_new_producer_id(self) -> bool:
        """The target lost or refuses our producer id's sequence state: start a new one."""
        return self.code in _NEW_PRODUCER_ID

    @property
    def stale_metadata(self) -> bool:
        """The leader moved or is not known yet: refresh the metadata and try again."""
        return self.code in _STALE_METADATA

    @property
    def out_of_range(self) -> bool:
        """The fetch offset is not in the partition's log."""
        return self.code == _OFFSET_OUT_OF_RANGE

    @property
    def refusal(self) -> RefusalKind:
        """What a refused produce means for the user."""
        return wire_refusal_kind(self.name)

    @staticmethod
    def of(code: int) -> KafkaCode:
        """Name and retriability of ``code`` (from Kafka's error table)."""
        error = kafka_errors.for_code(code)
        name = getattr(error, "message", None) or error.__name__
        description = getattr(error, "description", "") or ""
        return KafkaCode(code, str(name), bool(getattr(error, "retriable", False)),
                         str(description))


@dataclass(frozen=True)
class Broker:
    """A broker of a cluster, as the metadata names it."""

    node_id: int
    host: str
    port: int


@dataclass
class _Waiting:
    correlation_id: int
    response: Any
    version: int
    flexible: bool
    callback: Callback
    deadline: float


class Connection:
    """One socket to one broker: framing, correlation ids, answers in order."""

    def __init__(self, broker: Broker, client_id: str, label: str, timeout_s: float,
                 security: WireSecurity) -> None:
        self.broker, self.client_id, self.label = broker, client_id, label
        self.timeout_s = timeout_s
        where = f"{label}: broker {broker.host}:{broker.port}"
        self.where = where
        try:
            plain = socket.create_connection((broker.host, broker.port), CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise WireError(f"{where} does not accept connections ({exc})") from exc
        plain.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = security.wrap(plain, broker.host)
        except ssl.SSLCertVerificationError as exc:
            plain.close()
            raise AuthenticationFailed(
                f"{where}: TLS: the broker's certificate is not trusted "
                f"({exc.verify_message}); check ssl.ca.location and "
                "ssl.endpoint.identification.algorithm"
            ) from exc
        except OSError as exc:
            plain.close()
            raise WireError(f"{where}: TLS handshake failed ({exc})") from exc
        self.sock.settimeout(timeout_s)
        self.waiting: deque[_Waiting] = deque()
        self.closed = False
        self._ids = itertools.count(1)
        self._head = bytearray()
        self._body: bytearray | None = None
        self._filled = 0
        self._largest_ask = 0  # the largest answer_max_bytes sent
        self.versions: dict[int, tuple[int, int]] = {}
        try:
            self._negotiate()
            self._authenticate(security)
        except BaseException:
            self.close()
            raise

    def _negotiate(self) -> None:
        response = self.call(ApiVersionsRequest, {}, 0)
        if response.error_code:
            code = KafkaCode.of(response.error_code)
            raise WireError(f"{self.where}: ApiVersions failed: {code.name}")
        self.versions = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}

    def _authenticate(self, security: WireSecurity) -> None:
        """The SASL exchange (KIP-152: SaslHandshake, then SaslAuthenticate rounds)."""
        exchange = security.exchange()
        if exchange is None:
            return
        how = security.describe()
        handshake = self.call(SaslHandshakeRequest, {"mechanism": security.mechanism})
        if handshake.error_code:
            raise AuthenticationFailed(
                f"{self.where}: the broker does not take {how} (it offers "
                f"{', '.join(handshake.mechanisms) or 'none'}); check sasl.mechanism"
            )
        while not exchange.is_done():
            answer = self.call(SaslAuthenticateRequest, {"auth_bytes": exchange.auth_bytes()})
            if answer.error_code:
                said = answer.error_message or KafkaCode.of(answer.error_code).name
                raise AuthenticationFailed(
                    f"{self.where}: authentication failed ({how}): {said}; check "
                    "sasl.username and sasl.password"
                )
            try:
                exchange.receive(answer.auth_bytes)
            except ValueError as exc:  # SCRAM: the server's proof did not check out
                raise AuthenticationFailed(f"{self.where}: {how}: {exc}") from exc
        if not exchange.is_authenticated():
            raise AuthenticationFailed(f"{self.where}: authentication failed ({how})")

    def version(self, request: Any) -> int:
        """The highest version of ``request`` both sides speak."""
        low, high = self.versions.get(request.API_KEY, (0, -1))
        version = min(high, _MAX_VERSION[request])
        if version < low or version < 0:
            raise MirrorError(
                f"{self.where} does not speak {request.__name__} in a version kmirror knows "
                f"(broker {low}-{high}); mirror record by record (--no-shallow)"
            )
        return version

    @property
    def max_answer_bytes(self) -> int:
        """The largest answer taken (see ANSWER_FLOOR_BYTES)."""
        return max(ANSWER_FLOOR_BYTES, self._largest_ask) + ANSWER_HEADROOM_BYTES

    def send(self, request: Any, fields: Mapping[str, Any], version: int,
             callback: Callback, *, answer_max_bytes: int = 0) -> None:
        """Send one request; ``callback(response, None)`` or ``(None, error)`` later.

        ``answer_max_bytes``: the most data the answer may carry (a fetch's limit), when that
        can be more than ANSWER_FLOOR_BYTES."""
        if self.closed:
            callback(None, WireError(f"{self.where}: connection closed"))
            return
        self._largest_ask = max(self._largest_ask, answer_max_bytes)
        correlation_id = next(self._ids)
        message = request(version=version, **fields)
        message.with_header(correlation_id=correlation_id, client_id=self.client_id)
        data = message.encode(header=True, framed=True)
        flexible = request.flexible_version_q(version) and request is not ApiVersionsRequest
        self.waiting.append(_Waiting(correlation_id, _RESPONSE[request], version, flexible,
                                     callback, time.monotonic() + self.timeout_s))
        try:
            self.sock.settimeout(self.timeout_s)
            self.sock.sendall(data)
        except OSError as exc:
            self.fail(WireError(f"{self.where}: send failed ({exc})"))

    def call(self, request: Any, fields: Mapping[str, Any], version: int | None = None) -> Any:
        """Send and wait for the answer (setup requests)."""
        answer: list[Any] = []

        def done(response: Any, error: WireError | None) -> None:
            answer.append(error if error is not None else response)

        self.send(request, fields, self.version(request) if version is None else version, done)
        deadline = time.monotonic() + self.timeout_s
        while not answer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.fail(WireError(f"{self.where}: no answer within {self.timeout_s:.0f} s"))
                break
            readable, _, _ = select.select([self.sock], [], [], remaining)
            if readable:
                self.on_readable()  # the same reading path as the selector's
        result = answer[0]
        if isinstance(result, WireError):
            raise result
        return result

    def on_readable(self) -> None:
        """Read what arrived and complete every whole answer."""
        self.sock.settimeout(0.0)
        try:
            while not self.closed:
                if self._body is not None:
                    view = memoryview(self._body)[self._filled:]
                    count = self.sock.recv_into(view)
                    if count == 0:
                        raise ConnectionError("the broker closed the connection")
                    self._filled += count
                    if self._filled == len(self._body):
                        body, self._body = self._body, None
                        self._complete(body)
                else:
                    chunk = self.sock.recv(4 - len(self._head))
                    if not chunk:
                        raise ConnectionError("the broker closed the connection")
                    self._head += chunk
                    if len(self._head) == 4:
                        self._start_answer()
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError as exc:
            self.fail(WireError(f"{self.where}: connection lost ({exc})"))

    def _start_answer(self) -> None:
        """Make room for the answer a whole size prefix announces, or fail the connection when
        no Kafka answer has that size."""
        head = bytes(self._head)
        self._head.clear()
        (size,) = _SIZE.unpack(head)
        if _CORRELATION.size <= size <= self.max_answer_bytes:
            self._body, self._filled = bytearray(size), 0
            return
        if size < 0:
            what = f"a negative size ({size})"
        elif size < _CORRELATION.size:
            what = f"a {size}-byte answer, too short to hold a correlation id"
        else:
            what = f"a size of {size} bytes, more than an answer can be ({self.max_answer_bytes})"
        self.fail(WireError(
            f"{self.where} does not look like a Kafka broker on that listener: it answered "
            f"{head!r}{_looks_like(head)}, read as {what}; check that the port is a Kafka "
            "listener's and that security.protocol is the one that listener expects"
        ))

    def _complete(self, body: bytearray) -> None:
        if not self.waiting:
            self.fail(WireError(f"{self.where}: an answer nobody asked for"))
            return
        waiting = self.waiting.popleft()
        view = memoryview(body)
        (correlation_id,) = _CORRELATION.unpack_from(view)
        if correlation_id != waiting.correlation_id:
            self.waiting.appendleft(waiting)
            self.fail(WireError(f"{self.where}: answers out of order"))
            return
        position = 4
        if waiting.flexible:
            position = _skip_tagged_fields(view, position)
        response = waiting.response.decode(view[position:], version=waiting.version)
        waiting.callback(response, None)

    def expire(self, now: float) -> None:
        """Fail the connection when its oldest request is overdue."""
        if self.waiting and self.waiting[0].deadline < now:
            self.fail(WireError(
                f"{self.where}: no answer within {self.timeout_s:.0f} s (request timed out)"
            ))

    def fail(self, error: WireError) -> None:
        """Close and fail every request still waiting (they may or may not have been done)."""
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass
        waiting, self.waiting = self.waiting, deque()
        for entry in waiting:
            entry.callback(None, error)

    def close(self) -> None:
        """Close without waiting for answers."""
        self.fail(WireError(f"{self.where}: closed"))


def _looks_like(head: bytes) -> str:
    """What other protocol the first bytes of an answer are, when that is plain."""
    if head[0] in (0x15, 0x16) and head[1] == 0x03:  # a TLS alert or handshake record
        return " (TLS: that listener wants security.protocol SSL or SASL_SSL)"
    if head == b"HTTP":
        return " (an HTTP server)"
    return ""


def _skip_tagged_fields(view: memoryview, position: int) -> int:
    count, position = read_uvarint(view, position)
    for _ in range(count):
        _, position = read_uvarint(view, position)
        size, position = read_uvarint(view, position)
        position += size
    return position
