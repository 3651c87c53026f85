"""The outcome of translating one ``.properties`` file: librdkafka settings, warnings, problems.

Its own module so that ``legacy`` (which walks a file) and ``keystores`` (which answers the
Java keystore keys of that file) both import it, and neither imports the other's caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Translation:
    """The outcome of translating one file (filled in by ``legacy`` and ``keystores``)."""

    settings: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
