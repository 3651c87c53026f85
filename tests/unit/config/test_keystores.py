"""Tests for kmirror.config.keystores: Java key and trust stores turned into librdkafka settings.

The stores are real ones, filled by the JDK's keytool once per session (a CA, a truststore of it
as JKS, PKCS12 and PEM, a client keystore signed by the CA laid out as the Kafka/Confluent
guides do: the CA as a trusted entry plus the client's key with its chain). Each case writes a
.properties file and reads it through ``load_client_config``, so the messages are checked as the
user sees them. librdkafka itself (confluent-kafka, no broker) checks the files produced.
"""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from kmirror.config import secrets
from kmirror.config.settings import load_client_config

TRUST_PASSWORD = "trust-Secret-1"
STORE_PASSWORD = "store-Secret-2"
KEY_PASSWORD = "key-Secret-3"  # the JKS client key has its own password, as Java allows
WRONG_PASSWORD = "wrong-Secret-4"
PASSWORDS = (TRUST_PASSWORD, STORE_PASSWORD, KEY_PASSWORD, WRONG_PASSWORD)


@dataclass(frozen=True)
class Stores:
    folder: Path
    ca_pem: Path
    trust_jks: Path
    trust_p12: Path
    client_jks: Path  # caroot (trusted) + client (key, chain client -> CA), key has KEY_PASSWORD
    client_p12: Path  # the client entry only, key protected by STORE_PASSWORD
    legacy_p12: Path  # the same, encrypted the way Java 8 did (RC2-40, 3DES)
    client_pem: Path  # encrypted PKCS#8 key (KEY_PASSWORD) and the chain, for ssl.keystore.type=PEM
    ca: x509.Certificate
    client_chain: tuple[x509.Certificate, ...]


def keytool(*args: str, cwd: Path) -> None:
    fast = ("-J-XX:+IgnoreUnrecognizedVMOptions", "-J-XX:TieredStopAtLevel=1")
    subprocess.run(["keytool", *fast, *args], cwd=cwd, check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=120)


def certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey]
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=subject == issuer[0], path_length=None), True)
        .sign(issuer[1], hashes.SHA256())
    )


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """A CA and a client certificate (cryptography), put into stores by keytool."""
    if shutil.which("keytool") is None:
        pytest.skip("the JDK's keytool is not on PATH: cannot make Java stores to convert")
    d = tmp_path_factory.mktemp("stores")
    ca_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1()
    )
    ca = certificate("kmirror-test-ca", ca_key, ("kmirror-test-ca", ca_key))
    chain = (certificate("kmirror-client", client_key, ("kmirror-test-ca", ca_key)), ca)
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "made.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"client", client_key, chain[0], [ca],
        serialization.BestAvailableEncryption(b"made-pass-0"),
    ))
    for name, kind in (("trust.jks", "JKS"), ("trust.p12", "PKCS12")):
        keytool("-importcert", "-noprompt", "-alias", "caroot", "-file", "ca.pem", "-keystore",
                name, "-storetype", kind, "-storepass", TRUST_PASSWORD, cwd=d)
    # The client keystore as the Kafka guides lay it out: the CA as a trusted entry, and the
    # client's key with its chain, the key under a password of its own.
    keytool("-importkeystore", "-noprompt", "-srckeystore", "made.p12", "-srcstoretype",
            "PKCS12", "-srcstorepass", "made-pass-0", "-srcalias", "client", "-destkeystore",
            "client.jks", "-deststoretype", "JKS", "-deststorepass", STORE_PASSWORD,
            "-destkeypass", KEY_PASSWORD, cwd=d)
    keytool("-importcert", "-noprompt", "-alias", "caroot", "-file", "ca.pem", "-keystore",
            "client.jks", "-storetype", "JKS", "-storepass", STORE_PASSWORD, cwd=d)
    to_p12 = ["-importkeystore", "-noprompt", "-srckeystore", "client.jks", "-srcstoretype",
              "JKS", "-srcstorepass", STORE_PASSWORD, "-srcalias", "client", "-srckeypass",
              KEY_PASSWORD, "-deststoretype", "PKCS12", "-deststorepass", STORE_PASSWORD]
    keytool(*to_p12, "-destkeystore", "client.p12", cwd=d)
    keytool("-J-Dkeystore.pkcs12.certProtectionAlgorithm=PBEWithSHA1AndRC2_40",
            "-J-Dkeystore.pkcs12.keyProtectionAlgorithm=PBEWithSHA1AndDESede",
            "-J-Dkeystore.pkcs12.macAlgorithm=HmacPBESHA1",
            *to_p12, "-destkeystore", "legacy.p12", cwd=d)
    key_pem = client_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
    )
    (d / "client.pem").write_bytes(
        key_pem + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    )
    return Stores(
        folder=d, ca_pem=d / "ca.pem", trust_jks=d / "trust.jks", trust_p12=d / "trust.p12",
        client_jks=d / "client.jks", client_p12=d / "client.p12",
        legacy_p12=d / "legacy.p12", client_pem=d / "client.pem", ca=ca, client_chain=chain,
    )


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KMIRROR_STATE_DIR for this test; converted stores land in its tls-stores folder."""
    state = tmp_path / "state"
    monkeypatch.setenv("KMIRROR_STATE_DIR", str(state))
    return state / "tls-stores"


@dataclass
class Loaded:
    path: Path
    settings: dict[str, str]
    problems: list[str]
    warnings: list[str]

    def messages(self) -> list[str]:
        return self.warnings + self.problems


def load(tmp_path: Path, *lines: str, protocol: str = "SSL") -> Loaded:
    """Write a producer file with the lines and load it as kmirror does."""
    path = tmp_path / "target.properties"
    body = ["bootstrap.servers=localhost:9092", f"security.protocol={protocol}", *lines]
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    problems: list[str] = []
    warnings: list[str] = []
    settings = load_client_config(str(path), "P", problems, warnings)
    assert settings is not None
    got = Loaded(path, settings, problems, warnings)
    for message in got.messages():
        assert message.startswith(f"{path}: "), message
        for password in PASSWORDS:
            assert password not in message
    return got


def fingerprints(certificates: list[x509.Certificate] | tuple[x509.Certificate, ...]) -> set[bytes]:
    return {c.fingerprint(hashes.SHA256()) for c in certificates}


def librdkafka_error(settings: dict[str, str]) -> str | None:
    """Make a producer with the TLS settings (no broker is contacted); its error, or None."""
    config: dict[str, Any] = {k: v for k, v in settings.items() if k.startswith("ssl.")}
    config.update({"security.protocol": "SSL", "log_level": "0"})
    try:
        producer = Producer(config)
        del producer
    except KafkaException as exc:
        return str(exc)
    return None


# --- truststores ------------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["trust_jks", "trust_p12"])
@pytest.mark.parametrize("with_password", [True, False], ids=["password", "no-password"])
def test_truststore_is_converted_to_a_pem_bundle_of_the_same_certificates(
    tmp_path: Path, stores: Stores, state_dir: Path, store: str, with_password: bool
) -> None:
    # Given a Java truststore holding only the CA certificate (trustedCertEntry)
    location: Path = getattr(stores, store)
    lines = [f"ssl.truststore.location={location}"]
    if with_password:
        lines.append(f"ssl.truststore.password={TRUST_PASSWORD}")
    # When the file is loaded
    got = load(tmp_path, *lines)
    if not with_password and store == "trust_p12":
        # Then a PKCS12 store (encrypted with its password) asks for the password
        [problem] = got.problems
        assert "ssl.truststore.password: missing" in problem
        return
    # Then librdkafka is given a PEM bundle with the same certificates, in the private folder
    assert got.problems == []
    bundle = Path(got.settings["ssl.ca.location"])
    assert bundle.parent == state_dir
    assert fingerprints(x509.load_pem_x509_certificates(bundle.read_bytes())) == fingerprints(
        [stores.ca]
    )
    for key in ("ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.type"):
        assert key not in got.settings
    assert any("ssl.ca.location=" in w and "converted to PEM" in w for w in got.warnings)
    assert librdkafka_error(got.settings) is None


def test_pem_truststore_is_used_as_it_is(tmp_path: Path, stores: Stores, state_dir: Path) -> None:
    got = load(tmp_path, f"ssl.truststore.location={stores.ca_pem}", "ssl.truststore.type=PEM")
    assert got.problems == []
    assert got.settings["ssl.ca.location"] == str(stores.ca_pem)
    assert not state_dir.exists()  # nothing converted


@pytest.mark.parametrize("store", ["trust_jks", "trust_p12"])
def test_truststore_wrong_password_is_a_problem_naming_file_and_key(
    tmp_path: Path, stores: Stores, state_dir: Path, store: str
) -> None:
    location: Path = getattr(stores, store)
    secrets.remember({"ssl.truststore.password": WRONG_PASSWORD})
    got = load(tmp_path, f"ssl.truststore.location={location}",
               f"ssl.truststore.password={WRONG_PASSWORD}")
    [problem] = got.problems
    assert problem.startswith(f"{got.path}: ssl.truststore.password: does not open {location}")
    assert "ssl.ca.location" not in got.settings


def test_truststore_missing_file_is_a_problem(tmp_path: Path, state_dir: Path) -> None:
    missing = tmp_path / "nowhere" / "truststore.jks"
    got = load(tmp_path, f"ssl.truststore.location={missing}",
               f"ssl.truststore.password={TRUST_PASSWORD}")
    [problem] = got.problems
    assert problem.startswith(f"{got.path}: ssl.truststore.location: cannot read {missing}")
    assert "no such file" in problem


def test_jks_truststore_without_keytool_says_how_to_convert_by_hand(
    tmp_path: Path, stores: Stores, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no keytool anywhere
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    got = load(tmp_path, f"ssl.truststore.location={stores.trust_jks}",
               f"ssl.truststore.password={TRUST_PASSWORD}")
    # Then the problem says what keytool would do and which key to write instead
    [problem] = got.problems
    assert problem.startswith(f"{got.path}: ssl.truststore.location: {stores.trust_jks} is a JKS")
    assert "keytool" in problem and "-exportcert -rfc" in problem
    assert "ssl.ca.location=" in problem
    # And a PKCS12 truststore needs no keytool
    got = load(tmp_path, f"ssl.truststore.location={stores.trust_p12}",
               f"ssl.truststore.password={TRUST_PASSWORD}")
    assert got.problems == []


def test_a_keystore_used_as_truststore_trusts_what_java_trusts(
    tmp_path: Path, stores: Stores, state_dir: Path
) -> None:
    # Given the client keystore (CA as trusted entry, the client's key with chain client -> CA)
    got = load(tmp_path, f"ssl.truststore.location={stores.client_jks}",
               f"ssl.truststore.password={STORE_PASSWORD}")
    # Then the CA and the key entry's own certificate are trusted, as Java's TrustStoreUtil does
    assert got.problems == []
    bundle = Path(got.settings["ssl.ca.location"]).read_bytes()
    assert fingerprints(x509.load_pem_x509_certificates(bundle)) == fingerprints(
        [stores.ca, stores.client_chain[0]]
    )
    assert any("also holds a private key" in w for w in got.warnings)


# --- keystores --------------------------------------------------------------------------------


def assert_client_pkcs12(stores: Stores, location: str) -> None:
    """The PKCS#12 file holds the client's key, certificate and chain, under the store password."""
    loaded = pkcs12.load_pkcs12(Path(location).read_bytes(), STORE_PASSWORD.encode())
    assert loaded.key is not None and loaded.cert is not None
    assert loaded.cert.certificate == stores.client_chain[0]
    assert loaded.key.public_key() == stores.client_chain[0].public_key()
    chain = [loaded.cert.certificate, *(c.certificate for c in loaded.additional_certs)]
    assert fingerprints(chain) == fingerprints(stores.client_chain)


def test_jks_keystore_is_converted_to_pkcs12(
    tmp_path: Path, stores: Stores, state_dir: Path
) -> None:
    # Given a JKS keystore whose key has its own password
    got = load(tmp_path, f"ssl.keystore.location={stores.client_jks}",
               f"ssl.keystore.password={STORE_PASSWORD}", f"ssl.key.password={KEY_PASSWORD}",
               "ssl.keystore.type=JKS")
    # Then librdkafka reads a PKCS#12 copy protected by the store password alone
    assert got.problems == []
    location = got.settings["ssl.keystore.location"]
    assert Path(location).parent == state_dir
    assert got.settings["ssl.keystore.password"] == STORE_PASSWORD
    assert "ssl.key.password" not in got.settings
    assert "ssl.keystore.type" not in got.settings
    assert_client_pkcs12(stores, location)
    assert any(w.startswith(f"{got.path}: ssl.key.password: used to open") for w in got.warnings)
    assert librdkafka_error(got.settings) is None


def test_jks_keystore_with_the_key_password_missing_or_wrong(
    tmp_path: Path, stores: Stores, state_dir: Path
) -> None:
    for extra in ([], [f"ssl.key.password={WRONG_PASSWORD}"]):
        got = load(tmp_path, f"ssl.keystore.location={stores.client_jks}",
                   f"ssl.keystore.password={STORE_PASSWORD}", *extra)
        [problem] = got.problems
        assert problem.startswith(f"{got.path}: ssl.key.password: does not open the private key")
        assert "ssl.keystore.location" not in got.settings


def test_jks_keystore_wrong_or_missing_store_password(
    tmp_path: Path, stores: Stores, state_dir: Path
) -> None:
    got = load(tmp_path, f"ssl.keystore.location={stores.client_jks}",
               f"ssl.keystore.password={WRONG_PASSWORD}", f"ssl.key.password={KEY_PASSWORD}")
    [problem] = got.problems
    assert problem.startswith(f"{got.path}: ssl.keystore.password: does not open")
    got = load(tmp_path, f"ssl.keystore.location={stores.client_jks}")
    [problem] = got.problems
    assert problem.startswith(f"{got.path}: ssl.keystore.password: missing")


def test_pkcs12_keystore_passes_through(tmp_path: Path, stores: Stores, state_dir: Path) -> None:
    got = load(tmp_path, f"ssl.keystore.location={stores.client_p12}",
               f"ssl.keystore.password={STORE_PASSWORD}", "ssl.keystore.type=PKCS12")
    assert got.problems == []
    assert got.settings["ssl.keystore.location"] == str(stores.client_p12)
    assert got.settings["ssl.keystore.password"] == STORE_PASSWORD
    assert not state_dir.exists()
    assert librdkafka_error(got.settings) is None


def test_legacy_encrypted_pkcs12_keystore_is_re_encrypted(
    tmp_path: Path, stores: Stores, state_dir: Path
) -> None:
    # Given a PKCS12 keystore as Java 8 wrote them (RC2-40): librdkafka's OpenSSL 3 refuses it
    original = {"ssl.keystore.location": str(stores.legacy_p12),
                "ssl.keystore.password": STORE_PASSWORD}
    refused = librdkafka_error(original)
    assert refused is not None and "unsupported" in refused
    # When it is loaded
    got = load(tmp_path, f"ssl.keystore.location={stores.legacy_p12}",
               f"ssl.keystore.password={STORE_PASSWORD}")
    # Then librdkafka gets a copy with the same key and chain that it can read
    assert got.problems == []
    assert Path(got.settings["ssl.keystore.location"]).parent == state_dir
    assert_client_pkcs12(stores, got.settings["ssl.keystore.location"])
    assert any("re-encrypted" in w for w in got.warnings)
    assert librdkafka_error(got.settings) is None


def test_a_truststore_as_keystore_is_a_problem(
    tmp_path: Path, stores: Stores, state_dir: Path
) -> None:
    for store in (stores.trust_p12, stores.trust_jks):
        got = load(tmp_path, f"ssl.keystore.location={store}",
                   f"ssl.keystore.password={TRUST_PASSWORD}")
        [problem] = got.problems
        assert problem.startswith(f"{got.path}: ssl.keystore.location: {store} holds no private")


def test_pem_keystore_file_is_read_as_certificate_and_key(
    tmp_path: Path, stores: Stores, state_dir: Path
) -> None:
    got = load(tmp_path, "ssl.keystore.type=PEM", f"ssl.keystore.location={stores.client_pem}",
               f"ssl.key.password={KEY_PASSWORD}", f"ssl.truststore.location={stores.ca_pem}",
               "ssl.truststore.type=PEM")
    assert got.problems == []
    assert got.settings["ssl.certificate.location"] == str(stores.client_pem)
    assert got.settings["ssl.key.location"] == str(stores.client_pem)
    assert got.settings["ssl.key.password"] == KEY_PASSWORD
    assert librdkafka_error(got.settings) is None


def test_inline_pem_keystore_keeps_the_key_password(tmp_path: Path, state_dir: Path) -> None:
    # ssl.keystore.type=PEM with ssl.keystore.key: the key's password goes with ssl.key.pem
    got = load(tmp_path, "ssl.keystore.type=PEM", "ssl.keystore.key=-----BEGIN X-----",
               f"ssl.key.password={KEY_PASSWORD}")
    assert got.settings["ssl.key.pem"] == "-----BEGIN X-----"
    assert got.settings["ssl.key.password"] == KEY_PASSWORD
    assert not any("ssl.keystore.type" in m for m in got.messages())


def test_declared_pem_but_binary_store(tmp_path: Path, stores: Stores, state_dir: Path) -> None:
    got = load(tmp_path, "ssl.truststore.type=PEM", f"ssl.truststore.location={stores.trust_jks}")
    [problem] = got.problems
    assert problem.startswith(f"{got.path}: ssl.truststore.type: PEM, but {stores.trust_jks} is")


# --- where converted files go -----------------------------------------------------------------


def test_converted_files_are_private_and_stable(
    tmp_path: Path, stores: Stores, state_dir: Path
) -> None:
    lines = (f"ssl.truststore.location={stores.trust_p12}",
             f"ssl.truststore.password={TRUST_PASSWORD}",
             f"ssl.keystore.location={stores.legacy_p12}",
             f"ssl.keystore.password={STORE_PASSWORD}")
    first = load(tmp_path, *lines)
    second = load(tmp_path, *lines)
    for key in ("ssl.ca.location", "ssl.keystore.location"):
        assert first.settings[key] == second.settings[key]
    assert sorted(p.name for p in state_dir.iterdir()) == sorted(
        Path(first.settings[k]).name for k in ("ssl.ca.location", "ssl.keystore.location")
    )
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    for file in state_dir.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600


def test_default_folder_is_per_user_in_the_temp_dir(
    tmp_path: Path, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KMIRROR_STATE_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    got = load(tmp_path, f"ssl.truststore.location={stores.trust_p12}",
               f"ssl.truststore.password={TRUST_PASSWORD}")
    bundle = Path(got.settings["ssl.ca.location"])
    assert bundle.parent == tmp_path / f"kmirror-{os.getuid()}" / "tls-stores"
    assert stat.S_IMODE(bundle.parent.parent.stat().st_mode) == 0o700


def test_a_planted_folder_is_refused(
    tmp_path: Path, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given <tmp>/kmirror-<uid> is a symlink somebody planted
    monkeypatch.delenv("KMIRROR_STATE_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / f"kmirror-{os.getuid()}").symlink_to(tmp_path / "elsewhere")
    got = load(tmp_path, f"ssl.truststore.location={stores.trust_p12}",
               f"ssl.truststore.password={TRUST_PASSWORD}")
    [problem] = got.problems
    assert "KMIRROR_STATE_DIR" in problem
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_stores_are_ignored_without_tls(tmp_path: Path, state_dir: Path) -> None:
    got = load(tmp_path, "ssl.truststore.location=/nowhere/trust.jks",
               "ssl.keystore.location=/nowhere/key.jks", protocol="SASL_PLAINTEXT")
    assert got.problems == []
    assert [w for w in got.warnings if "security.protocol=SASL_PLAINTEXT uses no TLS" in w]
    assert not [k for k in got.settings if k.startswith("ssl.")]


# --- ssl.endpoint.identification.algorithm ------------------------------------------------------


@pytest.mark.parametrize(("java", "librdkafka"), [
    ("https", "https"), ("HTTPS", "https"), ("", "none"), ("none", "none"),
])
def test_endpoint_identification(tmp_path: Path, java: str, librdkafka: str) -> None:
    got = load(tmp_path, f"ssl.endpoint.identification.algorithm={java}")
    assert got.problems == []
    assert got.settings["ssl.endpoint.identification.algorithm"] == librdkafka
    assert bool(got.warnings) == (java == "")


def test_endpoint_identification_unknown_value(tmp_path: Path) -> None:
    got = load(tmp_path, "ssl.endpoint.identification.algorithm=ldaps")
    [problem] = got.problems
    assert problem.startswith(f"{got.path}: ssl.endpoint.identification.algorithm=ldaps: ")
    assert "https" in problem and "none" in problem
