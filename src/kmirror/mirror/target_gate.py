"""Partitions start copying once their own target partitions can take records.

A broker makes a new topic's partitions writable a while after it created them: the last of
10,000 new partitions on one local broker 13-17 s later. Records sent to a partition not led yet
wait in the producer, and the checkpoint that commits the stream's records waits for them: at
10,000 new partitions a stream copied in bursts, its loop held up to 30 s at each commit while
the consumer read nothing. So the stream asks, when partitions are assigned, which of their
target partitions answer a ListOffsets from their leaders; the others **wait**
(mirror/partitions.py: nothing is sent, the consumer is paused) and are asked again every
``CHECK_INTERVAL_S``, on the stream's ``target-ready`` job, until they answer: at most
``PARTITIONS_PER_CHECK`` of them at a time, topics in turn (mirror/turns.py; asking 9,000 not
led yet took the job 3.5 s of CPU each time, on a machine whose brokers needed it). Each
partition starts as soon as its own topic is ready, not after the last one.

The gate decides; the stream acts (``GateActions``), as with the topic watch (mirror/
topic_watch.py): the loop hands the job what to ask, and applies the answer at its first turn
after the job finished.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Protocol

from kmirror.errors import KmirrorError
from kmirror.mirror.jobs import Job, Scheduler
from kmirror.mirror.partitions import Key, Partitions
from kmirror.mirror.turns import PARTITIONS_PER_CHECK, Turns

_log = logging.getLogger("kmirror.stream")

CHECK_INTERVAL_S = 0.5  # how often waiting partitions are asked again
ADMIT_TIMEOUT_S = 3.0  # at assignment (inside the group callback: short; the job asks again)
CHECK_TIMEOUT_S = 10.0
WAIT_WARN_S = 60.0  # partitions waiting this long are named in a warning, once a minute

# The end offsets of those of these target partitions that answer (their leader hosts them),
# within the timeout.
Answering = Callable[[list[Key], float], Mapping[Key, int]]


class GateActions(Protocol):
    """What the stream does when partitions may start."""

    def go_on(self, keys: list[Key]) -> None:
        """These partitions may send now: read them from the first record not sent."""
        ...


class TargetGate:
    """Holds partitions until their target partitions answer (see the module docstring)."""

    def __init__(self, answering: Answering | None, parts: Partitions,
                 target_key: Callable[[Key], Key], actions: GateActions,
                 jobs: Scheduler | None = None) -> None:
        """``answering`` is asked with target keys (None: every target partition is taken as
        ready, nothing is read: unit tests' fakes); ``target_key`` maps a source partition to
        its target partition; ``jobs``: ask on a job of this scheduler (None: inline)."""
        self._answering, self.parts = answering, parts
        self._target_key, self.actions = target_key, actions
        self._next_check = 0.0
        self._waiting_since: float | None = None  # when the oldest wait began (None: none)
        self._next_warning = 0.0
        self._turns = Turns()
        self._asked: list[Key] | None = None  # handed to the job, not yet applied
        self._answer: Mapping[Key, int] = {}
        self._ready_ends: dict[Key, int] = {}  # of partitions released, until taken
        # The end offsets of the target partitions of the last partitions admitted that answered
        # (by source partition): the offset syncs' first baselines, not read a second time
        # (None: not read).
        self.admitted_ends: Mapping[Key, int] | None = None
        self._ticket = 0
        self._job: Job | None = None
        if jobs is not None:
            self._job = jobs.every("target-ready", None, self._ask_asked)

    def admit(self, keys: list[Key], known: Mapping[Key, int] | None = None,
              asked: Collection[Key] = ()) -> list[Key]:
        """Newly assigned partitions (inside the group callback): those whose target
        partitions do not answer yet wait; returns them. ``known``: the end offsets of those
        of ``asked`` that answered just now (the others wait: not asked twice)."""
        if not keys or self._answering is None:
            return []
        done = set(asked)
        to_ask = [k for k in keys if k not in done]
        answering = {**{k: e for k, e in (known or {}).items() if k in done},
                     **(self._ask(to_ask, ADMIT_TIMEOUT_S) if to_ask else {})}
        self.admitted_ends = answering
        waiting = [k for k in keys if k not in answering]
        if waiting:
            self.parts.hold(waiting)
            topics = len({t for t, _ in waiting})
            _log.info("%d partition(s) of %d topic(s) wait for their target partitions to be "
                      "ready (new topics?): each starts as soon as its own is", len(waiting),
                      topics)
        return waiting

    def check(self, now: float) -> None:
        """Apply an answered check; every CHECK_INTERVAL_S while partitions wait, ask again."""
        if self._asked is not None:
            assert self._job is not None
            if not self._job.done(self._ticket):
                return
            asked, self._asked = self._asked, None
            self._apply(asked, self._answer)
        waiting = self.parts.waiting
        if not waiting:
            self._waiting_since = None
            return
        self._warn_of_long_waits(now, waiting)
        if now < self._next_check:
            return
        self._next_check = now + CHECK_INTERVAL_S
        by_topic: dict[str, list[Key]] = {}
        for key in waiting:
            by_topic.setdefault(key[0], []).append(key)
        sizes = {topic: len(keys) for topic, keys in by_topic.items()}
        asked = [k for t in self._turns.next(sizes, PARTITIONS_PER_CHECK) for k in by_topic[t]]
        if self._job is None:
            self._apply(asked, self._ask(asked, CHECK_TIMEOUT_S))
        else:
            self._asked, self._ticket = asked, self._job.wake()

    def _warn_of_long_waits(self, now: float, waiting: Collection[Key]) -> None:
        """Partitions waiting for WAIT_WARN_S are named (a target partition that never answers:
        offline, or not Describe-able by kmirror's principal), once a minute."""
        if self._waiting_since is None:
            self._waiting_since, self._next_warning = now, now + WAIT_WARN_S
            return
        if now < self._next_warning:
            return
        self._next_warning = now + WAIT_WARN_S
        topic, partition = self._target_key(min(waiting))
        _log.warning("%d partition(s) still wait for their target partitions (for %.0f s; "
                     "e.g. target topic %s partition %d does not answer a ListOffsets): check "
                     "that the target's partitions have leaders and that kmirror's principal "
                     "may Describe the target topics", len(waiting), now - self._waiting_since,
                     topic, partition)

    def _ask_asked(self) -> None:
        """The job: ask for what the loop handed over."""
        assert self._asked is not None
        self._answer = {}
        self._answer = self._ask(self._asked, CHECK_TIMEOUT_S)

    def _ask(self, keys: list[Key], timeout_s: float) -> dict[Key, int]:
        """The source partitions among ``keys`` whose target partitions answer, with the
        target partitions' end offsets."""
        by_target = {self._target_key(k): k for k in keys}
        assert self._answering is not None  # (nothing waits without it)
        try:
            answering = self._answering(list(by_target), timeout_s)
        except KmirrorError as exc:  # (the target does not answer: asked again soon)
            _log.debug("target partitions not asked: %s", exc)
            return {}
        return {by_target[t]: end for t, end in answering.items() if t in by_target}

    def take_ready_ends(self) -> dict[Key, int]:
        """The target end offsets of the partitions released since the last call, read as
        they were released (nothing of theirs was sent before)."""
        ends, self._ready_ends = self._ready_ends, {}
        return ends

    def _apply(self, asked: list[Key], answering: Mapping[Key, int]) -> None:
        ready = self.parts.release([k for k in asked if k in answering])
        self._ready_ends.update((k, answering[k]) for k in ready)
        if ready:
            _log.debug("%d partition(s) may start: their target partitions are ready (%d "
                       "wait)", len(ready), len(self.parts.waiting))
            self.actions.go_on(ready)
