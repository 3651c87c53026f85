"""Several local clusters at once: what `kmirror local up/status/down` do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kmirror.errors import LocalClusterError
from kmirror.kafka.admin import grant_acls, probe_cluster
from kmirror.local import security
from kmirror.local.cluster import HEAP, ClusterInfo, LocalCluster, local_dir
from kmirror.local.distribution import ensure_kafka, pinned_kafka_version

DEFAULT_NAMES = ("source", "target")


@dataclass(frozen=True)
class LocalReport:
    """The clusters and the distribution they run on."""

    kafka_version: str
    kafka_libs: str
    clusters: list[ClusterInfo]

    def as_json(self) -> dict[str, object]:
        """The documented JSON shape of `kmirror local up/status --json`."""
        return {
            "kafka_version": self.kafka_version,
            "kafka_libs": self.kafka_libs,
            "clusters": [c.as_json() for c in self.clusters],
        }


def _clusters(names: Sequence[str], secure: bool = False,
              heap: str = HEAP) -> list[LocalCluster]:
    return [LocalCluster(name, secure=secure, heap=heap) for name in names]


# What a mirror needs, on either side (see docs/security.md for the minimal sets per side).
MIRROR_GRANTS = [
    ("topic", "*", ["read", "describe", "describe_configs", "create", "write", "alter"]),
    ("group", "*", ["read", "describe"]),
    ("broker", "kafka-cluster", ["describe"]),  # the cluster resource
    ("transactional_id", "*", ["write", "describe"]),  # --exactly-once
]


def known_names() -> list[str]:
    """Names of every cluster that has files in the local dir."""
    root = local_dir()
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "cluster.json").exists())


def up(names: Sequence[str] = DEFAULT_NAMES, secure: bool = False,
       heap: str = HEAP) -> LocalReport:
    """Start the named clusters (those already running are left as they are) and wait for them.

    ``secure``: with TLS, SASL and mutual-TLS listeners and the StandardAuthorizer (see
    kmirror.local.security); the mirror's principals get their ACLs once the broker answers.
    ``heap``: each broker's Java heap (brokers already running keep theirs)."""
    dist = ensure_kafka()
    clusters = _clusters(names, secure, heap)
    # Launch every broker first, then wait for each: the JVMs start side by side.
    launched = [(cluster, cluster.launch(dist)) for cluster in clusters]
    try:
        for cluster, process in launched:
            if process is not None:
                cluster.wait_until_up(process, probe_cluster)
                if cluster.secure:
                    for user in (security.MIRROR_USER, security.CLIENT_CN):
                        grant_acls(cluster.bootstrap_servers, f"User:{user}", MIRROR_GRANTS)
    except LocalClusterError:
        for cluster, process in launched:
            if process is not None:
                cluster.stop()
        raise
    return LocalReport(dist.version, str(dist.libs_dir), [c.info() for c in clusters])


def status(names: Sequence[str] | None = None) -> LocalReport:
    """Describe the named clusters (default: every cluster with files) without starting any."""
    from kmirror.local.distribution import cache_root

    version = pinned_kafka_version()
    libs = cache_root() / f"kafka-{version}" / "libs"
    clusters = _clusters(names if names else known_names())
    return LocalReport(version, str(libs), [c.info() for c in clusters])


def down(names: Sequence[str] | None = None, *, purge: bool = False) -> list[str]:
    """Stop the named clusters (default: all); with purge also delete their data. Returns names."""
    stopped = []
    for cluster in _clusters(names if names else known_names()):
        cluster.stop()
        if purge:
            cluster.purge()
        stopped.append(cluster.name)
    return stopped
