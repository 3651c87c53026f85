"""Offset syncs: pairs of (upstream offset, downstream offset) kept in a compacted topic.

While it mirrors, every stream records now and then, per partition, that the record at source
offset ``upstream`` was written at target offset ``downstream``. Only exact pairs are ever
written (from the target's acknowledgements, or verified against the target's end offset, see
``kmirror.mirror.offset_syncs``). ``kmirror offsets translate`` and ``--sync.group.offsets``
read them back to move consumer groups onto the target.

The topic (``kmirror.offset-syncs`` in the target, compacted, one partition) stays bounded: a
record's key names its partition and a *slot*, and compaction keeps the newest record per key.
Two rings of slots per partition:

- fine: one slot per ``FINE_SLOT_S`` seconds, ``FINE_SLOTS`` of them (the last hour, every 5 s);
- coarse: one slot per hour, ``COARSE_SLOTS`` of them (the last week, hourly).

So a partition never has more than ``FINE_SLOTS + COARSE_SLOTS`` live records, however long
kmirror runs.

Between two syncs whose offsets advance by the same amount on both sides
(``up2 - up1 == down2 - down1``), every record in between was mirrored one to one, so any
offset in that stretch translates exactly. Elsewhere (transaction markers or compaction holes
in the source, filtered records) the translation is conservative: it goes to the record after
the last sync at or below the committed offset, so a group may read again at most the records
up to that point, never skip one.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass

from kmirror.topics.naming import OFFSET_SYNCS_TOPIC

SYNC_TOPIC = OFFSET_SYNCS_TOPIC
FINE_SLOT_S = 5
FINE_SLOTS = 720
COARSE_SLOT_S = 3600
COARSE_SLOTS = 168
FORMAT_VERSION = 1

Key = tuple[str, int]


@dataclass(frozen=True, order=True)
class OffsetSync:
    """The record at ``upstream`` of ``topic``/``partition`` in cluster ``source_alias`` was
    written at ``downstream`` of ``target_topic``/``partition`` in the target.

    When ``run_upstream`` >= 0, the records from ``run_upstream`` to ``upstream`` were all
    written one to one from ``run_downstream`` on (a verified run: every offset in it
    translates exactly)."""

    source_alias: str
    topic: str
    partition: int
    upstream: int
    downstream: int
    target_topic: str
    run_upstream: int = -1
    run_downstream: int = -1

    def in_run(self, upstream: int) -> int | None:
        """The downstream offset of source offset ``upstream`` if this sync's run covers it."""
        if self.run_upstream <= upstream <= self.upstream and self.run_upstream >= 0:
            return self.run_downstream + upstream - self.run_upstream
        if upstream == self.upstream:
            return self.downstream
        return None


def slots(now_s: float) -> tuple[str, str]:
    """The two slot names a sync written at ``now_s`` (epoch seconds) occupies."""
    fine = int(now_s // FINE_SLOT_S) % FINE_SLOTS
    coarse = int(now_s // COARSE_SLOT_S) % COARSE_SLOTS
    return f"f{fine}", f"c{coarse}"


def encode(sync: OffsetSync, slot: str) -> tuple[bytes, bytes]:
    """Key and value of the sync record for ``slot`` (JSON, readable with any tool)."""
    key = json.dumps([sync.source_alias, sync.topic, sync.partition, slot],
                     separators=(",", ":"))
    body: dict[str, object] = {
        "v": FORMAT_VERSION, "upstream": sync.upstream, "downstream": sync.downstream,
        "target_topic": sync.target_topic,
    }
    if sync.run_upstream >= 0:
        body["run"] = [sync.run_upstream, sync.run_downstream]
    value = json.dumps(body, separators=(",", ":"))
    return key.encode(), value.encode()


def decode(key: bytes | None, value: bytes | None) -> OffsetSync | None:
    """The sync of a record, or None for a tombstone or a record kmirror did not write."""
    if key is None or value is None:
        return None
    try:
        alias, topic, partition, _slot = json.loads(key)
        body = json.loads(value)
        run = body.get("run") or [-1, -1]
        return OffsetSync(str(alias), str(topic), int(partition), int(body["upstream"]),
                          int(body["downstream"]), str(body["target_topic"]), int(run[0]),
                          int(run[1]))
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


@dataclass(frozen=True)
class Translation:
    """Where a group that committed ``upstream`` on the source resumes on the target."""

    downstream: int | None  # None: no sync at or below the committed offset yet
    exact: bool
    reread_at_most: int  # records the group may read again on the target (0 when exact)
    note: str


class SyncStore:
    """The syncs of one source cluster, by partition, in upstream order."""

    def __init__(self, syncs: Iterable[OffsetSync] = ()) -> None:
        self._by_key: dict[Key, list[OffsetSync]] = {}
        for sync in syncs:
            self.add(sync)

    def add(self, sync: OffsetSync) -> None:
        """Keep ``sync`` (one per upstream offset; later ones replace earlier ones)."""
        found = self._by_key.setdefault((sync.topic, sync.partition), [])
        index = bisect.bisect_left([s.upstream for s in found], sync.upstream)
        if index < len(found) and found[index].upstream == sync.upstream:
            found[index] = sync
        else:
            found.insert(index, sync)

    def partitions(self) -> list[Key]:
        """The source partitions with syncs."""
        return sorted(self._by_key)

    def target_topic(self, topic: str, partition: int) -> str | None:
        """The target topic the newest sync of a partition names."""
        found = self._by_key.get((topic, partition))
        return found[-1].target_topic if found else None

    def translate(self, topic: str, partition: int, committed: int) -> Translation:
        """Translate a committed source offset (the next record the group would read)."""
        found = self._by_key.get((topic, partition), [])
        ups = [s.upstream for s in found]
        index = bisect.bisect_left(ups, committed) - 1  # the last sync below ``committed``
        if index < 0:  # maybe still inside the first sync's verified run
            resume = found[0].in_run(committed) if found else None
            if resume is not None:
                return Translation(resume, True, 0, "inside a verified one-to-one run")
            return Translation(None, False, 0,
                               f"no offset sync below offset {committed} yet")
        below = found[index]
        if committed == below.upstream + 1:
            return Translation(below.downstream + 1, True, 0, "a sync at the last record read")
        above = found[index + 1] if index + 1 < len(found) else None
        covered = above.in_run(committed - 1) if above is not None else None
        if covered is not None:
            return Translation(covered + 1, True, 0, "inside a verified one-to-one run")
        if above is not None and (above.upstream - below.upstream
                                  == above.downstream - below.downstream):
            # One to one between the two syncs: the committed offset maps exactly.
            return Translation(below.downstream + committed - below.upstream, True, 0,
                               "between two syncs, one to one")
        reread = (committed - 1 - below.upstream) if above is None else min(
            committed - 1 - below.upstream, above.downstream - below.downstream - 1)
        return Translation(below.downstream + 1, False, max(reread, 0),
                           f"after the sync at offset {below.upstream}")
