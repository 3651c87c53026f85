"""Tests for kmirror.mirror.source_gaps: what happens when the next offset left the log."""

from __future__ import annotations

from kmirror.mirror.source_gaps import CONTINUE, FAIL, decide

WHERE = "source cluster 'east' (h:9092), topic orders partition 3"


def test_records_deleted_before_they_were_mirrored_stop_the_mirror_by_default() -> None:
    decision = decide(WHERE, wanted=1000, log_start=1500, log_end=2000, policy=FAIL,
                      reset_to_earliest=True)
    assert decision.stop and decision.lost_records == 500
    assert decision.message is not None
    assert decision.message.startswith(WHERE)
    assert "offsets 1000..1499 (500 records)" in decision.message
    assert "--on.source.gap continue" in decision.message


def test_with_continue_the_mirror_goes_on_at_the_log_start_and_counts_the_loss() -> None:
    decision = decide(WHERE, 1000, 1500, 2000, CONTINUE, True)
    assert (decision.stop, decision.restart, decision.lost_records) == (False, 1500, 500)
    assert decision.message is not None and "mirroring from offset 1500" in decision.message


def test_a_position_past_the_log_end_is_a_recreated_topic() -> None:
    failed = decide(WHERE, 5000, 0, 40, FAIL, True)
    assert failed.stop and failed.message is not None
    assert "past the end of the log (40)" in failed.message
    assert "deleted and created again" in failed.message
    assert "delete the target topic" in failed.message
    went_on = decide(WHERE, 5000, 0, 40, CONTINUE, True)
    assert (went_on.stop, went_on.restart, went_on.lost_records) == (False, 0, 0)


def test_no_position_yet_is_no_gap_it_starts_where_auto_offset_reset_says() -> None:
    assert decide(WHERE, None, 10, 90, FAIL, True).restart == 10
    assert decide(WHERE, None, 10, 90, FAIL, False).restart == 90
    assert decide(WHERE, None, 10, 90, FAIL, True).message is None


def test_a_position_back_in_range_is_no_gap() -> None:
    decision = decide(WHERE, 50, 10, 90, FAIL, True)
    assert (decision.restart, decision.message, decision.stop) == (50, None, False)
