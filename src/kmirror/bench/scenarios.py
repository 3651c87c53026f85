"""The benchmark scenarios: record size, record count, the source topics' compression, and how
the source's producer batches (1 MB batches; or one record per batch, as a producer that sends
each record on its own writes them)."""

from __future__ import annotations

from dataclasses import dataclass

PARTITIONS = 8


@dataclass(frozen=True)
class Scenario:
    """One data set: ``records`` records of ``record_size`` bytes, written with ``compression``
    (``single``: one record per batch)."""

    name: str
    record_size: int
    records: int
    compression: str = "none"
    single: bool = False

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
                        self.compression, self.single)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("100B", 100, 2_000_000),
        Scenario("1KB", 1024, 500_000),
        Scenario("100B-zstd", 100, 2_000_000, "zstd"),
        Scenario("1KB-zstd", 1024, 500_000, "zstd"),
        Scenario("100B-single", 100, 200_000, single=True),
    )
}
