"""Where a committed source position lands on the target, kept with the commit.

kmirror is the only writer of its target partitions and writes source partition p into target
partition p in order, one target record per source record it sends (no message handler). So
with every commit of source offset ``c`` it can say at which target offset the record at ``c``
goes: the target partition's end offset when the stream took the partition, plus what the
target acknowledged since, contiguously (mirror/tracker.py ``target_next``). Records that take
no target offset (transaction markers, aborted records, compaction holes, provenance drops)
move the source position and not the target one.

It travels in the offset commit's metadata (``kmirror:target=<offset>``), which Kafka keeps with
the committed offset (up to ``offset.metadata.max.bytes``, 4,096 by default) and hands back
with it. A stream that takes a partition later compares it with the target's end offset: a
target holding more than that holds records acknowledged after the last commit.

Not kept with a message handler (it may drop or multiply records, or write to other topics) nor
with --exactly-once (its positions group holds the position, aborted records and commit
markers take target offsets).
"""

from __future__ import annotations

import re

PREFIX = "kmirror:target="
_PATTERN = re.compile(r"kmirror:target=(\d+)")


def metadata(target_offset: int) -> str:
    """The commit metadata that says the committed position lands at ``target_offset``."""
    return f"{PREFIX}{target_offset}"


def parse(text: str | None) -> int | None:
    """The target offset a commit's metadata names (None: none, or not written by kmirror)."""
    if not text:
        return None
    found = _PATTERN.fullmatch(text.strip())
    return int(found.group(1)) if found else None
