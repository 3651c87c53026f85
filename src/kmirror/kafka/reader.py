"""The source side: one group member reading batches of records, committing only what it is told.

Rebalance callbacks run inside ``poll_batch`` (librdkafka serves them from the consumer's own
thread), so the mirror loop sees assignment changes between batches, never in the middle of
one. ``on_revoke`` runs while the partitions are still ours: the loop drains and commits there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from kmirror.errors import MirrorError
from kmirror.kafka.admin import client_logger

Key = tuple[str, int]
Headers = list[tuple[str, bytes | None]]


class SourceRecord(Protocol):
    """A consumed record as the mirror sees it: read-only accessors, nothing else.

    The reader hands up the client's own messages through this protocol rather than copying
    each into a kmirror object: the copy (seven calls and an allocation per record) cost the
    record path about 10% more CPU per record (measured 2026-12-02, bench/ab_record_path.py).
    Error messages never pass: ``poll_batch`` returns them as a ConsumeError.
    """

    def topic(self) -> str: ...
    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> Headers | None: ...
    def timestamp(self) -> tuple[int, int]: ...  # (timestamp type, milliseconds)


# The error of each message, one C call apiece (``any(map(...))`` checks a batch of
# thousands in microseconds: no Python code runs per message).
_error_of_message = Message.error


@dataclass(frozen=True)
class ConsumeError:
    """An error the consumer reported in place of a record."""

    topic: str | None  # None: not about one partition
    partition: int
    text: str
    fatal: bool
    # The position is out of range (or missing) and librdkafka did not reset it, as asked
    # (auto.offset.reset=error): the caller decides where to go on (mirror/source_gaps.py).
    offset_reset: bool


class GroupListener(Protocol):
    """Told of assignment changes; called from inside ``poll_batch`` (the consumer's thread)."""

    def before_assign(self, keys: list[Key]) -> tuple[set[Key], Mapping[Key, int]]:
        """Newly assigned partitions: returns those to hold (assigned but paused, never handed
        to ``assigned``: a re-created topic) and where others start when not at the group's
        committed offset (a topic new since its lineage; --exactly-once: the position stored
        in the target with the last transaction)."""
        ...

    def assigned(self, keys: list[Key]) -> None:
        """Partitions now ours (the held ones left out)."""
        ...

    def revoked(self, keys: list[Key]) -> None:
        """Partitions about to go: still ours during the call (drain and commit here)."""
        ...

    def lost(self, keys: list[Key]) -> None:
        """Partitions someone else may own already: never commit for them."""
        ...


_log = logging.getLogger("kmirror.reader")
_COMMIT_RETRY_LATER = (
    KafkaError._WAIT_COORD, KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError._TRANSPORT, KafkaError._TIMED_OUT,
    KafkaError.REQUEST_TIMED_OUT,
)


class SourceReader:
    """A consumer of one source cluster in the mirror's group."""

    def __init__(self, settings: Mapping[str, str], label: str) -> None:
        self.label = label
        self.fatal: str | None = None
        self._listener: GroupListener | None = None
        self._consumer = Consumer(
            {**settings, "logger": client_logger(), "error_cb": self._on_error}
        )
        self._subscription: list[str] = []
        self._held: list[Any] = []  # messages after an error, returned by the next poll
        self._closed = False
        self.pause_on_assign = False  # (the batch path: the consumer never fetches)

    def bind(self, listener: GroupListener) -> None:
        """Who is told of assignment changes (before the first ``subscribe``)."""
        self._listener = listener

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.fatal = error.str()
        else:
            _log.debug("%s: %s", self.label, error.str())

    def topics(self, timeout_s: float = 10.0) -> dict[str, int]:
        """Topics of the source cluster with their partition counts."""
        try:
            metadata = self._consumer.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            raise MirrorError(f"{self.label}: cannot read topic metadata: {exc}") from exc
        return {
            name: len(topic.partitions)
            for name, topic in metadata.topics.items()
            if topic.error is None
        }

    def subscribe(self, topics: Sequence[str]) -> bool:
        """Subscribe to exactly these topics; True when the subscription changed."""
        wanted = sorted(topics)
        if wanted == self._subscription:
            return False
        self._subscription = wanted
        if wanted:
            self._consumer.subscribe(
                wanted,
                on_assign=self._assigned,
                on_revoke=self._revoked,
                on_lost=self._lost,
            )
        else:
            self._consumer.unsubscribe()
        return True

    def _assigned(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        assert self._listener is not None
        keys = [(tp.topic, tp.partition) for tp in partitions]
        held: set[Key] = set()
        starts: Mapping[Key, int] = {}
        if partitions:
            held, starts = self._listener.before_assign(keys)
            for tp in partitions:
                tp.offset = starts.get((tp.topic, tp.partition), tp.offset)
        if partitions and (held or starts or self.pause_on_assign):
            # Assign here (not after the callback, as by default), at the chosen offsets, so
            # that partitions can be paused before their first fetch.
            try:
                consumer.incremental_assign(partitions)
            except KafkaException:
                consumer.assign(partitions)  # an eager (classic) assignor
            paused = [tp for tp in partitions
                      if self.pause_on_assign or (tp.topic, tp.partition) in held]
            if paused:
                consumer.pause(paused)
        self._listener.assigned([k for k in keys if k not in held])

    def _revoked(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        assert self._listener is not None
        self._listener.revoked([(tp.topic, tp.partition) for tp in partitions])

    def _lost(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        assert self._listener is not None
        self._listener.lost([(tp.topic, tp.partition) for tp in partitions])

    def poll_batch(self, max_records: int, timeout_s: float
                   ) -> tuple[list[SourceRecord], ConsumeError | None]:
        """Up to ``max_records`` records in consume order, and the error that came after them
        (None usually). Records after an error stay for the next call, so records and errors
        reach the caller in the order the consumer reported them.

        What is ready now is returned at once, else this waits for the first message:
        ``consume(n, t)`` alone would wait the full timeout for a short tail, so latency stays
        low at low rates.
        """
        batch = self._held
        if batch:
            self._held = []
        else:
            consumer = self._consumer
            batch = consumer.consume(max_records, 0)
            if not batch:
                first = consumer.poll(timeout_s)
                if first is None:
                    return [], None
                batch = [first, *consumer.consume(max_records - 1, 0)]
        if not any(map(_error_of_message, batch)):
            return cast("list[SourceRecord]", batch), None
        for index, message in enumerate(batch):  # (rare: an error among the messages)
            if message.error() is not None:
                self._held = batch[index + 1:]
                return cast("list[SourceRecord]", batch[:index]), self._error_of(message)
        raise AssertionError("unreachable")  # pragma: no cover

    def pause(self, keys: Iterable[Key]) -> None:
        """Stop fetching these partitions (prefetched records are discarded and refetched)."""
        tps = [TopicPartition(t, p) for t, p in keys]
        if tps:
            self._consumer.pause(tps)

    def resume(self, keys: Iterable[Key]) -> None:
        """Fetch these partitions again from the position after the last record returned."""
        tps = [TopicPartition(t, p) for t, p in keys]
        if tps:
            self._consumer.resume(tps)

    def seek(self, key: Key, offset: int) -> None:
        """Read partition ``key`` again from ``offset`` (records after it already returned are
        dropped by the client)."""
        where = f"{self.label}, topic {key[0]} partition {key[1]}"
        start = TopicPartition(key[0], key[1], offset)
        try:
            self._consumer.seek(start)
            return
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._STATE:
                raise MirrorError(f"{where}: cannot go to offset {offset}: {exc}") from exc
        # A partition stopped by an offset-reset error refuses a seek ("erroneous state"):
        # assign it again, starting at the offset (measured: works with the KIP-848 protocol).
        try:
            self._consumer.incremental_unassign([TopicPartition(key[0], key[1])])
            self._consumer.incremental_assign([start])
        except KafkaException as exc:
            raise MirrorError(f"{where}: cannot go to offset {offset}: {exc}") from exc

    def commit(self, offsets: Mapping[Key, int],
               metadata: Mapping[Key, str] | None = None) -> dict[Key, int]:
        """Commit synchronously, each offset with its ``metadata`` if any; returns what the
        broker accepted, raises on a total failure."""
        if not offsets:
            return {}
        notes = metadata or {}
        tps = [TopicPartition(t, p, o, metadata=notes[(t, p)]) if (t, p) in notes
               else TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            results = self._consumer.commit(offsets=tps, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() in (KafkaError._NO_OFFSET, KafkaError.REBALANCE_IN_PROGRESS):
                return {}
            if error.retriable() or error.code() in _COMMIT_RETRY_LATER:
                # The coordinator is moving or restarting: nothing was committed this time;
                # the same (or a later) acknowledged position is committed next interval.
                _log.warning("%s: offset commit postponed: %s", self.label, error.str())
                return {}
            if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                # A topic was deleted since it was assigned, and the whole commit is refused:
                # the stream's topic watch suspends the gone topic within a second or two, and
                # the next interval commits the others (nothing is committed meanwhile).
                _log.warning("%s: offset commit postponed (a topic is gone: deleted?): %s",
                             self.label, error.str())
                return {}
            raise MirrorError(f"{self.label}: offset commit failed: {error.str()}") from exc
        accepted = {}
        for tp in results or []:
            if tp.error is None:
                accepted[(tp.topic, tp.partition)] = tp.offset
            else:
                _log.warning(
                    "%s: commit of %s[%d] at %d failed: %s",
                    self.label, tp.topic, tp.partition, tp.offset, tp.error.str(),
                )
        return accepted

    def positions(self, keys: Iterable[Key]) -> dict[Key, int]:
        """The next offset to be returned per partition (past skipped control records)."""
        tps = [TopicPartition(t, p) for t, p in keys]
        if not tps or self._closed:
            return {}
        return {(tp.topic, tp.partition): tp.offset
                for tp in self._consumer.position(tps) if tp.offset >= 0}

    def committed_with_metadata(self, keys: Iterable[Key], timeout_s: float = 30.0
                                ) -> dict[Key, tuple[int, str]]:
        """The group's committed offsets for these partitions, each with its commit metadata
        ("" when none; partitions without a committed offset are left out)."""
        tps = [TopicPartition(t, p) for t, p in keys]
        if not tps:
            return {}
        try:
            found = self._consumer.committed(tps, timeout=timeout_s)
        except KafkaException as exc:
            raise MirrorError(f"{self.label}: cannot read committed offsets: {exc}") from exc
        return {(tp.topic, tp.partition): (tp.offset, tp.metadata or "")
                for tp in found if tp.offset >= 0}

    def watermarks(
        self, keys: Iterable[Key], timeout_s: float = 30.0
    ) -> dict[Key, tuple[int, int]]:
        """(log start, log end) offsets of these partitions, asked of their leaders: two
        requests per leader for all of them (one per partition, each queued behind this
        consumer's own fetch on the same connection, took ~0.2 s apiece: 1,000 new partitions
        waited minutes)."""
        keys = list(keys)
        if not keys:
            return {}
        # A ListOffsets timestamp of -2 asks for the log start, -1 for the log end (the last
        # stable offset under read_committed), as the watermark query does.
        low = self._offsets_at(keys, OFFSET_BEGINNING, timeout_s)
        high = self._offsets_at(keys, OFFSET_END, timeout_s)
        return {key: (low[key], high[key]) for key in keys}

    def _offsets_at(self, keys: list[Key], timestamp: int, timeout_s: float) -> dict[Key, int]:
        what = "log start" if timestamp == OFFSET_BEGINNING else "log end"
        try:
            found = self._consumer.offsets_for_times(
                [TopicPartition(t, p, timestamp) for t, p in keys], timeout=timeout_s)
        except KafkaException as exc:
            raise MirrorError(f"{self.label}: cannot read the {what} offsets of "
                              f"{len(keys)} partition(s): {exc}") from exc
        out = {}
        for tp in found:
            if tp.error is not None or tp.offset < 0:
                raise MirrorError(
                    f"{self.label}, topic {tp.topic} partition {tp.partition}: cannot read the "
                    f"{what} offset: {tp.error.str() if tp.error is not None else tp.offset}")
            out[(tp.topic, tp.partition)] = int(tp.offset)
        return out

    @staticmethod
    def _error_of(message: Any) -> ConsumeError:
        """A consumed message's error, translated."""
        error = message.error()
        return ConsumeError(
            message.topic() or None, message.partition() if message.topic() else -1,
            error.str(), bool(error.fatal()) or error.code() == KafkaError._FATAL,
            error.code() == KafkaError._AUTO_OFFSET_RESET,
        )

    def close(self) -> None:
        """Leave the group (revocation callbacks run first)."""
        if not self._closed:
            self._consumer.close()
            self._closed = True
