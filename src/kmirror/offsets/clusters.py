"""The clusters offset translation reads and writes, and the offset syncs read from them.

A composition: group offsets come from ``kmirror.kafka.offsets_io.OffsetsClient`` (which
implements the ``SourceGroups`` and ``TargetGroups`` Protocols of ``kmirror.offsets.translate``);
the offset syncs are the records of the target's ``kmirror.offset-syncs`` read as bytes
through it and decoded here (``kmirror.offsets.syncs``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from kmirror.offsets.syncs import SYNC_TOPIC, OffsetSync, decode

if TYPE_CHECKING:
    from kmirror.kafka.offsets_io import OffsetsClient


@dataclass(frozen=True)
class SyncRead:
    """The syncs read, and per partition of the sync topic the offset to read on from."""

    syncs: list[OffsetSync]
    next_offsets: dict[int, int]


class TopicRecords(Protocol):
    """A cluster whose topics can be read as bytes (``OffsetsClient.read_topic``)."""

    def read_topic(self, topic: str, on_record: Callable[[bytes | None, bytes | None], None],
                   start: Mapping[int, int] | None = None) -> dict[int, int]:
        """Hand every record from ``start`` to the end to ``on_record``; next offsets."""
        ...


def connect(settings: Mapping[str, str], label: str) -> OffsetsClient:
    """The group offsets of one cluster; ``label`` names it in errors ("source cluster").

    (The client library is imported here, when a cluster is first asked, not at startup.)"""
    from kmirror.kafka.offsets_io import OffsetsClient

    return OffsetsClient(settings, label)


def read_syncs(cluster: TopicRecords, start: Mapping[int, int] | None = None,
               topic: str = SYNC_TOPIC) -> SyncRead:
    """Every sync record from ``start`` (per partition; default the beginning) up to the end
    offsets as they are now, in order; records kmirror did not write are left out. A missing
    sync topic reads as no syncs."""
    syncs: list[OffsetSync] = []

    def keep(key: bytes | None, value: bytes | None) -> None:
        sync = decode(key, value)
        if sync is not None:
            syncs.append(sync)

    next_offsets = cluster.read_topic(topic, keep, start)
    return SyncRead(syncs, next_offsets)
