"""Kafka record batches (magic v2) read and adapted as bytes, never decompressed.

The groundwork of shallow iteration: a fetched records blob is cut into batches, each batch's
header is read in place, and a batch that the target can take whole is rewritten into a new
client write. The records section (compressed or not) is never touched, so a forwarded batch
costs one copy and one CRC-32C pass, whatever its codec.

The v2 header, big-endian (``DefaultRecordBatch`` in Apache Kafka)::

    0 baseOffset int64        8 batchLength int32       12 partitionLeaderEpoch int32
    16 magic int8             17 crc uint32 (CRC-32C over byte 21 to the end)
    21 attributes int16       23 lastOffsetDelta int32  27 baseTimestamp int64
    35 maxTimestamp int64     43 producerId int64       51 producerEpoch int16
    53 baseSequence int32     57 recordsCount int32     61 records...

Invariants the target broker enforces on a produced batch (and why ``fallback_reason`` exists):
baseOffset 0, valid CRC, recordsCount == lastOffsetDelta + 1 > 0, no control batch, no
transactional bit without a transaction, and a producer id whose sequences are ours.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum, IntEnum

from crc32c import crc32c

from kmirror.errors import MirrorError

LOG_OVERHEAD = 12  # baseOffset + batchLength: a whole batch is LOG_OVERHEAD + batchLength bytes
CRC_START = 21  # the CRC covers attributes onwards, not baseOffset/length/leaderEpoch/magic
RECORDS_START = 61  # the header's size; the records section starts here
NO_PRODUCER_ID = -1

_HEADER = struct.Struct(">qiibIhiqqqhii")
_CRC = struct.Struct(">I")
_PRODUCER = struct.Struct(">qhi")  # producerId, producerEpoch, baseSequence at byte 43
_PRODUCER_AT = 43
_OFFSET_AND_LENGTH = struct.Struct(">qi")
_CONTROL_KEY = struct.Struct(">hh")  # version, type

_CODEC_MASK = 0x07
_LOG_APPEND_TIME = 0x08
_TRANSACTIONAL = 0x10
_CONTROL = 0x20
_DELETE_HORIZON = 0x40


class BatchFormatError(MirrorError):
    """Bytes that are not a well-formed v2 record batch (a broker bug or a wrong offset)."""


class Codec(IntEnum):
    """Compression codec of a batch: attributes bits 0-2."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


class TimestampType(IntEnum):
    """Attributes bit 3: whose clock the batch's timestamps come from."""

    CREATE_TIME = 0
    LOG_APPEND_TIME = 1


class ControlType(IntEnum):
    """Type of a transaction marker: the second int16 of a control record's key."""

    ABORT = 0
    COMMIT = 1


class FallbackReason(Enum):
    """Why a batch cannot be produced whole and must go through the record path."""

    CONTROL = "control batch (transaction marker): never forwarded"
    STARTS_BEFORE_WANTED = "starts before the wanted offset: forwarding would duplicate records"
    OFFSET_HOLES = "offsets thinned by compaction: recordsCount != lastOffsetDelta + 1"
    TOO_LARGE = "larger than the target accepts"
    LOG_APPEND_TIME = "LogAppendTime batch: its records carry producer time, not append time"
    DELETE_HORIZON = "compaction delete horizon set: baseTimestamp is not a record timestamp"
    OTHER_CODEC = "compressed otherwise than the producer config's compression.type asks"


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """One complete v2 batch: its header fields and a view of its bytes (no copy)."""

    data: memoryview  # exactly LOG_OVERHEAD + batch_length bytes
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def last_offset(self) -> int:
        """Offset of the batch's last record as written (compaction may have removed it)."""
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        """Where the next fetch continues after this batch."""
        return self.last_offset + 1

    @property
    def size_bytes(self) -> int:
        """Size of the whole batch on the wire."""
        return len(self.data)

    @property
    def codec(self) -> Codec:
        """Compression codec of the records section."""
        try:
            return Codec(self.attributes & _CODEC_MASK)
        except ValueError:
            raise BatchFormatError(
                f"batch at offset {self.base_offset}: unknown codec id "
                f"{self.attributes & _CODEC_MASK}"
            ) from None

    @property
    def timestamp_type(self) -> TimestampType:
        """CreateTime or LogAppendTime."""
        return TimestampType(bool(self.attributes & _LOG_APPEND_TIME))

    @property
    def is_transactional(self) -> bool:
        """Written inside a transaction."""
        return bool(self.attributes & _TRANSACTIONAL)

    @property
    def is_control(self) -> bool:
        """A transaction marker batch (COMMIT or ABORT), not data."""
        return bool(self.attributes & _CONTROL)

    @property
    def has_delete_horizon(self) -> bool:
        """Compaction set a delete horizon: base_timestamp holds it (KIP-534)."""
        return bool(self.attributes & _DELETE_HORIZON)

    @property
    def records(self) -> memoryview:
        """The records section as stored: compressed when ``codec`` is not NONE."""
        return self.data[RECORDS_START:]

    def crc_is_valid(self) -> bool:
        """True when the stored CRC-32C matches the bytes it covers."""
        return crc32c(self.data[CRC_START:]) == self.crc


def parse_batch(data: bytes | bytearray | memoryview) -> RecordBatch:
    """The complete batch at the start of ``data`` (raises BatchFormatError if incomplete)."""
    view = memoryview(data).cast("B")
    if len(view) < RECORDS_START:
        raise BatchFormatError(f"{len(view)} bytes are too few for a v2 batch header")
    fields = _HEADER.unpack_from(view)
    base_offset, batch_length, magic = fields[0], fields[1], fields[3]
    if magic != 2:
        raise BatchFormatError(
            f"batch at offset {base_offset} has magic {magic}: only v2 batches (Kafka 0.11+) "
            "can be forwarded whole; mirror this topic record by record (--no-shallow)"
        )
    size = LOG_OVERHEAD + batch_length
    if batch_length < RECORDS_START - LOG_OVERHEAD or size > len(view):
        raise BatchFormatError(
            f"batch at offset {base_offset}: batchLength {batch_length} does not fit the "
            f"{len(view)} bytes given"
        )
    return RecordBatch(view[:size], *fields)


def iter_batches(records: bytes | bytearray | memoryview) -> Iterator[RecordBatch]:
    """The complete batches of a fetched records blob, in order, without copying.

    A fetch response may end in a partial batch (the broker cuts at the size limit); it is
    complete only if the remaining bytes are at least batchLength + 12. Iteration stops there:
    the next fetch starts at the last yielded batch's ``next_offset``.
    """
    view = memoryview(records).cast("B")
    position, end = 0, len(view)
    while end - position >= LOG_OVERHEAD:
        _, batch_length = _OFFSET_AND_LENGTH.unpack_from(view, position)
        size = LOG_OVERHEAD + batch_length
        if end - position < size:
            return
        yield parse_batch(view[position:position + size])
        position += size


def fallback_reason(
    batch: RecordBatch, wanted_offset: int, max_size_bytes: int
) -> FallbackReason | None:
    """Why ``batch`` cannot be produced whole to the target, or None when it can.

    ``wanted_offset`` is the first source offset not yet mirrored: a batch starting before it
    holds records already written. ``max_size_bytes`` is the target's limit (the topic's
    max.message.bytes, capped by the broker's message.max.bytes).
    """
    if batch.is_control:
        return FallbackReason.CONTROL
    if batch.base_offset < wanted_offset:
        return FallbackReason.STARTS_BEFORE_WANTED
    if batch.records_count != batch.last_offset_delta + 1 or batch.records_count <= 0:
        return FallbackReason.OFFSET_HOLES
    if batch.size_bytes > max_size_bytes:
        return FallbackReason.TOO_LARGE
    if batch.timestamp_type is TimestampType.LOG_APPEND_TIME:
        return FallbackReason.LOG_APPEND_TIME
    if batch.has_delete_horizon:
        return FallbackReason.DELETE_HORIZON
    return None


def rewrite_for_produce(
    batch: RecordBatch,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> bytes:
    """The batch as a new client write: ``produce_header`` followed by the untouched records.

    One copy of the batch. A sender that writes ``produce_header(...)`` and ``batch.records``
    with one scatter-gather call (socket.sendmsg) avoids even that.
    """
    header = produce_header(batch, producer_id, producer_epoch, base_sequence)
    return b"".join((header, batch.records))


def produce_header(
    batch: RecordBatch,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> bytes:
    """The 61-byte header that turns the batch into a new client write; records unchanged.

    baseOffset becomes 0 and partitionLeaderEpoch -1 (as clients send; the broker assigns
    both), the transactional bit is cleared (the target has no transaction for it), the
    producer fields are set, and the CRC-32C is recomputed over the new header and the
    records. Pass -1/-1/-1 for a producer without duplicate detection, or an idempotent
    producer's id, epoch and the partition's next sequence (the caller advances it by
    ``records_count``, wrapping at 2**31 as Kafka does).
    """
    if batch.is_control:
        raise ValueError(f"batch at offset {batch.base_offset} is a control batch")
    idempotent = producer_id >= 0
    if idempotent != (producer_epoch >= 0) or idempotent != (base_sequence >= 0):
        raise ValueError(
            "producer id, epoch and base sequence must all be set (>= 0) or all be -1, got "
            f"{producer_id}/{producer_epoch}/{base_sequence}"
        )
    header = bytearray(batch.data[:RECORDS_START])
    _OFFSET_AND_LENGTH.pack_into(header, 0, 0, batch.batch_length)
    struct.pack_into(">i", header, 12, -1)
    struct.pack_into(">h", header, CRC_START, batch.attributes & ~_TRANSACTIONAL)
    _PRODUCER.pack_into(header, _PRODUCER_AT, producer_id, producer_epoch, base_sequence)
    crc = crc32c(batch.records, crc32c(memoryview(header)[CRC_START:]))
    _CRC.pack_into(header, 17, crc)
    return bytes(header)


def control_type(batch: RecordBatch) -> int:
    """The marker type of a control batch: ControlType.ABORT, COMMIT, or another Kafka type.

    A control batch is never compressed and holds one record whose key is (version int16,
    type int16). The record is varint-encoded: length, attributes int8, timestampDelta,
    offsetDelta, keyLength, key.
    """
    where = f"control batch at offset {batch.base_offset}"
    if not batch.is_control:
        raise ValueError(f"batch at offset {batch.base_offset} is not a control batch")
    if batch.codec is not Codec.NONE or batch.records_count < 1:
        raise BatchFormatError(f"{where}: compressed or empty")
    records = batch.records
    try:
        _, position = _read_varint(records, 0)  # record length
        position += 1  # attributes
        _, position = _read_varint(records, position)  # timestampDelta
        _, position = _read_varint(records, position)  # offsetDelta
        key_length, position = _read_varint(records, position)
    except IndexError:
        raise BatchFormatError(f"{where}: record cut short") from None
    if key_length < _CONTROL_KEY.size or position + _CONTROL_KEY.size > len(records):
        raise BatchFormatError(f"{where}: key of {key_length} bytes is too short")
    _version, kind = _CONTROL_KEY.unpack_from(records, position)
    return int(kind)


def _read_varint(data: memoryview, position: int) -> tuple[int, int]:
    """A zigzag varint (Kafka's varint/varlong) at ``position``: (value, next position)."""
    raw, position = read_uvarint(data, position)
    return (raw >> 1) ^ -(raw & 1), position


def read_uvarint(data: memoryview, position: int) -> tuple[int, int]:
    """An unsigned varint (as in the protocol's tagged fields): (value, next position)."""
    raw = shift = 0
    while True:
        byte = data[position]
        position += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return raw, position
        shift += 7
        if shift > 63:
            raise BatchFormatError("varint longer than 10 bytes")


@dataclass(frozen=True, slots=True)
class AbortedTransaction:
    """An entry of a READ_COMMITTED fetch response's AbortedTransactions list."""

    producer_id: int
    first_offset: int


class ReadCommittedFilter:
    """The READ_COMMITTED walk over one fetch response's batches of one partition.

    Mirrors the Java consumer (CompletedFetch): before each batch, every aborted transaction
    with first_offset <= the batch's last offset marks its producer as aborted; an ABORT marker
    of that producer clears it; a transactional batch of a marked producer is skipped whole.
    Feed every batch of the response, in order, to ``keeps`` exactly once.
    """

    def __init__(self, aborted: Iterable[AbortedTransaction]) -> None:
        self._pending = sorted(aborted, key=lambda entry: entry.first_offset, reverse=True)
        self._aborted_producers: set[int] = set()

    def keeps(self, batch: RecordBatch) -> bool:
        """True when a READ_COMMITTED consumer would see this batch's records."""
        if batch.producer_id >= 0:
            while self._pending and self._pending[-1].first_offset <= batch.last_offset:
                self._aborted_producers.add(self._pending.pop().producer_id)
            if batch.is_control:
                if control_type(batch) == ControlType.ABORT:
                    self._aborted_producers.discard(batch.producer_id)
            elif batch.is_transactional and batch.producer_id in self._aborted_producers:
                return False
        return not batch.is_control
