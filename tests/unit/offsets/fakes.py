"""In-memory stand-ins for the clusters a plan reads and writes (kmirror.offsets.translate's
SourceGroups and TargetGroups Protocols); no broker."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kmirror.errors import KmirrorError
from kmirror.kafka.group_records import GroupState
from kmirror.offsets.syncs import OffsetSync

Key = tuple[str, int]


def sync(upstream: int, downstream: int, topic: str = "orders", partition: int = 0,
         alias: str = "east", target_topic: str = "east.orders") -> OffsetSync:
    """A sync of ``alias``: source ``upstream`` is at target ``downstream``."""
    return OffsetSync(alias, topic, partition, upstream, downstream, target_topic)


@dataclass
class FakeSource:
    """Committed offsets per group; groups named in ``failing`` raise."""

    committed_by_group: dict[str, dict[Key, int]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)

    def committed(self, group: str) -> dict[Key, int]:
        if group in self.failing:
            raise KmirrorError(f"source cluster: cannot read the committed offsets of {group}")
        return dict(self.committed_by_group.get(group, {}))

    def groups(self) -> list[str]:
        return sorted(self.committed_by_group)


@dataclass
class FakeTarget:
    """A target's groups (members, committed offsets) and partition end offsets; records
    every write."""

    ends: dict[Key, int] = field(default_factory=dict)
    members: dict[str, int] = field(default_factory=dict)
    committed_by_group: dict[str, dict[Key, int]] = field(default_factory=dict)
    writes: list[tuple[str, dict[Key, int]]] = field(default_factory=list)

    def group_state(self, group: str) -> GroupState:
        members = self.members.get(group, 0)
        if members:
            return GroupState("STABLE", members)
        return GroupState("EMPTY" if group in self.committed_by_group else "MISSING", 0)

    def committed(self, group: str) -> dict[Key, int]:
        return dict(self.committed_by_group.get(group, {}))

    def end_offsets(self, keys: Iterable[Key]) -> dict[Key, int]:
        return {key: self.ends[key] for key in keys if key in self.ends}

    def write_offsets(self, group: str, offsets: Mapping[Key, int]) -> None:
        self.writes.append((group, dict(offsets)))
        self.committed_by_group.setdefault(group, {}).update(offsets)
