"""Tests for the `kmirror run` settings: their checks (no broker needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.config.test_settings import SOURCE_OK, load, problems_of

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
