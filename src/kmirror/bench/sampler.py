"""CPU seconds and peak memory of a tool: its process and every descendant, sampled.

A mirror may be one JVM or a supervisor with stream processes; the sampler walks the tree every
``interval_s``, remembers each process's last CPU time (so processes that exited still count
up to their last sample) and the peak resident set, in total and per process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class Usage:
    """CPU seconds (user + system) and resident memory of a process tree at one moment."""

    cpu_seconds: float
    peak_rss_mb: float
    """Peak of the tree's total resident set since sampling began."""
    peak_process_rss_mb: float
    """Peak resident set of the largest single process (a stream, a JVM)."""
    processes: int


class TreeSampler:
    """Samples a process tree in a background thread until ``stop``."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self._root = psutil.Process(pid)
        self._interval_s = interval_s
        self._cpu: dict[int, float] = {}
        self._procs: dict[int, psutil.Process] = {pid: self._root}
        self._peak_total = 0
        self._peak_single = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def start(self) -> TreeSampler:
        """Begin sampling; returns self."""
        self.sample()
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()

    def sample(self) -> Usage:
        """Take one sample now and return the usage so far."""
        with self._lock:
            try:
                for child in self._root.children(recursive=True):
                    self._procs.setdefault(child.pid, child)
            except psutil.Error:
                pass
            total_rss = 0
            for pid, proc in list(self._procs.items()):
                try:
                    with proc.oneshot():
                        times = proc.cpu_times()
                        rss = proc.memory_info().rss
                except psutil.Error:
                    del self._procs[pid]  # exited: its last CPU sample stays counted
                    continue
                self._cpu[pid] = times.user + times.system
                total_rss += rss
                self._peak_single = max(self._peak_single, rss)
            self._peak_total = max(self._peak_total, total_rss)
            return Usage(sum(self._cpu.values()), self._peak_total / 2**20,
                         self._peak_single / 2**20, len(self._cpu))

    def stop(self) -> Usage:
        """Stop sampling; the usage up to the last sample."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.sample()
