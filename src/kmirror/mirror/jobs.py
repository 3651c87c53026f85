"""Background jobs: each named, on its own thread, timed, its failures caught (the
supervisor's jobs, and each stream's topic-ids check).

Modelled on MirrorMaker 2's ``Scheduler``: a job is registered under a name and an interval
and runs on a thread named ``kmirror-job-<name>``, first one interval after ``start`` (as
MirrorMaker's ``scheduleRepeatingDelayed``). Each run's duration is logged at debug. An
exception escaping a run is caught and reported as a warning naming the job, once per
distinct failure (the same failure again is logged at debug only; a run that succeeds re-arms
the warning), and the job keeps its schedule. Jobs never wait for each other, and no job holds
the caller: the watch loop only wakes jobs and reads what they published.

A job registered without an interval runs only when woken; ``wake`` returns a ticket that
``done`` turns true for once a run that started after the wake has finished (so a result the
caller then reads is at least as fresh as the wake).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

_log = logging.getLogger("kmirror.jobs")


class Job:
    """One named background job (see the module docstring)."""

    def __init__(self, name: str, interval_s: float | None, run: Callable[[], object],
                 warn: Callable[[str], None]) -> None:
        self.name, self.interval_s = name, interval_s
        self._run, self._warn = run, warn
        self._cond = threading.Condition()
        # Guarded by _cond: runs started and finished, a pending wake, the stop request.
        self._started = self._finished = 0
        self._woken = self._stopped = False
        self._failure: str | None = None  # the last failure reported (only this thread)
        self._thread = threading.Thread(target=self._loop, name=f"kmirror-job-{name}",
                                        daemon=True)

    def wake(self) -> int:
        """Run now instead of at the next interval; returns the ticket of that run."""
        with self._cond:
            self._woken = True
            self._cond.notify()
            return self._started + 1  # runs are sequential: the next to start serves the wake

    def done(self, ticket: int) -> bool:
        """Whether the run of ``ticket`` (from ``wake``) has finished."""
        with self._cond:
            return self._finished >= ticket

    def start(self) -> None:
        """Start the job's thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the job to stop after its current run (it never starts another)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def join(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the thread to end (if it was started)."""
        if self._thread.ident is not None:
            self._thread.join(max(0.0, timeout_s))

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._woken or self._stopped, self.interval_s)
                if self._stopped:
                    return
                self._woken = False
                self._started += 1
            try:
                self._run_once()
            finally:
                with self._cond:
                    self._finished += 1

    def _run_once(self) -> None:
        began = time.monotonic()
        try:
            self._run()
        except Exception as exc:  # one job's failure never stops it, another job or the mirror
            failure = f"background job {self.name} failed: {exc!r}"
            if failure != self._failure:
                self._failure = failure
                self._warn(failure)
            _log.debug("job %s failed", self.name, exc_info=True)
        else:
            self._failure = None
        _log.debug("job %s ran in %.3f s", self.name, time.monotonic() - began)


class Scheduler:
    """The named jobs of one mirror run; ``stop`` is idempotent."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self._warn = warn
        self._jobs: dict[str, Job] = {}
        self._started = self._stopped = False

    def every(self, name: str, interval_s: float | None, run: Callable[[], object]) -> Job:
        """Register ``run`` under ``name``: every ``interval_s`` (None: only when woken); what
        it returns is ignored."""
        if name in self._jobs:
            raise ValueError(f"a job named {name} is registered already")
        job = Job(name, interval_s, run, self._warn)
        self._jobs[name] = job
        if self._started and not self._stopped:
            job.start()
        return job

    def start(self) -> None:
        """Start every job's thread (jobs registered later start at once)."""
        if self._started:
            return
        self._started = True
        for job in self._jobs.values():
            job.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop every job and wait for their threads, ``timeout_s`` in all (a job stuck in a
        call is left to finish on its daemon thread: it never starts another run)."""
        if self._stopped:
            return
        self._stopped = True
        for job in self._jobs.values():
            job.stop()
        deadline = time.monotonic() + timeout_s
        for job in self._jobs.values():
            job.join(deadline - time.monotonic())
