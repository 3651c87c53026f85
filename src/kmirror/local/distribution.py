"""The Apache Kafka runtime for local clusters: Java found, jars fetched from Maven Central.

The pinned version lives in ``kafka-pom.xml`` beside this file (one source of truth); Maven
copies the runtime jars into ``$KMIRROR_CACHE/kafka-<version>/libs`` (default
``~/.cache/kmirror``). A ``.complete`` marker listing the jars is written last, so an
interrupted download is detected and redone instead of starting brokers on half a classpath.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kmirror.errors import LocalClusterError

POM_PATH = Path(__file__).with_name("kafka-pom.xml")
MIN_JAVA_MAJOR = 17
_MAVEN_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def pinned_kafka_version(pom: Path = POM_PATH) -> str:
    """The Kafka version pinned in ``pom`` (default: ``kafka-pom.xml``)."""
    root = ET.parse(pom).getroot()
    node = root.find("m:properties/m:kafka.version", _MAVEN_NS)
    if node is None or not node.text:
        raise LocalClusterError(f"{pom}: no <kafka.version> property")
    return node.text.strip()


def cache_root() -> Path:
    """Where kmirror keeps downloaded jars and local cluster state."""
    return Path(os.environ.get("KMIRROR_CACHE", Path.home() / ".cache" / "kmirror"))


@dataclass(frozen=True)
class KafkaDistribution:
    """A complete set of Kafka runtime jars and the java binary to run them with."""

    version: str
    libs_dir: Path
    java: str

    @property
    def classpath(self) -> str:
        """The JVM class path covering every jar of the distribution."""
        return str(self.libs_dir / "*")


def find_java() -> str:
    """Path of a ``java`` of version 17 or newer, else a clear error."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not candidate or not Path(candidate).exists():
        raise LocalClusterError(
            "no `java` found: Kafka brokers need Java 17 or newer "
            "(install a JDK, e.g. `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME)"
        )
    try:
        out = subprocess.run(
            [candidate, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalClusterError(f"{candidate} -version failed: {exc}") from exc
    major = _java_major(out.stderr + out.stdout)
    if major is None or major < MIN_JAVA_MAJOR:
        found = "an unknown version" if major is None else f"Java {major}"
        raise LocalClusterError(
            f"{candidate} is {found}; Kafka {pinned_kafka_version()} needs Java "
            f"{MIN_JAVA_MAJOR} or newer (install a newer JDK or point JAVA_HOME at one)"
        )
    return candidate


def _java_major(version_text: str) -> int | None:
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_text)
    if not match:
        return None
    major = int(match.group(1))
    # Java 8 and older report "1.8.0_xyz".
    return int(match.group(2) or 0) if major == 1 else major


def ensure_kafka(*, quiet: bool = True, pom: Path = POM_PATH) -> KafkaDistribution:
    """Return the Kafka distribution ``pom`` pins (default: the brokers' one), fetching it with
    Maven when absent or incomplete."""
    java = find_java()
    version = pinned_kafka_version(pom)
    home = cache_root() / f"kafka-{version}"
    libs = home / "libs"
    marker = home / ".complete"
    if _is_complete(libs, marker):
        return KafkaDistribution(version, libs, java)
    mvn = shutil.which("mvn")
    if not mvn:
        raise LocalClusterError(
            f"no `mvn` found: kmirror fetches Kafka {version} from Maven Central with Maven "
            "(install it, e.g. `apt-get install maven`)"
        )
    home.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs.", dir=home))
    command = [
        mvn, "-B", "-f", str(pom), "dependency:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
    ]
    if quiet:
        command.insert(2, "-q")
    log_path = home / "maven.log"
    with log_path.open("w") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = _tail(log_path, 5)
        raise LocalClusterError(
            f"Maven could not fetch Kafka {version} (exit {result.returncode}); "
            f"full log: {log_path}\n{tail}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    jars = sorted(p.name for p in libs.glob("*.jar"))
    marker.write_text("\n".join(jars) + "\n")
    return KafkaDistribution(version, libs, java)


def _is_complete(libs: Path, marker: Path) -> bool:
    if not marker.exists():
        return False
    wanted = [line for line in marker.read_text().splitlines() if line]
    return bool(wanted) and all((libs / name).is_file() for name in wanted)


def _tail(path: Path, lines: int) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(content[-lines:])
