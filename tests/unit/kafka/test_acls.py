"""What a refused connection or request is explained as (no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmirror.kafka.acls import acl_line, hidden_topics_hint, principal_of
from kmirror.kafka.connection import ConnectionErrors
from kmirror.local import security


class _Error:
    def __init__(self, text: str) -> None:
        self.text = text

    def str(self) -> str:
        return self.text


@pytest.mark.parametrize(("seen", "advice"), [
    ("sasl_ssl://h:9093/bootstrap: SASL authentication error: Authentication failed during "
     "authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
     "authentication failed: check sasl.username and sasl.password"),
    ("SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker "
     "certificate could not be verified", "the broker's certificate is not trusted"),
    ("Receive failed: error:0A000412:SSL routines::ssl/tls alert bad certificate: SSL alert "
     "number 42", "for want of a trusted client certificate"),
])
def test_connection_errors_are_explained(seen: str, advice: str) -> None:
    errors = ConnectionErrors()
    errors(_Error("1/1 brokers are down"))  # type: ignore[arg-type]
    assert errors.diagnosis() is None
    errors(_Error(seen))  # type: ignore[arg-type]
    diagnosis = errors.diagnosis()
    assert diagnosis is not None and advice in diagnosis


def test_the_principal_comes_from_the_settings(tmp_path: Path) -> None:
    assert principal_of({"sasl.username": "alice"}) == "User:alice"
    assert principal_of({"sasl.mechanism": "OAUTHBEARER",
                         "sasl.oauthbearer.config": "principal=svc scope=x"}) == "User:svc"
    found = security.material(tmp_path, tmp_path / "c")
    assert principal_of({"ssl.certificate.location": str(found.client.cert)}) == (
        f"User:{security.CLIENT_CN}")
    assert principal_of({}) == "User:<the client's principal>"


def test_acl_lines_and_the_hidden_topics_hint() -> None:
    settings = {"bootstrap.servers": "h:9093", "security.protocol": "SASL_SSL",
                "sasl.username": "mirror"}
    assert acl_line(settings, ["Describe"], "--group", "g") == (
        "kafka-acls.sh --bootstrap-server h:9093 --command-config ADMIN.properties --add "
        "--allow-principal User:mirror --operation Describe --group 'g'")
    assert "--topic '*'" in hidden_topics_hint(settings)
    assert hidden_topics_hint({"bootstrap.servers": "h:9092"}) == ""
