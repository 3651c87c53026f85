"""Tests for the `kmirror run` settings table (kmirror.config.spec) and what is derived from it:
the settings fields, validation, the argparse arguments and docs/configuration.md."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from tests.unit.config.test_settings import SOURCE_OK, load, problems_of

from kmirror.cli import build_parser
from kmirror.config import MirrorSettings, spec
from kmirror.config.docs import markdown

ROOT = Path(__file__).resolve().parents[3]
# Fields that loading fills from the files (or from flags it interprets), not from the table.
LOADED = {"sources", "target_config_file", "target", "target_alias", "warnings"}
PYTHON_TYPES = {
    spec.Kind.NUMBER: int, spec.Kind.BOOL: bool, spec.Kind.SWITCH: bool,
    spec.Kind.OFF_SWITCH: bool, spec.Kind.CHOICE: str, spec.Kind.TEXT: str, spec.Kind.FILE: str,
    spec.Kind.REGEX: str,
}

# --------------------------------------------------------------------------- the table


def test_every_settings_field_is_declared_once_with_a_matching_type() -> None:
    # Given the fields of the frozen settings and the settings that fill them
    hints = typing.get_type_hints(MirrorSettings)
    fields = {f.name for f in dataclasses.fields(MirrorSettings)}
    filling = [s for s in spec.RUN_SETTINGS if s.fills is spec.Fills.SETTINGS]
    # Then each field not loaded from the files is filled by exactly one setting
    assert sorted(s.field for s in filling) == sorted(fields - LOADED)
    # And the setting's kind holds the field's type (None when neither default nor required)
    for setting in filling:
        expected: Any = PYTHON_TYPES[setting.kind]
        if setting.default is None and not setting.required:
            expected = expected | None
        assert hints[setting.field] == expected, setting.field


def test_flags_and_fields_are_unique_and_defaults_pass_their_own_checks() -> None:
    flags = [flag for s in spec.RUN_SETTINGS for flag in s.flags]
    assert len(flags) == len(set(flags))
    assert len(spec.BY_FIELD) == len(spec.RUN_SETTINGS)
    for setting in spec.RUN_SETTINGS:
        assert setting.problem(spec.with_defaults({})[setting.field]) is None, setting.flag
        assert setting.help_text() and "{" not in setting.help_text(), setting.flag


def test_an_unknown_setting_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="num_stream"):
        spec.with_defaults({"num_stream": 2})


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("num_streams", "2", "--num.streams '2': must be a whole number"),
        ("num_streams", True, "--num.streams True: must be a whole number"),
        ("shallow", "yes", "--shallow 'yes': must be true or false"),
        ("on_source_gap", "maybe", "--on.source.gap 'maybe': must be one of fail, continue"),
        ("replication_policy", None, "--replication.policy None: must be text"),
        ("metrics_port", 70000, "--metrics.port 70000: use 1-65535, or 0 to disable"),
    ],
)
def test_values_given_through_the_api_are_checked_too(
    field: str, value: object, problem: str
) -> None:
    assert spec.BY_FIELD[field].problem(value) == problem


# --------------------------------------------------------------------------- validation


def test_command_settings_are_reported_with_every_other_problem(tmp_path: Path) -> None:
    # Given a bad --metrics.port and a bad consumer file
    problems = problems_of(tmp_path, source=SOURCE_OK + "zookeeper.connect=zk:2181\n",
                           metrics_port=70000, num_streams=0)
    # Then one ConfigError names all three
    assert len(problems) == 3
    assert "--num.streams 0: must be a whole number of at least 1" in problems
    assert "--metrics.port 70000: use 1-65535, or 0 to disable" in problems


def test_empty_separator_is_reported_once(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, replication_policy="prefix", replication_policy_separator="")
    assert problems == ["--replication.policy.separator '': give a non-empty separator, "
                        "e.g. . or _"]


def test_settings_not_given_take_the_tables_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path)
    for setting in spec.RUN_SETTINGS:
        if setting.fills is spec.Fills.SETTINGS and setting.field != "include":
            assert getattr(settings, setting.field) == setting.default, setting.field


# --------------------------------------------------------------------------- the command line


def _run_parser() -> Any:
    [commands] = [a for a in build_parser()._actions if a.dest == "command"]
    return commands.choices["run"]


def test_kmirror_run_has_one_argument_per_setting_with_its_help() -> None:
    actions = {a.dest: a for a in _run_parser()._actions if a.dest != "help"}
    assert set(actions) == set(spec.BY_FIELD)
    for field, action in actions.items():
        setting = spec.BY_FIELD[field]
        assert tuple(action.option_strings) == setting.flags
        assert action.help == setting.help_text()
        if setting.kind not in (spec.Kind.SWITCH, spec.Kind.OFF_SWITCH, spec.Kind.FILES):
            assert action.default == setting.default, field


def test_parsed_defaults_are_the_tables() -> None:
    args = build_parser().parse_args(["run"])
    values = {s.field: getattr(args, s.field) for s in spec.RUN_SETTINGS}
    assert values == spec.with_defaults({})


# --------------------------------------------------------------------------- docs


def test_docs_configuration_md_is_up_to_date() -> None:
    # When the docs are generated from the table, they equal the file in the repository
    written = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert written == markdown(), (
        "docs/configuration.md is out of date with src/kmirror/config/spec.py: run `make docs`")


def test_docs_name_every_flag_and_the_module_prints_them() -> None:
    text = markdown()
    for setting in spec.RUN_SETTINGS:
        for flag in setting.flags:
            assert f"`{flag}" in text
    printed = subprocess.run([sys.executable, "-m", "kmirror.config.docs"], check=True,
                             capture_output=True, text=True)
    assert printed.stdout == text
    assert printed.stderr == ""


# ------------------------------------------------------------- --sync.group.offsets.groups


def test_group_regex_has_java_semantics_like_include(tmp_path: Path) -> None:
    # Given MirrorMaker's comma-means-or and Java's \Q...\E quoting
    settings = load(tmp_path, sync_group_offsets_groups=r"billing,\Qa.b\E")
    regex = settings.sync_group_offsets_regex
    # Then the whole group id must match one of the alternatives
    assert regex.fullmatch("billing") and regex.fullmatch("a.b")
    assert not regex.fullmatch("axb")
    assert not regex.fullmatch("rebilling")
    assert load(tmp_path).sync_group_offsets_regex.fullmatch("any-group")


def test_bad_group_regex_is_reported_with_the_other_problems(tmp_path: Path) -> None:
    # Given a groups regex Java would reject, and a bad consumer file
    problems = problems_of(tmp_path, source=SOURCE_OK + "zookeeper.connect=zk:2181\n",
                           sync_group_offsets_groups="billing(")
    # Then both are reported at once, the regex on one line naming the flag and the fault
    assert len(problems) == 2
    assert problems[1] == (
        "--sync.group.offsets.groups 'billing(': invalid regular expression: missing ), "
        "unterminated subpattern at position 7; e.g. '.*' for every group"
    )


@pytest.mark.parametrize("text", [r"\p{L}", "x{", "(?x)a"])
def test_group_regex_refuses_what_java_or_kmirror_cannot_match(tmp_path: Path, text: str) -> None:
    [problem] = problems_of(tmp_path, sync_group_offsets_groups=text)
    assert problem.startswith(f"--sync.group.offsets.groups {text!r}: invalid regular expression")
