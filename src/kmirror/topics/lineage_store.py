"""The target's ``kmirror.source-topics``: lineages read and written (see topics/lineage.py).

A composition: the lineage record codec (``kmirror.topics.lineage``) over a compacted topic of
the target read and written as bytes (``kmirror.kafka.compacted``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kmirror.kafka.admin import Admin
from kmirror.kafka.compacted import CompactedTopic
from kmirror.topics.lineage import Lineage, decode
from kmirror.topics.naming import LINEAGE_TOPIC


class TargetLineageStore:
    """Lineages kept in one compacted partition of the target cluster (a ``LineageStore``)."""

    def __init__(self, settings: Mapping[str, str], admin: Admin,
                 topic: str = LINEAGE_TOPIC) -> None:
        self._topic = CompactedTopic(settings, admin, topic, "target cluster")
        self.topic = topic

    def create(self, replication_factor: int) -> None:
        """Create the compacted topic unless it exists."""
        self._topic.create(replication_factor)

    def read(self) -> dict[bytes, Lineage]:
        """Every lineage, newest per key (an absent topic holds none). A record this version
        cannot read (a tombstone, another format) removes its key, as compaction would."""
        found: dict[bytes, Lineage] = {}
        for key, value in self._topic.records():
            lineage = decode(value)
            if key is not None and lineage is not None:
                found[key] = lineage
            elif key is not None:
                found.pop(key, None)
        return found

    def write(self, lineages: Iterable[Lineage]) -> None:
        """Write and wait for the target's acknowledgement of every one."""
        self._topic.write([lineage.encode() for lineage in lineages])
