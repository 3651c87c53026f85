"""Running `kmirror run` as a real process from tests: configs, start, stop, output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import kmirror_cmd
from tests.helpers.kafka_io import Clusters


def write_config(folder: Path, name: str, **settings: str) -> Path:
    """A .properties file with the given settings (dots written as double underscores)."""
    path = folder / f"{name}.properties"
    lines = [f"{key.replace('__', '.')}={value}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_mirror(
    args: Sequence[str], env: dict[str, str] | None = None, timeout_s: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run `kmirror run ...` to completion."""
    return subprocess.run(
        kmirror_cmd("run", *args), capture_output=True, text=True, timeout=timeout_s,
        env=env or dict(os.environ), check=False,
    )


class MirrorProcess:
    """A `kmirror run` in the background, its output collected in a file."""

    def __init__(self, args: Sequence[str], log: Path) -> None:
        self.log = log
        self._file = log.open("w")
        self.process = subprocess.Popen(
            kmirror_cmd("run", *args), stdout=self._file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text()

    def wait_for(self, text: str, timeout_s: float = 60) -> None:
        """Block until ``text`` appears in the output."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not seen; output:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 120) -> int:
        """Signal the whole process group and wait."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        code = self.process.wait(timeout_s)
        self._file.close()
        return code


def run_verify(clusters: Clusters, *args: str) -> tuple[int, dict[str, object]]:
    """`kmirror verify --json` between the two clusters: exit code and report."""
    out = subprocess.run(
        kmirror_cmd("verify", "--source.bootstrap.servers", clusters.source,
                    "--target.bootstrap.servers", clusters.target, "--json", *args),
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def is_resend(got: Sequence[object], want: Sequence[object]) -> bool:
    """got = want[:a] + want[b:] with b <= a: a stretch re-sent after a crash, every record
    present and in order (contents must be unique)."""
    a = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w),
             min(len(got), len(want)))
    rest = got[a:]
    b = len(want) - len(rest)
    return 0 <= b <= a and list(rest) == list(want[b:])
