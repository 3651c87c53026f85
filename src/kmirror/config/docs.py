"""docs/configuration.md, generated from the `kmirror run` settings table (config/spec.py).

Regenerate with ``make docs`` (``python -m kmirror.config.docs > docs/configuration.md``); a
unit test fails when the file in the repository differs from what this prints.
"""

from __future__ import annotations

from kmirror.config import spec

_HEADER = """\
# `kmirror run` configuration

Every flag of `kmirror run`, by section as `kmirror run --help` lists them. The client settings
of each cluster (bootstrap servers, security, tuning) are in the `.properties` files named by
`--consumer.config` and `--producer.config`; see [tuning.md](tuning.md).

<!-- Generated from src/kmirror/config/spec.py by `make docs`; do not edit by hand. -->
"""


def markdown() -> str:
    """The whole of docs/configuration.md."""
    parts = [_HEADER]
    for group in spec.groups():
        parts.append(f"\n## {group.title.capitalize()}\n\n")
        if group.description:
            parts.append(f"{_cell(group.description)}\n\n")
        parts.append("| Flag | Type | Default | Description |\n|---|---|---|---|\n")
        for setting in spec.RUN_SETTINGS:
            if setting.group is group:
                parts.append(_row(setting))
    return "".join(parts)


def _row(setting: spec.Setting) -> str:
    value = f" {setting.metavar}" if setting.metavar else ""
    flags = "<br>".join(f"`{flag}{value}`" for flag in setting.flags)
    kind = setting.kind.value
    if setting.kind is spec.Kind.CHOICE:
        kind = f"one of {', '.join(f'`{c}`' for c in setting.choices)}"
    if setting.unit:
        kind += f", {setting.unit}"
    return f"| {flags} | {kind} | {_default(setting)} | {_cell(setting.help_text())} |\n"


def _default(setting: spec.Setting) -> str:
    if setting.required:
        return "required"
    if setting.kind in (spec.Kind.SWITCH, spec.Kind.OFF_SWITCH):
        return "off"
    shown = setting.shown_default()
    return f"`{shown}`" if shown else "none"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (backslashes and pipes escaped)."""
    return text.replace("\\", "\\\\").replace("|", "\\|")


if __name__ == "__main__":
    print(markdown(), end="")
