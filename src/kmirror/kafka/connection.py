"""What a client's connection errors mean, and waiting for a cluster's first answer.

librdkafka reports a wrong password or an untrusted certificate only through its error
callback, and otherwise keeps retrying until a request times out. ``ConnectionErrors`` collects
those reports and names the cause with what to do; ``wait_for_metadata`` asks for metadata in
short slices and fails with that diagnosis as soon as it shows, so a wrong setting fails at once
(``ClusterUnreachable``) instead of after the whole timeout.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from kmirror.errors import ClusterUnreachable
from kmirror.kafka.client_errors import translated

# What a connection error from librdkafka means, and what to do: (pattern, advice).
_DIAGNOSES: tuple[tuple[str, str], ...] = (
    ("SASL authentication error", "authentication failed: check sasl.username and "
     "sasl.password (and that sasl.mechanism is one the listener enables)"),
    ("certificate verify failed", "the broker's certificate is not trusted: point "
     "ssl.ca.location at the CA certificate that signed it (PEM)"),
    ("alert bad certificate", "the broker refused the TLS handshake for want of a trusted client "
     "certificate: set ssl.certificate.location and ssl.key.location (a certificate its "
     "truststore accepts)"),
    ("alert certificate required", "the broker requires a client certificate: set "
     "ssl.certificate.location and ssl.key.location"),
    ("unknown CA", "the broker does not trust the client certificate: use one signed by a CA "
     "in the broker's truststore"),
    ("SSL handshake failed", "the TLS handshake failed: check security.protocol and the ssl.* "
     "settings"),
    ("Unsupported SASL mechanism", "the listener does not enable this sasl.mechanism"),
)


class ConnectionErrors:
    """Collects a client's connection errors (its error_cb) and explains the first that
    has a known cause, so a wrong password fails at once with advice, not after a timeout."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, error: KafkaError) -> None:
        if len(self.seen) < 20:
            self.seen.append(error.str())

    def diagnosis(self) -> str | None:
        """'what failed: what to do', from the errors seen so far, or None."""
        for text in self.seen:
            for pattern, advice in _DIAGNOSES:
                if pattern in text:
                    return advice
        return None


def wait_for_metadata(client: Any, errors: ConnectionErrors, timeout_s: float,
                      where: str, topic: str | None = None) -> Any:
    """``client.list_topics`` retried in short slices until it answers; raises
    ClusterUnreachable ("``where``: the diagnosis") as soon as a known cause shows, or
    KafkaException after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            return client.list_topics(topic, timeout=max(0.1, min(2.0, remaining)))
        except KafkaException:
            client.poll(0)  # serves error_cb
            cause = errors.diagnosis()
            if cause is not None:
                raise translated(ClusterUnreachable, f"{where}: {cause}", None) from None
            if time.monotonic() >= deadline:
                raise
