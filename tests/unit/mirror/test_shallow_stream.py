"""The shallow stream's batch bookkeeping, with a fake target and a fake writer (no broker).

What is checked here is what a real broker rarely shows on demand: batches sent again after a
failure keep their sequence numbers and order, commits never pass an unacknowledged batch,
a batch the target finds too large goes through the record path, and a refused batch stops
its partition. The real wire and brokers are covered by tests/integration/test_shallow.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from tests.helpers.batches import control, data

from kmirror.kafka.admin import Admin
from kmirror.kafka.batches import ControlType, iter_batches
from kmirror.kafka.raw_io import FetchedPartition, KafkaCode, ProduceResult, WireError
from kmirror.kafka.writer import AckSink, SendFailure, TargetWriter
from kmirror.mirror.offset_syncs import SyncRecorder
from kmirror.mirror.partitions import Partitions
from kmirror.mirror.paths import Loop
from kmirror.mirror.paths.batch import BatchPath
from kmirror.mirror.report import StreamReport
from kmirror.mirror.tracker import OffsetTracker

KEY = ("t", 0)
SYNCS: list[Any] = []
NODE = 1
PRODUCER = (4242, 0)


@dataclass
class FakeTarget:
    """Stands in for RawCluster: keeps each Produce and answers when the test says."""

    sent: list[tuple[dict[tuple[str, int], bytes], Callable[..., None]]] = field(
        default_factory=list)

    def produce(self, node: int, batches: dict[tuple[str, int], bytes], timeout_ms: int,
                callback: Callable[..., None]) -> None:
        self.sent.append((dict(batches), callback))

    def in_flight(self, node_id: int | None = None) -> int:
        return len(self.sent)

    def init_producer_id(self) -> tuple[int, int]:
        return PRODUCER

    def metadata(self, topics: Any) -> Any:
        return SimpleNamespace(leaders={(t, KEY[1]): NODE for t in topics})

    def answer(self, error: str | None = None, base_offset: int = 0) -> bytes:
        """Answer the oldest request for KEY; returns the batch it carried."""
        batches, callback = self.sent.pop(0)
        code = None if error is None else KafkaCode.of(_CODES[error])  # (Kafka's own table)
        callback([ProduceResult(KEY[0], KEY[1], base_offset, code, None)], None)
        return batches[KEY]

    def lose_connection(self) -> None:
        """Every request still waiting fails, as when the connection breaks."""
        waiting, self.sent = self.sent, []
        for _, callback in waiting:
            callback([], WireError("target: connection lost"))


_CODES = {"NOT_LEADER_OR_FOLLOWER": 6, "REQUEST_TIMED_OUT": 7, "MESSAGE_TOO_LARGE": 10,
          "TOPIC_AUTHORIZATION_FAILED": 29, "OUT_OF_ORDER_SEQUENCE_NUMBER": 45,
          "DUPLICATE_SEQUENCE_NUMBER": 46, "UNKNOWN_PRODUCER_ID": 59}


@dataclass
class FakeWriter:
    """Stands in for TargetWriter on the record path."""

    records: list[tuple[int, bytes | None]] = field(default_factory=list)
    sinks: list[tuple[AckSink, int]] = field(default_factory=list)
    failures: list[SendFailure] = field(default_factory=list)
    per_record_acks: bool = True

    def send(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
             headers: Any, timestamp_ms: int, sink: AckSink, source_offset: int) -> None:
        self.records.append((source_offset, value))
        self.sinks.append((sink, source_offset))

    def ack_all(self) -> None:
        for sink, offset in self.sinks:
            sink.acked(offset)
        self.sinks.clear()

    def queued(self) -> int:
        return len(self.sinks)

    def add_latency_sample(self, latency_s: float) -> None:
        pass


@dataclass
class FakeReader:
    pause_on_assign: bool = False


@dataclass
class FakeLoop:
    """The stream's side of the Loop protocol (mirror/paths/__init__.py)."""

    tracker: OffsetTracker = field(default_factory=OffsetTracker)
    parts: Partitions = field(default_factory=Partitions)
    stats: StreamReport = field(default_factory=lambda: StreamReport("src", 0))
    reader: FakeReader = field(default_factory=FakeReader)
    syncs: SyncRecorder = field(
        default_factory=lambda: SyncRecorder("src", str, lambda keys: {}, SYNCS.append))
    label: str = "source"
    index: int = 0
    reset_to_earliest: bool = True
    error: str | None = None

    def target_topic(self, topic: str) -> str:
        return topic

    def count(self, topic: str, records: int, size_bytes: int) -> None:
        self.stats.records += records

    def check_failures(self) -> None:
        pass


@dataclass
class FakeAdmin:
    def topic_config(self, topics: list[str], name: str) -> dict[str, str]:
        return {}


def _stream(position: int = 100) -> tuple[BatchPath, FakeTarget, FakeWriter]:
    """A batch path over fakes, with partition KEY assigned at ``position``."""
    target, writer, loop = FakeTarget(), FakeWriter(), FakeLoop()
    path = BatchPath(cast(Loop, loop), cast(TargetWriter, writer), cast(Admin, FakeAdmin()),
                     io=None, src=target, dst=target, max_wait_ms=500, fetch_max_bytes=1 << 20,
                     partition_max_bytes=1 << 20, isolation=0)
    assert loop.reader.pause_on_assign  # (the consumer never fetches on this path)
    path.start()
    loop.parts.assign([KEY])
    loop.tracker.mark_committed({KEY: position})
    path.assigned([KEY])
    path._refresh_metadata()  # (the fake target leads KEY on NODE)
    return path, target, writer


def _fetch(stream: BatchPath, *raw: bytes) -> None:
    part = stream.batch_parts[KEY]
    stream._take_batches(part, FetchedPartition(
        KEY[0], KEY[1], part.position, None, b"".join(raw), [], 0, 0))


def _send_all(stream: BatchPath) -> None:
    while stream.sender.send_batches():
        pass


def _sequence(batch: bytes) -> int:
    [parsed] = list(iter_batches(batch))
    assert parsed.producer_id == PRODUCER[0]
    return parsed.base_sequence


def _commit_offset(stream: BatchPath) -> int | None:
    return stream.loop.tracker.track(*KEY).commit_offset()


def test_batches_go_whole_in_order_and_commits_follow_acknowledgements() -> None:
    stream, target, _ = _stream()
    _fetch(stream, data(100, 3), data(103, 2))
    # When both are sent, one per request
    _send_all(stream)
    assert len(target.sent) == 2
    # Then nothing is committed before the first answer, then exactly what was acknowledged
    assert _commit_offset(stream) == 100
    assert _sequence(target.answer(base_offset=10)) == 0
    assert _commit_offset(stream) == 103
    assert _sequence(target.answer(base_offset=13)) == 3
    assert _commit_offset(stream) == 105
    assert stream.sender.offset_map.target_offset(KEY, 104) == 14
    assert stream.sender.batches == Counter(whole=2)
    # And the offset sync says where the last record went, the two batches one run
    SYNCS.clear()
    stream.loop.syncs.sync()
    [sync] = SYNCS
    assert (sync.upstream, sync.downstream, sync.run_upstream, sync.run_downstream) == (
        104, 14, 100, 10)


def test_the_commit_point_lands_after_the_last_record_the_target_acknowledged() -> None:
    # (mirror/landing.py: a batch keeps its offset deltas, so it takes as many target offsets)
    stream, target, _ = _stream()
    track = stream.loop.tracker.track(*KEY)
    track.lands_at(10)  # the target's end offset when the partition was taken
    _fetch(stream, data(100, 3), data(103, 2), data(105, 1))
    _send_all(stream)
    target.lose_connection()  # all three go again: nothing was written meanwhile
    assert track.target_next == 10
    stream.batch_parts[KEY].retry_at = 0
    _send_all(stream)
    target.answer(base_offset=10)
    assert (_commit_offset(stream), track.target_next) == (103, 13)
    target.answer("DUPLICATE_SEQUENCE_NUMBER", base_offset=-1)  # written before, no offset said
    assert (_commit_offset(stream), track.target_next) == (105, 15)
    target.answer(base_offset=15)
    assert (_commit_offset(stream), track.target_next) == (106, 16)


def test_a_lost_connection_sends_the_same_batches_again_with_the_same_sequences() -> None:
    stream, target, _ = _stream()
    _fetch(stream, data(100, 3), data(103, 2), control(ControlType.COMMIT, 105))
    _send_all(stream)
    first = [batches[KEY] for batches, _ in target.sent]
    # When the connection breaks with both batches in flight
    target.lose_connection()
    assert _commit_offset(stream) == 100
    # Then, after the backoff, both go again in order with their sequences (dedup on target)
    stream.batch_parts[KEY].retry_at = 0
    _send_all(stream)
    again = [batches[KEY] for batches, _ in target.sent]
    assert [_sequence(b) for b in again] == [_sequence(b) for b in first] == [0, 3]
    assert again == first
    target.answer(base_offset=10)
    target.answer(base_offset=13)
    # And the commit reaches past the skipped transaction marker that followed them
    assert _commit_offset(stream) == 106


def test_a_retriable_refusal_of_the_first_batch_resends_it_and_the_next() -> None:
    stream, target, _ = _stream()
    _fetch(stream, data(100, 3), data(103, 2))
    _send_all(stream)
    target.answer("NOT_LEADER_OR_FOLLOWER")
    # The second request's answer (out of sequence after the first failed) is ignored
    target.answer("OUT_OF_ORDER_SEQUENCE_NUMBER")
    assert not stream.sender.new_producer_id
    stream.batch_parts[KEY].retry_at = 0
    _send_all(stream)
    assert [_sequence(b[KEY]) for b, _ in target.sent] == [0, 3]
    target.answer(base_offset=0)
    target.answer(base_offset=3)
    assert _commit_offset(stream) == 105


def test_a_batch_too_large_for_the_target_goes_through_the_record_path_in_order() -> None:
    stream, target, writer = _stream()
    _fetch(stream, data(100, 3), data(103, 2))
    _send_all(stream)
    # When the target refuses the first batch as too large (and so the second, out of order)
    target.answer("MESSAGE_TOO_LARGE")
    target.answer("OUT_OF_ORDER_SEQUENCE_NUMBER")
    stream.batch_parts[KEY].retry_at = 0
    _send_all(stream)
    # Then its records go through the record path, and the next batch waits for them
    assert [offset for offset, _ in writer.records] == [100, 101, 102]
    assert target.sent == []
    assert _commit_offset(stream) == 100
    writer.ack_all()
    _send_all(stream)
    assert len(target.sent) == 1
    # (the refused batch never took sequence numbers on the target: the next starts at 0)
    assert _sequence(target.answer(base_offset=3)) == 0
    assert _commit_offset(stream) == 105
    assert stream.sender.batches == Counter({"too large": 1, "whole": 1})


def test_a_start_inside_a_batch_sends_only_the_records_from_there() -> None:
    # Given a committed offset 101 inside the batch 100..102
    stream, target, writer = _stream(position=101)
    _fetch(stream, data(100, 3), data(103, 2))
    _send_all(stream)
    assert [offset for offset, _ in writer.records] == [101, 102]
    writer.ack_all()
    _send_all(stream)
    target.answer(base_offset=2)
    assert _commit_offset(stream) == 105
    assert stream.sender.batches == Counter({"starts mid-batch": 1, "whole": 1})


def test_a_refused_batch_stops_its_partition_and_is_never_committed_past() -> None:
    stream, target, _ = _stream()
    _fetch(stream, data(100, 3), data(103, 2))
    _send_all(stream)
    target.answer("TOPIC_AUTHORIZATION_FAILED")
    [failure] = stream.writer.failures
    assert (failure.topic, failure.partition, failure.source_offset) == ("t", 0, 100)
    assert "offsets 100..102" in failure.reason
    assert _commit_offset(stream) == 100
    target.answer(base_offset=3)  # the next batch's answer no longer moves anything
    assert _commit_offset(stream) == 100
