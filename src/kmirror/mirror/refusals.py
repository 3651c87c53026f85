"""Records the target refused: one line each that says what, where and what to do.

A refused record stops its partition (nothing at or after it is committed: its track holds
the commit point below it, mirror/tracker.py); with ``--abort.on.send.failure`` (the default)
the whole stream stops. The writers name the *target* topic of a refusal; the message names the
source topic, partition and offset, which is what the user looks up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kmirror.kafka.acls import acl_line
from kmirror.kafka.outcomes import RefusalKind
from kmirror.kafka.writer import SendFailure


def by_source_partition(failures: list[SendFailure],
                        source_key: Callable[[str, int], tuple[str, int]]
                        ) -> dict[tuple[str, int], list[SendFailure]]:
    """The refusals grouped by the source partition they came from (``source_key`` maps the
    target topic and partition a refusal names to it)."""
    grouped: dict[tuple[str, int], list[SendFailure]] = {}
    for failure in failures:
        grouped.setdefault(source_key(failure.topic, failure.partition), []).append(failure)
    return grouped


def refusal_message(source_label: str, source_topic: str, refused: list[SendFailure],
                    target_settings: Mapping[str, str]) -> str:
    """One line naming the record the target refused (the largest, when too large)."""
    first = min(refused, key=lambda f: f.source_offset)
    culprit = first
    if first.kind is RefusalKind.TOO_LARGE:
        culprit = max(refused, key=lambda f: f.size_bytes)
    size = f" ({culprit.size_bytes:,} bytes)" if culprit.size_bytes else ""
    batch = ""
    if len(refused) > 1:
        last = max(f.source_offset for f in refused)
        batch = (f"; {len(refused)} records at offsets {first.source_offset}..{last} "
                 "were refused with it")
    grant = ""
    if culprit.kind is RefusalKind.TOPIC_GONE:
        grant = ("; the target topic is gone (deleted while mirroring?): create it again, "
                 "or restart with --recreate.target.topics")
    if culprit.kind is RefusalKind.NOT_AUTHORIZED:
        grant = "; grant the target's ACL with: " + acl_line(
            target_settings, ["Write", "Describe"], "--topic", culprit.topic)
    return (
        f"target refused the record from {source_label}, topic {source_topic} partition "
        f"{culprit.partition} offset {culprit.source_offset}{size}: {culprit.reason} "
        f"({culprit.code}){batch}; the partition is stopped and nothing at or after "
        f"offset {first.source_offset} is committed{grant}"
    )
