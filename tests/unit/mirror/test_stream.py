"""The one loop and the record path, over fakes of the reader, the writer and the topic plan.

What real brokers show only by chance is forced here: the queue filling up mid-batch, a
refusal found at a checkpoint, a revocation while records wait, an error the consumer reports
between records. Real brokers are covered by tests/integration.
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.mirror.stream_fakes import FakeReader, FakeWriter, harness, record, settings_for

from kmirror.kafka.reader import ConsumeError
from kmirror.mirror.handler import MirrorRecord

A0, A1 = ("a", 0), ("a", 1)


def _reader(**partitions: int) -> FakeReader:
    """Topic 'a' with this many records per partition (``p0=3``)."""
    reader = FakeReader()
    for name, count in partitions.items():
        key = ("a", int(name[1:]))
        reader.log[key] = [record("a", key[1], offset) for offset in range(count)]
        reader.to_assign.append(key)
    return reader


def test_records_go_to_the_same_partition_in_order_and_commits_follow_the_checkpoint(
    tmp_path: Path,
) -> None:
    # Given two partitions of 3 and 2 records
    reader, writer = _reader(p0=3, p1=2), FakeWriter(auto=False)
    h = harness(settings_for(tmp_path), reader, writer)
    # When they are polled and sent, but not acknowledged yet
    h.turn()
    assert [o for _, _, o, _, _ in writer.in_flight] == [0, 1, 2, 0, 1]
    h.stream._commit()  # (the commit's checkpoint wait flushes: the fake target answers)
    # Then each went to the same partition of the target, in order, and the commit is exact
    assert writer.written == {A0: [(0, b"v"), (1, b"v"), (2, b"v")], A1: [(0, b"v"), (1, b"v")]}
    assert reader.commits[-1] == {A0: 3, A1: 2}


def test_nothing_is_committed_past_a_record_not_acknowledged(tmp_path: Path) -> None:
    reader, writer = _reader(p0=5), FakeWriter(auto=False)
    h = harness(settings_for(tmp_path), reader, writer)
    h.turn()
    # When the target holds every record (no answer within the commit's wait)
    h.stream.path.settle(None, 0.0)
    h.stream.path.sync_positions()
    # Then the commit point stays at the first record sent
    assert h.stream.tracker.to_commit() == {A0: 0}


def test_a_full_queue_pauses_the_source_and_keeps_the_order(tmp_path: Path) -> None:
    # Given a target queue with room for 2 records
    reader, writer = _reader(p0=5), FakeWriter(capacity=2, auto=False)
    h = harness(settings_for(tmp_path), reader, writer)
    # When 5 records are polled
    h.turn()
    # Then 2 are sent, the source is paused, and the loop waits for room (no commit)
    assert [o for _, _, o, _, _ in writer.in_flight] == [0, 1]
    assert A0 in reader.paused
    assert h.stream.path.step(0.0) is True  # still no room
    # And once the target answers, the rest follow in order and the source resumes
    writer.auto = True
    for _ in range(4):
        h.turn()
    assert [o for o, _ in writer.written[A0]] == [0, 1, 2, 3, 4]
    assert A0 not in reader.paused
    h.stream._commit()
    assert reader.commits[-1] == {A0: 5}


def test_a_refused_record_stops_its_partition_and_the_commit_stays_below_it(
    tmp_path: Path,
) -> None:
    # Given a target that refuses the record at offset 2 (found by the locator at a checkpoint)
    reader, writer = _reader(p0=5, p1=2), FakeWriter(refuse={2})

    def locate(label: str, topic: str, partition: int, *window: object) -> dict[int, int]:
        return {0: 2} if partition == 0 else {}

    h = harness(settings_for(tmp_path, abort_on_send_failure=False), reader, writer,
                locate=locate)
    # When mirroring
    h.turn(2)
    h.stream._commit()
    # Then partition 0 is stopped at the refused record, partition 1 goes on
    assert h.stream.parts.is_stopped(A0) and A0 in reader.paused
    assert reader.commits[-1][A0] == 2 and reader.commits[-1][A1] == 2
    [message] = h.stream.stats.stopped_partitions
    assert "topic a partition 0 offset 2" in message
    assert "nothing at or after offset 2 is committed" in message


def test_a_refused_record_stops_the_stream_by_default(tmp_path: Path) -> None:
    reader, writer = _reader(p0=3), FakeWriter(refuse={1})
    h = harness(settings_for(tmp_path), reader, writer,
                locate=lambda *args: {0: 1})
    h.stop[0] = False
    # When the loop runs, it stops itself with exit 1, having committed only before the record
    assert h.stream.run() == 1
    assert reader.commits[-1] == {A0: 1}
    assert h.reports[-1].finished and "offset 1" in (h.reports[-1].error or "")
    assert reader.closed


def test_a_revocation_drains_commits_and_drops_what_waits(tmp_path: Path) -> None:
    reader, writer = _reader(p0=4, p1=4), FakeWriter(capacity=3, auto=False)
    h = harness(settings_for(tmp_path), reader, writer)
    h.turn()  # 3 sent, the rest waits: the queue is full
    # When partition 0 is revoked
    reader.to_revoke = [A0]
    writer.auto = True
    h.stream.revoked([A0])
    # Then what was sent for it was acknowledged and committed, and it is let go
    assert reader.commits[-1][A0] == 3
    assert h.stream.parts.get(A0) is None and A0 not in h.stream.tracker.tracks
    # And records waiting for it are not sent any more; partition 1's are
    for _ in range(4):
        h.turn()
    assert [o for o, _ in writer.written[A0]] == [0, 1, 2]
    assert [o for o, _ in writer.written[A1]] == [0, 1, 2, 3]
    # And the supervisor is told it was let go (its lag is another member's to tell now)
    h.stream.report()
    released = [k for r in h.reports for k in r.released]
    assert released == [A0] and A0 not in h.reports[-1].positions


def test_a_consumer_error_after_records_waits_for_them(tmp_path: Path) -> None:
    # Given a warning the consumer reports (not fatal)
    reader, writer = _reader(p0=2), FakeWriter()
    h = harness(settings_for(tmp_path), reader, writer)
    reader.errors.append(ConsumeError("a", 0, "broker down", False, False))
    h.turn(3)
    # Then the loop goes on and mirrors the records
    assert [o for o, _ in writer.written[A0]] == [0, 1]
    # And a fatal one stops the stream
    reader.errors.append(ConsumeError(None, -1, "fenced", True, False))
    assert h.stream.run() == 1
    assert "fatal consumer error: fenced" in (h.reports[-1].error or "")


def test_a_handler_may_drop_or_multiply_records_and_each_output_is_acknowledged(
    tmp_path: Path,
) -> None:
    class Twice:
        def handle(self, rec: MirrorRecord) -> list[MirrorRecord]:
            return [] if rec.value == b"drop" else [rec, rec]

    reader, writer = FakeReader(), FakeWriter(per_record_acks=True)
    reader.log[A0] = [record("a", 0, 0), record("a", 0, 1, b"drop"), record("a", 0, 2)]
    reader.to_assign = [A0]
    h = harness(settings_for(tmp_path), reader, writer, handler=Twice())
    h.turn(2)
    h.stream._commit()
    assert [o for o, _ in writer.written[A0]] == [0, 0, 2, 2]
    assert reader.commits[-1] == {A0: 3}


def test_records_born_in_the_target_are_not_sent_back_with_provenance(tmp_path: Path) -> None:
    reader, writer = FakeReader(), FakeWriter()
    settings = settings_for(tmp_path, provenance_header=True)
    mark = [("kmirror.provenance", settings.target_alias.encode())]
    born_there = record("a", 0, 1, headers=mark)
    reader.log[A0] = [record("a", 0, 0), born_there, record("a", 0, 2)]
    reader.to_assign = [A0]
    h = harness(settings, reader, writer)
    h.turn(2)
    h.stream._commit()
    assert [o for o, _ in writer.written[A0]] == [0, 2]
    assert reader.commits[-1] == {A0: 3}
    assert h.stream.stats.records == 2


def test_a_clean_stop_drains_commits_and_reports_once_finished(tmp_path: Path) -> None:
    reader, writer = _reader(p0=3), FakeWriter()
    h = harness(settings_for(tmp_path), reader, writer)
    h.turn()
    h.stop[0] = True
    assert h.stream.run() == 0
    assert reader.commits[-1] == {A0: 3} and reader.closed
    assert [r.finished for r in h.reports] == [True]
    assert h.reports[-1].positions == {A0: 3} and h.reports[-1].assigned == 1
