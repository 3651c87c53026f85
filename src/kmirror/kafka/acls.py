"""The ACL a refused request needed, as the `kafka-acls` line that grants it.

An authorization error names what failed; the user also needs to know whom to grant what.
The principal is read from the client settings: the SASL user, the OAUTHBEARER principal, or
the CN of the client certificate (the broker's ``ssl.principal.mapping.rules`` may map it
differently; the line says so).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

_OAUTH_PRINCIPAL = re.compile(r"principal=(\S+)")


def principal_of(settings: Mapping[str, str]) -> str:
    """The Kafka principal these client settings authenticate as, as well as it can be told."""
    if settings.get("sasl.username"):
        return f"User:{settings['sasl.username']}"
    if settings.get("sasl.mechanism", "").upper() == "OAUTHBEARER":
        found = _OAUTH_PRINCIPAL.search(settings.get("sasl.oauthbearer.config", ""))
        if found:
            return f"User:{found.group(1)}"
    cert = settings.get("ssl.certificate.location")
    if cert:
        common_name = _common_name(cert)
        if common_name:
            return f"User:{common_name}"
    return "User:<the client's principal>"


def acl_line(settings: Mapping[str, str], operations: Sequence[str], resource: str,
             name: str) -> str:
    """``kafka-acls.sh ... --add`` granting ``operations`` on one resource (``--topic``,
    ``--group`` or ``--cluster``)."""
    ops = " ".join(f"--operation {op}" for op in operations)
    target = "--cluster" if resource == "--cluster" else f"{resource} '{name}'"
    return (
        f"kafka-acls.sh --bootstrap-server {settings.get('bootstrap.servers', 'HOST:PORT')} "
        f"--command-config ADMIN.properties --add --allow-principal "
        f"{principal_of(settings)} {ops} {target}"
    )


def secured(settings: Mapping[str, str]) -> bool:
    """True when the connection authenticates (where ACLs can hide topics)."""
    return settings.get("security.protocol", "plaintext").lower() != "plaintext"


def hidden_topics_hint(settings: Mapping[str, str]) -> str:
    """For 'no topic selected' on an authenticated connection: topics the principal may not
    Describe are left out of the metadata, so they look absent."""
    if not secured(settings):
        return ""
    return (
        f" visible to {principal_of(settings)}; topics it may not Describe are invisible, so "
        "if they exist grant it with: "
        + acl_line(settings, ["Describe", "Read", "DescribeConfigs"], "--topic", "*")
    )


def _common_name(path: str) -> str | None:
    try:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        value = names[0].value if names else None
        return value if isinstance(value, str) else None
    except (OSError, ValueError):
        return None
