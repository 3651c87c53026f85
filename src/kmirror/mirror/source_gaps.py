"""What to do when the next offset to mirror is not in the source's log any more.

Two ways it happens, both silent in MirrorMaker 2 (its consumer resets to the log start):

- **truncation**: retention (or ``delete_records``) removed records before they were mirrored,
  so the next offset is below the log start: those records are lost for the copy;
- **re-creation**: the topic was deleted and created again under the same name, so the group's
  position is past the new log's end: the target holds the old topic's records.

``--on.source.gap fail`` (the default) stops the mirror with the lost range and what to do;
``continue`` goes on from the log start, with a warning and a count of lost records
(``kmirror_source_gap_records_total``) each time. A partition that never had a position (a new
group) is no gap: it starts where ``auto.offset.reset`` says.
"""

from __future__ import annotations

from dataclasses import dataclass

FAIL = "fail"
CONTINUE = "continue"
POLICIES = (FAIL, CONTINUE)


@dataclass(frozen=True)
class GapDecision:
    """Where a partition goes on (``restart``), and what to say about it."""

    restart: int
    lost_records: int = 0
    message: str | None = None  # None: not a gap, just go on at ``restart``
    stop: bool = False  # True: stop the mirror with ``message`` (policy fail)


def decide(where: str, wanted: int | None, log_start: int, log_end: int, policy: str,
           reset_to_earliest: bool) -> GapDecision:
    """The decision for a partition whose next offset ``wanted`` (None: no position yet) was
    refused as out of range, given the log's current start and end offsets."""
    if wanted is None or wanted < 0:
        return GapDecision(log_start if reset_to_earliest else log_end)
    if log_start <= wanted <= log_end:
        return GapDecision(wanted)  # in range again (a leader change): no gap
    if wanted < log_start:
        lost = log_start - wanted
        message = (
            f"{where}: records at offsets {wanted}..{log_start - 1} ({lost:,} records) were "
            "deleted from the source (retention or delete-records) before they were mirrored"
        )
        if policy == FAIL:
            return GapDecision(log_start, lost, message + (
                "; nothing at or after them is committed. To accept the loss and mirror from "
                f"offset {log_start} on, run with --on.source.gap continue; to avoid it, give "
                "the topic a longer retention.ms than kmirror can fall behind"), stop=True)
        return GapDecision(log_start, lost,
                           message + f"; mirroring from offset {log_start} on "
                           "(--on.source.gap continue)")
    message = (
        f"{where}: the next offset to mirror, {wanted}, is past the end of the log ({log_end}): "
        "the topic was deleted and created again (or truncated), and the target still holds "
        "the old topic's records"
    )
    if policy == FAIL:
        return GapDecision(log_start, 0, message + (
            "; delete the target topic (and the mirror's committed offsets) to mirror the new "
            "topic from the start, or mirror it into a new name (--replication.policy prefix "
            "or another target); --on.source.gap continue appends the new topic's records to "
            "the old copy"), stop=True)
    return GapDecision(log_start, 0, message + f"; mirroring the new log from offset {log_start} "
                       "into the old copy (--on.source.gap continue)")
