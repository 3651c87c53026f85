"""The clusters the planner and the lag refresh talk to, as small interfaces.

``KafkaClusters`` gives the real ones (over kmirror's Kafka client seam); unit tests give fakes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from kmirror.config.settings import MirrorSettings, SourceCluster
from kmirror.kafka.admin import Admin
from kmirror.kafka.groups import GroupReader
from kmirror.topics import lineage, plan
from kmirror.topics.lineage_store import TargetLineageStore

Key = tuple[str, int]


class SourceAdmin(plan.SourceAdmin, lineage.TopicIds, Protocol):
    """What planning and lag read of a source cluster."""

    def cluster_id(self) -> str:
        """The cluster's id."""
        ...

    def topics(self) -> dict[str, int]:
        """Every topic with its partition count."""
        ...

    def end_offsets(self, partitions: Iterable[Key]) -> dict[Key, int]:
        """Log-end offsets."""
        ...

    def committed_offsets(self, group: str, partitions: Iterable[Key]) -> dict[Key, int]:
        """A group's committed offsets (-1 where none)."""
        ...


class SourceGroups(Protocol):
    """The source cluster's record timestamps (for lag in seconds)."""

    def timestamps_at(self, positions: Mapping[Key, int]) -> dict[Key, tuple[int, int]]:
        """(offset, timestamp ms) of the record at each position."""
        ...


class TargetAdmin(plan.TargetAdmin, lineage.TargetTopics, Protocol):
    """What planning reads and writes on the target cluster."""

    def cluster_id(self, timeout_s: float = 15.0, topic: str | None = None) -> str:
        """The cluster's id (raises KmirrorError when it does not answer in time); ``topic``:
        from that one topic's metadata (a liveness check)."""
        ...

    def create_topic(self, name: str, partitions: int, replication_factor: int,
                     configs: Mapping[str, str]) -> bool:
        """Create one topic (kmirror's own); False when it exists already."""
        ...


class LineageTopic(lineage.LineageStore, Protocol):
    """The target's ``kmirror.source-topics``."""

    def create(self, replication_factor: int) -> None:
        """Create it unless it exists."""
        ...


class Clusters(Protocol):
    """The clusters of one mirror: the target, its lineage topic, and each source."""

    @property
    def target(self) -> TargetAdmin:
        """The target cluster's admin."""
        ...

    @property
    def lineages(self) -> LineageTopic:
        """The target's lineage store."""
        ...

    def source(self, source: SourceCluster, label: str) -> tuple[SourceAdmin, SourceGroups]:
        """Admin and group reader of one source cluster (``label`` names it in errors)."""
        ...


class KafkaClusters:
    """The real clusters, over kmirror's Kafka client seam."""

    def __init__(self, settings: MirrorSettings) -> None:
        admin = Admin(settings.target_admin_settings, "target")
        self.target: TargetAdmin = admin
        self.lineages: LineageTopic = TargetLineageStore(settings.target_admin_settings, admin)

    def source(self, source: SourceCluster, label: str) -> tuple[SourceAdmin, SourceGroups]:
        """Admin and group reader of one source cluster."""
        return (Admin(source.admin_settings, label),
                GroupReader(source.admin_settings, label))
