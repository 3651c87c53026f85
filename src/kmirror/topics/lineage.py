"""Which source topic each target topic is a copy of, so that a re-created topic never mixes.

A topic deleted and created again under the same name is another topic: a new topic id, new
records from offset 0, and (Kafka 4) no committed offsets for the mirror's group any more. A
mirror that only knows names copies the new topic's records into the old copy, and nobody can
tell them apart afterwards. kmirror remembers, per (source cluster, source topic, target topic),
the *lineage*: the source topic's id and the target topic's id when mirroring began. It keeps
them in the target cluster (compacted topic ``kmirror.source-topics``, one record per target
topic and source), so a restart remembers too.

Before a partition is mirrored (at each assignment), and every second for the topics being
mirrored, the current ids are compared with the lineage (``judge``):

============================  ==========================  =====================================
source topic id               target topic                verdict
============================  ==========================  =====================================
no lineage yet                any                         claim (a first mirror)
same                          same id                     mirror
any                           another id (re-created)     claim (whoever re-created it chose)
other (source re-created)     same id                     **refused**: the copy is of the old
                                                          topic; delete it or mirror elsewhere
same                          missing (deleted)           **refused** unless
                                                          ``--recreate.target.topics``
other                         missing                     claim (both new: a fresh mirror,
                                                          from the new topic's start)
============================  ==========================  =====================================

A refused topic's partitions are not mirrored and nothing is committed for them; the other
topics go on.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Protocol

from kmirror.errors import KmirrorError

MIRROR, CLAIM = "mirror", "claim"
UNVERIFIED = "unverified"  # the target could not be asked: mirrored, and checked again soon
SOURCE_RECREATED, TARGET_DELETED = "source-recreated", "target-deleted"
FORMAT_VERSION = 1
STORE_RETRY_S = 30.0  # after a failed read of the lineages, how long before asking again


@dataclass(frozen=True)
class Lineage:
    """Target topic ``target_topic`` (id ``target_topic_id``) holds the copy of source topic
    ``source_topic`` (id ``source_topic_id``) of the cluster with id ``source_cluster``."""

    source_cluster: str
    source_alias: str
    source_topic: str
    source_topic_id: str
    target_topic: str
    target_topic_id: str
    since_ms: int

    def key(self) -> bytes:
        """The record key: compaction keeps the newest lineage per source and target topic."""
        return lineage_key(self.source_cluster, self.source_topic, self.target_topic)

    def encode(self) -> tuple[bytes, bytes]:
        """(key, value) of the record."""
        return self.key(), json.dumps({"v": FORMAT_VERSION, **asdict(self)}).encode()


def lineage_key(source_cluster: str, source_topic: str, target_topic: str) -> bytes:
    """The key of a lineage record."""
    return json.dumps([source_cluster, source_topic, target_topic]).encode()


def decode(value: bytes | None) -> Lineage | None:
    """A lineage record's value, or None (a tombstone, or a format this version cannot read)."""
    if not value:
        return None
    try:
        fields = json.loads(value)
        if fields.pop("v", None) != FORMAT_VERSION:
            return None
        return Lineage(**fields)
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class Verdict:
    """Whether a source topic may be mirrored into its target topic now."""

    topic: str
    kind: str
    message: str | None = None
    # CLAIM of a source topic created since the last lineage: the group's committed offsets
    # (if any) belong to the old topic, so the mirror starts where auto.offset.reset says.
    new_source: bool = False

    @property
    def allowed(self) -> bool:
        """True when its partitions may be mirrored."""
        return self.kind in (MIRROR, CLAIM, UNVERIFIED)


def judge(known: Lineage | None, source_id: str, target_id: str | None,
          recreate_target: bool) -> tuple[str, bool]:
    """(verdict kind, whether the source topic is new since the lineage), per the table above."""
    if known is None:
        return CLAIM, False
    same_source = known.source_topic_id == source_id
    if target_id is None:
        if same_source and not recreate_target:
            return TARGET_DELETED, False
        return CLAIM, not same_source
    if target_id != known.target_topic_id:
        return CLAIM, not same_source
    return (MIRROR, False) if same_source else (SOURCE_RECREATED, True)


class TopicIds(Protocol):
    """A cluster's topic ids."""

    def topic_ids(self, names: Iterable[str]) -> dict[str, str]:
        """The ids of those topics that exist."""
        ...


class TargetTopics(TopicIds, Protocol):
    """What the guard reads of the target cluster to explain a refusal."""

    def topics(self) -> dict[str, int]:
        """Every topic with its partition count."""
        ...

    def end_offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Log-end offsets."""
        ...


class LineageStore(Protocol):
    """Where lineages are kept (the target's ``kmirror.source-topics``)."""

    def read(self) -> dict[bytes, Lineage]:
        """Every lineage, by key."""
        ...

    def write(self, lineages: Iterable[Lineage]) -> None:
        """Keep these lineages (raises KmirrorError when the target refuses)."""
        ...


class LineageGuard:
    """Judges source topics against their lineage; one per source cluster and process."""

    def __init__(
        self, source: TopicIds, target: TargetTopics, store: LineageStore, *,
        source_cluster: Callable[[], str], source_alias: str, label: str, target_label: str,
        rename: Callable[[str], str], recreate_target: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source, self._target, self._store = source, target, store
        self._source_cluster, self._cluster_id = source_cluster, ""
        self.source_alias = source_alias
        self.label, self.target_label = label, target_label
        self._rename, self._recreate_target, self._clock = rename, recreate_target, clock
        self._known: dict[str, tuple[str, str]] = {}  # topic -> (source id, target id) judged ok
        # What this process judged or claimed: the fallback when the store has nothing (it
        # could not be written), so re-creation is still seen while the process runs.
        self._remembered: dict[str, Lineage] = {}
        self._claims: dict[str, str] = {}  # topic -> source id, to claim once the target exists
        self.store_problem: str | None = None  # why the store could not be read, if it could not
        self._store_failed_at = -STORE_RETRY_S
        self.target_problem: str | None = None  # why the target's topic ids could not be read
        self._warned = False
        # A stream asks on its topic-ids job while its loop judges newly assigned topics:
        # one judgement at a time (the caches above change as topics are judged).
        self._lock = threading.RLock()

    @property
    def source_cluster(self) -> str:
        """The source cluster's id (asked once, when first needed)."""
        if not self._cluster_id:
            self._cluster_id = self._source_cluster()
        return self._cluster_id

    def check(self, topics: Iterable[str], full: bool = True) -> dict[str, Verdict]:
        """A verdict per existing topic among ``topics`` (a missing one gets none).

        ``full``: compare the target topic's id too (at assignment); otherwise only the source
        ids are compared with what was judged before (the cheap check every second, which
        never claims: partitions already reading a topic cannot start over)."""
        with self._lock:
            return self._check(topics, full)

    def _check(self, topics: Iterable[str], full: bool) -> dict[str, Verdict]:
        source_ids = self._source.topic_ids(sorted(set(topics)))
        verdicts: dict[str, Verdict] = {}
        if not full:
            changed = [t for t, sid in source_ids.items()
                       if t not in self._known or self._known[t][0] != sid]
            for topic in set(source_ids) - set(changed):
                verdicts[topic] = Verdict(topic, MIRROR)
            source_ids = {t: source_ids[t] for t in changed}
            if not source_ids:
                return verdicts
        names = {t: self._rename(t) for t in source_ids}
        try:
            target_ids: dict[str, str] | None = self._target.topic_ids(
                sorted(set(names.values())))
            self.target_problem = None
        except KmirrorError as exc:
            # The target does not answer (or hides its topics): judged from memory only.
            self.target_problem, target_ids = str(exc), None
        unknown = [t for t, sid in source_ids.items()
                   if target_ids is None or self._known.get(t) != (sid, target_ids.get(names[t]))]
        stored = self._read_store() if unknown and target_ids is not None else {}
        lineages = {t: stored.get(lineage_key(self.source_cluster, t, names[t]))
                    or self._remembered.get(t) for t in unknown}
        if target_ids is not None:
            target_ids = self._ask_again(target_ids, sorted(
                {names[t] for t, known in lineages.items()
                 if known is not None and names[t] not in target_ids}))
        for topic, source_id in source_ids.items():
            if topic not in unknown:
                verdicts[topic] = Verdict(topic, MIRROR)
                continue
            known = lineages[topic]
            if target_ids is None or (self.store_problem is not None and known is None):
                # Without the target's ids or its stored lineages, only a source id that
                # differs from one seen here is certain (a re-creation); anything else stays
                # unjudged (mirrored, never claimed) and is asked again at the next check.
                if known is not None and known.source_topic_id != source_id:
                    verdicts[topic] = Verdict(topic, SOURCE_RECREATED, self._refusal(
                        SOURCE_RECREATED, known, source_id, target_ids is not None), True)
                else:
                    verdicts[topic] = Verdict(topic, UNVERIFIED)
                continue
            target_id = target_ids.get(names[topic])
            kind, new_source = judge(known, source_id, target_id, self._recreate_target)
            message = None
            if kind == MIRROR:
                assert known is not None and target_id is not None
                self._known[topic] = (source_id, target_id)
                self._remembered[topic] = known
            elif kind == CLAIM:
                if full:
                    self._claims[topic] = source_id
                self._known.pop(topic, None)
            else:
                assert known is not None
                message = self._refusal(kind, known, source_id)
                self._known.pop(topic, None)
            verdicts[topic] = Verdict(topic, kind, message, new_source)
        return verdicts

    def _ask_again(self, target_ids: dict[str, str], missing: list[str]) -> dict[str, str] | None:
        """The target's ids with the ``missing`` topics (named by a lineage) asked again, now
        that the lineages are read; None (and ``target_problem`` says why) if it does not
        answer.

        A claim is written only after its claimer saw the target topic, so a lineage read from
        the store names a topic that existed before the read. Its absence from the ids asked
        *before* the read proves nothing: the topic may have been created meanwhile (by the
        supervisor's topic refresh while a stream judged it, or the other way round). Judged
        on those ids, a new topic's partitions were refused as "target deleted"."""
        if not missing:
            return target_ids
        try:
            return {**target_ids, **self._target.topic_ids(missing)}
        except KmirrorError as exc:
            self.target_problem = str(exc)
            return None

    def _read_store(self) -> dict[bytes, Lineage]:
        """The stored lineages; none (and ``store_problem`` says why) when they cannot be read
        (not asked again for STORE_RETRY_S after a failure): then only what this process saw
        is known, which is no reason to stop mirroring."""
        if self.store_problem is not None and (
                self._clock() - self._store_failed_at < STORE_RETRY_S):
            return {}
        try:
            stored = self._store.read()
        except KmirrorError as exc:
            self.store_problem, self._store_failed_at = str(exc), self._clock()
            return {}
        self.store_problem = None
        return stored

    def claim(self) -> list[Lineage]:
        """Write the lineage of every topic judged CLAIM whose target topic exists now (call
        after creating target topics, before mirroring); returns what was written. A claim
        the target refuses is tried again at the next call."""
        with self._lock:
            return self._claim()

    def _claim(self) -> list[Lineage]:
        if not self._claims:
            return []
        names = {t: self._rename(t) for t in self._claims}
        target_ids = self._target.topic_ids(sorted(set(names.values())))
        now_ms = int(self._clock() * 1000)
        lineages = [
            Lineage(self.source_cluster, self.source_alias, topic, source_id, names[topic],
                    target_ids[names[topic]], now_ms)
            for topic, source_id in sorted(self._claims.items()) if names[topic] in target_ids
        ]
        for lineage in lineages:  # (remembered even if the store refuses them)
            self._known[lineage.source_topic] = (lineage.source_topic_id,
                                                 lineage.target_topic_id)
            self._remembered[lineage.source_topic] = lineage
        self._store.write(lineages)
        for lineage in lineages:
            del self._claims[lineage.source_topic]
        return lineages

    def keep(self, warn: Callable[[str], None]) -> None:
        """``claim``, and say once through ``warn`` when lineages cannot be read or kept
        (mirroring goes on, but a topic created again is then only recognized by what this
        process saw)."""
        problem = self.store_problem
        try:
            self.claim()
        except KmirrorError as exc:
            problem = str(exc)
        if problem and not self._warned:
            self._warned = True
            warn(f"{problem}; a source topic deleted and created again is recognized only while "
                 "this kmirror runs, not across restarts")

    def _refusal(self, kind: str, known: Lineage, source_id: str,
                 ask_target: bool = True) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(known.since_ms / 1000))
        where = f"{self.label}, topic {known.source_topic}"
        target = known.target_topic
        if kind == TARGET_DELETED:
            return (
                f"{where}: target topic {target} was deleted while kmirror mirrored into it "
                f"(since {since}); kmirror does not create it again behind your back: the "
                "mirror's committed offsets would start the new copy in the middle. Its "
                "partitions are not mirrored. Create the topic yourself, or run with "
                "--recreate.target.topics (either way the copy starts at the committed offsets)"
            )
        return (
            f"{where}: the topic was deleted and created again (its id was {known.source_topic_id} "
            f"when mirroring began, {since}; it is now {source_id}). Target topic {target} "
            f"in the {self.target_label} holds "
            f"{self._holdings(target) if ask_target else 'the records'} copied from the old "
            "topic; the new topic's records would be mixed into it, so its partitions are not "
            "mirrored and nothing is committed for them. To mirror the new topic: delete the "
            f"target topic (kafka-topics.sh --delete --topic {target}) and restart kmirror, "
            "which mirrors it from where auto.offset.reset says (its start by default); or "
            "mirror it under another name "
            "(--replication.policy prefix, or another target cluster)"
        )

    def _holdings(self, target_topic: str) -> str:
        try:
            partitions = self._target.topics().get(target_topic, 0)
            ends = self._target.end_offsets([(target_topic, p) for p in range(partitions)])
        except Exception:  # only for the explanation: never hide the refusal behind it
            return "the records"
        return (f"{sum(ends.values()):,} records (the sum of its end offsets) in {partitions} "
                "partition(s)")
