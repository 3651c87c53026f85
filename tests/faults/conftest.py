"""Fixtures of the fault suite: its own local clusters, so restarting and freezing brokers never
disturbs the session's `source` and `target` (other tests keep their addresses and pids)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmirror.local.ports import port_free
from tests.conftest import kmirror_cmd

SOURCE = "faults-source"
TARGET = "faults-target"


@dataclass
class FaultClusters:
    """Two local clusters of the fault suite, managed with `kmirror local` in the session's dir."""

    env: dict[str, str]
    addresses: dict[str, str]

    @property
    def source(self) -> str:
        return self.addresses[SOURCE]

    @property
    def target(self) -> str:
        return self.addresses[TARGET]

    def local(self, *args: str, env: dict[str, str] | None = None,
              timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(kmirror_cmd("local", *args), env=env or self.env,
                             capture_output=True, text=True, timeout=timeout_s, check=False)
        assert out.returncode == 0, f"kmirror local {' '.join(args)}: {out.stderr}"
        return out

    def up(self, *names: str, env: dict[str, str] | None = None) -> dict[str, dict[str, object]]:
        """`kmirror local up --name ... --json`: the clusters' JSON objects by name."""
        flags = [f for name in names for f in ("--name", name)]
        info = json.loads(self.local("up", *flags, "--json", env=env).stdout)
        return {c["name"]: c for c in info["clusters"]}

    def down(self, *names: str, purge: bool = False) -> None:
        flags = [f for name in names for f in ("--name", name)]
        self.local("down", *flags, *(["--purge"] if purge else []))

    def restart(self, name: str) -> str:
        """Stop then start a cluster; returns its address after the restart."""
        self.down(name)
        return str(self.up(name)[name]["bootstrap_servers"])

    def wait_ports_free(self, name: str, timeout_s: float) -> float:
        """Wait until a stopped cluster's ports pass `kmirror local up`'s free-port test;
        the seconds it took (usually none: the stopped broker has released its listeners).

        The test is the one `up` makes: a bind with SO_REUSEADDR, as the broker binds, so the
        connections the broker closed on its way down (TIME_WAIT, 60 s) do not count. A plain
        bind would wait those 60 s for nothing, and would hide a regression of `up`'s check.
        """
        state = json.loads((Path(self.env["KMIRROR_LOCAL_DIR"]) / name / "cluster.json")
                           .read_text())
        start = time.monotonic()
        for port in (state["port"], state["controller_port"]):
            while not port_free(port):
                assert time.monotonic() - start < timeout_s, f"port {port} still in use"
                time.sleep(0.2)
        return time.monotonic() - start

    def pid(self, name: str) -> int:
        """The broker's current pid (it changes on every restart)."""
        info = json.loads(self.local("status", "--name", name, "--json").stdout)
        pid = info["clusters"][0]["pid"]
        assert isinstance(pid, int), f"cluster {name} is not running: {info}"
        return pid


@pytest.fixture(scope="module")
def fault_clusters(local_env: dict[str, str]) -> Iterator[FaultClusters]:
    """`faults-source` and `faults-target`, started once for the fault suite."""
    clusters = FaultClusters(env=local_env, addresses={})
    started = clusters.up(SOURCE, TARGET)
    clusters.addresses = {name: str(c["bootstrap_servers"]) for name, c in started.items()}
    yield clusters
    subprocess.run(kmirror_cmd("local", "down", "--name", SOURCE, "--name", TARGET, "--purge"),
                   env=local_env, capture_output=True, timeout=180, check=False)
