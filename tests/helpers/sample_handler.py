"""A message handler for the integration tests
(`--message.handler tests.helpers.sample_handler:X`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from kmirror.mirror.handler import MirrorRecord


class UpperDropSplit:
    """Uppercases values, drops records keyed b"drop", writes records keyed b"two" twice."""

    def __init__(self, args: str | None = None) -> None:
        self.suffix = (args or "").encode()

    def handle(self, record: MirrorRecord) -> Iterable[MirrorRecord]:
        """One record in, zero, one or two out."""
        if record.key == b"drop":
            return []
        out = dataclasses.replace(
            record, value=(record.value or b"").upper() + self.suffix
        )
        return [out, out] if record.key == b"two" else [out]
