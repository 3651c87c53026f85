"""What the group clients hand up: plain records, no client types.

Importing this module loads no client library, so the domain (``kmirror.lag``,
``kmirror.offsets``) can name these types at import time and the CLI starts without
confluent-kafka until a cluster is asked something.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Key = tuple[str, int]


@dataclass(frozen=True)
class GroupMember:
    """A member of a group and the partitions it owns."""

    client_id: str
    host: str
    partitions: tuple[Key, ...]


@dataclass(frozen=True)
class GroupView:
    """A group's state, members and committed offsets."""

    group: str
    state: str
    members: tuple[GroupMember, ...]
    committed: Mapping[Key, int] = field(default_factory=dict)

    def owners(self) -> dict[Key, str]:
        """Partition -> "client_id@host" of the member that owns it."""
        return {
            key: f"{m.client_id}@{m.host.lstrip('/')}" for m in self.members for key in m.partitions
        }


@dataclass(frozen=True)
class GroupState:
    """A group as its cluster names it: its state, and how many members it has."""

    state: str  # "STABLE", "EMPTY", ...; "MISSING" when the group does not exist
    members: int
