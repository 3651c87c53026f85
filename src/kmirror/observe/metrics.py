"""Every Prometheus metric kmirror exposes, declared in one place.

Names carry their unit and counters end in ``_total``. The supervisor (the parent process)
owns the registry and feeds it from the streams' reports, so ``/metrics`` shows all streams of
all source clusters together.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# `_created` series double every counter's series count and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
)


class MirrorMetrics:
    """The metric objects of one `kmirror run`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.records = Counter(
            "kmirror_mirrored_records_total", "Records written to the target and acknowledged "
            "by it, per source cluster and topic", ["source", "topic"], registry=r)
        self.bytes = Counter(
            "kmirror_mirrored_bytes_total", "Record value bytes mirrored, per source cluster "
            "and topic (--shallow: a batch forwarded whole counts its bytes as sent)",
            ["source", "topic"], registry=r)
        self.lag_records = Gauge(
            "kmirror_lag_records", "Records in the source not yet mirrored, per partition",
            ["source", "topic", "partition"], registry=r)
        self.lag_seconds = Gauge(
            "kmirror_lag_seconds", "Now minus the timestamp of the oldest source record not "
            "yet mirrored, per partition (0 when caught up)",
            ["source", "topic", "partition"], registry=r)
        self.latency = Histogram(
            "kmirror_replication_latency_seconds", "Target acknowledgement time minus source "
            "record timestamp (sampled)", ["source"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.queue_fill = Gauge(
            "kmirror_producer_queue_fill_ratio", "Fill level of the fullest producer queue of "
            "a stream (0..1); at 1 the stream pauses its source", ["source", "stream"],
            registry=r)
        self.in_flight = Gauge(
            "kmirror_in_flight_records", "Records sent to the target and not yet acknowledged",
            ["source", "stream"], registry=r)
        self.partitions = Gauge(
            "kmirror_partitions", "Source partitions per delivery path (path=records or "
            "batches, carried whole) and why (reason)", ["source", "topic", "path", "reason"],
            registry=r)
        self.assigned = Gauge(
            "kmirror_assigned_partitions", "Source partitions assigned to a stream",
            ["source", "stream"], registry=r)
        self.commits = Counter(
            "kmirror_offset_commits_total", "Offset commits of acknowledged positions",
            ["source"], registry=r)
        self.retries = Counter(
            "kmirror_send_retries_total", "Produce requests the client retried (retriable "
            "errors; it re-chooses the broker)", ["source"], registry=r)
        self.rebalances = Counter(
            "kmirror_rebalances_total", "Partition assignments and revocations seen by streams",
            ["source"], registry=r)
        self.target_past_commit = Counter(
            "kmirror_target_records_past_commit_total", "Records a stream found on the target "
            "past a partition's committed position as it took the partition (acknowledged "
            "after the last commit)", ["source"], registry=r)
        self.records_skipped = Counter(
            "kmirror_records_skipped_on_target_total", "Records a stream did not send because "
            "the target already held them (checked against the target's records as it took "
            "the partition)", ["source"], registry=r)
        self.resumes = Counter(
            "kmirror_resumes_total", "Partitions taken whose target held other than what the "
            "last commit said: outcome=proven (the records on the target checked, skipped or "
            "found again) or fallen_back (sent again from the committed offset)",
            ["source", "outcome"], registry=r)
        self.target_missing = Counter(
            "kmirror_target_records_missing_total", "Records committed as on the target that "
            "the target no longer held when a stream took the partition", ["source"],
            registry=r)
        self.backpressure = Counter(
            "kmirror_backpressure_pauses_total", "Times a stream paused its source because "
            "the producer queue was full", ["source"], registry=r)
        self.shallow_batches = Counter(
            "kmirror_shallow_batches_total", "Record batches on the --shallow path: forwarded "
            "whole (path=whole) or through the record path (path=the reason)",
            ["source", "path"], registry=r)
        self.source_gap_records = Counter(
            "kmirror_source_gap_records_total", "Records deleted from the source before they "
            "were mirrored (counted with --on.source.gap continue)", ["source", "topic"],
            registry=r)
        self.errors = Counter(
            "kmirror_errors_total", "Errors by kind (refused records, fatal client errors, "
            "failed commits)", ["kind"], registry=r)
        self.stopped_partitions = Gauge(
            "kmirror_stopped_partitions", "Partitions stopped by a record the target refused",
            ["source"], registry=r)
        self.streams_running = Gauge(
            "kmirror_streams_running", "Stream processes alive", registry=r)
