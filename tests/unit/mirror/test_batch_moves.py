"""The batch path's side of the default path (paths/mixed.py): what it tells of each
partition's batches, a partition leaving for the record path and coming back, a codec other
than the producer config asks for, and looks at record-path partitions. Fakes as in
test_shallow_stream.py (no broker)."""

from __future__ import annotations

from collections import Counter

from tests.helpers.batches import batch, data, record
from tests.unit.mirror.test_shallow_stream import (
    KEY,
    _commit_offset,
    _fetch,
    _send_all,
    _sequence,
    _stream,
)

from kmirror.kafka.batches import Codec
from kmirror.kafka.raw_io import FetchedPartition
from kmirror.mirror.paths.batch import IDLE_MAX_WAIT_MS
from kmirror.mirror.paths.choice import Seen


def test_each_fetch_answer_tells_what_its_batches_look_like() -> None:
    stream, _, _ = _stream()
    seen: list[Seen] = []
    stream.observe = lambda key, what: seen.append(what)
    _fetch(stream, data(100, 3), data(103, 2))
    [what] = seen
    assert (what.batches, what.records, what.unfit) == (2, 5, 0)
    assert what.size_bytes == sum(len(data(o, n)) for o, n in ((100, 3), (103, 2)))


def test_a_batch_in_another_codec_than_asked_goes_record_by_record_and_counts_as_unfit() -> None:
    stream, target, writer = _stream()
    stream.wanted_codec = Codec.NONE
    seen: list[Seen] = []
    stream.observe = lambda key, what: seen.append(what)
    gzip = batch([record(0, b"k", b"v"), record(1, b"k", b"w")], base_offset=100,
                 codec=Codec.GZIP)
    _fetch(stream, gzip, data(102, 2))
    _send_all(stream)
    # Then the gzip batch's records go through the writer (compressed as it is configured)
    assert [offset for offset, _ in writer.records] == [100, 101]
    assert target.sent == []
    writer.ack_all()
    _send_all(stream)
    target.answer(base_offset=2)
    assert _commit_offset(stream) == 104
    assert stream.sender.batches == Counter({"other codec": 1, "whole": 1})
    assert (seen[0].unfit, seen[0].unfit_reason) == (1, "other codec")


def test_a_partition_leaves_once_its_batches_in_flight_are_acknowledged() -> None:
    stream, target, _ = _stream()
    _fetch(stream, data(100, 3))
    _send_all(stream)
    _fetch(stream, data(103, 2))  # (fetched, not sent)
    # When it leaves, what was fetched and not sent is forgotten, the batch in flight is not
    stream.leave(KEY)
    assert not stream.left(KEY)
    assert not stream.carrying
    target.answer(base_offset=0)
    assert stream.left(KEY)
    # Then its track says where the record path goes on: after the acknowledged batch
    track = stream.loop.tracker.track(*KEY)
    assert (track.next_offset, _commit_offset(stream)) == (103, 103)
    _send_all(stream)
    assert target.sent == []


def test_a_partition_that_comes_back_goes_on_with_its_sequence() -> None:
    stream, target, _ = _stream()
    _fetch(stream, data(100, 3))
    _send_all(stream)
    target.answer(base_offset=0)
    stream.leave(KEY)
    assert stream.left(KEY)
    # (the record path carried 103..109 meanwhile, all acknowledged)
    stream.loop.tracker.track(*KEY).passed(109)
    stream.take(KEY, 110)
    assert stream.carrying
    _fetch(stream, data(110, 2))
    _send_all(stream)
    assert _sequence(target.answer(base_offset=10)) == 3
    assert _commit_offset(stream) == 112


def test_a_partition_a_rebalance_hands_back_goes_on_with_its_sequence() -> None:
    # Given a partition whose first batch (3 records: sequences 0-2) the target acknowledged
    stream, target, _ = _stream()
    _fetch(stream, data(100, 3))
    _send_all(stream)
    target.answer(base_offset=0)
    # When a rebalance takes it away (another member copies 103..109 meanwhile) and hands it
    # back to this stream, whose producer id is the same
    stream.let_go([KEY])
    stream.loop.tracker.track(*KEY).passed(109)
    stream.assigned([KEY])
    _fetch(stream, data(110, 2))
    _send_all(stream)
    # Then its next batch goes on from sequence 3 (from 0 the target answers
    # OUT_OF_ORDER_SEQUENCE_NUMBER and a new producer id is needed)
    assert _sequence(target.answer(base_offset=10)) == 3
    assert _commit_offset(stream) == 112


def test_a_leaving_partition_ignores_fetch_answers_and_is_not_fetched() -> None:
    stream, _, _ = _stream()
    stream.leave(KEY)
    part = stream.batch_parts[KEY]
    stream._fetched(1, [FetchedPartition(KEY[0], KEY[1], part.position, None, data(100, 3),
                                         [], 0, 0)], None)
    assert not part.queue
    fetches: list[object] = []
    stream.src.fetch = lambda *args, **kwargs: fetches.append(args)
    stream._src_leaders = {KEY: 1}
    stream._fetch()
    assert fetches == []


def test_a_look_summarises_batches_after_its_offset_and_queues_nothing() -> None:
    stream, _, _ = _stream()
    seen: list[tuple[object, Seen]] = []
    stream.observe = lambda key, what: seen.append((key, what))
    other = ("t", 1)
    stream.looks[other] = 50
    stream._looked(1, [FetchedPartition(other[0], other[1], 50, None,
                                        data(47, 3) + data(50, 1) + data(51, 1), [], 0, 0)],
                   None)
    [(key, what)] = seen
    assert key == other and (what.batches, what.records) == (2, 2)
    assert other not in stream.looks and other not in stream.batch_parts


def test_after_an_answer_without_records_the_broker_may_hold_the_next_fetch_longer() -> None:
    stream, target, _ = _stream()
    waits: list[int] = []

    def fetch(*args: object, **kwargs: object) -> None:
        waits.append(int(kwargs["max_wait_ms"]))  # type: ignore[call-overload]
        stream._fetching.discard(1)  # (answered at once, as the test does below)

    stream.src.fetch = fetch
    stream._src_leaders, stream._src_nodes = {KEY: 1}, {1}
    part = stream.batch_parts[KEY]
    stream._fetch()
    stream._fetched(1, [FetchedPartition(KEY[0], KEY[1], part.position, None, data(100, 3),
                                         [], 0, 0)], None)
    _send_all(stream)
    # An answer without records while a batch waits for the target: the usual wait
    stream._fetched(1, [], None)
    stream._fetch()
    # Once nothing waits (an idle session's answer lists no partition at all): the broker may
    # hold the next fetch up to IDLE_MAX_WAIT_MS (records end the wait at once)
    target.answer()
    stream._fetched(1, [], None)
    stream._fetch()
    # And records again: the usual wait
    stream._fetched(1, [FetchedPartition(KEY[0], KEY[1], part.position, None, data(103, 1),
                                         [], 0, 0)], None)
    stream._fetch()
    assert waits == [500, 500, IDLE_MAX_WAIT_MS, 500]
