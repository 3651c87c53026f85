"""The entry point of a stream process: logging, secrets, signals, then one stream's loop."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from typing import Any

from kmirror.config import secrets
from kmirror.config.settings import MirrorSettings
from kmirror.errors import KmirrorError
from kmirror.mirror.assembly import open_stream
from kmirror.mirror.report import StreamReport

_PR_SET_PDEATHSIG = 1


def stream_main(
    settings: MirrorSettings, source_index: int, stream_index: int, reports: Any, verbose: bool
) -> None:
    """Entry point of a stream process."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    if not verbose:
        logging.getLogger("kmirror.librdkafka").setLevel(logging.ERROR)
    for client in (*(s.client for s in settings.sources), settings.target):
        secrets.remember(client)
    secrets.install()
    _die_with_parent()
    stop = {"requested": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stop["requested"] += 1
        if signum == signal.SIGINT and stop["requested"] > 1:
            os._exit(130)  # a second Ctrl-C: leave now, commit nothing more

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    source = settings.sources[source_index]
    try:
        stream = open_stream(
            settings, source, stream_index, reports.put, lambda: stop["requested"] > 0
        )
        code = stream.run()
    except KmirrorError as exc:
        reports.put(StreamReport(source.alias, stream_index, error=str(exc), finished=True))
        code = exc.exit_code
    # Done: a late SIGTERM (the parent forwards one too) must not kill the exit itself.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    reports.close()
    reports.join_thread()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _die_with_parent() -> None:
    """Ask Linux to kill this stream when the parent dies (kill -9 of kmirror)."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
