"""Processes on this machine by pid: what runs under a pid, and ending it.

Read from ``/proc`` (Linux), so a pid file can be checked against the command line it should
run before anything is signalled: a reused pid is never killed by mistake.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def cmdline(pid: int) -> str | None:
    """The command line of a live process, or None when there is none (zombies count as gone)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
        if status.rsplit(")", 1)[1].split()[0] == "Z":
            return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def terminate(pid: int, grace_s: float) -> None:
    """SIGTERM, then SIGKILL when the process still runs after ``grace_s``; returns once gone."""
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and cmdline(pid) is not None:
        time.sleep(0.2)
    if cmdline(pid) is not None:
        _signal(pid, signal.SIGKILL)
        while cmdline(pid) is not None:
            time.sleep(0.1)


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
