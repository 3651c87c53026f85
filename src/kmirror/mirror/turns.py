"""Checks that take topics in turn, so their cost stays bounded however many topics there are.

The stream's per-second topic id check (mirror/topic_watch.py) and the supervisor's lineage
check at each topic refresh (mirror/planner.py) ask the clusters to describe topics; the
answer's cost grows with the topics' partitions (describing 1,000 topics of 10 partitions every
second took a quarter of a core). Each check asks about at most ``PARTITIONS_PER_CHECK``
partitions' worth of topics, the next ones by name after where the last check stopped.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

PARTITIONS_PER_CHECK = 1000


class Turns:
    """Whose turn it is: topics by name, from after the last one taken, wrapping round."""

    def __init__(self) -> None:
        self.last = ""  # the last topic taken

    def next(self, partitions: Mapping[str, int], limit: int | None = None) -> list[str]:
        """All of ``partitions``' topics while they hold at most ``limit`` partitions
        (PARTITIONS_PER_CHECK by default), else the next ones in turn up to that many (at
        least one, however large)."""
        limit = PARTITIONS_PER_CHECK if limit is None else limit
        if sum(partitions.values()) <= limit:
            return list(partitions)
        names = sorted(partitions)
        start = bisect.bisect_right(names, self.last)
        taken: list[str] = []
        count = 0
        for name in names[start:] + names[:start]:
            if taken and count + partitions[name] > limit:
                break
            taken.append(name)
            count += partitions[name]
        self.last = taken[-1]
        return taken
