"""Topics deleted or created again while a stream mirrors them (the lineage of topics/lineage.py).

Every second the stream's ``TopicWatch`` compares the ids of the topics being mirrored (in
turn when they hold more than 1,000 partitions: mirror/turns.py) with their lineage and tells
the stream what to do, through three actions (``WatchActions``):

- a topic that is gone: its partitions are **suspended** (nothing sent or committed);
- the same topic back (same id): they **resume** from the first record not sent;
- a topic back under another id (or refused): they are **refused**, with a message that names
  what may have been copied from the new topic since the last check that saw the old one.

The watch decides; the stream acts (it owns the reader, the records waiting to be sent and the
partitions' tracks). With a scheduler (mirror/jobs.py) the ids are asked on the stream's
``topic-ids`` job, so a source slow to answer never holds the copy: the loop hands the job what
to ask, and applies the answer at its first turn after the job finished. What a check proves
(the records read so far came from the topic it saw) is taken when it is handed over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from kmirror.errors import KmirrorError
from kmirror.mirror.jobs import Job, Scheduler
from kmirror.mirror.partitions import Key, Partitions
from kmirror.mirror.tracker import OffsetTracker
from kmirror.mirror.turns import PARTITIONS_PER_CHECK, Turns
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


@dataclass
class _Check:
    """One comparison: the partitions and how far each was read when it was asked for, and
    the verdicts (None until answered, or when the source did not answer)."""

    by_topic: dict[str, list[Key]]
    read_up_to: dict[Key, int]
    verdicts: dict[str, Verdict] | None = None


class TopicWatch:
    """The per-second topic id check of one stream."""

    def __init__(self, lineage: LineageGuard, parts: Partitions, tracker: OffsetTracker,
                 label: str, actions: WatchActions, jobs: Scheduler | None = None) -> None:
        """``jobs``: ask on a background job of this scheduler (None: ask inline)."""
        self.lineage, self.parts, self.tracker = lineage, parts, tracker
        self.label, self.actions = label, actions
        self._next_check = 0.0
        self._turns = Turns()  # (mirror/turns.py)
        # The assigned partitions by topic, as of the partitions' generation (grouped again
        # only when the assignment changed, not every second)
        self._grouped: tuple[int, dict[str, list[Key]]] = (-1, {})
        self._asked: _Check | None = None  # handed to the job, not yet applied
        self._ticket = 0
        self._job: Job | None = None
        if jobs is not None:
            self._job = jobs.every("topic-ids", None, lambda: self._ask(self._asked))

    def check(self, now: float) -> None:
        """Apply an answered check; every TOPIC_CHECK_S, ask for the next one."""
        if self._asked is not None:
            assert self._job is not None
            if not self._job.done(self._ticket):
                return
            answered, self._asked = self._asked, None
            self._apply(answered)
        if now < self._next_check:
            return
        self._next_check = now + TOPIC_CHECK_S
        by_topic = self._by_topic()
        if not by_topic:
            return
        # (all of them, or in turn: each topic of a stream holding 10,000 partitions every 10 s)
        sizes = {topic: len(keys) for topic, keys in by_topic.items()}
        by_topic = {t: by_topic[t] for t in self._turns.next(sizes, PARTITIONS_PER_CHECK)}
        tracks = self.tracker.tracks
        asked = _Check(by_topic, {k: tracks[k].highest for ks in by_topic.values()
                                  for k in ks if k in tracks})
        if self._job is None:
            self._ask(asked)
            self._apply(asked)
        else:
            self._asked, self._ticket = asked, self._job.wake()

    def _by_topic(self) -> dict[str, list[Key]]:
        generation, by_topic = self._grouped
        if generation != self.parts.generation:
            by_topic = {}
            for key in self.parts.assigned:
                by_topic.setdefault(key[0], []).append(key)
            self._grouped = (self.parts.generation, by_topic)
        return by_topic

    def _ask(self, asked: _Check | None) -> None:
        """Compare the ids (on the job's thread when there is one)."""
        assert asked is not None
        try:
            asked.verdicts = self.lineage.check(asked.by_topic, full=False)
        except KmirrorError as exc:
            _log.debug("topic id check skipped: %s", exc)

    def _apply(self, answered: _Check) -> None:
        """Act on the verdicts, for the partitions still assigned."""
        verdicts = answered.verdicts
        if verdicts is None:
            return
        for topic, asked_keys in answered.by_topic.items():
            keys = [k for k in asked_keys if self.parts.is_assigned(k)]
            if not keys:
                continue
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
                    if key in answered.read_up_to:
                        self.parts.vouch(key, answered.read_up_to[key])

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
