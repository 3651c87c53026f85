"""A stream taking a partition goes on after what the target already holds, once proven
(mirror/resume.py): records past the commit are skipped when the source's and the target's
match, sent again otherwise; records gone from the target are said with their range and sent
again from where the offset syncs say they begin."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.unit.mirror.stream_fakes import (
    FakeLogs,
    FakeReader,
    FakeWriter,
    Harness,
    ScannedRecord,
    harness,
    record,
    scanned,
    settings_for,
)

from kmirror.mirror.partitions import Key
from kmirror.mirror.report import StreamReport
from kmirror.mirror.resume import Taken, Takeover
from kmirror.mirror.target_gate import CHECK_INTERVAL_S
from kmirror.offsets.syncs import OffsetSync

A0, A1 = ("a", 0), ("a", 1)
SHIFT = 100  # source offset o lands at target offset o + 100


def answering(ends: dict[Key, int]):  # type: ignore[no-untyped-def]
    """A target whose partitions in ``ends`` are led, at these end offsets."""
    return lambda keys, timeout_s: {k: ends[k] for k in keys if k in ends}


def copies(reader: FakeReader, source_offsets: range) -> list[ScannedRecord]:
    """The target's copies of these source records of a0, at offset + SHIFT."""
    return [scanned(r, r.offset() + SHIFT) for r in reader.log[A0]
            if r.offset() in source_offsets]


def taken(tmp_path: Path, caplog: pytest.LogCaptureFixture, target: list[ScannedRecord],
          committed: int | None = 3, end: int | None = None, syncs: tuple[OffsetSync, ...] = (),
          records: int = 10, **options: object) -> tuple[Harness, FakeLogs]:
    """a0 (records 0-9) committed at ``committed``, landing at committed + SHIFT, taken by a
    stream whose target partition holds ``target`` (ending at ``end``, default after its last
    record), then copied and committed."""
    reader = FakeReader(to_assign=[A0])
    reader.log[A0] = [record(*A0, offset) for offset in range(records)]
    if committed is not None:
        reader.group_offsets[A0] = committed
        reader.group_metadata[A0] = f"kmirror:target={committed + SHIFT}"
    end = (target[-1][0] + 1 if target else 0) if end is None else end
    logs = FakeLogs(reader, target={A0: target}, ends={A0: end}, offset_syncs=list(syncs))
    writer = FakeWriter(per_record_acks=True, target_ends={A0: end})
    h = harness(settings_for(tmp_path, **options), reader, writer,
                answering=answering({A0: end}), takeover_logs=logs)
    with caplog.at_level(logging.INFO, logger="kmirror.stream"):
        h.turn(3)
    h.stream._commit()
    h.stream.report()
    return h, logs


def sent(h: Harness) -> list[int]:
    return [o for o, _ in h.writer.written.get(A0, [])]


def counts(h: Harness) -> tuple[int, int, int, int, int]:
    [report] = h.reports
    return (report.target_records_past_commit, report.records_skipped,
            report.target_records_missing, report.resumes_proven, report.resumes_fallen_back)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_records_already_on_the_target_are_checked_and_not_sent_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given a target holding copies of source records 0-5: 3-5 acknowledged after the commit
    h, logs = taken(tmp_path, caplog, copies(FakeReader(log={A0: [
        record(*A0, o) for o in range(10)]}), range(6)))
    # Then copying goes on at source offset 6, landing right after the target's records
    assert sent(h) == [6, 7, 8, 9]
    assert h.reader.commits[-1] == {A0: 10}
    assert h.reader.commit_metadata[-1] == {A0: "kmirror:target=110"}
    assert counts(h) == (3, 3, 0, 1, 0)
    assert "3 record(s) of 1 partition(s) taken were already on the target" in caplog.text
    assert not warnings(caplog) and logs.closed == 1


def test_a_record_written_by_someone_else_falls_back_to_sending_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given a target whose last record is not the copy of source record 5 (a second writer)
    reader = FakeReader(log={A0: [record(*A0, o) for o in range(10)]})
    target = [*copies(reader, range(5)), (105, b"k5", b"not from the source", (), 1_005)]
    h, _ = taken(tmp_path, caplog, target)
    # Then nothing is skipped: sent again from the committed offset, said and counted
    assert sent(h) == [3, 4, 5, 6, 7, 8, 9]
    assert counts(h) == (3, 0, 0, 0, 1)
    [warning] = warnings(caplog)
    assert ("target topic a partition 0 holds 3 record(s) from offset 103 on that should be "
            "the source's from offset 3 on (by the last commit), but the value of target "
            "offset 105 differs from source offset 5's: they are sent again from source "
            "offset 3") in warning


@pytest.mark.parametrize("change", ["key", "headers", "timestamp", "first"])
def test_any_difference_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                   change: str) -> None:
    reader = FakeReader(log={A0: [record(*A0, o) for o in range(10)]})
    target = copies(reader, range(6))
    at = 3 if change == "first" else 5
    offset, key, value, headers, ts = target[at]
    target[at] = {"key": (offset, b"other", value, headers, ts),
                  "headers": (offset, key, value, (("h", b"1"),), ts),
                  "timestamp": (offset, key, value, headers, ts + 1),
                  "first": (offset, key, b"other", headers, ts)}[change]
    h, _ = taken(tmp_path, caplog, target)
    assert sent(h)[0] == 3 and counts(h)[3:] == (0, 1)


def test_fewer_source_records_than_the_target_holds_falls_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reader = FakeReader(log={A0: [record(*A0, o) for o in range(5)]})
    h, _ = taken(tmp_path, caplog, copies(reader, range(5)), end=106, records=5)
    assert sent(h) == [3, 4] and counts(h)[3:] == (0, 1)
    assert "but the source holds only 2 record(s) from offset 3 on" in warnings(caplog)[0]


def test_records_that_take_no_target_offset_are_not_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given source records with holes (compaction, markers): 3, 5, 8 and 9 are there
    reader = FakeReader(to_assign=[A0])
    reader.log[A0] = [record(*A0, o) for o in (0, 1, 2, 3, 5, 8, 9)]
    reader.group_offsets[A0] = 3
    reader.group_metadata[A0] = "kmirror:target=103"
    target = [*copies(FakeReader(log={A0: [record(*A0, o) for o in range(3)]}), range(3)),
              scanned(reader.log[A0][3], 103), scanned(reader.log[A0][4], 104)]
    logs = FakeLogs(reader, target={A0: target}, ends={A0: 105})
    writer = FakeWriter(per_record_acks=True, target_ends={A0: 105})
    h = harness(settings_for(tmp_path), reader, writer, answering=answering({A0: 105}),
                takeover_logs=logs)
    h.turn(3)
    # Then the two records on the target (source 3 and 5) are skipped: copying goes on at 6
    assert sent(h) == [8, 9]


def test_records_never_sent_back_are_not_counted(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    # Given --provenance.header and a source record born in the target cluster (never sent)
    reader = FakeReader(to_assign=[A0])
    born_there = [("kmirror.provenance", b"target")]
    reader.log[A0] = [record(*A0, o, headers=born_there if o == 4 else None)
                      for o in range(10)]
    reader.group_offsets[A0] = 3
    reader.group_metadata[A0] = "kmirror:target=103"
    marked = [("kmirror.provenance", b"source")]
    target = [(103, b"k3", b"v", tuple(marked), 1_003), (104, b"k5", b"v", tuple(marked), 1_005)]
    logs = FakeLogs(reader, target={A0: target}, ends={A0: 105})
    writer = FakeWriter(per_record_acks=True, target_ends={A0: 105})
    h = harness(settings_for(tmp_path, provenance_header=True), reader, writer,
                answering=answering({A0: 105}), takeover_logs=logs)
    h.turn(3)
    assert sent(h) == [6, 7, 8, 9]


def test_a_target_holding_exactly_what_was_committed_says_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reader = FakeReader(log={A0: [record(*A0, o) for o in range(10)]})
    h, _ = taken(tmp_path, caplog, copies(reader, range(3)))
    assert sent(h) == list(range(3, 10)) and counts(h) == (0, 0, 0, 0, 0)
    assert "past the committed" not in caplog.text and "gone from the target" not in caplog.text


def test_records_gone_from_the_target_are_said_with_their_range_and_sent_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given a commit at 5 (landing at 105) and a target that lost 103-104 (ends at 103), with
    # an offset sync saying source 1 is at target 101
    reader = FakeReader(log={A0: [record(*A0, o) for o in range(10)]})
    sync = OffsetSync("source", "a", 0, 1, 101, "a")
    h, _ = taken(tmp_path, caplog, copies(reader, range(3)), committed=5, syncs=(sync,))
    # Then source 2 is checked against target 102, and copying goes on at 3: whole again
    assert sent(h) == list(range(3, 10))
    assert h.reader.commit_metadata[-1] == {A0: "kmirror:target=110"}
    assert counts(h) == (0, 1, 2, 1, 0)
    [warning] = warnings(caplog)
    assert ("target topic a partition 0 ends at offset 103, but the records up to offset 104 "
            "were acknowledged and committed (source topic a partition 0): target offsets "
            "103-104 are gone from the target") in warning
    assert "they are sent again from source offset 3 (found by an offset sync" in warning


def test_a_sync_at_the_target_end_says_where_to_go_back_to(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reader = FakeReader(log={A0: [record(*A0, o) for o in range(10)]})
    sync = OffsetSync("source", "a", 0, 2, 102, "a")
    h, _ = taken(tmp_path, caplog, copies(reader, range(3)), committed=5, syncs=(sync,))
    assert sent(h) == list(range(3, 10)) and counts(h) == (0, 0, 2, 1, 0)


@pytest.mark.parametrize("sync", [OffsetSync("source", "a", 0, 2, 102, "a"),
                                  OffsetSync("source", "a", 0, 4, 104, "a", 0, 100)],
                         ids=["sync below", "run across"])
def test_a_sync_whose_record_is_not_the_targets_is_not_followed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, sync: OffsetSync) -> None:
    # Given a target whose last record (102) is not the copy of source 2
    reader = FakeReader(log={A0: [record(*A0, o) for o in range(10)]})
    target = [*copies(reader, range(2)), (102, b"k2", b"someone else's", (), 1_002)]
    h, _ = taken(tmp_path, caplog, target, committed=5, syncs=(sync,))
    # Then the missing records are said, and not sent again from where the sync says
    assert sent(h) == [5, 6, 7, 8, 9] and counts(h) == (0, 0, 2, 0, 1)
    assert "do not match: the value of target offset 102 differs" in warnings(caplog)[0]


def test_a_sync_past_the_committed_offset_is_not_followed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reader = FakeReader(log={A0: [record(*A0, o) for o in range(10)]})
    sync = OffsetSync("source", "a", 0, 7, 102, "a")  # (not this copy's: 7 lands at 107)
    h, _ = taken(tmp_path, caplog, copies(reader, range(3)), committed=5, syncs=(sync,))
    assert sent(h) == [5, 6, 7, 8, 9] and counts(h) == (0, 0, 2, 0, 1)


def test_records_gone_without_a_sync_are_said_and_not_sent_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reader = FakeReader(log={A0: [record(*A0, o) for o in range(10)]})
    h, _ = taken(tmp_path, caplog, copies(reader, range(3)), committed=5)
    assert sent(h) == [5, 6, 7, 8, 9] and counts(h) == (0, 0, 2, 0, 1)
    [warning] = warnings(caplog)
    assert "target offsets 103-104 are gone from the target" in warning
    assert "no offset sync says which source record lands there: copying goes on from the " \
           "committed source offset 5, the missing records are not sent again" in warning


def test_an_empty_target_is_filled_again_from_the_source_log_start(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given the target partition created again (empty), no offset sync at 0
    h, _ = taken(tmp_path, caplog, [], committed=5, end=0)
    assert sent(h) == list(range(10)) and counts(h)[2] == 105
    assert "they are sent again from source offset 0 (found by the source's log start)" in (
        warnings(caplog)[0])


def test_without_a_commit_a_first_runs_copy_is_checked_from_both_log_starts(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given no commit (a first run killed before it), and a target holding source 0-3 at 0-3
    reader = FakeReader(log={A0: [record(*A0, o) for o in range(10)]})
    target = [scanned(r) for r in reader.log[A0][:4]]
    h, _ = taken(tmp_path, caplog, target, committed=None)
    assert sent(h) == [4, 5, 6, 7, 8, 9] and counts(h) == (0, 4, 0, 1, 0)


def test_without_a_commit_a_target_not_starting_at_zero_is_sent_again_said(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reader = FakeReader(log={A0: [record(*A0, o) for o in range(10)]})
    target = [scanned(r) for r in reader.log[A0][:4]][1:]
    h, _ = taken(tmp_path, caplog, target, committed=None)
    assert sent(h) == list(range(10)) and counts(h) == (0, 0, 0, 0, 1)
    assert "but target offset 0 is not there" in warnings(caplog)[0]


def test_a_target_partition_not_answering_is_compared_later_and_never_skipped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given a target partition that does not answer as the partition is taken
    reader = FakeReader(to_assign=[A0])
    reader.log[A0] = [record(*A0, o) for o in range(10)]
    reader.group_offsets[A0] = 3
    reader.group_metadata[A0] = "kmirror:target=103"
    ends: dict[Key, int] = {}
    logs = FakeLogs(reader, target={A0: copies(reader, range(6))})
    writer = FakeWriter(per_record_acks=True, target_ends={A0: 106})
    h = harness(settings_for(tmp_path), reader, writer, answering=answering(ends),
                takeover_logs=logs)
    with caplog.at_level(logging.INFO, logger="kmirror.stream"):
        h.turn(1)
        ends[A0] = 106  # (it answers now)
        h.stream.gate.check(CHECK_INTERVAL_S)
        h.turn(3)
    h.stream.report()
    # Then it is compared as it goes on: sent again (nothing was checked), said and counted
    assert sent(h) == list(range(3, 10))
    assert counts(h) == (3, 0, 0, 0, 1)
    assert "holds 3 record(s) past the committed position, not checked" in warnings(caplog)[0]


def test_with_a_message_handler_nothing_is_checked(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    reader = FakeReader(log={A0: [record(*A0, o) for o in range(10)]})
    h, logs = taken(tmp_path, caplog, copies(reader, range(6)),
                    message_handler="json:drop_empty")
    assert sent(h)[0] == 3 and logs.closed == 0
    assert counts(h) == (0, 0, 0, 0, 0)



def test_partitions_not_checked_within_the_budget_are_sent_again_said_once(
        caplog: pytest.LogCaptureFixture) -> None:
    # Given two partitions whose targets hold records past their commits, and no time left
    reader = FakeReader(log={k: [record(*k, o) for o in range(10)] for k in (A0, A1)})
    logs = FakeLogs(reader, ends={A0: 106, A1: 105})
    report = StreamReport("source", 0)
    takeover = Takeover(lambda: logs, "here", lambda key: key, lambda: report, budget_s=-1)
    # When they are taken
    moved = takeover.starts({A0: Taken(3, 103), A1: Taken(3, 103)})
    # Then both start at their committed offsets, said in one warning and counted
    assert moved == {} and logs.closed == 1
    assert (report.resumes_fallen_back, report.target_records_past_commit) == (2, 5)
    [warning] = warnings(caplog)
    assert ("here: 2 partition(s) taken were not checked within -1 s (e.g. target topic a "
            "partition 0): the 5 record(s) their target partitions hold past the committed "
            "positions are sent again") in warning


def test_many_partitions_falling_back_are_named_up_to_a_few_then_summed(
        caplog: pytest.LogCaptureFixture) -> None:
    # Given 7 partitions whose targets hold a record past the commit that is not the source's
    keys = [("a", p) for p in range(7)]
    reader = FakeReader(log={k: [record(*k, o) for o in range(5)] for k in keys})
    logs = FakeLogs(reader, target={k: [(3, b"x", b"x", (), 0)] for k in keys},
                    ends={k: 4 for k in keys})
    report = StreamReport("source", 0)
    takeover = Takeover(lambda: logs, "here", lambda key: key, lambda: report)
    assert takeover.starts({k: Taken(3, 3) for k in keys}) == {}
    # Then 5 are named, the other 2 summed in one more line; all 7 counted
    said = warnings(caplog)
    assert len(said) == 6 and report.resumes_fallen_back == 7
    assert said[-1].startswith("here: and 2 partition(s) more: the records their target "
                               "partitions hold past the committed positions (2) are sent again")
