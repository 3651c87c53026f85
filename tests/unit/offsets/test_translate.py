"""Tests for kmirror.offsets.translate: planning a group's move onto the target, and applying it.

The rules under test (module docstring of translate.py): a group with active members on the
target is skipped whole; a translated offset is capped at the target partition's end offset;
a group is never moved backwards; only ``write`` rows are written, and only when applied.
"""

from __future__ import annotations

import pytest

from kmirror.kafka.group_records import GroupState
from kmirror.offsets.syncs import SyncStore
from kmirror.offsets.translate import (
    KEEP,
    SKIP,
    WRITE,
    GroupActiveOnTarget,
    aliases,
    apply_plan,
    plan_for,
    plan_group,
    store_for,
    summary,
)
from tests.unit.offsets.fakes import FakeSource, FakeTarget, sync

# Source orders[0]: syncs 10 -> 110 and 20 -> 120 (one to one); orders[1]: 5 -> 50 and
# 15 -> 55 (a gap: five source offsets have no copy).
STORE = SyncStore([sync(10, 110), sync(20, 120), sync(5, 50, partition=1),
                   sync(15, 55, partition=1)])
ENDS = {("east.orders", 0): 130, ("east.orders", 1): 60}


def clusters(
    committed: dict[tuple[str, int], int], members: dict[str, int] | None = None,
    committed_by_group: dict[str, dict[tuple[str, int], int]] | None = None,
) -> tuple[FakeSource, FakeTarget]:
    """The source group ``billing`` with these committed offsets, and the target."""
    target = FakeTarget(ends=dict(ENDS), members=members or {},
                        committed_by_group=committed_by_group or {})
    return FakeSource({"billing": committed}), target


def test_a_plan_translates_each_partition_exactly_or_with_its_bound() -> None:
    # Given a group that read orders[0] up to 14 and orders[1] up to 9 on the source
    source, target = clusters({("orders", 0): 15, ("orders", 1): 10})
    # When it is planned
    plan = plan_for("billing", "east", STORE, source, target)
    # Then orders[0] resumes exactly at 115, orders[1] after the sync below, with a bound
    first, second = plan.partitions
    assert (first.target_topic, first.target_offset, first.exact, first.action) == (
        "east.orders", 115, True, WRITE)
    assert (second.target_offset, second.exact, second.reread_at_most, second.action) == (
        51, False, 4, WRITE)
    assert "re-read up to 4" in second.reason
    assert plan.writes() == {("east.orders", 0): 115, ("east.orders", 1): 51}


def test_planning_writes_nothing_applying_writes_the_write_rows() -> None:
    source, target = clusters({("orders", 0): 15, ("orders", 1): 10, ("payments", 0): 3})
    plan = plan_for("billing", "east", STORE, source, target)
    # Given a plan (a dry run stops here): nothing was written
    assert target.writes == []
    # When it is applied
    written = apply_plan(plan, target)
    # Then only its write rows were written, in one commit (payments has no syncs: skipped)
    assert target.writes == [("billing", {("east.orders", 0): 115, ("east.orders", 1): 51})]
    assert written == target.writes[0][1]
    assert [r.action for r in plan.partitions] == [WRITE, WRITE, SKIP]


def test_a_group_with_active_members_on_the_target_is_skipped_whole() -> None:
    # Given two consumers of the group already run on the target
    source, target = clusters({("orders", 0): 15, ("orders", 1): 10}, members={"billing": 2})
    # When it is planned
    plan = plan_for("billing", "east", STORE, source, target)
    # Then every row is skipped, with the reason, and applying refuses and writes nothing
    assert plan.skipped == "2 members are active on the target: stop them first"
    assert {row.action for row in plan.partitions} == {SKIP}
    assert {row.reason for row in plan.partitions} == {plan.skipped}
    with pytest.raises(GroupActiveOnTarget, match="stop them first"):
        apply_plan(plan, target)
    assert target.writes == []


def test_a_group_that_became_active_after_planning_is_not_written() -> None:
    source, target = clusters({("orders", 0): 15})
    plan = plan_for("billing", "east", STORE, source, target)
    target.members["billing"] = 1  # a consumer joined between the plan and the write
    with pytest.raises(GroupActiveOnTarget, match="1 member is active"):
        apply_plan(plan, target)
    assert target.writes == []


@pytest.mark.parametrize("already", [115, 116, 129])
def test_never_backwards(already: int) -> None:
    # Given the target group already committed at or past where the translation lands
    source, target = clusters({("orders", 0): 15},
                              committed_by_group={"billing": {("east.orders", 0): already}})
    plan = plan_for("billing", "east", STORE, source, target)
    # Then it is kept, and nothing is written
    (row,) = plan.partitions
    assert (row.action, row.target_committed) == (KEEP, already)
    assert row.reason == ("the target group is already there" if already == 115 else
                          f"the target group is already at {already}, past it: never moved "
                          "backwards")
    assert apply_plan(plan, target) == {}
    assert target.writes == []


def test_a_group_behind_on_the_target_is_moved_forward() -> None:
    source, target = clusters({("orders", 0): 15},
                              committed_by_group={"billing": {("east.orders", 0): 100}})
    (row,) = plan_for("billing", "east", STORE, source, target).partitions
    assert (row.action, row.target_offset, row.target_committed) == (WRITE, 115, 100)


def test_capped_at_the_target_end_offset() -> None:
    # Given a target partition that holds fewer records than the syncs say (recreated)
    source, target = clusters({("orders", 0): 15})
    target.ends[("east.orders", 0)] = 112
    (row,) = plan_for("billing", "east", STORE, source, target).partitions
    # Then the group resumes at the end offset, not past it, and the row says so
    assert (row.action, row.target_offset, row.exact) == (WRITE, 112, False)
    assert "capped at the target's end offset 112" in row.reason


@pytest.mark.parametrize(("committed", "ends", "why"), [
    ({("payments", 0): 3}, ENDS, "no offset syncs for this partition"),
    ({("orders", 0): 5}, ENDS, "no offset sync below offset 5"),
    ({("orders", 0): 15}, {}, "east.orders[0] does not exist on the target"),
])
def test_rows_that_cannot_be_translated_are_skipped_with_the_reason(
    committed: dict[tuple[str, int], int], ends: dict[tuple[str, int], int], why: str,
) -> None:
    plan = plan_group("billing", "east", STORE, committed, GroupState("MISSING", 0), {}, ends)
    (row,) = plan.partitions
    assert row.action == SKIP and why in row.reason
    assert plan.writes() == {}


def test_only_synced_leaves_out_partitions_without_syncs() -> None:
    source, target = clusters({("orders", 0): 15, ("payments", 0): 3})
    plan = plan_for("billing", "east", STORE, source, target, only_synced=True)
    assert [(r.source_topic, r.source_partition) for r in plan.partitions] == [("orders", 0)]


def test_store_for_keeps_one_source_and_the_newest_target_topic() -> None:
    syncs = [
        sync(10, 110, target_topic="orders"),  # written before the naming policy changed
        sync(20, 5, target_topic="east.orders"),
        sync(10, 900, alias="west"),
    ]
    store = store_for(syncs, "east")
    assert aliases(syncs) == ["east", "west"]
    assert store.target_topic("orders", 0) == "east.orders"
    assert store.translate("orders", 0, 15).downstream is None  # the old pair is gone
    assert store.translate("orders", 0, 21).downstream == 6


def test_summary_lines() -> None:
    source, target = clusters({("orders", 0): 15, ("orders", 1): 10, ("payments", 0): 3})
    plan = plan_for("billing", "east", STORE, source, target)
    line = summary(plan, apply_plan(plan, target))
    assert line == ("group billing: wrote 2 offset(s) on the target (1 exact, 1 may re-read "
                    "up to 4 records); 0 kept, 1 skipped")
    again = plan_for("billing", "east", STORE, source, target)
    assert summary(again, apply_plan(again, target)) == (
        "group billing: nothing written (2 kept, 1 skipped)")


def test_the_json_shape_names_every_column() -> None:
    source, target = clusters({("orders", 0): 15})
    data = plan_for("billing", "east", STORE, source, target).as_json()
    assert data["group"] == "billing" and data["skipped"] is None
    assert data["partitions"] == [{
        "source_topic": "orders", "source_partition": 0, "source_offset": 15,
        "target_topic": "east.orders", "target_offset": 115, "exact": True,
        "reread_at_most": 0, "action": "write",
        "reason": "exact (between two syncs, one to one)", "target_committed": None,
    }]
