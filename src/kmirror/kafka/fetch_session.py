"""Incremental fetch sessions (KIP-227): a fetch names only the partitions that changed.

Without a session every Fetch names every partition and every answer lists every partition,
data or not: at 10,000 idle partitions, two requests a second of ~10,000 entries each way, and
the answers' decoding took a third of a core. With a session the broker remembers the
partitions and their fetch offsets; a request then names only the partitions added or moved
(a new fetch offset or size) and the ones to forget, and the answer lists only the partitions
with something new (records, a changed high watermark or log start, an error). The broker
still reads every partition of the session on every fetch, so leaving a partition out of a
request never loses its records: they come in a later answer.

The state here is pure (no I/O): ``raw_io.RawCluster.fetch`` asks it what to send and tells it
how that went. Anything unexpected (a lost connection, a session the broker no longer knows,
an epoch it does not expect) drops the session and the next fetch is a full one again, which
opens a new session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

Key = tuple[str, int]
Wanted = tuple[int, int]  # (fetch offset, partition max bytes)

NEW_SESSION_EPOCH = 0  # with session id 0: a full fetch that asks for a new session
MAX_EPOCH = 2**31 - 1
# Top-level Fetch error codes that mean the session is gone or out of step.
FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71
FETCH_SESSION_TOPIC_ID_ERROR = 106  # the session names a topic by id, the request by name
SESSION_ERRORS = frozenset((FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH,
                            FETCH_SESSION_TOPIC_ID_ERROR))


@dataclass(frozen=True)
class SessionRequest:
    """What one Fetch carries: its session fields, the partitions it names, those it forgets."""

    session_id: int
    epoch: int
    send: dict[Key, Wanted]
    forget: list[Key]

    @property
    def full(self) -> bool:
        """Whether it names every partition (and asks for a new session)."""
        return self.epoch == NEW_SESSION_EPOCH


class FetchSession:
    """One client's fetch session with one broker; one request in flight at a time."""

    def __init__(self) -> None:
        self.id = 0
        self.epoch = NEW_SESSION_EPOCH
        self.cached: dict[Key, Wanted] = {}  # what the broker holds for each partition
        self._asked: SessionRequest | None = None

    def request(self, wanted: Mapping[Key, Wanted]) -> SessionRequest:
        """The next request for exactly the partitions ``wanted`` (at these offsets)."""
        if self.epoch == NEW_SESSION_EPOCH:
            asked = SessionRequest(0, NEW_SESSION_EPOCH, dict(wanted), [])
        else:
            cached = self.cached
            send = {key: want for key, want in wanted.items() if cached.get(key) != want}
            forget = [key for key in cached if key not in wanted]
            asked = SessionRequest(self.id, self.epoch, send, forget)
        self._asked = asked
        return asked

    def answered(self, session_id: int) -> None:
        """The last request succeeded; ``session_id`` is the answer's."""
        asked, self._asked = self._asked, None
        assert asked is not None, "answered() without request()"
        if asked.full:
            if session_id == 0:  # (the broker keeps no session for us: full fetches go on)
                self.cached = {}
                return
            self.id, self.cached = session_id, dict(asked.send)
        else:
            for key in asked.forget:
                self.cached.pop(key, None)
            self.cached.update(asked.send)
        self.epoch = 1 if self.epoch >= MAX_EPOCH else self.epoch + 1

    def reset(self) -> None:
        """Forget the session (the request failed or the broker refused it): full fetch next."""
        self.id, self.epoch, self.cached, self._asked = 0, NEW_SESSION_EPOCH, {}, None
