"""The stream's writer on the default path (paths/mixed.py): two writers seen as one.

The record path's writer learns of acknowledgements at checkpoints (cheap per record); the
batch path sends the records of batches it cannot forward whole through a writer of its own
with per-record acknowledgements (a checkpoint never moves a batch-path partition's track).
The stream sees one writer: failures, latencies, retries and queue figures of both.
"""

from __future__ import annotations

from kmirror.kafka.writer import SendFailure, TargetWriter


class WriterPair:
    """``main`` (checkpoints) and ``fallback`` (per record), as the stream uses a writer."""

    per_record_acks = False  # (as the stream asks: the main writer's checkpoints)

    def __init__(self, main: TargetWriter, fallback: TargetWriter) -> None:
        self.main, self.fallback = main, fallback

    @property
    def fatal(self) -> str | None:
        """The first fatal error of either."""
        return self.main.fatal or self.fallback.fatal

    @property
    def failures(self) -> list[SendFailure]:
        """Records the target refused, through either writer."""
        if self.fallback.failures:
            self.main.failures.extend(self.fallback.failures)
            self.fallback.failures = []
        return self.main.failures

    @failures.setter
    def failures(self, failures: list[SendFailure]) -> None:
        self.main.failures = failures

    def take_latency_samples(self) -> list[float]:
        """Both writers' latency samples since the last call."""
        return self.main.take_latency_samples() + self.fallback.take_latency_samples()

    def take_retries(self) -> int:
        """Both writers' retries since the last call."""
        return self.main.take_retries() + self.fallback.take_retries()

    def queued(self) -> int:
        """Records queued or in flight in either."""
        return self.main.queued() + self.fallback.queued()

    def queue_fill(self) -> float:
        """The fuller queue's fill ratio."""
        return max(self.main.queue_fill(), self.fallback.queue_fill())

    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve both writers' delivery reports (waiting on the main one)."""
        self.main.poll(timeout_s)
        self.fallback.poll(0)

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush and release both."""
        try:
            self.main.close(timeout_s)
        finally:
            self.fallback.close(timeout_s)
