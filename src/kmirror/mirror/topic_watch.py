"""Topics deleted or created again while a stream mirrors them (the lineage of topics/lineage.py).

Every second the stream's ``TopicWatch`` compares the ids of the topics being mirrored with
their lineage and tells the stream what to do, through three actions (``WatchActions``):

- a topic that is gone: its partitions are **suspended** (nothing sent or committed);
- the same topic back (same id): they **resume** from the first record not sent;
- a topic back under another id (or refused): they are **refused**, with a message that names
  what may have been copied from the new topic since the last check that saw the old one.

The watch decides; the stream acts (it owns the reader, the records waiting to be sent and the
partitions' tracks).
"""

from __future__ import annotations

import logging
from typing import Protocol

from kmirror.errors import KmirrorError
from kmirror.mirror.partitions import Key, Partitions
from kmirror.mirror.tracker import OffsetTracker
from kmirror.topics.lineage import UNVERIFIED, LineageGuard, Verdict

_log = logging.getLogger("kmirror.stream")

TOPIC_CHECK_S = 1.0  # how often the ids of the topics being mirrored are compared


class WatchActions(Protocol):
    """What the stream does when the watch decides."""

    def suspend(self, topic: str, keys: list[Key]) -> None:
        """The topic is gone: send and commit nothing more for these partitions."""
        ...

    def resume(self, keys: list[Key]) -> None:
        """The same topic is back: read these partitions again from the first record not sent."""
        ...

    def refuse(self, keys: list[Key], verdict: Verdict) -> None:
        """The lineage refuses the topic: stop these partitions for good."""
        ...


class TopicWatch:
    """The per-second topic id check of one stream."""

    def __init__(self, lineage: LineageGuard, parts: Partitions, tracker: OffsetTracker,
                 label: str, actions: WatchActions) -> None:
        self.lineage, self.parts, self.tracker = lineage, parts, tracker
        self.label, self.actions = label, actions
        self._next_check = 0.0

    def check(self, now: float) -> None:
        """Every TOPIC_CHECK_S: compare the ids of the topics being mirrored with their lineage
        and act on what changed."""
        if now < self._next_check:
            return
        self._next_check = now + TOPIC_CHECK_S
        by_topic: dict[str, list[Key]] = {}
        for key in self.parts.assigned:
            by_topic.setdefault(key[0], []).append(key)
        if not by_topic:
            return
        try:
            verdicts = self.lineage.check(by_topic, full=False)
        except KmirrorError as exc:
            _log.debug("topic id check skipped: %s", exc)
            return
        tracks = self.tracker.tracks
        for topic, keys in by_topic.items():
            verdict = verdicts.get(topic)
            if verdict is None:
                self.actions.suspend(topic, keys)
                continue
            stop = self.stop_for(verdict)
            if stop is not None:
                self.actions.refuse(keys, stop)
                continue
            back = self.parts.unsuspend(keys)
            if back:
                _log.warning("%s, topic %s is back (same topic id): mirroring it again",
                             self.label, topic)
                self.actions.resume(back)
            if verdict.kind != UNVERIFIED:
                for key in keys:
                    if key in tracks:
                        self.parts.vouch(key, tracks[key].highest)

    def stop_for(self, verdict: Verdict) -> Verdict | None:
        """The verdict to stop a topic being read with, or None to go on: a refused one, or
        one created again together with its target topic (its position belongs to the old
        topic, and it cannot start over while assigned)."""
        if not verdict.allowed:
            return verdict
        if verdict.new_source:
            return Verdict(verdict.topic, verdict.kind, (
                f"{self.label}, topic {verdict.topic}: the topic was deleted and created again "
                "while mirroring, and its target topic too; its partitions stop here. Restart "
                "kmirror to mirror the new topic from where auto.offset.reset says"))
        return None

    def refusal_message(self, keys: list[Key], verdict: Verdict) -> str:
        """Why these partitions stop, with the offsets copied since the last check that saw
        the old topic (they may come from the new one)."""
        message = verdict.message or f"{self.label}, topic {verdict.topic}: refused"
        tracks = self.tracker.tracks
        copied = []
        for key in sorted(keys):
            track, part = tracks.get(key), self.parts.get(key)
            if track is None or part is None or part.suspended:
                continue
            since = (part.vouched if part.vouched is not None
                     else self.tracker.committed.get(key, 0) - 1)
            if track.highest > since:
                copied.append(f"partition {key[1]} offsets {since + 1}..{track.highest}")
        if copied:
            return message + ("; copied since the last check that saw the old topic, and so "
                              "possibly from the new one: " + ", ".join(copied))
        if any(self.parts.is_assigned(k) for k in keys):
            return message + "; nothing of the new topic was copied"
        return message
