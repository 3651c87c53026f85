"""TLS and SASL for raw_io's own connections, from the same settings librdkafka reads.

``--shallow`` fetches and produces over its own sockets, so it must secure them as librdkafka
secures the consumer's: this module reads the librdkafka keys a client config already holds
(after ``legacy.py`` and ``keystores.py`` translated any Java ones) and gives raw_io a TLS
context and a SASL exchange.

=============================================  ================================================
librdkafka setting                             here
=============================================  ================================================
``security.protocol``                          plaintext, ssl, sasl_plaintext, sasl_ssl
``ssl.ca.location`` (file or folder),          the CAs trusted; none given: the system's
``ssl.ca.pem``
``ssl.certificate.location`` +                 the client certificate (mutual TLS)
``ssl.key.location`` (+ ``ssl.key.password``),
``ssl.certificate.pem`` + ``ssl.key.pem``,
``ssl.keystore.location`` (PKCS#12) +
``ssl.keystore.password``
``ssl.endpoint.identification.algorithm``      https (the default) checks the broker's name;
                                               none does not
``enable.ssl.certificate.verification``        false: no check at all (as librdkafka)
``sasl.mechanism`` PLAIN, SCRAM-SHA-256/512    ``sasl.username`` + ``sasl.password``
``sasl.mechanism`` OAUTHBEARER                 the unsecured JWT librdkafka builds from
                                               ``sasl.oauthbearer.config`` (principal=,
                                               scope=, lifeSeconds=); other mechanisms and
                                               the OIDC method are refused by
                                               ``config/settings.py`` for --shallow
=============================================  ================================================

The SASL mechanisms themselves (the PLAIN message, the SCRAM exchange) are kafka-python's.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kafka.net.sasl.plain import SaslMechanismPlain
from kafka.net.sasl.scram import SaslMechanismScram

from kmirror.errors import MirrorError

TLS_PROTOCOLS = ("ssl", "sasl_ssl")
SASL_PROTOCOLS = ("sasl_plaintext", "sasl_ssl")


class AuthenticationFailed(MirrorError):
    """The broker refused our credentials on a raw connection: not worth retrying."""


class Exchange(Protocol):
    """One SASL conversation (kafka-python's mechanism objects have this shape)."""

    def auth_bytes(self) -> bytes: ...
    def receive(self, auth_bytes: bytes) -> Any: ...
    def is_done(self) -> bool: ...
    def is_authenticated(self) -> bool: ...


@dataclass(frozen=True)
class WireSecurity:
    """How raw connections to one cluster are secured."""

    tls: ssl.SSLContext | None = None
    mechanism: str | None = None
    username: str = ""
    password: str = ""
    oauth_config: str = ""

    def wrap(self, sock: Any, host: str) -> Any:
        """The socket, with TLS negotiated when the cluster wants TLS (blocking, with the
        socket's timeout)."""
        if self.tls is None:
            return sock
        hostname = host if self.tls.check_hostname else None
        return self.tls.wrap_socket(sock, server_hostname=hostname)

    def exchange(self) -> Exchange | None:
        """A fresh SASL conversation, or None when the cluster takes no SASL."""
        if self.mechanism is None:
            return None
        if self.mechanism == "PLAIN":
            return SaslMechanismPlain(sasl_plain_username=self.username,  # type: ignore[no-any-return]
                                      sasl_plain_password=self.password)
        if self.mechanism.startswith("SCRAM-"):
            return SaslMechanismScram(sasl_plain_username=self.username,  # type: ignore[no-any-return]
                                      sasl_plain_password=self.password,
                                      sasl_mechanism=self.mechanism)
        return _UnsecuredBearer(self.oauth_config)

    def describe(self) -> str:
        """For error messages: the mechanism and user (never the password)."""
        if self.mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            return f"SASL {self.mechanism} as user {self.username!r}"
        return f"SASL {self.mechanism}"


def wire_security(client: Mapping[str, str]) -> WireSecurity:
    """The security of a client config, for raw connections (settings were validated)."""
    protocol = client.get("security.protocol", "plaintext").lower()
    tls = _tls_context(client) if protocol in TLS_PROTOCOLS else None
    if protocol not in SASL_PROTOCOLS:
        return WireSecurity(tls=tls)
    return WireSecurity(
        tls=tls,
        mechanism=client.get("sasl.mechanism", client.get("sasl.mechanisms", "GSSAPI")).upper(),
        username=client.get("sasl.username", ""),
        password=client.get("sasl.password", ""),
        oauth_config=client.get("sasl.oauthbearer.config", ""),
    )


# --- TLS ---------------------------------------------------------------------------------------


def _tls_context(client: Mapping[str, str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    verify = client.get("enable.ssl.certificate.verification", "true").lower() != "false"
    endpoint = client.get("ssl.endpoint.identification.algorithm", "https").lower()
    context.check_hostname = verify and endpoint == "https"
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    if client.get("ssl.ca.pem"):
        context.load_verify_locations(cadata=client["ssl.ca.pem"])
    elif client.get("ssl.ca.location") and client["ssl.ca.location"] != "probe":
        location = client["ssl.ca.location"]
        if os.path.isdir(location):
            context.load_verify_locations(capath=location)
        else:
            context.load_verify_locations(cafile=location)
    else:
        context.load_default_certs()
    _load_identity(context, client)
    return context


def _load_identity(context: ssl.SSLContext, client: Mapping[str, str]) -> None:
    """The client certificate, if the config has one (mutual TLS)."""
    if client.get("ssl.keystore.location"):
        cert, key = _pem_from_pkcs12(client["ssl.keystore.location"],
                                     client.get("ssl.keystore.password", ""))
        _load_chain_from_memory(context, cert, key)
    elif client.get("ssl.certificate.pem") and client.get("ssl.key.pem"):
        _load_chain_from_memory(context, client["ssl.certificate.pem"].encode(),
                                client["ssl.key.pem"].encode(), client.get("ssl.key.password"))
    elif client.get("ssl.certificate.location"):
        context.load_cert_chain(client["ssl.certificate.location"],
                                client.get("ssl.key.location") or None,
                                client.get("ssl.key.password") or None)


def _pem_from_pkcs12(location: str, password: str) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        pkcs12,
    )

    with open(location, "rb") as file:
        key, cert, extra = pkcs12.load_key_and_certificates(file.read(), password.encode())
    if key is None or cert is None:
        raise MirrorError(f"{location}: the PKCS#12 keystore holds no private key and "
                          "certificate")
    chain = b"".join(c.public_bytes(Encoding.PEM) for c in [cert, *extra])
    return chain, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _load_chain_from_memory(context: ssl.SSLContext, cert: bytes, key: bytes,
                            password: str | None = None) -> None:
    """``load_cert_chain`` reads files only: hand it private temporary ones (0600, removed at
    once; the key stays as encrypted as it was given)."""
    with tempfile.TemporaryDirectory(prefix="kmirror-tls-") as folder:  # 0700
        cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        for path, data in ((cert_path, cert), (key_path, key)):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(handle, "wb") as file:
                file.write(data)
        context.load_cert_chain(cert_path, key_path, password or None)


# --- OAUTHBEARER (unsecured) --------------------------------------------------------------------


class _UnsecuredBearer:
    """The unsecured JWT librdkafka makes from ``sasl.oauthbearer.config`` (for brokers that
    validate with Kafka's unsecured validator: tests and local clusters)."""

    def __init__(self, config: str) -> None:
        fields = dict(part.split("=", 1) for part in config.split() if "=" in part)
        now = int(time.time())
        claims: dict[str, object] = {
            fields.get("principalClaimName", "sub"): fields.get("principal", ""),
            "iat": now, "exp": now + int(fields.get("lifeSeconds", "3600")),
        }
        if fields.get("scope"):
            claims[fields.get("scopeClaimName", "scope")] = fields["scope"].split(",")
        self._token = ".".join(
            [_b64(json.dumps({"alg": "none"})), _b64(json.dumps(claims)), ""])
        self._done = self._ok = False
        self._error: str | None = None

    def auth_bytes(self) -> bytes:
        if self._error is not None:
            return b"\x01"  # the broker answers an error with a failure after this
        return f"n,,\x01auth=Bearer {self._token}\x01\x01".encode()

    def receive(self, auth_bytes: bytes) -> None:
        if auth_bytes:
            self._error = auth_bytes.decode("utf-8", "replace")
        else:
            self._done = self._ok = True

    def is_done(self) -> bool:
        return self._done

    def is_authenticated(self) -> bool:
        return self._ok


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
