"""Secured local clusters (`kmirror local up --security`): certificates, listeners, users, ACLs.

A secured cluster keeps its PLAINTEXT listener on loopback for the local tooling (probes,
`kmirror local`, the controller; its ANONYMOUS principal is a super user) and adds:

- ``SASL_SSL``: TLS with the cluster's certificate, and SASL with SCRAM-SHA-512, SCRAM-SHA-256,
  PLAIN and OAUTHBEARER (unsecured JWTs: for local tests only);
- ``SSL``: mutual TLS, a client certificate is required; its CN is the principal.

The StandardAuthorizer is on, so a principal without ACLs can do nothing. Users (SCRAM users
are created when the storage is formatted; PLAIN users live in the listener's JAAS line):

| user | how | ACLs |
|---|---|---|
| ``mirror`` | SCRAM and PLAIN passwords, OAUTHBEARER subject | what a mirror needs on either side |
| ``kmirror-client`` | the client certificate (mutual TLS) | the same |
| ``nobody`` | SCRAM and PLAIN passwords | none: to see what a missing ACL looks like |

Certificates are made here with ``cryptography``: one CA per local dir (so every local cluster
trusts every other's clients), a certificate per cluster for 127.0.0.1/localhost, a client
certificate, and a second, untrusted CA with its own client certificate (to test refusals).
Client settings for each way in are written as ``.properties`` files in the cluster's
``clients/`` folder (mode 0600: they hold the local passwords), and listed by ``--json``.
"""

from __future__ import annotations

import datetime
import os
import secrets as random_secrets
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MIRROR_USER = "mirror"
NOBODY_USER = "nobody"
CLIENT_CN = "kmirror-client"
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", "OAUTHBEARER")
VALID_DAYS = 3650


@dataclass(frozen=True)
class Pem:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Material:
    """Everything a secured local cluster and its clients need."""

    ca: Path  # the CA certificate clients and brokers trust
    broker: Pem  # this cluster's certificate (key + chain in one file for the broker)
    broker_keystore: Path
    client: Pem  # trusted client certificate (CN=kmirror-client)
    untrusted_ca: Path  # a CA nobody trusts
    untrusted_client: Pem  # a client certificate signed by it
    passwords: Mapping[str, str]  # user -> password


def material(root: Path, home: Path) -> Material:
    """Create (once) the shared CA in ``root`` and this cluster's certificates in ``home``."""
    shared = root / "security"
    ca_key, ca_cert = _ca(shared, "kmirror local CA")
    bad_key, bad_cert = _ca(shared, "kmirror untrusted CA", name="untrusted-ca")
    tls = home / "tls"
    broker = _leaf(tls, "broker", "localhost", ca_key, ca_cert, server=True)
    keystore = tls / "broker-keystore.pem"
    if not keystore.exists():
        _write(keystore, broker.key.read_bytes() + broker.cert.read_bytes())
    client = _leaf(shared, "client", CLIENT_CN, ca_key, ca_cert, server=False)
    untrusted = _leaf(shared, "untrusted-client", CLIENT_CN, bad_key, bad_cert, server=False)
    return Material(
        ca=shared / "ca.pem", broker=broker, broker_keystore=keystore, client=client,
        untrusted_ca=shared / "untrusted-ca.pem", untrusted_client=untrusted,
        passwords=_passwords(shared),
    )


def broker_settings(material: Material, plain_port: int, sasl_port: int, ssl_port: int,
                    controller_port: int) -> list[str]:
    """server.properties lines of a secured cluster (replacing the plain listener lines)."""
    plain_users = " ".join(
        f'user_{user}="{password}"' for user, password in material.passwords.items()
    )
    return [
        f"listeners=PLAINTEXT://127.0.0.1:{plain_port},SASL_SSL://127.0.0.1:{sasl_port},"
        f"SSL://127.0.0.1:{ssl_port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{plain_port},"
        f"SASL_SSL://127.0.0.1:{sasl_port},SSL://127.0.0.1:{ssl_port}",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
        "SASL_SSL:SASL_SSL,SSL:SSL",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={material.broker_keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={material.ca}",
        "listener.name.ssl.ssl.client.auth=required",
        # the principal of a certificate is its CN: User:kmirror-client
        "ssl.principal.mapping.rules=RULE:^CN=([^,]*).*$/$1/,DEFAULT",
        f"sasl.enabled.mechanisms={','.join(MECHANISMS)}",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "listener.name.sasl_ssl.plain.sasl.jaas.config="
        f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
        "listener.name.sasl_ssl.oauthbearer.sasl.jaas.config="
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users=User:ANONYMOUS",
        "allow.everyone.if.no.acl.found=false",
    ]


def scram_format_args(material: Material) -> list[str]:
    """StorageTool arguments creating the SCRAM users when the storage is formatted."""
    args = []
    for mechanism in ("SCRAM-SHA-512", "SCRAM-SHA-256"):
        for user, password in material.passwords.items():
            args += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
    return args


def client_configs(material: Material, folder: Path, sasl: str, ssl: str) -> dict[str, Path]:
    """Write the client .properties for each way in; name -> path."""
    password = material.passwords[MIRROR_USER]
    tls = {"ssl.ca.location": str(material.ca)}
    files: dict[str, dict[str, str]] = {
        "scram": {"bootstrap.servers": sasl, "security.protocol": "SASL_SSL",
                  "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": MIRROR_USER,
                  "sasl.password": password, **tls},
        "plain": {"bootstrap.servers": sasl, "security.protocol": "SASL_SSL",
                  "sasl.mechanism": "PLAIN", "sasl.username": MIRROR_USER,
                  "sasl.password": password, **tls},
        "oauthbearer": {"bootstrap.servers": sasl, "security.protocol": "SASL_SSL",
                        "sasl.mechanism": "OAUTHBEARER",
                        "enable.sasl.oauthbearer.unsecure.jwt": "true",
                        "sasl.oauthbearer.config": f"principal={MIRROR_USER}", **tls},
        "mtls": {"bootstrap.servers": ssl, "security.protocol": "SSL",
                 "ssl.certificate.location": str(material.client.cert),
                 "ssl.key.location": str(material.client.key), **tls},
        "scram-no-acls": {"bootstrap.servers": sasl, "security.protocol": "SASL_SSL",
                          "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": NOBODY_USER,
                          "sasl.password": material.passwords[NOBODY_USER], **tls},
    }
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, settings in files.items():
        path = folder / f"{name}.properties"
        _write(path, "".join(f"{k}={v}\n" for k, v in settings.items()).encode())
        out[name] = path
    return out


def _passwords(shared: Path) -> dict[str, str]:
    out = {}
    for user in (MIRROR_USER, NOBODY_USER):
        path = shared / f"{user}.password"
        if not path.exists():
            _write(path, random_secrets.token_urlsafe(18).encode())
        out[user] = path.read_text().strip()
    return out


def _ca(folder: Path, common_name: str, name: str = "ca") -> tuple[ec.EllipticCurvePrivateKey,
                                                                   x509.Certificate]:
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}-key.pem"
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key))
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _leaf(folder: Path, name: str, common_name: str, ca_key: ec.EllipticCurvePrivateKey,
          ca_cert: x509.Certificate, *, server: bool) -> Pem:
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}-key.pem"
    if cert_path.exists() and key_path.exists():
        return Pem(cert_path, key_path)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False)
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write(key_path, _key_pem(key))
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM)
           + ca_cert.public_bytes(serialization.Encoding.PEM))
    return Pem(cert_path, key_path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8: the form Kafka's PEM key store reads
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
