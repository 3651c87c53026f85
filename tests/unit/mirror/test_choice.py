"""Which way a partition goes by default (paths/choice.py): from what its batches look like,
with hysteresis and a minimum dwell so it does not flap."""

from __future__ import annotations

from kmirror.mirror.paths.choice import (
    BATCHES_FROM,
    FIRST_LOOK_FROM,
    MIN_DWELL_S,
    RECORDS_BELOW,
    PartitionChoice,
    Seen,
    Side,
)


def _seen(per_batch: float, size: int = 100, unfit: int = 0, batches: int = 20) -> Seen:
    """A look at ``batches`` batches (20 by default: small ones come in numbers)."""
    return Seen(batches, int(per_batch * batches), size * batches, unfit,
                "compacted" if unfit else "")


def test_the_first_look_decides_at_once() -> None:
    choice = PartitionChoice(Side.BATCHES, since=0.0)
    assert choice.wanted(0.0) is Side.BATCHES  # (nothing seen yet: where it is)
    choice.saw(_seen(1))
    assert choice.wanted(0.1) is Side.RECORDS
    assert choice.reason() == "batches whole"  # (it has not moved yet)
    choice.moved(Side.RECORDS, 0.1)
    assert choice.reason() == "small batches"


def test_large_batches_stay_whole_and_large_bytes_count_as_large() -> None:
    choice = PartitionChoice(Side.BATCHES, since=0.0)
    choice.saw(_seen(BATCHES_FROM))
    assert choice.wanted(0.0) is Side.BATCHES
    few_but_big = PartitionChoice(Side.BATCHES, since=0.0)
    few_but_big.saw(_seen(2, size=64 << 10))
    assert few_but_big.wanted(0.0) is Side.BATCHES


def test_between_the_thresholds_a_partition_stays_where_it_is() -> None:
    middle = (RECORDS_BELOW + BATCHES_FROM) / 2
    for side in Side:
        choice = PartitionChoice(side, since=0.0, judged=True)
        choice.saw(_seen(middle))
        assert choice.wanted(100.0) is side


def test_the_first_look_in_between_takes_the_side_of_the_crossover() -> None:
    # A steady source of 8 to 15 records per batch is settled at once, not moved mid-stream
    assert RECORDS_BELOW < FIRST_LOOK_FROM < BATCHES_FROM
    below = PartitionChoice(Side.BATCHES, since=0.0)
    below.saw(_seen(FIRST_LOOK_FROM - 1))
    assert below.wanted(0.0) is Side.RECORDS
    at = PartitionChoice(Side.BATCHES, since=0.0)
    at.saw(_seen(FIRST_LOOK_FROM))
    assert at.wanted(0.0) is Side.BATCHES
    # Then hysteresis: the same look no longer moves it
    below.moved(Side.RECORDS, 0.0)
    below.saw(_seen(FIRST_LOOK_FROM))
    assert below.wanted(MIN_DWELL_S + 1) is Side.RECORDS


def test_after_a_move_it_waits_the_dwell_and_a_moving_average_before_moving_back() -> None:
    choice = PartitionChoice(Side.BATCHES, since=0.0)
    choice.saw(_seen(1))
    assert choice.wanted(0.0) is Side.RECORDS
    choice.moved(Side.RECORDS, 0.0)
    # When the batches grow at once, it stays within the dwell
    choice.saw(_seen(100))
    assert choice.wanted(MIN_DWELL_S / 2) is Side.RECORDS
    # And one large look among small ones does not move it (the average stays small)
    flapping = PartitionChoice(Side.RECORDS, since=0.0, judged=True)
    flapping.saw(_seen(1))
    for _ in range(5):
        flapping.saw(_seen(1))
    flapping.saw(_seen(30))
    assert flapping.records_per_batch is not None and flapping.records_per_batch < BATCHES_FROM
    assert flapping.wanted(MIN_DWELL_S * 2) is Side.RECORDS
    # Then, after the dwell, the grown average moves it
    assert choice.wanted(MIN_DWELL_S + 1) is Side.BATCHES


def test_batches_that_cannot_go_whole_send_a_partition_to_the_records() -> None:
    choice = PartitionChoice(Side.BATCHES, since=0.0)
    choice.saw(_seen(100, unfit=16))
    assert choice.wanted(0.0) is Side.RECORDS
    choice.moved(Side.RECORDS, 0.0)
    assert choice.reason() == "compacted"
    # An empty look changes nothing
    choice.saw(Seen(0, 0, 0))
    assert choice.unfit_share == 0.8


def test_a_trickle_of_small_batches_stays_whole() -> None:
    # Given looks that hold fewer records in all than one batch worth sending whole
    assert BATCHES_FROM == 16
    lone = PartitionChoice(Side.BATCHES, since=0.0)
    lone.saw(_seen(1, batches=1))  # one record now and then
    few = PartitionChoice(Side.BATCHES, since=0.0)
    few.saw(_seen(1, batches=15))
    # Then the first look keeps them on the batch path, and so do later ones after the dwell
    assert lone.wanted(0.0) is Side.BATCHES and few.wanted(0.0) is Side.BATCHES
    lone.saw(_seen(1, batches=1))
    assert lone.wanted(MIN_DWELL_S + 1) is Side.BATCHES
    # When small batches come in numbers (16 records in one look), they go record by record
    few.saw(_seen(1, batches=16))
    assert few.wanted(MIN_DWELL_S + 1) is Side.RECORDS
    # And a trickle never moves a partition already on the records (going idle does)
    on_records = PartitionChoice(Side.RECORDS, since=0.0, judged=True)
    on_records.saw(_seen(1, batches=2))
    assert on_records.wanted(MIN_DWELL_S + 1) is Side.RECORDS
