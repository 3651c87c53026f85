"""`kmirror run` (being built)."""

from typing import Any


def register(commands: Any) -> None:
    """Placeholder until the mirror lands."""
