"""--exactly-once's acknowledgements (mirror/paths/transactional.py) on the record path, over
fakes: partitions start at the positions stored with their last transaction, records count once
their transaction commits, an aborted transaction is mirrored again. Real brokers:
tests/integration/test_exactly_once.py and the fault suite."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from tests.unit.mirror.stream_fakes import FakeReader, FakeWriter, harness, record, settings_for

from kmirror.kafka.txn_writer import TransactionAborted, TransactionalWriter
from kmirror.mirror.paths import Path as DeliveryPath
from kmirror.mirror.paths.record import RecordPath
from kmirror.mirror.paths.transactional import TransactionalAcks
from kmirror.mirror.stream import MirrorStream

A0, A1 = ("a", 0), ("a", 1)


@dataclass
class FakeTxnWriter(FakeWriter):
    """Transactions per target partition: records wait in the open one until ``commit``."""

    per_record_acks: bool = True
    stored: dict[tuple[str, int], int] = field(default_factory=dict)
    claimed: list[tuple[str, int]] = field(default_factory=list)
    released: list[tuple[list[tuple[str, int]], bool]] = field(default_factory=list)
    abort_next: set[tuple[str, int]] = field(default_factory=set)
    committed_runs: dict[Any, Any] = field(default_factory=dict)

    def deliver(self) -> None:
        pass  # (delivery reports count for nothing here: only commits do)

    def claim(self, key: tuple[str, int]) -> None:
        self.claimed.append(key)

    def stored_positions(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {k: self.stored[k] for k in keys if k in self.stored}

    def release(self, keys: Iterable[tuple[str, int]], abort: bool = False) -> None:
        self.released.append((sorted(keys), abort))

    def commit(self, positions: Mapping[tuple[str, int], int]) -> list[tuple[str, int]]:
        aborted = [k for k in positions if k in self.abort_next]
        self.abort_next.clear()
        committed = [k for k in positions if k not in aborted]
        for key in committed:
            self.stored[key] = positions[key]
            sent = [(o, v) for t, p, o, _, v in self.in_flight if (t, p) == key]
            self.written.setdefault(key, []).extend(sent)
        self.in_flight = [f for f in self.in_flight if (f[0], f[1]) not in positions]
        if aborted:
            raise TransactionAborted("aborted", aborted)
        return committed

    def close(self, timeout_s: float = 10.0) -> None:
        pass


def _transactional(tmp_path: Path, reader: FakeReader, writer: FakeTxnWriter) -> Any:
    settings = settings_for(tmp_path)

    def compose(stream: MirrorStream) -> DeliveryPath:
        path: RecordPath | None = None

        def rewind(key: tuple[str, int], offset: int) -> None:
            assert path is not None
            path.rewind(key, offset)

        acks = TransactionalAcks(stream, cast(TransactionalWriter, writer),
                                 stream.ensure_target_topics, rewind)
        path = RecordPath(stream, acks, None, "source", settings.target_alias)
        return path

    return harness(settings, reader, writer, compose=compose)


def _reader() -> FakeReader:
    reader = FakeReader()
    for key in (A0, A1):
        reader.log[key] = [record("a", key[1], offset) for offset in range(6)]
    reader.to_assign = [A0, A1]
    return reader


def test_partitions_start_at_the_stored_positions_and_count_once_committed(
    tmp_path: Path,
) -> None:
    # Given positions stored with earlier transactions (partition 0 at 4), an older group offset
    reader, writer = _reader(), FakeTxnWriter(stored={A0: 4})
    reader.group_offsets = {A0: 2, A1: 0}
    h = _transactional(tmp_path, reader, writer)
    # When the partitions are assigned and mirrored
    h.turn()
    # Then both were claimed, partition 0 started at its stored position, not the group's
    assert sorted(writer.claimed) == [A0, A1]
    assert [o for _, p, o, _, _ in writer.in_flight if p == 0] == [4, 5]
    # And nothing counts as acknowledged before the commit
    assert h.stream.tracker.tracks[A0].commit_offset() == 4
    h.stream._commit()
    assert writer.stored == {A0: 6, A1: 6}
    assert reader.commits[-1] == {A0: 6, A1: 6}  # (the group's offsets follow, advisory)


def test_an_aborted_transaction_is_mirrored_again_from_its_stored_position(
    tmp_path: Path,
) -> None:
    reader, writer = _reader(), FakeTxnWriter(stored={A0: 1, A1: 1})
    h = _transactional(tmp_path, reader, writer)
    h.turn()
    # When partition 1's transaction is aborted at the commit
    writer.abort_next = {A1}
    h.stream._commit()
    # Then partition 0 is committed, partition 1 reads again from its stored position
    assert writer.stored[A0] == 6 and writer.stored[A1] == 1
    assert reader.position[A1] == 1
    assert h.stream.tracker.tracks[A1].commit_offset() == 1
    assert reader.commits[-1][A0] == 6 and reader.commits[-1].get(A1, 1) <= 1
    # And the next turn sends its records again, then commits them
    h.turn()
    h.stream._commit()
    assert [o for o, _ in writer.written[A1]] == [1, 2, 3, 4, 5]
    assert writer.stored[A1] == 6


def test_revoked_partitions_commit_then_release_and_lost_ones_abort(tmp_path: Path) -> None:
    reader, writer = _reader(), FakeTxnWriter()
    h = _transactional(tmp_path, reader, writer)
    h.turn()
    h.stream.revoked([A0])
    assert writer.stored.get(A0) == 6 and writer.released[-1] == ([A0], False)
    h.stream.lost([A1])
    assert writer.released[-1] == ([A1], True) and A1 not in writer.stored
    assert A1 not in reader.commits[-1]
