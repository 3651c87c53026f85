"""Record batches built byte by byte from Kafka's format (v2), for the unit tests.

The encoder and its bitwise CRC-32C are independent of kmirror.kafka.batches, so what it
reads and rewrites is checked against Kafka's format, not against itself.
"""

from __future__ import annotations

import gzip
import struct

from kmirror.kafka.batches import Codec, ControlType
from tests.helpers.wire import uvarint

PID, EPOCH = 4242, 3  # a producer's id and epoch


def crc32c_reference(data: bytes) -> int:
    """CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one bit at a time."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def varint(value: int) -> bytes:
    """Kafka's zigzag varint/varlong."""
    return uvarint((value << 1) ^ (value >> 63))


def record(offset_delta: int, key: bytes | None, value: bytes | None, ts_delta: int = 0) -> bytes:
    """One v2 record without headers."""
    body = bytes([0]) + varint(ts_delta) + varint(offset_delta)
    for field in (key, value):
        body += varint(-1) if field is None else varint(len(field)) + field
    body += varint(0)  # header count
    return varint(len(body)) + body


def with_header(key: bytes, value: bytes, header: tuple[bytes, bytes]) -> bytes:
    """A v2 record at offset and timestamp delta 0 with one header."""
    body = (b"\x00" + varint(0) + varint(0) + varint(len(key)) + key + varint(len(value))
            + value + varint(1) + varint(len(header[0])) + header[0]
            + varint(len(header[1])) + header[1])
    return varint(len(body)) + body


def batch(
    records: list[bytes],
    *,
    base_offset: int = 100,
    codec: Codec = Codec.NONE,
    attributes: int = 0,
    producer: tuple[int, int, int] = (-1, -1, -1),
    last_offset_delta: int | None = None,
    leader_epoch: int = 7,
    base_timestamp: int = 1_700_000_000_000,
    magic: int = 2,
) -> bytes:
    """A v2 batch with a correct CRC; ``last_offset_delta`` defaults to len(records) - 1."""
    section = b"".join(records)
    if codec is Codec.GZIP:
        section = gzip.compress(section, mtime=0)
    delta = len(records) - 1 if last_offset_delta is None else last_offset_delta
    after_crc = struct.pack(
        ">hiqqqhii", attributes | codec, delta, base_timestamp, base_timestamp + 5,
        *producer, len(records),
    ) + section
    crc = crc32c_reference(after_crc)
    prefix = struct.pack(">qiibI", base_offset, 49 + len(section), leader_epoch, magic, crc)
    return prefix + after_crc


def control(kind: ControlType, offset: int, producer_id: int = PID) -> bytes:
    """A transaction marker batch as the broker writes it."""
    key = struct.pack(">hh", 0, kind)
    value = struct.pack(">hi", 0, 0)
    return batch(
        [record(0, key, value)], base_offset=offset, attributes=0x30,
        producer=(producer_id, EPOCH, -1),
    )


def data(offset: int, count: int = 2, *, producer_id: int = -1, txn: bool = False) -> bytes:
    """A data batch of ``count`` records at ``offset``."""
    return batch(
        [record(i, b"k%d" % i, b"v%d" % i) for i in range(count)], base_offset=offset,
        attributes=0x10 if txn else 0,
        producer=(producer_id, EPOCH, 0) if producer_id >= 0 else (-1, -1, -1),
    )
