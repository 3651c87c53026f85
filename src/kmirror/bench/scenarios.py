"""The benchmark scenarios: record size, record count, the source topics' compression, and how
many records the source's producer puts in a batch (as many as fit in 1 MB; or a few, down to
one record per batch, as a producer that sends each record on its own writes them)."""

from __future__ import annotations

from dataclasses import dataclass

PARTITIONS = 8


@dataclass(frozen=True)
class Scenario:
    """One data set: ``records`` records of ``record_size`` bytes, written with ``compression``,
    ``per_batch`` records in each source batch (None: as many as fit in 1 MB)."""

    name: str
    record_size: int
    records: int
    compression: str = "none"
    per_batch: int | None = None

    @property
    def topic(self) -> str:
        """The source topic (and, with identity naming, the target topic) of this scenario."""
        return f"bench.{self.name}"

    @property
    def bytes(self) -> int:
        """Payload bytes in the scenario (record values only)."""
        return self.record_size * self.records

    def scaled(self, factor: float) -> Scenario:
        """The same scenario with ``factor`` times the records (for smoke runs)."""
        return Scenario(self.name, self.record_size, max(1, int(self.records * factor)),
                        self.compression, self.per_batch)

    @property
    def batch_size(self) -> int:
        """The Java producer's batch.size for ``per_batch`` records (0 turns batching off: one
        record per batch). A 100 B record of v2 without key or headers takes 109 bytes (110
        with a timestamp delta over 63 ms), a batch header 61: room for ``per_batch`` records,
        never for one more (checked with DumpLogSegments for 2 to 64)."""
        if self.per_batch is None:
            return 1_048_576
        if self.per_batch == 1:
            return 0
        return 61 + self.per_batch * (self.record_size + 10)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("100B", 100, 2_000_000),
        Scenario("1KB", 1024, 500_000),
        Scenario("100B-zstd", 100, 2_000_000, "zstd"),
        Scenario("1KB-zstd", 1024, 500_000, "zstd"),
        Scenario("100B-single", 100, 1_000_000, per_batch=1),
        # The crossover of the two paths (records per batch): measured on request only.
        *(Scenario(f"100B-x{n}", 100, 200_000, per_batch=n) for n in (2, 4, 8, 16, 32, 64)),
    )
}
DEFAULT = ("100B", "1KB", "100B-zstd", "1KB-zstd", "100B-single")
