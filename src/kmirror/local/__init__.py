"""Real local Kafka clusters for tests, benchmarks and first steps (`kmirror local`)."""

from kmirror.local.cluster import HEAP, ClusterInfo, LocalCluster, local_dir
from kmirror.local.distribution import KafkaDistribution, ensure_kafka, pinned_kafka_version
from kmirror.local.manager import DEFAULT_NAMES, down, status, up

__all__ = [
    "DEFAULT_NAMES",
    "HEAP",
    "ClusterInfo",
    "KafkaDistribution",
    "LocalCluster",
    "down",
    "ensure_kafka",
    "local_dir",
    "pinned_kafka_version",
    "status",
    "up",
]
