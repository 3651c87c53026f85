"""Java key and trust stores, turned into files librdkafka reads.

A Java client names its TLS material as stores (``ssl.truststore.*``, ``ssl.keystore.*``);
librdkafka reads a PEM bundle of CA certificates (``ssl.ca.location``) and a PKCS#12 file, or a
PEM certificate and key, for its own identity. ``translate_stores`` reads each store, checks its
password, and sets the librdkafka keys, converting where needed:

=====================================  ========================================================
Java setting                           librdkafka setting
=====================================  ========================================================
truststore, PEM                        ``ssl.ca.location`` = the same file
truststore, PKCS12                     ``ssl.ca.location`` = a PEM bundle written by kmirror
truststore, JKS / JCEKS (keytool)      ``ssl.ca.location`` = a PEM bundle written by kmirror
``ssl.truststore.password``            only used to open the truststore (none for PEM)
keystore, PKCS12                       ``ssl.keystore.location`` + ``ssl.keystore.password``
                                       (the same file; re-encoded if it uses RC2/RC4, which
                                       librdkafka's OpenSSL 3 cannot read)
keystore, JKS / JCEKS (keytool)        ``ssl.keystore.location`` = a PKCS#12 file written by
                                       kmirror, protected by ``ssl.keystore.password``
keystore, PEM file                     ``ssl.certificate.location`` + ``ssl.key.location`` (the
                                       same file) + ``ssl.key.password``
``ssl.key.password``                   JKS/PKCS12: opens the key while converting, then not
                                       needed (librdkafka opens a PKCS#12 key with
                                       ``ssl.keystore.password``); PEM: ``ssl.key.password``
``ssl.truststore.type``,               not passed on: the format is read from the file, as
``ssl.keystore.type``                  Java 9+ does for JKS and PKCS12 (keystore.type.compat)
=====================================  ========================================================

A truststore trusts what Java trusts: every trusted-certificate entry, and the first certificate
of each private-key entry. Stores are ignored (with a warning) when ``security.protocol`` uses
no TLS, as the Java client ignores them.

Where converted files go: ``$KMIRROR_STATE_DIR/tls-stores`` when that variable is set (use it
for long-running services, e.g. a systemd ``StateDirectory``), else
``<temp dir>/kmirror-<uid>/tls-stores``. The folder is private (0700, and must belong to the
user: a folder someone else created in a shared temp dir is refused), files are 0600 and
replaced atomically. A file's name carries a hash of the source store's content, so repeated
runs reuse one file per store instead of piling them up. Conversion runs on every load, so a
changed password is checked as the Java client would check it. Converted files are derived
data: deleting the folder is always safe.

Passwords never reach a message or a command line: keytool gets them through its environment
(``-storepass:env``), and anything quoted from keytool is passed through ``secrets.redact``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from kmirror.config import secrets
from kmirror.config.translation import Translation

__all__ = ["STORE_KEYS", "store_dir", "translate_stores"]

STORE_KEYS = frozenset({
    "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.type",
    "ssl.keystore.location", "ssl.keystore.password", "ssl.keystore.type", "ssl.key.password",
})
"""Keys ``translate_stores`` answers for (``legacy.translate`` hands them over)."""

STATE_DIR_ENV = "KMIRROR_STATE_DIR"
_TLS_PROTOCOLS = {"ssl", "sasl_ssl"}
_TYPES = {"JKS", "JCEKS", "PKCS12", "PEM"}
_KEYTOOL_TIMEOUT_S = 60
# keytool's labels are translated: its English ones are parsed. A short-lived JVM starts ~35%
# faster without the optimizing compiler and with the serial collector.
_KEYTOOL_JVM = (
    "-J-Duser.language=en", "-J-Duser.country=US", "-J-XX:+IgnoreUnrecognizedVMOptions",
    "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC",
)
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
# PKCS#12 PBE algorithms 1.2.840.113549.1.12.1.{1,2,5,6}: RC4 and RC2, which OpenSSL 3 reads
# only with its legacy provider (not in confluent-kafka's librdkafka). Java before 8u301 and
# `openssl pkcs12 -export` before 3.0 wrote RC2-40 by default. 3DES (.3) is still readable.
_PKCS12_KEYS = (
    rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, dsa.DSAPrivateKey,
    ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey,
)
_LEGACY_PBE = tuple(
    bytes.fromhex("060a2a864886f70d010c01") + bytes([n]) for n in (1, 2, 5, 6)
)


class _Problem(Exception):
    """One problem with one store; the message follows ``{file}: {key}: ``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class _Store:
    """One store named by a config file: its keys, file content and format."""

    kind: str  # "truststore" or "keystore"
    location: str
    password: str | None
    data: bytes
    format: str  # JKS, JCEKS, PKCS12 or PEM (read from the content)

    @property
    def location_key(self) -> str:
        return f"ssl.{self.kind}.location"

    @property
    def password_key(self) -> str:
        return f"ssl.{self.kind}.password"


def translate_stores(path: str, keys: Mapping[str, str], out: Translation) -> None:
    """Answer the store keys of one file: librdkafka settings, warnings and problems into ``out``.

    Runs after the file's other keys were translated, so ``out.settings`` already holds
    ``security.protocol`` and the inline PEM keys (``ssl.key.pem``, ...).
    """
    keys = dict(keys)
    key_password = keys.pop("ssl.key.password", None)
    protocol = out.settings.get("security.protocol", "plaintext")
    locations = [k for k in ("ssl.truststore.location", "ssl.keystore.location") if keys.get(k)]
    if locations and protocol.lower() not in _TLS_PROTOCOLS:
        out.warnings.append(
            f"{path}: {', '.join(locations)}: ignored: security.protocol={protocol} uses no "
            "TLS (the Java client ignores them too); remove them, or set "
            "security.protocol=SSL or SASL_SSL"
        )
        if key_password is not None:
            out.settings["ssl.key.password"] = key_password
        return
    if keys.get("ssl.truststore.location"):
        try:
            _truststore(path, keys, out)
        except _Problem as problem:
            out.problems.append(f"{path}: {problem.key}: {secrets.redact(str(problem))}")
    if keys.get("ssl.keystore.location"):
        try:
            key_password = _keystore(path, keys, key_password, out)
        except _Problem as problem:
            out.problems.append(f"{path}: {problem.key}: {secrets.redact(str(problem))}")
            key_password = None
    elif keys.get("ssl.keystore.type", "PEM").upper() != "PEM" or keys.get(
        "ssl.keystore.password"
    ):
        given = [k for k in ("ssl.keystore.type", "ssl.keystore.password") if k in keys]
        out.warnings.append(
            f"{path}: {', '.join(given)}: ignored: there is no ssl.keystore.location"
        )
    if key_password is not None:
        out.settings["ssl.key.password"] = key_password  # for ssl.key.pem / ssl.key.location


def store_dir() -> Path:
    """The private folder for converted stores, created (0700) if needed; see the module doc."""
    base = os.environ.get(STATE_DIR_ENV)
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
        folder = Path(base) / "tls-stores"
    else:
        parent = Path(tempfile.gettempdir()) / f"kmirror-{os.getuid()}"
        _private_dir(parent)
        folder = parent / "tls-stores"
    _private_dir(folder)
    return folder


def _private_dir(folder: Path) -> None:
    """Create ``folder`` 0700, or check that the existing one is ours and make it 0700."""
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{folder} is not a folder of this user")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(folder, 0o700)


# --- truststores ------------------------------------------------------------------------------


def _truststore(path: str, keys: Mapping[str, str], out: Translation) -> None:
    store = _open(keys, "truststore")
    if "ssl.ca.location" in out.settings:
        raise _Problem(
            store.location_key,
            "ssl.ca.location is set too; keep one of them (librdkafka reads ssl.ca.location)",
        )
    where = f"{path}: {store.location_key}"
    if store.format == "PEM":
        _pem_certificates(store)
        if store.password:
            out.warnings.append(
                f"{path}: {store.password_key}: ignored: a PEM truststore has no password"
            )
        out.settings["ssl.ca.location"] = store.location
        out.warnings.append(f"{where}: a PEM truststore: read as ssl.ca.location")
        return
    if store.format == "PKCS12":
        certificates, has_key = _pkcs12_trusted(store)
    else:
        certificates, has_key = _keytool_trusted(store)
    certificates = list({c.fingerprint(hashes.SHA256()): c for c in certificates}.values())
    if not certificates:
        raise _Problem(store.location_key, f"{store.location} holds no certificates to trust")
    if has_key:
        out.warnings.append(
            f"{where}: {store.location} also holds a private key; the certificate stored "
            "with it is trusted too (as in Java; from PKCS12, its whole chain); if that is not "
            "meant, point ssl.truststore.location at a store of CA certificates only"
        )
    bundle = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
    written = _write_converted(store, "pem", bundle)
    out.settings["ssl.ca.location"] = str(written)
    out.warnings.append(
        f"{where}: a {store.format} truststore ({_count(certificates)}), converted to PEM: "
        f"read as ssl.ca.location={written}"
    )


def _count(certificates: Sequence[x509.Certificate]) -> str:
    return f"{len(certificates)} certificate{'s' if len(certificates) != 1 else ''}"


def _pkcs12_trusted(store: _Store) -> tuple[list[x509.Certificate], bool]:
    """The certificates of a PKCS#12 truststore (cryptography returns them all as extras)."""
    loaded = _load_pkcs12(store, store.data, store.password)
    found = [loaded.cert.certificate] if loaded.cert else []
    found += [extra.certificate for extra in loaded.additional_certs]
    return found, loaded.key is not None


def _keytool_trusted(store: _Store) -> tuple[list[x509.Certificate], bool]:
    """What Java trusts in a JKS store: trusted entries, the first certificate of key entries."""
    args = ["-list", "-rfc", "-keystore", store.location, "-storetype", store.format]
    passwords: dict[str, str] = {}
    if store.password:
        args += ["-storepass:env", "KMIRROR_STOREPASS"]
        passwords["KMIRROR_STOREPASS"] = store.password
    listing = _keytool(store, args, passwords)
    found: list[x509.Certificate] = []
    has_key = False
    for entry in listing.split(b"\nAlias name: ")[1:]:
        blocks = _PEM_CERT.findall(entry)
        if b"Entry type: trustedCertEntry" in entry:
            found += [x509.load_pem_x509_certificate(b) for b in blocks]
        elif b"Entry type: PrivateKeyEntry" in entry and blocks:
            has_key = True
            found.append(x509.load_pem_x509_certificate(blocks[0]))
    return found, has_key


def _pem_certificates(store: _Store) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(store.data)
    except ValueError:
        raise _Problem(
            store.location_key, f"{store.location} holds no readable PEM certificate"
        ) from None


# --- keystores --------------------------------------------------------------------------------


def _keystore(
    path: str, keys: Mapping[str, str], key_password: str | None, out: Translation
) -> str | None:
    """Set the keystore's librdkafka keys; returns the ``ssl.key.password`` still to pass on."""
    store = _open(keys, "keystore")
    where = f"{path}: {store.location_key}"
    if store.format == "PEM":
        _pem_certificates(store)
        if b"PRIVATE KEY-----" not in store.data:
            raise _Problem(store.location_key, f"{store.location} holds no PEM private key")
        if store.password:
            out.warnings.append(
                f"{path}: {store.password_key}: ignored: a PEM keystore has no store "
                "password (the key's password is ssl.key.password)"
            )
        out.settings["ssl.certificate.location"] = store.location
        out.settings["ssl.key.location"] = store.location
        out.warnings.append(
            f"{where}: a PEM keystore: read as ssl.certificate.location and ssl.key.location"
        )
        return key_password
    if not store.password:
        raise _Problem(
            store.password_key,
            f"missing: {store.location} ({store.format}) needs its password; "
            f"write {store.password_key}",
        )
    converted = _pkcs12_keystore(store, key_password)
    if converted is None:
        out.settings["ssl.keystore.location"] = store.location
        out.settings["ssl.keystore.password"] = store.password
        out.warnings.append(f"{where}: a PKCS12 keystore: read by librdkafka as it is")
    else:
        written = _write_converted(store, "p12", converted)
        out.settings["ssl.keystore.location"] = str(written)
        out.settings["ssl.keystore.password"] = store.password
        if store.format != "PKCS12":
            how = "converted to PKCS12"
        elif _legacy(store.data):
            how = "re-encrypted with AES (librdkafka's OpenSSL 3 cannot read its RC2/RC4)"
        else:
            how = "its key re-protected with ssl.keystore.password (librdkafka's only one)"
        out.warnings.append(
            f"{where}: a {store.format} keystore, {how}, same password: read as "
            f"ssl.keystore.location={written}"
        )
    if key_password is not None:
        out.warnings.append(
            f"{path}: ssl.key.password: used to open the key in {store.location}; librdkafka "
            "opens the PKCS12 key with ssl.keystore.password, so it is not passed on"
        )
    return None


def _pkcs12_keystore(store: _Store, key_password: str | None) -> bytes | None:
    """The PKCS#12 content librdkafka should read, or None when the store itself will do."""
    assert store.password is not None
    if store.format == "PKCS12":
        loaded = _try_pkcs12(store.data, store.password)
        if loaded is not None:
            _check_key(store, loaded)
            return _modern(store, loaded) if _legacy(store.data) else None
        if not key_password or key_password == store.password:
            raise _wrong_password(store)
        # Java allows a key password of its own; keytool re-protects it with the store's.
    data = _keytool_pkcs12(store, key_password or store.password)
    loaded = _load_pkcs12(store, data, store.password)
    _check_key(store, loaded)
    return _modern(store, loaded) if _legacy(data) else data


def _try_pkcs12(data: bytes, password: str) -> pkcs12.PKCS12KeyAndCertificates | None:
    try:
        return pkcs12.load_pkcs12(data, password.encode())
    except ValueError:
        return None


def _keytool_pkcs12(store: _Store, key_password: str) -> bytes:
    """The store's one private-key entry, copied by keytool into a PKCS#12 file."""
    passwords = {"KMIRROR_STOREPASS": store.password or "", "KMIRROR_KEYPASS": key_password}
    listing = _keytool(store, [
        "-list", "-v", "-keystore", store.location, "-storetype", store.format,
        "-storepass:env", "KMIRROR_STOREPASS",
    ], passwords)
    aliases = [
        entry.split(b"\n", 1)[0].strip().decode("utf-8", "replace")
        for entry in listing.split(b"\nAlias name: ")[1:]
        if b"Entry type: PrivateKeyEntry" in entry
    ]
    if len(aliases) != 1:
        raise _Problem(store.location_key, _key_count_advice(store, aliases))
    with tempfile.TemporaryDirectory(dir=_folder(store)) as scratch:
        target = Path(scratch) / "store.p12"
        _keytool(store, [
            "-importkeystore", "-noprompt", "-srckeystore", store.location,
            "-srcstoretype", store.format, "-srcalias", aliases[0], "-destalias", aliases[0],
            "-destkeystore", str(target), "-deststoretype", "PKCS12",
            "-srcstorepass:env", "KMIRROR_STOREPASS", "-deststorepass:env", "KMIRROR_STOREPASS",
            "-srckeypass:env", "KMIRROR_KEYPASS",
        ], passwords)
        return target.read_bytes()


def _key_count_advice(store: _Store, aliases: Sequence[str]) -> str:
    if not aliases:
        return (
            f"{store.location} holds no private key (is it a truststore?); point "
            f"{store.location_key} at the store with this client's key and certificate"
        )
    return (
        f"{store.location} holds {len(aliases)} private keys ({', '.join(aliases)}) and "
        "librdkafka uses exactly one; copy the one to use into its own store: `keytool "
        f"-importkeystore -srckeystore {store.location} -srcalias ALIAS -destkeystore "
        "client.p12 -deststoretype PKCS12` and point ssl.keystore.location at it"
    )


def _check_key(store: _Store, loaded: pkcs12.PKCS12KeyAndCertificates) -> None:
    if loaded.key is None or loaded.cert is None:
        raise _Problem(store.location_key, _key_count_advice(store, []))


def _legacy(data: bytes) -> bool:
    return any(oid in data for oid in _LEGACY_PBE)


def _modern(store: _Store, loaded: pkcs12.PKCS12KeyAndCertificates) -> bytes:
    """The same key and certificates, encrypted with AES-256 (what OpenSSL 3 reads)."""
    assert store.password is not None and loaded.cert is not None
    key = loaded.key
    if not isinstance(key, _PKCS12_KEYS):
        raise _Problem(
            store.location_key, f"{store.location}: its key type cannot go into a PKCS12 file"
        )
    return pkcs12.serialize_key_and_certificates(
        loaded.cert.friendly_name, key, loaded.cert.certificate,
        [extra.certificate for extra in loaded.additional_certs],
        serialization.BestAvailableEncryption(store.password.encode()),
    )


# --- shared -----------------------------------------------------------------------------------


def _open(keys: Mapping[str, str], kind: str) -> _Store:
    """Read one store's file and recognise its format (Java 9+ ignores the declared one too)."""
    location = keys[f"ssl.{kind}.location"]
    type_key = f"ssl.{kind}.type"
    declared = keys.get(type_key, "JKS").strip().upper()
    if declared not in _TYPES:
        raise _Problem(type_key, f"{declared}: kmirror reads JKS, JCEKS, PKCS12 and PEM stores")
    try:
        data = Path(location).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _Problem(
            f"ssl.{kind}.location",
            f"cannot read {location}: {reason.lower()}; write the path of the {kind} file "
            "(a relative path is read from the folder kmirror runs in)",
        ) from None
    found = _format(data)
    if found is None:
        raise _Problem(
            f"ssl.{kind}.location",
            f"{location} is not a JKS, JCEKS, PKCS12 or PEM store; point it at the {kind} file",
        )
    if declared == "PEM" and found != "PEM":  # the other way round, the content is followed
        raise _Problem(
            type_key, f"PEM, but {location} is a {found} store; fix {type_key} or the location"
        )
    password = keys.get(f"ssl.{kind}.password") or None
    return _Store(kind, location, password, data, found)


def _format(data: bytes) -> str | None:
    if data[:4] == b"\xfe\xed\xfe\xed":
        return "JKS"
    if data[:4] == b"\xce\xce\xce\xce":
        return "JCEKS"
    if data[:1] == b"\x30":  # a DER SEQUENCE: PKCS#12 is the only DER store Java reads
        return "PKCS12"
    if b"-----BEGIN " in data:
        return "PEM"
    return None


def _load_pkcs12(
    store: _Store, data: bytes, password: str | None
) -> pkcs12.PKCS12KeyAndCertificates:
    try:
        return pkcs12.load_pkcs12(data, password.encode() if password else None)
    except ValueError:
        raise _wrong_password(store) from None


def _wrong_password(store: _Store) -> _Problem:
    if store.password is None:
        return _Problem(
            store.password_key,
            f"missing: {store.location} cannot be opened without its password; write "
            f"{store.password_key}",
        )
    return _Problem(
        store.password_key,
        f"does not open {store.location} (wrong password, or a damaged file); write the "
        f"{store.kind}'s password",
    )


def _keytool_path() -> str | None:
    found = shutil.which("keytool")
    java_home = os.environ.get("JAVA_HOME")
    if found is None and java_home and os.access(Path(java_home, "bin", "keytool"), os.X_OK):
        found = str(Path(java_home, "bin", "keytool"))
    return found


def _keytool(store: _Store, args: list[str], passwords: Mapping[str, str]) -> bytes:
    """Run keytool (passwords in its environment, never in argv); its output, or a problem."""
    keytool = _keytool_path()
    if keytool is None:
        raise _Problem(store.location_key, _no_keytool_advice(store))
    try:
        done = subprocess.run(
            [keytool, *_KEYTOOL_JVM, *args], capture_output=True,
            stdin=subprocess.DEVNULL, timeout=_KEYTOOL_TIMEOUT_S, check=False,
            env={**os.environ, **passwords},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _Problem(store.location_key, f"keytool could not run: {exc}") from None
    if done.returncode == 0:
        return done.stdout
    text = (done.stdout + done.stderr).decode("utf-8", "replace")
    error = next(
        (line for line in text.splitlines() if line.startswith("keytool error:")), text.strip()
    )
    if "password was incorrect" in error:
        raise _wrong_password(store)
    if "Cannot recover key" in error or "Get Key failed" in error:
        raise _Problem(
            "ssl.key.password",
            f"does not open the private key in {store.location}; write the key's password "
            f"(or leave ssl.key.password out when it is {store.password_key})",
        )
    message = re.sub(r"^keytool error: (\S+Exception: )?", "", error)
    raise _Problem(store.location_key, f"keytool cannot read {store.location}: {message}")


def _no_keytool_advice(store: _Store) -> str:
    head = (
        f"{store.location} is a {store.format} store and converting it needs the JDK's "
        "keytool, which is not on PATH nor in $JAVA_HOME/bin; install a JDK, or convert it "
        "by hand where one is installed: "
    )
    if store.kind == "truststore":
        return head + (
            f"`keytool -exportcert -rfc -keystore {store.location} -alias ALIAS -file ca.pem` "
            f"for each CA (`keytool -list -keystore {store.location}` shows the aliases), then "
            "write `ssl.ca.location=ca.pem` instead of the ssl.truststore.* lines"
        )
    return head + (
        f"`keytool -importkeystore -srckeystore {store.location} -srcstoretype "
        f"{store.format} -destkeystore client.p12 -deststoretype PKCS12`, then write "
        "`ssl.keystore.location=client.p12` with the new store's ssl.keystore.password, and "
        "remove ssl.keystore.type and ssl.key.password"
    )


def _folder(store: _Store) -> Path:
    try:
        return store_dir()
    except OSError as exc:
        raise _Problem(
            store.location_key,
            f"cannot prepare a private folder for the converted {store.kind}: {exc}; set "
            f"{STATE_DIR_ENV} to a folder of yours",
        ) from None


def _write_converted(store: _Store, suffix: str, content: bytes) -> Path:
    """Write ``content`` 0600 under a name stable per source store content; return its path."""
    folder = _folder(store)
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(store.location).stem)[:40]
    digest = hashlib.sha256(store.data).hexdigest()[:16]
    target = folder / f"{store.kind}-{stem}-{digest}.{suffix}"
    scratch = None
    try:
        if target.is_file() and target.read_bytes() == content:
            return target
        handle, scratch = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")  # 0600
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.replace(scratch, target)  # atomic: a client starting now reads old or new, whole
    except OSError as exc:
        if scratch is not None:
            Path(scratch).unlink(missing_ok=True)
        raise _Problem(store.location_key, f"cannot write {target}: {exc}") from None
    return target
