"""Shopify's toxiproxy for the slow, lossy link case: installed with `go install`, driven over
its HTTP API on loopback; and the java shim that makes a local broker advertise the proxy.

Why a shim: Kafka clients connect to the address a broker *advertises* after bootstrapping,
so a proxy on another port is bypassed. `kmirror local up` writes ``advertised.listeners`` =
``listeners`` = ``127.0.0.1:PORT`` into ``server.properties`` on every start and has no option to
change it. It runs the broker with ``$JAVA_HOME/bin/java ... kafka.Kafka server.properties``,
so a ``JAVA_HOME`` whose ``java`` appends ``--override advertised.listeners=PLAINTEXT://
127.0.0.2:PORT`` (Kafka's own command-line override) makes the broker, still listening on
127.0.0.1:PORT only, send every client to 127.0.0.2:PORT, where toxiproxy listens (Linux
routes all of 127.0.0.0/8 to the loopback interface) and forwards to 127.0.0.1:PORT.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

TOXIPROXY_VERSION = "v2.12.0"
# The server's package is cmd/server (the binary is called `server`); there is no
# cmd/toxiproxy-server package in v2.x. "latest" is tried when the pinned version is not served.
_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
PROXY_HOST = "127.0.0.2"


def cache_dir() -> Path:
    """Where kmirror keeps downloads (the same root as the Kafka jars)."""
    return Path(os.environ.get("KMIRROR_CACHE", Path.home() / ".cache" / "kmirror"))


def ensure_toxiproxy() -> tuple[Path | None, str]:
    """The toxiproxy-server binary (installed once with `go install`), or None and why not."""
    go = shutil.which("go")
    failures = []
    for version in (TOXIPROXY_VERSION, "latest"):
        folder = cache_dir() / f"toxiproxy-{version}"
        binary = folder / "toxiproxy-server"
        if binary.exists():
            return binary, f"toxiproxy {version} from {binary}"
        if go is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            [go, "install", f"{_MODULE}@{version}"], env={**os.environ, "GOBIN": str(folder)},
            capture_output=True, text=True, timeout=900, check=False,
        )
        if out.returncode == 0 and (folder / "server").exists():
            (folder / "server").rename(binary)
            return binary, f"toxiproxy {version} installed into {binary}"
        failures.append(f"`go install {_MODULE}@{version}` failed: "
                        f"{(out.stderr or out.stdout).strip()[-400:]}")
    if go is None:
        return None, "`go` is not installed, so toxiproxy cannot be built (go install)"
    return None, "; ".join(failures)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Toxiproxy:
    """A toxiproxy-server process of this test, its API on loopback."""

    def __init__(self, binary: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [str(binary), "-host", "127.0.0.1", "-port", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "LOG_LEVEL": "info"},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.call("GET", "/version")
                return
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise AssertionError(f"toxiproxy did not start; see {log}") from None
                time.sleep(0.2)

    def call(self, method: str, path: str, body: dict[str, object] | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def proxy(self, name: str, listen: str, upstream: str) -> None:
        self.call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream,
                                       "enabled": True})

    def toxic(self, proxy: str, name: str, kind: str, stream: str = "downstream",
              **attributes: int) -> None:
        self.call("POST", f"/proxies/{proxy}/toxics", {
            "name": name, "type": kind, "stream": stream, "toxicity": 1.0,
            "attributes": attributes,
        })

    def remove(self, proxy: str, name: str) -> None:
        self.call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


_SHIM = '''#!{python}
"""java for `kmirror local up` in the fault suite: the broker advertises {host}:PORT."""
import os, re, sys
real = {real!r}
args = sys.argv[1:]
if "kafka.Kafka" in args:
    config = args[args.index("kafka.Kafka") + 1]
    text = open(config).read()
    port = re.search(r"^listeners=PLAINTEXT://[^:]+:(\\d+)", text, re.M).group(1)
    args += ["--override", "advertised.listeners=PLAINTEXT://{host}:" + port]
os.execv(real, [real, *args])
'''


def java_home_shim(folder: Path, host: str = PROXY_HOST) -> Path:
    """A JAVA_HOME whose bin/java runs the real java, adding the advertised-address override."""
    java_home = os.environ.get("JAVA_HOME")
    real = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    assert real, "no java found"
    home = folder / "java-home-shim"
    (home / "bin").mkdir(parents=True, exist_ok=True)
    shim = home / "bin" / "java"
    shim.write_text(_SHIM.format(python=sys.executable, real=real, host=host))
    shim.chmod(0o755)
    return home
