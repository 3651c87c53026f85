"""Config providers (${env:...}, ${file:...}, ${dir:...}) and secret masking (no broker)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kmirror.config import secrets
from kmirror.config.providers import provided_keys, resolve


def test_env_file_and_dir_placeholders_are_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a secret in the environment, one in a properties file and one in a folder
    monkeypatch.setenv("SRC_PW", "from-env")
    (tmp_path / "creds.properties").write_text("pw = from-file\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("from-dir\n")
    raw = {
        "a": "${env:SRC_PW}",
        "b": f"${{file:{tmp_path}/creds.properties:pw}}",
        "c": f"${{dir:{tmp_path}/secrets:token}}",
        "d": "user-${env:SRC_PW}-x",
        "plain": "value",
        "config.providers": "env,file,dir",
        "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
    }
    problems: list[str] = []
    # When resolved
    out = resolve("c.properties", raw, problems)
    # Then each takes its value, the Java declarations are dropped, nothing is a problem
    assert out == {"a": "from-env", "b": "from-file", "c": "from-dir",
                   "d": "user-from-env-x", "plain": "value"}
    assert problems == []
    assert provided_keys(raw) == {"a", "b", "c", "d"}


@pytest.mark.parametrize(("value", "expected"), [
    ("${env:KMIRROR_TEST_UNSET}", "the environment variable KMIRROR_TEST_UNSET is not set"),
    ("${file:/nonexistent/x.properties:pw}", "cannot read /nonexistent/x.properties"),
    ("${vault:secret/db:pw}", "unknown config provider 'vault'"),
    ("${file:pw}", "write ${file:/path:key}"),
])
def test_unresolvable_placeholders_are_problems_naming_file_and_key(
    value: str, expected: str
) -> None:
    problems: list[str] = []
    resolve("c.properties", {"sasl.password": value}, problems)
    [problem] = problems
    assert problem.startswith(f"c.properties: sasl.password: {value}: ")
    assert expected in problem


def test_missing_key_in_a_provider_file(tmp_path: Path) -> None:
    (tmp_path / "creds.properties").write_text("other=1\n")
    problems: list[str] = []
    resolve("c.properties", {"k": f"${{file:{tmp_path}/creds.properties:pw}}"}, problems)
    assert problems and "has no key pw" in problems[0]


def test_secrets_are_masked_and_scrubbed_from_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given settings with a password and a provided token
    secrets.remember({"sasl.password": "hunter2-pw", "bootstrap.servers": "b:9092",
                      "sasl.oauthbearer.config": "scope=x", "custom": "tok-123"},
                     provided={"custom"})
    # Then views mask them, by name or because they were provided
    view = secrets.masked({"sasl.password": "hunter2-pw", "custom": "tok-123",
                           "bootstrap.servers": "b:9092", "ssl.key.password": "k"})
    assert view == {"sasl.password": secrets.MASK, "custom": secrets.MASK,
                    "bootstrap.servers": "b:9092", "ssl.key.password": secrets.MASK}
    # And a log line quoting one (as a client error might) shows the mask instead
    logger = logging.getLogger("kmirror.test.secrets")
    caplog.handler.addFilter(secrets.RedactingFilter())
    with caplog.at_level(logging.WARNING):
        logger.warning("auth failed for password %s (token tok-123)", "hunter2-pw")
    assert "hunter2-pw" not in caplog.text and "tok-123" not in caplog.text
    assert secrets.MASK in caplog.text
    assert secrets.redact("x hunter2-pw y") == f"x {secrets.MASK} y"
