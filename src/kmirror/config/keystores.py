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

This module decides what each store becomes; ``kmirror.config.store_files`` opens stores, runs
keytool and writes the converted files.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.utils import CryptographyDeprecationWarning

from kmirror.config import secrets
from kmirror.config.store_files import (
    Store,
    StoreProblem,
    converted_folder,
    load_store_pkcs12,
    open_store,
    run_keytool,
    store_dir,
    write_converted,
    wrong_password,
)
from kmirror.config.translation import Translation

__all__ = ["STORE_KEYS", "store_dir", "translate_stores"]

STORE_KEYS = frozenset({
    "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.type",
    "ssl.keystore.location", "ssl.keystore.password", "ssl.keystore.type", "ssl.key.password",
})
"""Keys ``translate_stores`` answers for (``legacy.translate`` hands them over)."""

_TLS_PROTOCOLS = {"ssl", "sasl_ssl"}
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
# PKCS#12 PBE algorithms 1.2.840.113549.1.12.1.{1,2,5,6}: RC4 and RC2, which OpenSSL 3 reads
# only with its legacy provider (not in confluent-kafka's librdkafka). Java before 8u301 and
# `openssl pkcs12 -export` before 3.0 wrote RC2-40 by default. 3DES (.3) is still readable.
_PKCS12_KEYS: tuple[type, ...] = (
    rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey,
)
_LEGACY_PBE = tuple(
    bytes.fromhex("060a2a864886f70d010c01") + bytes([n]) for n in (1, 2, 5, 6)
)


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
        except StoreProblem as problem:
            out.problems.append(f"{path}: {problem.key}: {secrets.redact(str(problem))}")
    if keys.get("ssl.keystore.location"):
        try:
            key_password = _keystore(path, keys, key_password, out)
        except StoreProblem as problem:
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


# --- truststores ------------------------------------------------------------------------------


def _truststore(path: str, keys: Mapping[str, str], out: Translation) -> None:
    store = open_store(keys, "truststore")
    if "ssl.ca.location" in out.settings:
        raise StoreProblem(
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
        raise StoreProblem(store.location_key, f"{store.location} holds no certificates to trust")
    if has_key:
        out.warnings.append(
            f"{where}: {store.location} also holds a private key; the certificate stored "
            "with it is trusted too (as in Java; from PKCS12, its whole chain); if that is not "
            "meant, point ssl.truststore.location at a store of CA certificates only"
        )
    bundle = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
    written = write_converted(store, "pem", bundle)
    out.settings["ssl.ca.location"] = str(written)
    out.warnings.append(
        f"{where}: a {store.format} truststore ({_count(certificates)}), converted to PEM: "
        f"read as ssl.ca.location={written}"
    )


def _count(certificates: Sequence[x509.Certificate]) -> str:
    return f"{len(certificates)} certificate{'s' if len(certificates) != 1 else ''}"


def _pkcs12_trusted(store: Store) -> tuple[list[x509.Certificate], bool]:
    """The certificates of a PKCS#12 truststore (cryptography returns them all as extras)."""
    loaded = load_store_pkcs12(store, store.data, store.password)
    found = [loaded.cert.certificate] if loaded.cert else []
    found += [extra.certificate for extra in loaded.additional_certs]
    return found, loaded.key is not None


def _keytool_trusted(store: Store) -> tuple[list[x509.Certificate], bool]:
    """What Java trusts in a JKS store: trusted entries, the first certificate of key entries."""
    args = ["-list", "-rfc", "-keystore", store.location, "-storetype", store.format]
    passwords: dict[str, str] = {}
    if store.password:
        args += ["-storepass:env", "KMIRROR_STOREPASS"]
        passwords["KMIRROR_STOREPASS"] = store.password
    listing = run_keytool(store, args, passwords)
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


def _pem_certificates(store: Store) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(store.data)
    except ValueError:
        raise StoreProblem(
            store.location_key, f"{store.location} holds no readable PEM certificate"
        ) from None


# --- keystores --------------------------------------------------------------------------------


def _keystore(
    path: str, keys: Mapping[str, str], key_password: str | None, out: Translation
) -> str | None:
    """Set the keystore's librdkafka keys; returns the ``ssl.key.password`` still to pass on."""
    store = open_store(keys, "keystore")
    where = f"{path}: {store.location_key}"
    if store.format == "PEM":
        _pem_certificates(store)
        if b"PRIVATE KEY-----" not in store.data:
            raise StoreProblem(store.location_key, f"{store.location} holds no PEM private key")
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
        raise StoreProblem(
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
        written = write_converted(store, "p12", converted)
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


def _pkcs12_keystore(store: Store, key_password: str | None) -> bytes | None:
    """The PKCS#12 content librdkafka should read, or None when the store itself will do."""
    assert store.password is not None
    if store.format == "PKCS12":
        loaded = _try_pkcs12(store.data, store.password)
        if loaded is not None:
            _check_key(store, loaded)
            return _modern(store, loaded) if _legacy(store.data) else None
        if not key_password or key_password == store.password:
            raise wrong_password(store)
        # Java allows a key password of its own; keytool re-protects it with the store's.
    data = _keytool_pkcs12(store, key_password or store.password)
    loaded = load_store_pkcs12(store, data, store.password)
    _check_key(store, loaded)
    return _modern(store, loaded) if _legacy(data) else data


def _try_pkcs12(data: bytes, password: str) -> pkcs12.PKCS12KeyAndCertificates | None:
    try:
        return pkcs12.load_pkcs12(data, password.encode())
    except ValueError:
        return None


def _keytool_pkcs12(store: Store, key_password: str) -> bytes:
    """The store's one private-key entry, copied by keytool into a PKCS#12 file."""
    passwords = {"KMIRROR_STOREPASS": store.password or "", "KMIRROR_KEYPASS": key_password}
    listing = run_keytool(store, [
        "-list", "-v", "-keystore", store.location, "-storetype", store.format,
        "-storepass:env", "KMIRROR_STOREPASS",
    ], passwords)
    aliases = [
        entry.split(b"\n", 1)[0].strip().decode("utf-8", "replace")
        for entry in listing.split(b"\nAlias name: ")[1:]
        if b"Entry type: PrivateKeyEntry" in entry
    ]
    if len(aliases) != 1:
        raise StoreProblem(store.location_key, _key_count_advice(store, aliases))
    with tempfile.TemporaryDirectory(dir=converted_folder(store)) as scratch:
        target = Path(scratch) / "store.p12"
        run_keytool(store, [
            "-importkeystore", "-noprompt", "-srckeystore", store.location,
            "-srcstoretype", store.format, "-srcalias", aliases[0], "-destalias", aliases[0],
            "-destkeystore", str(target), "-deststoretype", "PKCS12",
            "-srcstorepass:env", "KMIRROR_STOREPASS", "-deststorepass:env", "KMIRROR_STOREPASS",
            "-srckeypass:env", "KMIRROR_KEYPASS",
        ], passwords)
        return target.read_bytes()


def _key_count_advice(store: Store, aliases: Sequence[str]) -> str:
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


def _check_key(store: Store, loaded: pkcs12.PKCS12KeyAndCertificates) -> None:
    if loaded.key is None or loaded.cert is None:
        raise StoreProblem(store.location_key, _key_count_advice(store, []))


def _dsa_key_type() -> type:
    """DSA keys, still found in old Java keystores: cryptography 51 deprecated the class and
    warns when it is named, so it is named only here, with that warning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return dsa.DSAPrivateKey


def _legacy(data: bytes) -> bool:
    return any(oid in data for oid in _LEGACY_PBE)


def _modern(store: Store, loaded: pkcs12.PKCS12KeyAndCertificates) -> bytes:
    """The same key and certificates, encrypted with AES-256 (what OpenSSL 3 reads)."""
    assert store.password is not None and loaded.cert is not None
    key = loaded.key
    if not isinstance(key, (*_PKCS12_KEYS, _dsa_key_type())):
        raise StoreProblem(
            store.location_key, f"{store.location}: its key type cannot go into a PKCS12 file"
        )
    return pkcs12.serialize_key_and_certificates(
        loaded.cert.friendly_name, cast(pkcs12.PKCS12PrivateKeyTypes, key),
        loaded.cert.certificate,
        [extra.certificate for extra in loaded.additional_certs],
        serialization.BestAvailableEncryption(store.password.encode()),
    )
