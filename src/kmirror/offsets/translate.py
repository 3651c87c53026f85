"""Plans that move a consumer group from the source onto the target, and applying them.

A plan says, for every source partition a group committed, where the group resumes on the
target and what will be done there. Three rules hold for every plan (``plan_group`` enforces
them, ``apply_plan`` checks the first again just before writing):

- **never a group with active members on the target**: their consumers own their positions
  (and would overwrite ours at their next commit); the whole group is skipped;
- **never ahead of what the target holds**: a translated offset past the target partition's
  end offset is capped at that end offset, and the row says so;
- **never backwards**: where the target group already committed an offset at or past the
  translated one, it is kept.

The planning is pure: it reads the clusters only through the small Protocols below
(``kmirror.kafka.offsets_io.OffsetsClient`` implements both, see ``kmirror.offsets.clusters``),
so tests use fakes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Protocol

from kmirror.errors import BadInputError
from kmirror.kafka.group_records import GroupState
from kmirror.offsets.syncs import OffsetSync, SyncStore

Key = tuple[str, int]
WRITE, KEEP, SKIP = "write", "keep", "skip"
NO_GROUP = GroupState("MISSING", 0)  # a group that does not exist (frozen: shared safely)


class GroupActiveOnTarget(BadInputError):
    """A group has active members on the target: its offsets are not written (exit 2)."""


class SourceGroups(Protocol):
    """What a plan reads from the source cluster."""

    def committed(self, group: str) -> dict[Key, int]:
        """Every committed offset of the group (empty for an unknown group)."""
        ...


class TargetGroups(Protocol):
    """What a plan reads from, and its application writes to, the target cluster."""

    def group_state(self, group: str) -> GroupState:
        """The group's state and member count (0 members for a group that does not exist)."""
        ...

    def committed(self, group: str) -> dict[Key, int]:
        """Every committed offset of the group (empty for an unknown group)."""
        ...

    def end_offsets(self, keys: Iterable[Key]) -> dict[Key, int]:
        """End offsets of the partitions that exist; missing partitions are left out."""
        ...

    def write_offsets(self, group: str, offsets: Mapping[Key, int]) -> None:
        """Commit these offsets for the group."""
        ...


@dataclass(frozen=True)
class PartitionPlan:
    """Where a group resumes on the target for one source partition, and what is done."""

    source_topic: str
    source_partition: int
    source_offset: int  # the group's committed offset on the source
    target_topic: str | None
    target_offset: int | None  # where the group resumes on the target (None: unknown)
    exact: bool
    reread_at_most: int  # records the group may read again on the target (0 when exact)
    action: str  # WRITE, KEEP or SKIP
    reason: str
    target_committed: int | None = None  # the target group's offset before this plan


@dataclass(frozen=True)
class GroupPlan:
    """One group's plan; ``skipped`` says why nothing of it may be written."""

    group: str
    source_alias: str
    partitions: tuple[PartitionPlan, ...]
    target_state: GroupState = NO_GROUP
    skipped: str | None = None

    def writes(self) -> dict[Key, int]:
        """The target offsets to commit: the ``write`` rows."""
        return {
            (row.target_topic, row.source_partition): row.target_offset
            for row in self.partitions
            if row.action == WRITE and row.target_topic is not None
            and row.target_offset is not None
        }

    def as_json(self) -> dict[str, object]:
        """The documented JSON shape of a plan."""
        return {
            "group": self.group, "source_alias": self.source_alias,
            "target_state": self.target_state.state,
            "target_members": self.target_state.members, "skipped": self.skipped,
            "partitions": [asdict(row) for row in self.partitions],
        }


def store_for(syncs: Iterable[OffsetSync], source_alias: str) -> SyncStore:
    """The syncs of one source cluster. Where a partition's syncs name several target topics
    (the naming policy changed between runs), only those naming the newest one are kept:
    offsets of two different target topics must never be mixed."""
    mine = [s for s in syncs if s.source_alias == source_alias]
    newest = {(s.topic, s.partition): s.target_topic for s in mine}  # read in order: last wins
    return SyncStore(s for s in mine if s.target_topic == newest[(s.topic, s.partition)])


def aliases(syncs: Iterable[OffsetSync]) -> list[str]:
    """The source aliases the syncs name."""
    return sorted({s.source_alias for s in syncs})


def active_reason(members: int) -> str:
    """Why a group with ``members`` active members on the target is left alone."""
    are = "member is" if members == 1 else "members are"
    return f"{members} {are} active on the target: stop them first"


def plan_group(
    group: str, source_alias: str, store: SyncStore, source_committed: Mapping[Key, int],
    target_state: GroupState, target_committed: Mapping[Key, int],
    target_end: Mapping[Key, int],
) -> GroupPlan:
    """The plan of one group from what was read of both clusters (pure)."""
    skipped = active_reason(target_state.members) if target_state.members > 0 else None
    rows = []
    for (topic, partition), committed in sorted(source_committed.items()):
        row = _plan_partition(store, topic, partition, committed, target_committed, target_end)
        if skipped is not None and row.action != SKIP:
            row = _replace(row, SKIP, skipped)
        rows.append(row)
    return GroupPlan(group, source_alias, tuple(rows), target_state, skipped)


def _plan_partition(
    store: SyncStore, topic: str, partition: int, committed: int,
    target_committed: Mapping[Key, int], target_end: Mapping[Key, int],
) -> PartitionPlan:
    target_topic = store.target_topic(topic, partition)
    if target_topic is None:
        return PartitionPlan(topic, partition, committed, None, None, False, 0, SKIP,
                             "no offset syncs for this partition: not mirrored (yet)")
    key = (target_topic, partition)
    before = target_committed.get(key)
    found = store.translate(topic, partition, committed)
    if found.downstream is None:
        return PartitionPlan(topic, partition, committed, target_topic, None, False, 0, SKIP,
                             f"{found.note}: wait until kmirror mirrored further", before)
    end = target_end.get(key)
    if end is None:
        return PartitionPlan(topic, partition, committed, target_topic, None, False, 0, SKIP,
                             f"{target_topic}[{partition}] does not exist on the target", before)
    offset, exact, reread = found.downstream, found.exact, found.reread_at_most
    if exact:
        reason = f"exact ({found.note})"
    else:
        reason = f"may re-read up to {reread:,} records ({found.note})"
    if offset > end:
        # The target holds fewer records than the sync says (topic recreated, or truncated):
        # resuming past its end would skip whatever is written there next.
        reason = f"capped at the target's end offset {end:,} (the sync points at {offset:,})"
        offset, exact = end, False
    if before is not None and before >= offset:
        kept = ("the target group is already there" if before == offset else
                f"the target group is already at {before:,}, past it: never moved backwards")
        return PartitionPlan(topic, partition, committed, target_topic, offset, exact, reread,
                             KEEP, kept, before)
    return PartitionPlan(topic, partition, committed, target_topic, offset, exact, reread,
                         WRITE, reason, before)


def _replace(row: PartitionPlan, action: str, reason: str) -> PartitionPlan:
    fields = asdict(row)
    fields.update(action=action, reason=reason)
    return PartitionPlan(**fields)


def plan_for(
    group: str, source_alias: str, store: SyncStore, source: SourceGroups,
    target: TargetGroups, *, only_synced: bool = False,
) -> GroupPlan:
    """Read what a plan needs from both clusters and make it; ``only_synced`` leaves out
    source partitions without syncs (for the continuous sync, which plans every group)."""
    committed = source.committed(group)
    if only_synced:
        synced = set(store.partitions())
        committed = {key: offset for key, offset in committed.items() if key in synced}
    targets = {
        (topic, partition) for (source_topic, partition) in committed
        if (topic := store.target_topic(source_topic, partition)) is not None
    }
    state = target.group_state(group)
    end = target.end_offsets(sorted(targets)) if targets else {}
    return plan_group(group, source_alias, store, committed, state, target.committed(group), end)


def apply_plan(plan: GroupPlan, target: TargetGroups) -> dict[Key, int]:
    """Write the plan's ``write`` rows; return what was written. Raises GroupActiveOnTarget
    when the group has members, in the plan or now (checked again just before writing)."""
    if plan.skipped is not None:
        raise GroupActiveOnTarget(f"group {plan.group}: {plan.skipped}")
    writes = plan.writes()
    if not writes:
        return {}
    members = target.group_state(plan.group).members
    if members > 0:
        raise GroupActiveOnTarget(f"group {plan.group}: {active_reason(members)}")
    target.write_offsets(plan.group, writes)
    return writes


def summary(plan: GroupPlan, written: Mapping[Key, int]) -> str:
    """One line for people: what was written (or why nothing was) for a group."""
    if plan.skipped is not None:
        return f"group {plan.group}: skipped: {plan.skipped}"
    rows = [r for r in plan.partitions if r.action == WRITE]
    kept = sum(r.action == KEEP for r in plan.partitions)
    skipped = sum(r.action == SKIP for r in plan.partitions)
    if not written:
        return f"group {plan.group}: nothing written ({kept} kept, {skipped} skipped)"
    exact = sum(r.exact for r in rows)
    reread = max((r.reread_at_most for r in rows if not r.exact), default=0)
    bound = f", {len(rows) - exact} may re-read up to {reread:,} records" if exact < len(rows) \
        else ""
    return (f"group {plan.group}: wrote {len(written)} offset(s) on the target ({exact} exact"
            f"{bound}); {kept} kept, {skipped} skipped")
