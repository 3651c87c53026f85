"""Tests for kmirror.offsets.group_sync: the continuous sync of many groups (no broker).

What it promises: every group with something to write is written, a group active on the
target is skipped with a line, an up-to-date group says nothing, and one group's failure
never stops the others.
"""

from __future__ import annotations

import logging

import pytest

from kmirror.errors import ConfigError
from kmirror.offsets.group_sync import GroupOffsetSync, sync_groups
from kmirror.offsets.syncs import SyncStore
from tests.unit.offsets.fakes import FakeSource, FakeTarget, sync

STORE = SyncStore([sync(10, 110), sync(20, 120)])
ORDERS = ("east.orders", 0)


def test_each_group_is_written_skipped_or_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    # Given four source groups: one to write, one active on the target, one already up to
    # date there, one whose offsets cannot be read
    source = FakeSource({
        "a-writes": {("orders", 0): 15}, "b-active": {("orders", 0): 15},
        "c-current": {("orders", 0): 15}, "d-broken": {("orders", 0): 15},
        "e-unmirrored": {("payments", 0): 4},
    }, failing={"d-broken"})
    target = FakeTarget(ends={ORDERS: 130}, members={"b-active": 3},
                        committed_by_group={"c-current": {ORDERS: 115}})
    # When they are synced, the broken one before the others
    with caplog.at_level(logging.WARNING, logger="kmirror.offsets"):
        lines = sync_groups(["d-broken", "a-writes", "b-active", "c-current", "e-unmirrored"],
                            "east", STORE, source, target)
    # Then the failure is a line and a warning, and the others were still handled
    assert lines == [
        "group d-broken: failed: source cluster: cannot read the committed offsets of d-broken",
        "group a-writes: wrote 1 offset(s) on the target (1 exact); 0 kept, 0 skipped",
        "group b-active: skipped: 3 members are active on the target: stop them first",
    ]
    assert "d-broken" in caplog.text
    assert target.writes == [("a-writes", {ORDERS: 115})]


def test_an_unexpected_error_for_one_group_does_not_stop_the_others() -> None:
    class Exploding(FakeSource):
        def committed(self, group: str) -> dict[tuple[str, int], int]:
            if group == "bad":
                raise RuntimeError("boom")
            return super().committed(group)

    source = Exploding({"good": {("orders", 0): 21}})
    target = FakeTarget(ends={ORDERS: 130})
    lines = sync_groups(["bad", "good"], "east", STORE, source, target)
    assert lines[0] == "group bad: failed: RuntimeError('boom')"
    assert target.writes == [("good", {ORDERS: 121})]


def test_the_groups_regex_must_be_valid_and_selects_with_fullmatch() -> None:
    with pytest.raises(ConfigError, match="not a regular expression"):
        GroupOffsetSync({"bootstrap.servers": "127.0.0.1:1"}, {"bootstrap.servers": "127.0.0.1:1"},
                        "east", "billing(")
    job = GroupOffsetSync({"bootstrap.servers": "127.0.0.1:1"},
                          {"bootstrap.servers": "127.0.0.1:1"}, "east", "bill.*",
                          exclude_groups=["billing-kmirror"])
    assert job.wanted("billing")
    assert not job.wanted("rebilling")  # fullmatch, not search
    assert not job.wanted("billing-kmirror")
