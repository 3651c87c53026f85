"""What the monitor makes of the streams' reports: totals, positions, stopped partitions,
errors printed once, lag, /health and /ready, and the rows of the status line."""

from __future__ import annotations

import time

import pytest

from kmirror.mirror.monitor import (
    LOOP_SILENCE_S,
    STALL_S,
    STREAM_SILENCE_S,
    Monitor,
    PartitionLag,
    lag_of,
)
from kmirror.mirror.report import StreamReport


@pytest.fixture
def printed() -> list[str]:
    return []


def _sample(monitor: Monitor, name: str, labels: dict[str, str]) -> float | None:
    return monitor.metrics.registry.get_sample_value(name, labels)


def test_reports_add_up_per_source_and_topic(printed: list[str]) -> None:
    monitor = Monitor()
    monitor.take(StreamReport("east", 0, records=3, bytes=300,
                              by_topic={"orders": [2, 200], "users": [1, 100]}), printed.append)
    monitor.take(StreamReport("east", 1, records=4, bytes=400, by_topic={"orders": [4, 400]}),
                 printed.append)
    monitor.take(StreamReport("west", 0, records=1, bytes=10, by_topic={"orders": [1, 10]}),
                 printed.append)
    assert (monitor.records, monitor.bytes) == (8, 710)
    assert monitor.by_topic == {("east", "orders"): [6, 600], ("east", "users"): [1, 100],
                                ("west", "orders"): [1, 10]}
    labels = {"source": "east", "topic": "orders"}
    assert _sample(monitor, "kmirror_mirrored_records_total", labels) == 6
    assert set(monitor.streams) == {("east", 0), ("east", 1), ("west", 0)}
    assert printed == []


def test_partitions_per_path_sum_over_streams_and_drop_to_zero(printed: list[str]) -> None:
    monitor = Monitor()
    small, whole = ("orders", "records", "small batches"), ("orders", "batches", "batches whole")
    monitor.take(StreamReport("east", 0, partition_paths={small: 2, whole: 1}), printed.append)
    monitor.take(StreamReport("east", 1, partition_paths={whole: 3}), printed.append)

    def gauge(path: str, reason: str) -> float | None:
        return _sample(monitor, "kmirror_partitions",
                       {"source": "east", "topic": "orders", "path": path, "reason": reason})

    assert (gauge("records", "small batches"), gauge("batches", "batches whole")) == (2, 4)
    assert monitor.path_of("east", "orders") == "batches 4, records 2"
    # When stream 0's partitions all go whole, the records label drops to 0
    monitor.take(StreamReport("east", 0, partition_paths={whole: 3}), printed.append)
    assert (gauge("records", "small batches"), gauge("batches", "batches whole")) == (0, 6)
    assert monitor.path_of("east", "orders") == "batches"


def test_positions_only_move_forward(printed: list[str]) -> None:
    monitor = Monitor()
    monitor.take(StreamReport("east", 0, positions={("orders", 0): 10}), printed.append)
    monitor.take(StreamReport("east", 1, positions={("orders", 0): 7, ("orders", 1): 3}),
                 printed.append)  # (a stream that lost the partition reports an older one)
    assert monitor.positions == {("east", ("orders", 0)): 10, ("east", ("orders", 1)): 3}
    assert monitor.positions_of("east") == {("orders", 0): 10, ("orders", 1): 3}
    assert monitor.positions_of("west") == {}


def test_a_partition_let_go_has_no_position_here_until_a_stream_holds_it_again(
        printed: list[str]) -> None:
    # Given positions told by stream 0 (one partition) and stream 1 (another)
    monitor = Monitor()
    a, b = ("orders", 0), ("orders", 1)
    monitor.take(StreamReport("east", 0, positions={a: 10}), printed.append)
    monitor.take(StreamReport("east", 1, positions={b: 5}), printed.append)
    # When a rebalance takes the first away from this process: it is another member's to tell
    # (the lag refresh reads the group's committed offset for it, not a stale 10)
    monitor.take(StreamReport("east", 0, released=[a]), printed.append)
    assert monitor.positions_of("east") == {b: 5}
    # And when stream 0 takes the second from stream 1, stream 1 letting go later does not
    # drop what stream 0 told since
    monitor.take(StreamReport("east", 0, positions={b: 6}), printed.append)
    monitor.take(StreamReport("east", 1, released=[b]), printed.append)
    assert monitor.positions_of("east") == {b: 6}
    # And a partition back tells its position again, whatever it was before
    monitor.take(StreamReport("east", 1, positions={a: 3}), printed.append)
    assert monitor.positions_of("east") == {a: 3, b: 6}


def test_stopped_partitions_and_errors_are_kept_and_printed_once(printed: list[str]) -> None:
    monitor = Monitor()
    report = StreamReport("east", 0, stopped_partitions=["target refused orders-0 at 5: x"],
                          stopped_keys=[("orders", 0)], error="stream 0 failed: boom")
    monitor.take(report, printed.append)
    monitor.take(report, printed.append)  # streams repeat what they see
    assert monitor.stopped == {("east", ("orders", 0))}
    assert monitor.errors == ["stream 0 failed: boom"]
    assert printed == ["error: target refused orders-0 at 5: x", "error: stream 0 failed: boom"]


def test_a_finished_stream_is_no_longer_running(printed: list[str]) -> None:
    monitor = Monitor()
    monitor.take(StreamReport("east", 0, assigned=2), printed.append)
    monitor.take(StreamReport("east", 0, finished=True), printed.append)
    assert monitor.streams == {}


def test_lag_counts_records_behind_and_the_age_of_the_first_not_mirrored() -> None:
    lag = lag_of(ends={("t", 0): 100, ("t", 1): 50, ("t", 2): 10},
                 positions={("t", 0): 90, ("t", 1): 50, ("t", 2): -1},
                 stamps={("t", 0): (90, 1_000_000)}, now_s=1_010.0)
    assert lag == {("t", 0): PartitionLag(10, 10.0), ("t", 1): PartitionLag(0, 0.0),
                   ("t", 2): PartitionLag(10, None)}  # (no timestamp known: no seconds)


def test_set_lag_feeds_the_total_and_the_gauges() -> None:
    monitor = Monitor()
    monitor.set_lag("east", {("t", 0): PartitionLag(10, 2.5), ("t", 1): PartitionLag(5, None)})
    assert monitor.total_lag() == 15
    labels = {"source": "east", "topic": "t", "partition": "0"}
    assert _sample(monitor, "kmirror_lag_records", labels) == 10
    assert _sample(monitor, "kmirror_lag_seconds", labels) == 2.5


def test_rows_give_rates_since_the_window_and_lag_per_topic(printed: list[str]) -> None:
    monitor = Monitor()
    monitor.take(StreamReport("east", 0, records=10, bytes=2_000_000,
                              by_topic={"orders": [10, 2_000_000]}, queue_fill=0.25),
                 printed.append)
    previous = {k: list(v) for k, v in monitor.by_topic.items()}
    monitor.take(StreamReport("east", 0, records=20, bytes=4_000_000,
                              by_topic={"orders": [20, 4_000_000]}, queue_fill=0.5),
                 printed.append)
    monitor.set_lag("east", {("orders", 0): PartitionLag(7, 1.5),
                             ("orders", 1): PartitionLag(3, 4.0),
                             ("users", 0): PartitionLag(2, None)})
    rows = monitor.topic_rows(previous, 2.0)
    assert [(r.source, r.topic) for r in rows] == [("east", "orders"), ("east", "users")]
    orders, users = rows
    assert orders.records_per_s == 10.0 and orders.mb_per_s == 2.0
    assert (orders.lag_records, orders.lag_seconds, orders.mirrored) == (10, 4.0, 30)
    assert orders.queue_fill == 0.5
    assert (users.records_per_s, users.lag_records, users.lag_seconds) == (0.0, 2, 0.0)


def test_health_names_a_silent_loop_and_a_silent_stream(printed: list[str]) -> None:
    monitor = Monitor()
    assert monitor.health().ok
    monitor.take(StreamReport("east", 3), printed.append)
    monitor.loop_at = time.monotonic() - LOOP_SILENCE_S - 1
    monitor.streams[("east", 3)].reported_at = time.monotonic() - STREAM_SILENCE_S - 1
    check = monitor.health()
    assert not check.ok
    assert [r.split(" silent")[0] for r in check.reasons] == ["supervisor loop",
                                                               "stream 3 of 'east'"]


def test_ready_lists_every_reason_not_to_be(printed: list[str]) -> None:
    monitor = Monitor()
    check = monitor.ready()
    assert not check.ok
    assert check.reasons == ["no source partition is assigned to any stream yet"]
    monitor.take(StreamReport("east", 0, assigned=4), printed.append)
    assert monitor.ready().ok and monitor.ready().reasons == ["mirroring"]
    monitor.empty_filters = ["--include 'x' selects none of the 3 topics of source cluster 'east'"]
    monitor.target_problem = "target cluster (t:9092) does not answer"
    monitor.set_lag("east", {("t", 0): PartitionLag(1_000, 9.0)})
    monitor.progress_at = time.monotonic() - STALL_S - 1
    monitor.take(StreamReport("east", 0, assigned=4, stopped_keys=[("t", 1)]), printed.append)
    reasons = monitor.ready().reasons
    assert reasons[:2] == [monitor.empty_filters[0], monitor.target_problem]
    assert reasons[2].startswith("stalled: 1,000 records behind and none mirrored for ")
    assert reasons[3] == "1 partition(s) stopped (see the errors)"
