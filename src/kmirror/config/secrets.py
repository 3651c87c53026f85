"""Secrets are never shown: masked in views of the settings, scrubbed from every log line.

A value is secret when its key names one (password, secret, JAAS line, PEM key, OAuth config,
token) or when it came from a config provider (``${env:...}``, ``${file:...}``). Every such
value is remembered for the life of the process, and ``redact`` replaces it wherever it
appears in a text, so a client library's error that quotes a setting still shows nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

MASK = "********"
SECRET_KEY = re.compile(
    r".*(password|secret|jaas|token|\.pem$|^ssl\.key\.|sasl\.oauthbearer\.config).*"
)
MIN_SECRET_LENGTH = 3  # shorter values would scrub ordinary words from messages

_known: set[str] = set()


def is_secret_key(key: str) -> bool:
    """True for settings whose values are secrets by their name."""
    return bool(SECRET_KEY.fullmatch(key.lower()))


def remember(settings: Mapping[str, str], provided: Iterable[str] = ()) -> None:
    """Note the secret values of one client's settings (by key name, or provided)."""
    provided = set(provided)
    for key, value in settings.items():
        if (is_secret_key(key) or key in provided) and len(value) >= MIN_SECRET_LENGTH:
            _known.add(value)


def redact(text: str) -> str:
    """``text`` with every remembered secret value replaced by the mask."""
    for value in sorted(_known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def masked(settings: Mapping[str, str], provided: Iterable[str] = ()) -> dict[str, str]:
    """A copy fit to print: secret values replaced by the mask."""
    provided = set(provided)
    return {
        key: MASK if is_secret_key(key) or key in provided or value in _known else value
        for key, value in settings.items()
    }


class RedactingFilter(logging.Filter):
    """Scrubs remembered secrets from every record that passes a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _known:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


def install(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Put the filter on the root logger's handlers (or the given ones)."""
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
