"""One state object per source partition of a stream: what may be sent, what may be committed.

A partition is *mirroring* from its assignment on. It leaves that state in two ways:

- **stopped**: the target refused one of its records. Nothing more is sent; commits go on up to
  the refused record (its track holds the commit point below it).
- **refused**: its topic's lineage refuses it (the source topic was created again, see
  topics/lineage.py). Nothing is sent or committed, and its track is dropped: the partition
  is let go as if revoked, though the group keeps it until the next rebalance.

Besides, a mirroring or stopped partition is **suspended** while its topic is gone from the
source (deleted?): nothing is sent or committed (a topic created again under the same name
would otherwise inherit the offsets) until the same topic comes back. And a partition
**waits** while its target partition cannot take records yet (a topic just created: see
mirror/target_gate.py): nothing is sent; nothing was, so its commits do not move.

INVARIANT (enforced by ``may_send`` and ``committable``): only a mirroring partition that is
neither suspended nor waiting sends, and only mirroring or stopped partitions that are not
suspended commit. The commit *position* itself is moved by the tracker alone
(mirror/tracker.py).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

Key = tuple[str, int]


class State(enum.Enum):
    """Where a partition stands; see the module docstring."""

    MIRRORING = "mirroring"
    STOPPED = "stopped"
    REFUSED = "refused"


class Partition:
    """The state of one source partition."""

    __slots__ = ("key", "state", "stop_message", "suspended", "vouched", "waiting")

    def __init__(self, key: Key) -> None:
        self.key = key
        self.state = State.MIRRORING
        self.suspended = False  # its topic is gone from the source
        self.waiting = False  # its target partition cannot take records yet
        self.stop_message: str | None = None  # stopped or refused: why, in one line
        # The highest source offset consumed when the topic's id was last confirmed: what was
        # copied after it may come from a topic created again since (topics/lineage.py).
        self.vouched: int | None = None

    @property
    def may_send(self) -> bool:
        """Records of this partition may go to the target."""
        return self.state is State.MIRRORING and not self.suspended and not self.waiting

    @property
    def may_commit(self) -> bool:
        """Source offsets of this partition may be committed (as far as the track allows)."""
        return self.state is not State.REFUSED and not self.suspended


class Partitions:
    """Every partition a stream knows of: assigned ones and those refused by their lineage."""

    def __init__(self) -> None:
        self._all: dict[Key, Partition] = {}
        self.waiting: set[Key] = set()  # (kept apart: looked at on every turn of the loop)
        # Those not mirroring, kept apart too: the reports and the per-second checks ask for
        # them, and looking through 10,000 partitions for none each time cost a share of a core.
        self._stopped: set[Key] = set()
        self._refused: set[Key] = set()
        self.generation = 0  # counts the changes of the assigned set (for views kept of it)

    def assign(self, keys: Iterable[Key]) -> None:
        """Newly assigned partitions start mirroring."""
        self.generation += 1
        for key in keys:
            self._all[key] = Partition(key)
            self._stopped.discard(key)
            self._refused.discard(key)

    def let_go(self, keys: Iterable[Key]) -> None:
        """Revoked or lost: forget them whatever their state."""
        self.generation += 1
        for key in keys:
            self._all.pop(key, None)
            self.waiting.discard(key)
            self._stopped.discard(key)
            self._refused.discard(key)

    def get(self, key: Key) -> Partition | None:
        """The partition's state, or None when the stream does not hold it."""
        return self._all.get(key)

    def may_send(self, key: Key) -> bool:
        """True when ``key`` is assigned and mirroring (checked once per partition per batch)."""
        part = self._all.get(key)
        return (part is not None and part.state is State.MIRRORING and not part.suspended
                and not part.waiting)

    def is_assigned(self, key: Key) -> bool:
        """Assigned to this stream and not let go (mirroring, suspended or stopped)."""
        part = self._all.get(key)
        return part is not None and part.state is not State.REFUSED

    @property
    def assigned(self) -> list[Key]:
        """Every assigned partition not let go (mirroring, suspended or stopped)."""
        refused = self._refused
        return [k for k in self._all if k not in refused] if refused else list(self._all)

    @property
    def mirroring(self) -> list[Key]:
        """The partitions that may send."""
        return [k for k, p in self._all.items() if p.may_send]

    def is_suspended(self, key: Key) -> bool:
        """True while the topic of ``key`` is gone from the source."""
        part = self._all.get(key)
        return part is not None and part.suspended

    def is_stopped(self, key: Key) -> bool:
        """Stopped by a refused record or refused by its lineage."""
        part = self._all.get(key)
        return part is not None and part.state is not State.MIRRORING

    @property
    def stopped(self) -> dict[Key, str]:
        """Partitions stopped by a refused record or refused by their lineage, with why."""
        return {k: self._all[k].stop_message or "" for k in (*self._stopped, *self._refused)}

    def suspend(self, keys: Iterable[Key]) -> list[Key]:
        """Suspend assigned partitions (their topic is gone); returns those newly suspended."""
        new = []
        for key in keys:
            part = self._all.get(key)
            if part is not None and part.state is not State.REFUSED and not part.suspended:
                part.suspended = True
                new.append(key)
        return new

    def unsuspend(self, keys: Iterable[Key]) -> list[Key]:
        """Suspended partitions whose topic is back (same id) go on; returns them."""
        back = []
        for key in keys:
            part = self._all.get(key)
            if part is not None and part.suspended:
                part.suspended = False
                back.append(key)
        return back

    def hold(self, keys: Iterable[Key]) -> None:
        """These partitions wait for their target partitions (mirror/target_gate.py)."""
        for key in keys:
            part = self._all.get(key)
            if part is not None and part.state is not State.REFUSED:
                part.waiting = True
                self.waiting.add(key)

    def release(self, keys: Iterable[Key]) -> list[Key]:
        """Their target partitions take records now; returns those that waited."""
        released = []
        for key in keys:
            part = self._all.get(key)
            if part is not None and part.waiting:
                part.waiting = False
                released.append(key)
            self.waiting.discard(key)
        return released

    def is_held(self, key: Key) -> bool:
        """Suspended (topic gone) or waiting (target not ready): nothing is read for it."""
        part = self._all.get(key)
        return part is not None and (part.suspended or part.waiting)

    def stop(self, key: Key, message: str) -> bool:
        """The target refused a record of ``key``: it sends nothing more. False when it was
        not mirroring (already stopped, refused, or not held)."""
        part = self._all.get(key)
        if part is None or part.state is not State.MIRRORING:
            return False
        part.state, part.stop_message = State.STOPPED, message
        self._stopped.add(key)
        return True

    def refuse(self, keys: Iterable[Key], message: str) -> None:
        """Their lineage refuses these partitions: nothing more is sent or committed (held
        whether assigned before or not, until the group takes them away)."""
        self.generation += 1
        for key in keys:
            part = self._all.get(key)
            if part is None:
                part = self._all[key] = Partition(key)
            part.state, part.stop_message = State.REFUSED, message
            part.suspended, part.vouched, part.waiting = False, None, False
            self.waiting.discard(key)
            self._stopped.discard(key)
            self._refused.add(key)

    def vouch(self, key: Key, highest: int) -> None:
        """The topic's id was confirmed while ``highest`` was the highest offset consumed."""
        part = self._all.get(key)
        if part is not None:
            part.vouched = highest

    def committable(self, offsets: Mapping[Key, int]) -> dict[Key, int]:
        """The offsets of ``offsets`` whose partitions may commit (see the INVARIANT)."""
        out = {}
        for key, offset in offsets.items():
            part = self._all.get(key)
            if part is not None and part.may_commit:
                out[key] = offset
        return out

    def __len__(self) -> int:
        return len(self._all) - len(self._refused)
