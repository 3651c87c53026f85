"""The scheduler of the supervisor's background jobs: named threads, failures reported per job
and once, no job holding the caller or another job, and a stop that joins."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from kmirror.mirror.jobs import Scheduler


def _eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


@pytest.fixture
def warnings() -> list[str]:
    return []


def test_a_failing_job_is_reported_once_by_name_and_does_not_stop_another(
    warnings: list[str],
) -> None:
    scheduler = Scheduler(warnings.append)
    good_runs: list[float] = []
    failures = 0

    def failing() -> None:
        nonlocal failures
        failures += 1
        raise RuntimeError("broker on fire")

    scheduler.every("broken", 0.01, failing)
    scheduler.every("healthy", 0.01, lambda: good_runs.append(time.monotonic()))
    scheduler.start()
    try:
        _eventually(lambda: failures >= 5 and len(good_runs) >= 5)
    finally:
        scheduler.stop()
    # Five failures, one warning: the same failure is not repeated every tick.
    assert warnings == ["background job broken failed: RuntimeError('broker on fire')"]


def test_a_different_failure_and_a_failure_after_a_success_are_reported_again(
    warnings: list[str],
) -> None:
    outcomes = iter([ValueError("a"), ValueError("a"), ValueError("b"), None, ValueError("b")])
    finished = threading.Event()

    def run() -> None:
        outcome = next(outcomes, StopIteration())
        if isinstance(outcome, StopIteration):
            finished.set()
            return
        if outcome is not None:
            raise outcome

    scheduler = Scheduler(warnings.append)
    scheduler.every("flaky", 0.001, run)
    scheduler.start()
    try:
        assert finished.wait(5.0)
    finally:
        scheduler.stop()
    assert warnings == [
        "background job flaky failed: ValueError('a')",
        "background job flaky failed: ValueError('b')",
        "background job flaky failed: ValueError('b')",
    ]


def test_a_slow_job_holds_neither_the_caller_nor_another_job(warnings: list[str]) -> None:
    release = threading.Event()
    fast_runs = 0

    def fast() -> None:
        nonlocal fast_runs
        fast_runs += 1

    scheduler = Scheduler(warnings.append)
    slow = scheduler.every("slow", None, lambda: release.wait(10.0))
    scheduler.every("fast", 0.01, fast)
    scheduler.start()
    try:
        began = time.monotonic()
        ticket = slow.wake()
        assert time.monotonic() - began < 0.5  # waking returns at once
        _eventually(lambda: fast_runs >= 5)  # while the slow one is still running
        assert not slow.done(ticket)
        release.set()
        _eventually(lambda: slow.done(ticket))
    finally:
        scheduler.stop()
    assert warnings == []


def test_a_wake_is_served_by_a_run_that_starts_after_it() -> None:
    entered, release = threading.Event(), threading.Event()
    starts: list[int] = []

    def run() -> None:
        starts.append(len(starts) + 1)
        entered.set()
        release.wait(5.0)

    scheduler = Scheduler(lambda _line: None)
    job = scheduler.every("lag", None, run)
    scheduler.start()
    try:
        first = job.wake()
        assert entered.wait(5.0)
        second = job.wake()  # while the first run is under way
        assert second == first + 1
        release.set()
        _eventually(lambda: job.done(second))
        assert starts == [1, 2]
    finally:
        scheduler.stop()


def test_jobs_run_on_named_threads_first_after_one_interval() -> None:
    names: list[str] = []
    scheduler = Scheduler(lambda _line: None)
    scheduler.every("topic-refresh", 0.2, lambda: names.append(threading.current_thread().name))
    started = time.monotonic()
    scheduler.start()
    try:
        _eventually(lambda: bool(names))
        assert time.monotonic() - started >= 0.2
    finally:
        scheduler.stop()
    assert names[0] == "kmirror-job-topic-refresh"


def test_stop_joins_the_threads_within_its_timeout_and_is_idempotent() -> None:
    running = threading.Event()
    scheduler = Scheduler(lambda _line: None)
    scheduler.every("quick", 0.001, running.set)
    stuck = threading.Event()
    scheduler.every("stuck", 0.001, lambda: stuck.wait(30.0))
    scheduler.start()
    assert running.wait(5.0)
    began = time.monotonic()
    scheduler.stop(timeout_s=0.3)
    assert time.monotonic() - began < 2.0  # a stuck job does not hold stop past its timeout
    names = {t.name for t in threading.enumerate()}
    assert "kmirror-job-quick" not in names  # joined
    scheduler.stop()  # a second stop does nothing
    stuck.set()


def test_a_name_is_registered_once() -> None:
    scheduler = Scheduler(lambda _line: None)
    scheduler.every("lag", None, lambda: None)
    with pytest.raises(ValueError, match="lag"):
        scheduler.every("lag", 1.0, lambda: None)
