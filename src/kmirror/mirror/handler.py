"""Message handlers: the classic `--message.handler` seam, one record in, zero or more out.

A handler may change a record's topic, key, value, headers and timestamp, drop it or split it.
The target partition is always the source partition, so a partition's order holds.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from kmirror.errors import ConfigError

Headers = list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class MirrorRecord:
    """A record on its way to the target."""

    topic: str
    partition: int
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    timestamp_ms: int


class MessageHandler(Protocol):
    """Turns one source record into the records to write (an empty iterable drops it)."""

    def handle(self, record: MirrorRecord) -> Iterable[MirrorRecord]:
        """The records to write for ``record``, in order."""
        ...


def load_handler(spec: str, args: str | None) -> MessageHandler:
    """Instantiate ``module:Class`` (called with ``args`` when given), or raise ConfigError."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ConfigError([f"--message.handler {spec}: write it as module:Class"])
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            [f"--message.handler {spec}: cannot import {module_name} ({exc}); is it on PYTHONPATH?"]
        ) from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ConfigError([f"--message.handler {spec}: {module_name} has no {class_name}"])
    handler = cls(args) if args is not None else cls()
    if not callable(getattr(handler, "handle", None)):
        raise ConfigError([f"--message.handler {spec}: {class_name} has no handle(record) method"])
    return handler  # type: ignore[no-any-return]
