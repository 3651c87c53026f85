"""Real single-node KRaft clusters (combined broker + controller) run as local Java processes.

Each cluster lives in ``<local dir>/<name>/``: ``server.properties``, ``log4j2.properties``,
``data/`` (the log directory, formatted once with its own cluster id), ``broker.log`` (all the
broker prints), ``broker.pid`` and ``cluster.json`` (ports and cluster id, so a restart keeps
the same addresses). The local dir is ``$KMIRROR_LOCAL_DIR`` or ``<cache>/local``.

Brokers run in their own session so they outlive the ``kmirror local up`` that started them.
This module owns a cluster's files and its broker's lifecycle; the text of the broker's
configuration is in kmirror.local.broker_config, port choice in kmirror.local.ports and the
pid-level checks and signals in kmirror.local.pids.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kmirror.errors import LocalClusterError
from kmirror.local import broker_config, pids, ports, security
from kmirror.local.distribution import KafkaDistribution, cache_root

HEAP = "512m"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
LOG_TAIL_LINES = 20

Probe = Callable[[str, float], str]
"""(bootstrap_servers, timeout_s) -> cluster id; raises when the cluster does not answer."""


def local_dir() -> Path:
    """The folder holding every local cluster's files."""
    return Path(os.environ.get("KMIRROR_LOCAL_DIR", cache_root() / "local"))


@dataclass(frozen=True)
class ClusterInfo:
    """What `kmirror local up/status --json` reports for one cluster."""

    name: str
    bootstrap_servers: str
    data_dir: str
    log_file: str
    pid: int | None
    cluster_id: str
    listeners: dict[str, dict[str, str]] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """The JSON object of this cluster, in the documented key order."""
        out: dict[str, object] = {
            "name": self.name,
            "bootstrap_servers": self.bootstrap_servers,
            "data_dir": self.data_dir,
            "log_file": self.log_file,
            "pid": self.pid,
        }
        if self.listeners:
            out["listeners"] = self.listeners
        return out


class LocalCluster:
    """One named local cluster: its files, its ports and its broker process."""

    def __init__(self, name: str, root: Path | None = None, secure: bool = False,
                 heap: str = HEAP) -> None:
        if not re.fullmatch(r"[1-9][0-9]*[mMgG]", heap):
            raise LocalClusterError(
                f"broker heap {heap!r}: give a size in megabytes or gigabytes, e.g. 512m or 2g"
            )
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise LocalClusterError(
                f"cluster name {name!r}: use letters, digits, '-' or '_' only"
            )
        self.name = name
        self.root = root or local_dir()
        self.home = self.root / name
        self.clients_dir = self.home / "clients"
        self._secure = secure
        self.heap = heap
        self._material: security.Material | None = None
        self.data_dir = self.home / "data"
        self.log_file = self.home / "broker.log"
        self.pid_file = self.home / "broker.pid"
        self.state_file = self.home / "cluster.json"
        self.config_file = self.home / "server.properties"
        self.log4j_file = self.home / "log4j2.properties"

    # --- state -------------------------------------------------------------------------------

    def _state(self) -> dict[str, object]:
        if not self.state_file.exists():
            return {}
        try:
            loaded = json.loads(self.state_file.read_text())
        except (OSError, ValueError) as exc:
            raise LocalClusterError(
                f"{self.state_file}: unreadable ({exc}); run `kmirror local down --purge`"
            ) from exc
        return loaded if isinstance(loaded, dict) else {}

    @property
    def port(self) -> int | None:
        """The client (PLAINTEXT) port, once chosen."""
        value = self._state().get("port")
        return value if isinstance(value, int) else None

    @property
    def bootstrap_servers(self) -> str:
        """The address clients connect to."""
        return f"127.0.0.1:{self.port}"

    @property
    def secure(self) -> bool:
        """Started with --security (kept across restarts)."""
        return self._secure or bool(self._state().get("secure"))

    def info(self) -> ClusterInfo:
        """The cluster's description for status output."""
        state = self._state()
        listeners: dict[str, dict[str, str]] = {}
        if state.get("secure"):
            listeners = {
                "SASL_SSL": {"bootstrap_servers": f"127.0.0.1:{state.get('sasl_port')}"},
                "SSL": {"bootstrap_servers": f"127.0.0.1:{state.get('ssl_port')}",
                        "client_auth": "required"},
            }
            listeners["SASL_SSL"]["mechanisms"] = ",".join(security.MECHANISMS)
            listeners["client_configs"] = {
                name.stem: str(name) for name in sorted(self.clients_dir.glob("*.properties"))
            }
        return ClusterInfo(
            name=self.name,
            bootstrap_servers=self.bootstrap_servers,
            data_dir=str(self.data_dir),
            log_file=str(self.log_file),
            pid=self.running_pid(),
            cluster_id=str(state.get("cluster_id", "")),
            listeners=listeners,
        )

    # --- process -----------------------------------------------------------------------------

    def running_pid(self) -> int | None:
        """The broker's pid when it runs; None when stopped (a stale pid file is removed).

        A pid file that names a live process which is not this cluster's broker (the pid was
        reused after a crash) is an error: kmirror will not guess whether to kill it.
        """
        if not self.pid_file.exists():
            return None
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            self.pid_file.unlink(missing_ok=True)
            return None
        cmdline = pids.cmdline(pid)
        if cmdline is None:
            # Process gone (crash, reboot, kill -9): a stale pid file, safe to forget.
            self.pid_file.unlink(missing_ok=True)
            return None
        if str(self.config_file) not in cmdline:
            raise LocalClusterError(
                f"stale pid file {self.pid_file}: it names process {pid}, which is not cluster "
                f"'{self.name}' (it runs `{cmdline[:80]}`); if that process is unrelated, "
                f"delete {self.pid_file} and run the command again"
            )
        return pid

    def start(self, dist: KafkaDistribution, probe: Probe) -> bool:
        """Start the broker unless it runs; wait until it answers. True when it was started."""
        process = self.launch(dist)
        if process is None:
            return False
        self.wait_until_up(process, probe)
        return True

    def launch(self, dist: KafkaDistribution) -> subprocess.Popen[bytes] | None:
        """Start the broker process unless it runs (None then); does not wait for it."""
        if self.running_pid() is not None:
            return None
        self.home.mkdir(parents=True, exist_ok=True)
        state = self._state()
        secure = self.secure
        if secure and (self.data_dir / "meta.properties").exists() and not state.get("secure"):
            raise LocalClusterError(
                f"cluster '{self.name}' was created without --security; run `kmirror local "
                f"down --purge --name {self.name}` first to recreate it secured"
            )
        port, controller_port = ports.choose_ports(state)
        chosen = {"port": port, "controller_port": controller_port}
        if secure:
            chosen |= ports.choose_extra_ports(state, ("sasl_port", "ssl_port"),
                                               taken=(port, controller_port))
        cluster_id = str(state.get("cluster_id") or _new_cluster_id())
        self.state_file.write_text(
            json.dumps({**chosen, "cluster_id": cluster_id, "secure": secure})
        )
        self._material = security.material(self.root, self.home) if secure else None
        self._write_configs(port, controller_port)
        if not (self.data_dir / "meta.properties").exists():
            self._format(dist, cluster_id)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [
                    dist.java, f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={self.log4j_file}",
                    "-cp", dist.classpath, "kafka.Kafka", str(self.config_file),
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid}\n")
        return process

    def _write_configs(self, port: int, controller_port: int) -> None:
        listeners = broker_config.plaintext_listeners(port, controller_port)
        if self._material is not None:
            state = self._state()
            sasl, ssl = int(str(state["sasl_port"])), int(str(state["ssl_port"]))
            listeners = security.broker_settings(self._material, port, sasl, ssl,
                                                 controller_port)
            security.client_configs(self._material, self.clients_dir, f"127.0.0.1:{sasl}",
                                    f"127.0.0.1:{ssl}")
        self.config_file.write_text(
            broker_config.server_properties(listeners, controller_port, self.data_dir)
        )
        self.log4j_file.write_text(broker_config.LOG4J_PROPERTIES)

    def _format(self, dist: KafkaDistribution, cluster_id: str) -> None:
        with self.log_file.open("ab") as log:
            result = subprocess.run(
                [
                    dist.java, "-Xmx256m", f"-Dlog4j2.configurationFile={self.log4j_file}",
                    "-cp", dist.classpath, "kafka.tools.StorageTool", "format",
                    # "=" form: a random id may start with "-" and look like an option
                    f"--cluster-id={cluster_id}", "--config", str(self.config_file),
                    *(security.scram_format_args(self._material) if self._material else []),
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                timeout=120, check=False,
            )
        if result.returncode != 0:
            raise LocalClusterError(
                f"cluster '{self.name}': formatting {self.data_dir} failed "
                f"(exit {result.returncode}); last lines of {self.log_file}:\n"
                + self.log_tail()
            )

    def wait_until_up(self, process: subprocess.Popen[bytes], probe: Probe) -> None:
        """Block until the broker answers a metadata request (or fail with its log)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        last_error = ""
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise LocalClusterError(
                    f"cluster '{self.name}': the broker exited with code {process.returncode} "
                    f"while starting; last lines of {self.log_file}:\n{self.log_tail()}"
                )
            try:
                probe(self.bootstrap_servers, 2.0)
                return
            except Exception as exc:
                last_error = str(exc)
            time.sleep(0.3)
        self.stop()
        raise LocalClusterError(
            f"cluster '{self.name}' did not answer a metadata request at "
            f"{self.bootstrap_servers} within {START_TIMEOUT_S:.0f} s ({last_error}); "
            f"it was stopped. Last lines of {self.log_file}:\n{self.log_tail()}"
        )

    def stop(self) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL after a grace period). True when it ran."""
        pid = self.running_pid()
        if pid is None:
            return False
        pids.terminate(pid, STOP_TIMEOUT_S)
        self.pid_file.unlink(missing_ok=True)
        return True

    def purge(self) -> None:
        """Delete every file of the cluster (data, logs, ports); it must be stopped."""
        shutil.rmtree(self.home, ignore_errors=True)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the broker's log, indented for error messages."""
        try:
            content = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "  (no log yet)"
        return "\n".join("  " + line for line in content[-lines:])


def _new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
