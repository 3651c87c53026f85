"""Shared fixtures: real local Kafka clusters started once per test session.

The clusters are started through the same code users run (`kmirror local up --json`), in a
private local dir so a developer's own clusters are left alone. Unit tests never touch them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.kafka_io import Clusters


def kmirror_cmd(*args: str) -> list[str]:
    """The argv to run the kmirror CLI of this checkout."""
    return [sys.executable, "-m", "kmirror", *args]


@pytest.fixture(scope="session")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for kmirror subprocesses, pointing at this session's local dir."""
    env = dict(os.environ)
    env["KMIRROR_LOCAL_DIR"] = str(tmp_path_factory.mktemp("kmirror-local"))
    return env


@pytest.fixture(scope="session")
def clusters(local_env: dict[str, str]) -> Iterator[Clusters]:
    """The `source` and `target` clusters, started once for the whole session."""
    out = subprocess.run(
        kmirror_cmd("local", "up", "--json"), env=local_env, capture_output=True, text=True,
        timeout=300, check=False,
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    by_name = {c["name"]: c for c in info["clusters"]}
    yield Clusters(
        source=by_name["source"]["bootstrap_servers"],
        target=by_name["target"]["bootstrap_servers"],
        info=info,
        env=local_env,
    )
    subprocess.run(
        kmirror_cmd("local", "down", "--purge"), env=local_env, timeout=120, check=False
    )


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name unique to this test (safe under parallel runs and reruns)."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    return f"t-{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A scratch folder for config files of one test."""
    return tmp_path
