"""Reading Java ``.properties`` files (with a maintained parser, javaproperties)."""

from __future__ import annotations

from pathlib import Path

import javaproperties


def read_properties(path: str, problems: list[str]) -> dict[str, str] | None:
    """The file's key/value pairs; on failure a problem is appended and None returned."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(f"{path}: no such file")
        return None
    except IsADirectoryError:
        problems.append(f"{path}: is a folder, not a .properties file")
        return None
    except PermissionError:
        problems.append(f"{path}: not readable (permission denied)")
        return None
    except UnicodeDecodeError as exc:
        problems.append(f"{path}: not a text file (byte {exc.start} is not UTF-8)")
        return None
    try:
        loaded = javaproperties.loads(text)
    except (ValueError, javaproperties.InvalidUEscapeError) as exc:
        problems.append(f"{path}: malformed properties file: {exc}")
        return None
    return {str(k).strip(): str(v).strip() for k, v in loaded.items()}
