"""Secrets are never shown: every command, with a known secret in its configs, on real brokers.

The secret comes from the environment through a config provider and, for the target, from a
properties file; the brokers here speak PLAINTEXT, so the SASL clients fail to connect, which is
exactly where client errors and --verbose tracebacks could quote settings.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import kmirror_cmd
from tests.helpers.kafka_io import Clusters
from tests.helpers.mirror_run import write_config

pytestmark = pytest.mark.integration

SECRET = "Kn0wn-Secret-7f3a9"


def _configs(workdir: Path, clusters: Clusters) -> tuple[Path, Path]:
    creds = write_config(workdir, "creds", target__password=SECRET)
    source = write_config(
        workdir, "source", bootstrap__servers=clusters.source, group__id="g-secrets",
        security__protocol="SASL_PLAINTEXT", sasl__mechanism="PLAIN", sasl__username="alice",
        sasl__password="${env:KMIRROR_TEST_SECRET}",
    )
    target = write_config(
        workdir, "target", bootstrap__servers=clusters.target,
        security__protocol="SASL_PLAINTEXT", sasl__mechanism="PLAIN", sasl__username="bob",
        sasl__password=f"${{file:{creds}:target.password}}",
    )
    return source, target


def _run(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "KMIRROR_TEST_SECRET": SECRET}
    started = time.monotonic()
    out = subprocess.run(kmirror_cmd(*args, "--verbose"), capture_output=True, text=True,
                         timeout=120, env=env, check=False)
    return out, time.monotonic() - started


def test_print_config_masks_provided_secrets(clusters: Clusters, workdir: Path) -> None:
    source, target = _configs(workdir, clusters)
    out, _ = _run("run", "--consumer.config", str(source), "--producer.config", str(target),
                  "--include", "x", "--print-config")
    assert out.returncode == 0, out.stderr
    assert "sasl.password=********" in out.stdout and "sasl.username=alice" in out.stdout
    assert SECRET not in out.stdout + out.stderr


@pytest.mark.parametrize("command", ["run", "lag", "verify"])
def test_no_command_shows_the_secret_when_it_fails(
    clusters: Clusters, workdir: Path, command: str
) -> None:
    source, target = _configs(workdir, clusters)
    args = {
        "run": ["run", "--consumer.config", str(source), "--producer.config", str(target),
                "--include", "x", "--metrics.port", "0", "--no-live"],
        "lag": ["lag", "--consumer.config", str(source), "--group", "g-secrets"],
        "verify": ["verify", "--consumer.config", str(source), "--producer.config",
                   str(target), "--include", "x"],
    }[command]
    out, took = _run(*args)
    # A clear failure within 30 s, exit 2, and the secret nowhere (not even in a traceback)
    assert out.returncode == 2, out.stderr[-3000:]
    assert took < 30
    assert "security settings" in out.stderr
    assert SECRET not in out.stdout + out.stderr
