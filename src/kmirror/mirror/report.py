"""What a stream process tells its supervisor: counters since the last report, and its state."""

from __future__ import annotations

from dataclasses import dataclass, field

Key = tuple[str, int]


@dataclass
class StreamReport:
    """What a stream tells its supervisor every second (and once at the end)."""

    source: str
    stream: int
    records: int = 0
    bytes: int = 0
    by_topic: dict[str, list[int]] = field(default_factory=dict)  # topic -> [records, bytes]
    latency_s: list[float] = field(default_factory=list)  # sampled source ts -> target ack
    commits: int = 0
    retries: int = 0
    rebalances: int = 0
    backpressure_pauses: int = 0
    # acknowledged positions that moved since the last report
    positions: dict[Key, int] = field(default_factory=dict)
    released: list[Key] = field(default_factory=list)  # let go since the last report
    assigned: int = 0
    in_flight: int = 0
    queue_fill: float = 0.0
    paused_for_backpressure: bool = False
    stopped_partitions: list[str] = field(default_factory=list)
    stopped_keys: list[Key] = field(default_factory=list)  # every partition stopped so far
    shallow_batches: dict[str, int] = field(default_factory=dict)  # path or reason -> batches
    source_gaps: dict[str, int] = field(default_factory=dict)  # topic -> records lost
    # Taking partitions (mirror/resume.py): records the target held past the committed
    # positions, those of them proven and not sent again, and records it no longer held that
    # were committed; checks that proved a skip, or fell back to sending again
    target_records_past_commit: int = 0
    records_skipped: int = 0
    target_records_missing: int = 0
    resumes_proven: int = 0
    resumes_fallen_back: int = 0
    # Partitions per (topic, path, reason): "records" or "batches", and why (paths/choice.py,
    # or the flag that forces it).
    partition_paths: dict[tuple[str, str, str], int] = field(default_factory=dict)
    error: str | None = None
    finished: bool = False

    def count(self, topic: str, records: int, size_bytes: int) -> None:
        """Records of ``topic`` handed to the target (the record path's loop inlines this)."""
        self.records += records
        self.bytes += size_bytes
        counts = self.by_topic.get(topic)
        if counts is None:
            counts = self.by_topic[topic] = [0, 0]
        counts[0] += records
        counts[1] += size_bytes
