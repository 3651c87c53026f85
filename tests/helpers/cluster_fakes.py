"""In-memory clusters behind mirror/clusters.py's interfaces, for the planner and supervisor
unit tests (no broker): topics with ids, end and committed offsets, a lineage store."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from kmirror.config.settings import MirrorSettings, SourceCluster, load_mirror_settings
from kmirror.errors import ClusterUnreachable, KmirrorError
from kmirror.kafka.admin import TopicDescription
from kmirror.topics.lineage import Lineage

Key = tuple[str, int]
_ids = itertools.count(1)


class _OneTopicCalls(Protocol):
    def create_topic(self, name: str, partitions: int, replication_factor: int,
                     configs: Mapping[str, str]) -> bool: ...

    def add_partitions(self, name: str, total: int) -> None: ...


class OneTopicAtATime:
    """The batched topic calls of the admin seam, made of a fake's one-topic calls
    (``create_topic`` and ``add_partitions``, which the fake itself defines)."""

    def create_topics(self: _OneTopicCalls,
                      topics: Mapping[str, tuple[int, Mapping[str, str]]],
                      replication_factor: int) -> dict[str, bool | Exception]:
        return {name: self.create_topic(name, partitions, replication_factor, configs)
                for name, (partitions, configs) in sorted(topics.items())}

    def grow_topics(self: _OneTopicCalls,
                    totals: Mapping[str, int]) -> dict[str, Exception | None]:
        for name, total in sorted(totals.items()):
            self.add_partitions(name, total)
        return dict.fromkeys(totals)


class FakeCluster(OneTopicAtATime):
    """One cluster: topics (name -> partitions) with ids, end and committed offsets."""

    def __init__(self, cluster_id: str, topics: Mapping[str, int] | None = None) -> None:
        self.id = cluster_id
        self.partitions: dict[str, int] = {}
        self.ids: dict[str, str] = {}
        self.ends: dict[Key, int] = {}
        self.committed: dict[Key, int] = {}
        self.created: list[str] = []
        self.grown: list[tuple[str, int]] = []
        self.answers = True  # False: every call fails as an unreachable cluster would
        self.fail_topics: KmirrorError | None = None
        self.hold_end_offsets: threading.Event | None = None  # set: end offsets wait for it
        for name, count in (topics or {}).items():
            self.add_topic(name, count)

    def add_topic(self, name: str, partitions: int) -> None:
        """A topic created (again: with a new id) on this cluster."""
        self.partitions[name] = partitions
        self.ids[name] = f"{self.id}-{name}-{next(_ids)}"

    def delete_topic(self, name: str) -> None:
        """A topic deleted from this cluster."""
        self.partitions.pop(name)
        self.ids.pop(name)

    def _check(self) -> None:
        if not self.answers:
            raise ClusterUnreachable(f"cluster {self.id}: no answer")

    def cluster_id(self, timeout_s: float = 15.0, topic: str | None = None) -> str:
        self._check()
        return self.id

    def topics(self, timeout_s: float = 15.0) -> dict[str, int]:
        self._check()
        if self.fail_topics is not None:
            raise self.fail_topics
        return dict(self.partitions)

    def describe(self, names: Iterable[str]) -> dict[str, TopicDescription]:
        self._check()
        return {n: TopicDescription(n, self.partitions[n], 1) for n in names
                if n in self.partitions}

    def topic_ids(self, names: Iterable[str]) -> dict[str, str]:
        self._check()
        return {n: self.ids[n] for n in names if n in self.ids}

    def end_offsets(self, partitions: Iterable[Key]) -> dict[Key, int]:
        self._check()
        if self.hold_end_offsets is not None:
            self.hold_end_offsets.wait(10.0)
        return {k: self.ends.get(k, 0) for k in partitions}

    def committed_offsets(self, group: str, partitions: Iterable[Key]) -> dict[Key, int]:
        self._check()
        return {k: self.committed.get(k, -1) for k in partitions}

    def create_topic(self, name: str, partitions: int, replication_factor: int,
                     configs: Mapping[str, str]) -> bool:
        self._check()
        if name in self.partitions:
            return False
        self.created.append(name)
        self.add_topic(name, partitions)
        return True

    def add_partitions(self, name: str, total: int) -> None:
        self._check()
        self.grown.append((name, total))
        self.partitions[name] = total


class FakeGroups:
    """Record timestamps: every record was written at ``timestamp_ms``."""

    def __init__(self, timestamp_ms: int = 0) -> None:
        self.timestamp_ms = timestamp_ms

    def timestamps_at(self, positions: Mapping[Key, int]) -> dict[Key, tuple[int, int]]:
        return {k: (p, self.timestamp_ms) for k, p in positions.items()}


class FakeLineages:
    """The target's kmirror.source-topics, in memory."""

    def __init__(self) -> None:
        self.kept: dict[bytes, Lineage] = {}
        self.created = False

    def create(self, replication_factor: int) -> None:
        self.created = True

    def read(self) -> dict[bytes, Lineage]:
        return dict(self.kept)

    def write(self, lineages: Iterable[Lineage]) -> None:
        for lineage in lineages:
            self.kept[lineage.key()] = lineage


class FakeClusters:
    """A target and one source cluster per alias (the planner's ``Clusters``)."""

    def __init__(self, target: FakeCluster, sources: Mapping[str, FakeCluster],
                 groups: FakeGroups | None = None) -> None:
        self.target = target
        self.lineages = FakeLineages()
        self.sources = dict(sources)
        self.groups = groups or FakeGroups()

    def source(self, source: SourceCluster, label: str) -> tuple[FakeCluster, FakeGroups]:
        return self.sources[source.alias], self.groups


def settings_for(tmp_path: Path, *aliases: str, include: str = ".*",
                 **options: Any) -> MirrorSettings:
    """`kmirror run` settings for one source cluster per alias (files in ``tmp_path``)."""
    configs = []
    for alias in aliases or ("source",):
        path = tmp_path / f"{alias}.properties"
        path.write_text(f"bootstrap.servers={alias}:9092\ngroup.id=g-{alias}\n")
        configs.append(str(path))
    target = tmp_path / "target.properties"
    target.write_text("bootstrap.servers=target:9092\n")
    return load_mirror_settings(consumer_configs=configs, producer_config=str(target),
                                include=include, exclude=None, **options)
