"""The default path (paths/mixed.py) over fakes: partitions start on the batch path, move to
the record path when their batches are small and back when they grow, and the target gets
every record once, in order, whichever way it went. Brokers: tests/integration/test_default.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from tests.helpers.batches import batch
from tests.helpers.batches import record as wire_record
from tests.unit.mirror.stream_fakes import FakeReader, FakeWriter, harness, record, settings_for
from tests.unit.mirror.test_shallow_stream import FakeAdmin

from kmirror.kafka.admin import Admin
from kmirror.kafka.batches import iter_batches
from kmirror.kafka.raw_io import FetchedPartition, ProduceResult, WireError
from kmirror.kafka.writer import TargetWriter
from kmirror.mirror.paths import batch as batch_module
from kmirror.mirror.paths.acks import CheckpointAcks
from kmirror.mirror.paths.batch import BatchPath
from kmirror.mirror.paths.choice import IDLE_S, MIN_DWELL_S, PartitionChoice, Side
from kmirror.mirror.paths.mixed import MixedPath
from kmirror.mirror.paths.record import RecordPath
from kmirror.mirror.paths.writer_pair import WriterPair
from kmirror.mirror.report import StreamReport
from kmirror.mirror.stream import MirrorStream

KEY = ("t", 0)


@dataclass
class FakeWire:
    """Both clusters' raw connections: fetches answered from ``log`` (batches), produces
    written to ``written``; answers come at the next ``poll`` (RawIO's)."""

    log: list[bytes] = field(default_factory=list)  # source batches of KEY, in order
    written: list[int] = field(default_factory=list)  # source offsets forwarded whole
    waiting: list[Callable[[], None]] = field(default_factory=list)

    def fetch(self, node: int, positions: dict[Any, int], *, max_wait_ms: int, max_bytes: int,
              partition_max_bytes: int, isolation_level: int,
              callback: Callable[..., None], session: bool = False) -> None:
        # (every partition answered: what a session's answer may be too)
        def answer() -> None:
            out = []
            for key, position in positions.items():
                raw = b"".join(b for b in self.log
                               if next(iter(iter_batches(b))).next_offset > position)
                out.append(FetchedPartition(key[0], key[1], position, None, raw, [], 0, 0))
            callback(out, None)
        self.waiting.append(answer)

    def produce(self, node: int, batches: dict[Any, bytes], timeout_ms: int,
                callback: Callable[..., None]) -> None:
        results = []
        for (topic, partition), raw in batches.items():
            [parsed] = list(iter_batches(raw))
            base = len(self.written)
            self.written.extend(range(self.source_base(raw), self.source_base(raw)
                                      + parsed.records_count))
            results.append(ProduceResult(topic, partition, base, None, None))
        self.waiting.append(lambda: callback(results, None))

    def source_base(self, produced: bytes) -> int:
        """The source offset of a produced batch (the test's records carry it as value)."""
        first = next(iter(iter_batches(produced)))
        from kmirror.kafka.raw_io import decode_records

        return int(next(iter(decode_records(first))).value or b"0")

    def poll(self, timeout_s: float) -> int:
        waiting, self.waiting = self.waiting, []
        for answer in waiting:
            answer()
        return len(waiting)

    def metadata(self, topics: Any) -> Any:
        return SimpleNamespace(leaders={(t, KEY[1]): 1 for t in topics})

    def in_flight(self, node_id: int | None = None) -> int:
        return 0

    def init_producer_id(self) -> tuple[int, int]:
        return (7, 0)

    def expire(self) -> None:
        pass

    def close(self) -> None:
        pass


def _write(wire: FakeWire, reader: FakeReader, first: int, per_batch: int, batches: int) -> int:
    """Source batches of ``per_batch`` records from ``first`` on (each record's value is its
    offset), as the batch path fetches them and as the consumer reads them."""
    offset = first
    for _ in range(batches):
        wire.log.append(batch([wire_record(i, b"k", str(offset + i).encode())
                               for i in range(per_batch)], base_offset=offset))
        for i in range(per_batch):
            reader.log.setdefault(KEY, []).append(record(*KEY, offset + i,
                                                         str(offset + i).encode()))
        offset += per_batch
    return offset


@dataclass
class TimelineWriter(FakeWriter):
    """The record path's producers, writing into the same timeline as the batch path."""

    timeline: list[int] = field(default_factory=list)

    def deliver(self) -> None:
        self.timeline.extend(offset for _, _, offset, _, _ in self.in_flight)
        super().deliver()


def _mixed(tmp_path: Path) -> tuple[Any, MixedPath, FakeWire, FakeWriter, FakeWriter]:
    wire, reader = FakeWire(), FakeReader(to_assign=[KEY])
    main, fallback = TimelineWriter(timeline=wire.written), FakeWriter(per_record_acks=True)
    built: list[MixedPath] = []

    def compose(stream: MirrorStream) -> MixedPath:
        checkpoint = CheckpointAcks(stream, cast(TargetWriter, main), lambda *args: {})
        batches = BatchPath(stream, cast(TargetWriter, fallback), cast(Admin, FakeAdmin()),
                            io=wire, src=wire, dst=wire, max_wait_ms=0, fetch_max_bytes=1 << 20,
                            partition_max_bytes=1 << 20, isolation=0)
        record_path = RecordPath(stream, checkpoint, None, "source", "target")
        built.append(MixedPath(stream, record_path, checkpoint, batches))
        return built[0]

    h = harness(settings_for(tmp_path), reader, cast(FakeWriter, WriterPair(
        cast(TargetWriter, main), cast(TargetWriter, fallback))), compose=compose)
    h.stream.path.start()
    return h, built[0], wire, main, fallback


def _run(path: MixedPath, start: float, seconds: float) -> float:
    now = start
    while now < start + seconds:
        path.step(now)
        now += 0.25
    return now


def _target(wire: FakeWire, main: FakeWriter) -> list[int]:
    """Every source offset the target got, in the order it got them (both ways)."""
    return wire.written


def test_small_batches_move_to_the_record_path_and_large_ones_back(tmp_path: Path) -> None:
    h, path, wire, main, fallback = _mixed(tmp_path)
    reader = h.reader
    end = _write(wire, reader, 0, per_batch=1, batches=40)
    # When the partition is assigned it starts on the batch path, whose first fetch shows
    # one-record batches: it moves to the record path before any of them is sent whole
    path.step(0.0)
    assert path.moves == {"to records": 1} and wire.written == []
    # Then the record path carries it from where the batch path stopped
    now = _run(path, 0.25, 3.0)
    assert path.side_of(KEY) is Side.RECORDS
    assert KEY not in reader.paused
    end = _write(wire, reader, end, per_batch=1, batches=20)
    now = _run(path, now, 2.0)
    assert _target(wire, main) == list(range(end))
    # When its batches grow, it waits out the dwell, then goes back to the batch path
    end = _write(wire, reader, end, per_batch=64, batches=8)
    now = _run(path, now, MIN_DWELL_S + 8.0)
    assert path.side_of(KEY) is Side.BATCHES
    assert KEY in reader.paused
    end = _write(wire, reader, end, per_batch=64, batches=4)
    now = _run(path, now, 2.0)
    # And the target has every record once, in order; commits reached the end
    assert _target(wire, main) == list(range(end))
    assert wire.written[-1] == end - 1 and fallback.written == {}
    assert path.moves == {"to records": 1, "to batches": 1}
    assert h.stream.tracker.track(*KEY).commit_offset() == end


def test_an_idle_record_path_partition_waits_on_the_batch_path_until_records_come(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h, path, wire, main, _ = _mixed(tmp_path)
    reader = h.reader
    end = _write(wire, reader, 0, per_batch=1, batches=40)
    now = _run(path, 0.0, 3.0)
    assert path.side_of(KEY) is Side.RECORDS and _target(wire, main) == list(range(end))
    # Nothing read for IDLE_S: it moves to the batch path (its fetch session costs ~nothing)
    now = _run(path, now, IDLE_S - 4.0)
    assert path.side_of(KEY) is Side.RECORDS
    now = _run(path, now, 6.0)
    assert path.side_of(KEY) is Side.BATCHES and KEY in reader.paused
    assert path.moves == {"to records": 1, "to batches": 1}
    stats = StreamReport("source", 0)
    path.report_into(stats, False)
    assert stats.partition_paths == {("t", "batches", "idle"): 1}
    # ... and stays there while idle, however long (no flapping), not even judged meanwhile
    # (10,000 idle partitions judged every second cost a share of a core)
    judged: list[Side] = []
    wanted = PartitionChoice.wanted
    monkeypatch.setattr(PartitionChoice, "wanted",
                        lambda self, now: judged.append(wanted(self, now)) or judged[-1])
    now = _run(path, now, 3 * MIN_DWELL_S)
    assert path.moves == {"to records": 1, "to batches": 1} and judged == []
    # A batch now and then: the batch path carries it, and it stays there (no move each time)
    for _ in range(2):
        end = _write(wire, reader, end, per_batch=1, batches=1)
        now = _run(path, now, IDLE_S + 5.0)
        assert path.side_of(KEY) is Side.BATCHES
    # Busy again (small batches seen twice within IDLE_S): back to the records after the dwell
    end = _write(wire, reader, end, per_batch=1, batches=20)
    now = _run(path, now, 2.0)
    end = _write(wire, reader, end, per_batch=1, batches=20)
    now = _run(path, now, MIN_DWELL_S + 4.0)
    assert path.side_of(KEY) is Side.RECORDS
    end = _write(wire, reader, end, per_batch=1, batches=10)
    now = _run(path, now, 3.0)
    assert _target(wire, main) == list(range(end))  # every record once, in order
    assert path.moves == {"to records": 2, "to batches": 1}
    assert h.stream.tracker.track(*KEY).commit_offset() == end


def test_a_partition_the_consumer_never_reached_goes_idle_and_is_copied_from_its_start(
        tmp_path: Path) -> None:
    # At 10,000 partitions the consumer took minutes to reach some of them: they went idle
    # with nothing read, from offset 0 (a track "one before 0" was taken for no position at
    # all, and the move to the batch path waited for ever: 2,500 partitions never copied).
    h, path, wire, main, _ = _mixed(tmp_path)
    reader = h.reader
    end = _write(wire, reader, 0, per_batch=1, batches=40)
    held_back = reader.log.pop(KEY)  # (the consumer returns none of them)
    now = _run(path, 0.0, 3.0)
    assert path.side_of(KEY) is Side.RECORDS and _target(wire, main) == []
    now = _run(path, now, IDLE_S + 6.0)
    assert path.side_of(KEY) is Side.BATCHES
    now = _run(path, now, 3.0)
    assert _target(wire, main) == list(range(end))  # every record once, in order
    reader.log[KEY] = held_back
    now = _run(path, now, 3.0)
    assert _target(wire, main) == list(range(end))
    assert h.stream.tracker.track(*KEY).commit_offset() == end


def test_a_fetch_that_fails_inside_the_call_is_made_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_module, "FETCH_RETRY_BACKOFF_S", 0.0)
    h, path, wire, main, _ = _mixed(tmp_path)
    end = _write(wire, h.reader, 0, per_batch=64, batches=3)
    answer = wire.fetch
    failed: list[bool] = []

    def fetch(*args: Any, **kwargs: Any) -> None:
        if not failed:  # (a connection refused at once answers before the call returns)
            failed.append(True)
            kwargs["callback"]([], WireError("source: broker 1: connection refused"))
            return
        answer(*args, **kwargs)

    monkeypatch.setattr(wire, "fetch", fetch)
    _run(path, 0.0, 3.0)
    assert failed and _target(wire, main) == list(range(end))
