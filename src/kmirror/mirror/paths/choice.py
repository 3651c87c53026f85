"""Which way each partition goes by default: batches whole, or record by record.

Forwarding a batch whole costs about the same whatever it holds, so it pays for batches of many
records and loses to the record path (librdkafka's C decoding and batching) for batches of a
few. Measured on this project's machine with 100-byte records (docs/shallow.md, "Which way a
partition goes"): batches whole reach 0.11x the record path's rate at one record per batch,
0.41x at 4, 0.70x at 8, 1.4x at 16 and 2.4x at 32. So a partition goes:

- **records** while its batches average fewer than ``RECORDS_BELOW`` records and fewer than
  ``BYTES_ENOUGH`` bytes, or while most of them could not go whole anyway (compacted, another
  codec than the producer config asks for, LogAppendTime, a delete horizon);
- **batches** once they average ``BATCHES_FROM`` records or more (or ``BYTES_ENOUGH`` bytes),
  and most can go whole;
- in between it stays where it is (hysteresis), and it never moves again within
  ``MIN_DWELL_S`` of its last move, so a source whose batch sizes wander does not flap;
- **batches** too when nothing was read from it on the record path for ``IDLE_S``: an idle
  partition costs far less there (the batch path's fetch session names only what changed,
  where the consumer's fetch names every partition every time: 10,000 idle partitions cost
  most of a core on the record path), and it stays there until batches are seen twice within
  ``IDLE_S``, which then decide as always (so a partition written now and then does not flap).

Small batches move a partition to the records only when they come in numbers: a look that holds
fewer than ``BATCHES_FROM`` records in all (a trickle: one record now and then) leaves it on the
batch path, whose cost per batch (~33 µs) is nothing at that rate, where the move costs a seek
of the consumer and, once it is idle again, a move back (5,000 partitions handed over with one
new record each all moved to the records and back, and a look at a lone one-record batch sent
one partition of the 8-partition benchmark to the records for its whole run).

The first look decides at once, before any batch is sent (a partition starts on the batch
path), and it has no side to keep yet: in between the thresholds it takes the side of the
crossover, ``FIRST_LOOK_FROM`` records per batch (where the two rates meet, between 0.70x at 8
and 1.4x at 16). Otherwise a steady source writing 8 to 15 records per batch would start whole
and move to the records later, mid-stream, when its average wandered under 8.

What a partition's batches look like is learnt from the batches the batch path fetches, and for
a partition on the record path from a small look at its next batches every ``LOOK_INTERVAL_S``
(the batch path's fetch, on its own connection: the consumer does not show batches).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

RECORDS_BELOW = 8  # batches smaller than this on average: records (batches whole < 0.7x)
BATCHES_FROM = 16  # batches this large on average: batches whole (1.4x the record path)
FIRST_LOOK_FROM = 12  # the first look, in between: the crossover (whole = records at ~11.4)
BYTES_ENOUGH = 16 << 10  # batches of this many bytes go whole whatever their record count
UNFIT_SHARE = 0.5  # more than this share of batches cannot go whole: records
MIN_DWELL_S = 10.0
IDLE_S = 30.0  # nothing read on the record path for this long: batches
LOOK_INTERVAL_S = 5.0
WEIGHT = 0.3  # of a new look in the moving averages


class Side(Enum):
    """Which path carries a partition's records."""

    RECORDS = "records"
    BATCHES = "batches"


@dataclass
class Seen:
    """What was seen of a partition's batches in one fetch answer (data batches only)."""

    batches: int
    records: int
    size_bytes: int
    unfit: int = 0  # batches that could not go whole for a lasting reason
    unfit_reason: str = ""


@dataclass
class PartitionChoice:
    """One partition's side and the moving averages it is chosen from."""

    side: Side
    since: float  # when it took this side
    records_per_batch: float | None = None
    bytes_per_batch: float = 0.0
    unfit_share: float = 0.0
    unfit_reason: str = ""
    judged: bool = False  # a look decided once already (later moves wait MIN_DWELL_S)
    idle: bool = False  # on the batch path for being idle: stays until busy again (``woke``)
    woke_at: float | None = None  # when batches were last seen while idle
    trickle: bool = False  # the last look held fewer than BATCHES_FROM records in all

    def saw(self, seen: Seen) -> None:
        """Fold one look into the moving averages (the first look counts whole)."""
        if seen.batches <= 0:
            return
        records = seen.records / seen.batches
        size = seen.size_bytes / seen.batches
        unfit = seen.unfit / seen.batches
        if seen.unfit_reason:
            self.unfit_reason = seen.unfit_reason
        self.trickle = seen.records < BATCHES_FROM
        if self.records_per_batch is None:
            self.records_per_batch, self.bytes_per_batch, self.unfit_share = records, size, unfit
            return
        keep = 1.0 - WEIGHT
        self.records_per_batch = keep * self.records_per_batch + WEIGHT * records
        self.bytes_per_batch = keep * self.bytes_per_batch + WEIGHT * size
        self.unfit_share = keep * self.unfit_share + WEIGHT * unfit

    def went_idle(self) -> None:
        """It moves to the batch path for being idle."""
        self.idle, self.woke_at = True, None

    def woke(self, now: float) -> None:
        """Batches seen while idle: seen again within IDLE_S, it is busy again and its batches
        decide as always; a lone batch now and then leaves it where it is (a partition written
        once a minute would otherwise move twice for every batch)."""
        if self.woke_at is not None and now - self.woke_at <= IDLE_S:
            self.idle = False
        self.woke_at = now

    def wanted(self, now: float) -> Side:
        """The side this partition should be on now (its own while nothing says otherwise)."""
        per_batch = self.records_per_batch
        if self.idle or per_batch is None or (self.judged and now - self.since < MIN_DWELL_S):
            return self.side
        first, self.judged = not self.judged, True
        if self.unfit_share > UNFIT_SHARE:
            return Side.RECORDS
        if self.bytes_per_batch >= BYTES_ENOUGH:
            return Side.BATCHES
        if self.trickle:  # (see the module docstring)
            return Side.BATCHES if first else self.side
        if first:
            return Side.BATCHES if per_batch >= FIRST_LOOK_FROM else Side.RECORDS
        if per_batch >= BATCHES_FROM:
            return Side.BATCHES
        if per_batch < RECORDS_BELOW:
            return Side.RECORDS
        return self.side

    def reason(self) -> str:
        """Why it is on its side, as the gauge and the live view show it."""
        if self.side is Side.BATCHES:
            return "idle" if self.idle else "batches whole"
        if self.unfit_share > UNFIT_SHARE and self.unfit_reason:
            return self.unfit_reason
        if self.records_per_batch is not None and self.records_per_batch < BATCHES_FROM:
            return "small batches"
        return "starting"

    def moved(self, side: Side, now: float) -> None:
        """It took ``side`` now."""
        self.side, self.since = side, now
