"""Record batches built byte by byte (tests/helpers/batches.py), read and rewritten by
kmirror.kafka.batches.

The encoder and its bitwise CRC-32C are independent of the module under test, so a rewrite is
checked against Kafka's format, not against itself.
"""

from __future__ import annotations

import gzip
import struct

import pytest

from kmirror.kafka.batches import (
    AbortedTransaction,
    BatchFormatError,
    Codec,
    ControlType,
    FallbackReason,
    ReadCommittedFilter,
    RecordBatch,
    TimestampType,
    _read_varint,
    control_type,
    fallback_reason,
    iter_batches,
    parse_batch,
    produce_header,
    rewrite_for_produce,
)
from tests.helpers.batches import EPOCH, PID, batch, control, crc32c_reference, data, record, varint

SEQ = 17


def only(raw: bytes) -> RecordBatch:
    [parsed] = list(iter_batches(raw))
    return parsed


# --- reading -----------------------------------------------------------------------------------


def test_header_fields_are_read_in_place() -> None:
    raw = batch(
        [record(0, b"a", b"1"), record(1, None, b"2", ts_delta=3)],
        attributes=0x18, producer=(PID, EPOCH, SEQ),
    )
    parsed = parse_batch(raw)
    assert (parsed.base_offset, parsed.last_offset_delta, parsed.last_offset) == (100, 1, 101)
    assert parsed.next_offset == 102
    assert (parsed.partition_leader_epoch, parsed.magic, parsed.records_count) == (7, 2, 2)
    assert (parsed.producer_id, parsed.producer_epoch, parsed.base_sequence) == (PID, EPOCH, SEQ)
    assert parsed.base_timestamp == 1_700_000_000_000
    assert parsed.max_timestamp == 1_700_000_000_005
    assert parsed.codec is Codec.NONE
    assert parsed.timestamp_type is TimestampType.LOG_APPEND_TIME
    assert parsed.is_transactional and not parsed.is_control and not parsed.has_delete_horizon
    assert parsed.size_bytes == len(raw) and parsed.batch_length == len(raw) - 12
    assert parsed.crc == crc32c_reference(raw[21:]) and parsed.crc_is_valid()
    assert bytes(parsed.records) == raw[61:]


def test_flipped_byte_fails_the_crc_check() -> None:
    raw = bytearray(data(0))
    raw[-1] ^= 1
    assert not parse_batch(raw).crc_is_valid()


def test_iteration_yields_complete_batches_and_stops_at_a_cut_off_tail() -> None:
    blob = data(0, 2) + batch([record(0, b"x", b"y")], base_offset=2, codec=Codec.GZIP)
    last = data(3, 4)
    assert [b.base_offset for b in iter_batches(blob + last)] == [0, 2, 3]
    for cut in range(len(last)):  # every partial tail, including fewer than 12 bytes
        assert [b.base_offset for b in iter_batches(blob + last[:cut])] == [0, 2]
    assert list(iter_batches(b"")) == []


def test_batches_are_views_of_the_fetched_bytes() -> None:
    blob = data(0) + data(2)
    second = list(iter_batches(blob))[1]
    assert second.data.obj is blob and bytes(second.data) == data(2)


def test_old_message_format_is_refused_with_advice() -> None:
    with pytest.raises(BatchFormatError, match=r"magic 1.*record by record \(--no-shallow\)"):
        list(iter_batches(batch([record(0, b"k", b"v")], magic=1)))


def test_batch_length_shorter_than_a_header_is_refused() -> None:
    raw = bytearray(data(0))
    struct.pack_into(">i", raw, 8, 10)
    with pytest.raises(BatchFormatError, match="batchLength 10"):
        parse_batch(raw)
    with pytest.raises(BatchFormatError, match="too few"):
        parse_batch(raw[:60])


@pytest.mark.parametrize("value", [0, 1, -1, 63, -64, 64, 300, -300, 2**31 - 1, -(2**63)])
def test_varints_decode_as_kafka_encodes_them(value: int) -> None:
    encoded = varint(value)
    assert _read_varint(memoryview(encoded + b"\xff"), 0) == (value, len(encoded))


# --- rewriting ---------------------------------------------------------------------------------


def test_rewrite_adapts_the_header_and_leaves_compressed_records_untouched() -> None:
    inner = [record(i, b"key-%d" % i, b"value-%d" % i * 20, ts_delta=i) for i in range(5)]
    raw = batch(inner, codec=Codec.GZIP, attributes=0x10, producer=(PID, EPOCH, SEQ))
    source = parse_batch(raw)

    out = rewrite_for_produce(source)

    assert len(out) == len(raw)
    assert out[61:] == raw[61:] and gzip.decompress(out[61:]) == b"".join(inner)
    assert struct.unpack_from(">qi", out, 0) == (0, len(raw) - 12)
    assert struct.unpack_from(">i", out, 12) == (-1,)
    assert out[16] == 2
    assert struct.unpack_from(">h", out, 21) == (Codec.GZIP,)  # transactional bit cleared
    assert out[23:43] == raw[23:43]  # lastOffsetDelta, timestamps
    assert struct.unpack_from(">qhi", out, 43) == (-1, -1, -1)
    assert out[57:61] == raw[57:61]  # recordsCount
    assert struct.unpack_from(">I", out, 17) == (crc32c_reference(out[21:]),)
    rewritten = parse_batch(out)
    assert rewritten.crc_is_valid() and rewritten.codec is Codec.GZIP
    assert not rewritten.is_transactional


def test_produce_header_is_the_rewritten_batch_prefix() -> None:
    source = parse_batch(data(50, 3, producer_id=PID, txn=True))
    header = produce_header(source, 9, 1, 0)
    assert len(header) == 61
    assert header + bytes(source.records) == rewrite_for_produce(source, 9, 1, 0)


def test_rewrite_with_our_idempotent_producer() -> None:
    out = rewrite_for_produce(parse_batch(data(50, 3)), 9, 1, 2**31 - 2)
    assert struct.unpack_from(">qhi", out, 43) == (9, 1, 2**31 - 2)
    assert struct.unpack_from(">I", out, 17) == (crc32c_reference(out[21:]),)


@pytest.mark.parametrize("producer", [(9, -1, 0), (9, 1, -1), (-1, -1, 0), (-1, 0, -1)])
def test_rewrite_refuses_half_set_producer_fields(producer: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="all be set"):
        rewrite_for_produce(parse_batch(data(0)), *producer)


def test_rewrite_refuses_control_batches() -> None:
    with pytest.raises(ValueError, match="control batch"):
        rewrite_for_produce(parse_batch(control(ControlType.COMMIT, 5)))


# --- deciding: whole or record path ------------------------------------------------------------


def test_a_plain_batch_at_the_wanted_offset_goes_whole() -> None:
    assert fallback_reason(parse_batch(data(10, 3)), 10, 1_000_000) is None
    assert fallback_reason(parse_batch(data(10, 3)), 5, 1_000_000) is None


@pytest.mark.parametrize(
    ("raw", "wanted", "max_size", "reason"),
    [
        (control(ControlType.COMMIT, 10), 0, 10**6, FallbackReason.CONTROL),
        (data(10, 3), 11, 10**6, FallbackReason.STARTS_BEFORE_WANTED),
        (
            batch([record(0, b"a", None), record(4, b"b", None)], last_offset_delta=4),
            0, 10**6, FallbackReason.OFFSET_HOLES,
        ),
        (batch([], last_offset_delta=-1), 0, 10**6, FallbackReason.OFFSET_HOLES),
        (data(10, 3), 0, len(data(10, 3)) - 1, FallbackReason.TOO_LARGE),
        (batch([record(0, b"a", b"b")], attributes=0x08), 0, 10**6, FallbackReason.LOG_APPEND_TIME),
        (batch([record(0, b"a", None)], attributes=0x40), 0, 10**6, FallbackReason.DELETE_HORIZON),
    ],
)
def test_batches_the_target_would_refuse_fall_back(
    raw: bytes, wanted: int, max_size: int, reason: FallbackReason
) -> None:
    assert fallback_reason(parse_batch(raw), wanted, max_size) is reason


# --- transaction markers and READ_COMMITTED ----------------------------------------------------


@pytest.mark.parametrize("kind", [ControlType.ABORT, ControlType.COMMIT])
def test_control_marker_type_is_decoded(kind: ControlType) -> None:
    assert control_type(parse_batch(control(kind, 0))) == kind


def test_control_type_of_a_data_batch_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="not a control batch"):
        control_type(parse_batch(data(0)))


def test_malformed_control_batches_are_reported() -> None:
    compressed = batch(
        [record(0, struct.pack(">hh", 0, 1), None)], codec=Codec.GZIP, attributes=0x30
    )
    with pytest.raises(BatchFormatError, match="compressed"):
        control_type(parse_batch(compressed))
    short_key = batch([record(0, b"\x00", None)], attributes=0x30)
    with pytest.raises(BatchFormatError, match="too short"):
        control_type(parse_batch(short_key))
    cut = bytearray(batch([record(0, struct.pack(">hh", 0, 1), None)], attributes=0x30))
    cut[61] = 0x80 | 0x7F  # a length varint that never ends within the record
    cut = cut[:62]
    struct.pack_into(">i", cut, 8, 50)
    with pytest.raises(BatchFormatError, match="cut short"):
        control_type(parse_batch(cut))


def kept(blob: bytes, aborted: list[AbortedTransaction]) -> list[int]:
    walk = ReadCommittedFilter(aborted)
    return [b.base_offset for b in iter_batches(blob) if walk.keeps(b)]


def test_aborted_transaction_is_skipped_and_later_transactions_are_kept() -> None:
    blob = (
        data(0, 2, producer_id=PID, txn=True)
        + data(2, 1)  # non-transactional, interleaved
        + control(ControlType.ABORT, 3)
        + data(4, 2, producer_id=PID, txn=True)
        + control(ControlType.COMMIT, 6)
    )
    assert kept(blob, [AbortedTransaction(PID, 0)]) == [2, 4]


def test_only_the_aborted_producer_is_skipped() -> None:
    other = PID + 1
    blob = (
        data(0, 1, producer_id=PID, txn=True)
        + data(1, 1, producer_id=other, txn=True)
        + control(ControlType.ABORT, 2)
        + control(ControlType.COMMIT, 3, producer_id=other)
    )
    assert kept(blob, [AbortedTransaction(PID, 0)]) == [1]


def test_aborted_entry_applies_only_from_its_first_offset() -> None:
    blob = (
        data(0, 1, producer_id=PID, txn=True)
        + control(ControlType.COMMIT, 1)
        + data(2, 2, producer_id=PID, txn=True)
        + control(ControlType.ABORT, 4)
    )
    assert kept(blob, [AbortedTransaction(PID, 3)]) == [0]  # 2..3 holds offset 3: aborted


def test_idempotent_non_transactional_batches_are_never_skipped() -> None:
    blob = data(0, 2, producer_id=PID) + data(2, 1, producer_id=PID, txn=True)
    assert kept(blob, [AbortedTransaction(PID, 0)]) == [0]


def test_without_aborted_transactions_only_markers_are_dropped() -> None:
    blob = data(0, 1, producer_id=PID, txn=True) + control(ControlType.COMMIT, 1) + data(2)
    assert kept(blob, []) == [0, 2]
