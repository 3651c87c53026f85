"""Java stores as files: opening one (format, password), keytool, and the converted files.

The half of ``kmirror.config.keystores`` that does not depend on what a store is for: reading a
store named by ``ssl.truststore.*`` / ``ssl.keystore.*`` keys and recognising its format from its
content, running the JDK's keytool (passwords in its environment, never in argv), and writing
converted files into the private folder ``store_dir`` (see the keystores module docstring for
where it is and why it is safe to delete).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import pkcs12

STATE_DIR_ENV = "KMIRROR_STATE_DIR"
_TYPES = {"JKS", "JCEKS", "PKCS12", "PEM"}
_KEYTOOL_TIMEOUT_S = 60
# keytool's labels are translated: its English ones are parsed. A short-lived JVM starts ~35%
# faster without the optimizing compiler and with the serial collector.
_KEYTOOL_JVM = (
    "-J-Duser.language=en", "-J-Duser.country=US", "-J-XX:+IgnoreUnrecognizedVMOptions",
    "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC",
)


class StoreProblem(Exception):
    """One problem with one store; the message follows ``{file}: {key}: ``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Store:
    """One store named by a config file: its keys, file content and format."""

    kind: str  # "truststore" or "keystore"
    location: str
    password: str | None
    data: bytes
    format: str  # JKS, JCEKS, PKCS12 or PEM (read from the content)

    @property
    def location_key(self) -> str:
        """The key that names the store's file."""
        return f"ssl.{self.kind}.location"

    @property
    def password_key(self) -> str:
        """The key that holds the store's password."""
        return f"ssl.{self.kind}.password"


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


def open_store(keys: Mapping[str, str], kind: str) -> Store:
    """Read one store's file and recognise its format (Java 9+ ignores the declared one too)."""
    location = keys[f"ssl.{kind}.location"]
    type_key = f"ssl.{kind}.type"
    declared = keys.get(type_key, "JKS").strip().upper()
    if declared not in _TYPES:
        raise StoreProblem(type_key,
                           f"{declared}: kmirror reads JKS, JCEKS, PKCS12 and PEM stores")
    try:
        data = Path(location).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StoreProblem(
            f"ssl.{kind}.location",
            f"cannot read {location}: {reason.lower()}; write the path of the {kind} file "
            "(a relative path is read from the folder kmirror runs in)",
        ) from None
    found = _format(data)
    if found is None:
        raise StoreProblem(
            f"ssl.{kind}.location",
            f"{location} is not a JKS, JCEKS, PKCS12 or PEM store; point it at the {kind} file",
        )
    if declared == "PEM" and found != "PEM":  # the other way round, the content is followed
        raise StoreProblem(
            type_key, f"PEM, but {location} is a {found} store; fix {type_key} or the location"
        )
    password = keys.get(f"ssl.{kind}.password") or None
    return Store(kind, location, password, data, found)


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


def load_store_pkcs12(
    store: Store, data: bytes, password: str | None
) -> pkcs12.PKCS12KeyAndCertificates:
    """Open PKCS#12 ``data`` of ``store``; a wrong or missing password is a StoreProblem."""
    try:
        return pkcs12.load_pkcs12(data, password.encode() if password else None)
    except ValueError:
        raise wrong_password(store) from None


def wrong_password(store: Store) -> StoreProblem:
    """The problem for a store its password does not open (or that has none given)."""
    if store.password is None:
        return StoreProblem(
            store.password_key,
            f"missing: {store.location} cannot be opened without its password; write "
            f"{store.password_key}",
        )
    return StoreProblem(
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


def run_keytool(store: Store, args: list[str], passwords: Mapping[str, str]) -> bytes:
    """Run keytool (passwords in its environment, never in argv); its output, or a problem."""
    keytool = _keytool_path()
    if keytool is None:
        raise StoreProblem(store.location_key, _no_keytool_advice(store))
    try:
        done = subprocess.run(
            [keytool, *_KEYTOOL_JVM, *args], capture_output=True,
            stdin=subprocess.DEVNULL, timeout=_KEYTOOL_TIMEOUT_S, check=False,
            env={**os.environ, **passwords},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreProblem(store.location_key, f"keytool could not run: {exc}") from None
    if done.returncode == 0:
        return done.stdout
    text = (done.stdout + done.stderr).decode("utf-8", "replace")
    error = next(
        (line for line in text.splitlines() if line.startswith("keytool error:")), text.strip()
    )
    if "password was incorrect" in error:
        raise wrong_password(store)
    if "Cannot recover key" in error or "Get Key failed" in error:
        raise StoreProblem(
            "ssl.key.password",
            f"does not open the private key in {store.location}; write the key's password "
            f"(or leave ssl.key.password out when it is {store.password_key})",
        )
    message = re.sub(r"^keytool error: (\S+Exception: )?", "", error)
    raise StoreProblem(store.location_key, f"keytool cannot read {store.location}: {message}")


def _no_keytool_advice(store: Store) -> str:
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


def converted_folder(store: Store) -> Path:
    """``store_dir()``, or a StoreProblem naming the store when it cannot be prepared."""
    try:
        return store_dir()
    except OSError as exc:
        raise StoreProblem(
            store.location_key,
            f"cannot prepare a private folder for the converted {store.kind}: {exc}; set "
            f"{STATE_DIR_ENV} to a folder of yours",
        ) from None


def write_converted(store: Store, suffix: str, content: bytes) -> Path:
    """Write ``content`` 0600 under a name stable per source store content; return its path."""
    folder = converted_folder(store)
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
        raise StoreProblem(store.location_key, f"cannot write {target}: {exc}") from None
    return target
