"""Values from the environment or from files, as Kafka's config providers give them.

So that no secret needs to sit in a ``.properties`` file, a value may be (or contain) a
placeholder, in the syntax of Kafka's ``ConfigTransformer``:

- ``${env:NAME}``: the environment variable NAME (Kafka's ``EnvVarConfigProvider``);
- ``${file:/path/to/file.properties:key}``: the value of ``key`` in another properties file
  (Kafka's ``FileConfigProvider``);
- ``${dir:/path/to/dir:name}``: the whole content of the file ``name`` in that folder, without
  a trailing newline (Kafka's ``DirectoryConfigProvider``; one file per secret, as Kubernetes
  mounts them).

The Java declarations (``config.providers=env,file`` and ``config.providers.NAME.class=...``)
are accepted and not needed. A placeholder that cannot be resolved is a problem naming the
file, the key and what is missing — never the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import javaproperties

PLACEHOLDER = re.compile(r"\$\{([^}:]*?):(?:([^}]*?):)?([^}]*?)\}")
DECLARATIONS = re.compile(r"config\.providers(\..+)?")
PROVIDERS = ("env", "file", "dir")


def resolve(path: str, raw: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    """The file's settings with every placeholder replaced; Java declarations dropped."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        if DECLARATIONS.fullmatch(key):
            continue
        out[key] = PLACEHOLDER.sub(partial(_value, path, key, problems=problems), value)
    return out


def provided_keys(raw: Mapping[str, str]) -> set[str]:
    """Keys whose value comes (at least partly) from a provider: shown masked, like secrets."""
    return {key for key, value in raw.items() if PLACEHOLDER.search(value)}


def _value(path: str, key: str, match: re.Match[str], *, problems: list[str]) -> str:
    provider, location, name = match.group(1), match.group(2), match.group(3)
    where = f"{path}: {key}: {match.group(0)}"
    if provider == "env":
        found = os.environ.get(name if location is None else f"{location}:{name}")
        if found is None:
            problems.append(f"{where}: the environment variable {name} is not set")
            return ""
        return found
    if provider in ("file", "dir") and location is None:
        problems.append(f"{where}: write ${{{provider}:/path:key}} (path and key)")
        return ""
    assert location is not None
    if provider == "file":
        return _from_properties(where, location, name, problems)
    if provider == "dir":
        return _from_directory(where, location, name, problems)
    problems.append(
        f"{where}: unknown config provider {provider!r}; kmirror resolves "
        f"{', '.join(PROVIDERS)}"
    )
    return ""


def _from_properties(where: str, file: str, name: str, problems: list[str]) -> str:
    try:
        values = javaproperties.loads(Path(file).read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(f"{where}: cannot read {file} ({exc.strerror or exc})")
        return ""
    except (ValueError, UnicodeDecodeError):
        problems.append(f"{where}: {file} is not a readable properties file")
        return ""
    if name not in values:
        problems.append(f"{where}: {file} has no key {name}")
        return ""
    return str(values[name])


def _from_directory(where: str, folder: str, name: str, problems: list[str]) -> str:
    target = Path(folder) / name
    if Path(name).name != name:
        problems.append(f"{where}: {name} must be a file name inside {folder}")
        return ""
    try:
        return target.read_text(encoding="utf-8").rstrip("\n")
    except OSError as exc:
        problems.append(f"{where}: cannot read {target} ({exc.strerror or exc})")
        return ""
    except UnicodeDecodeError:
        problems.append(f"{where}: {target} is not a text file")
        return ""
