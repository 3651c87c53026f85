"""Tests for the `kmirror` command line (kmirror.cli.main), for inputs that fail before connecting.

No broker is needed: every case here is refused while parsing flags or reading config files.
``run_mirror`` is replaced by a tripwire so a case that got past validation fails loudly
instead of trying to reach a cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kmirror.mirror.supervisor as supervisor
from kmirror import __version__
from kmirror.cli import main


@pytest.fixture(autouse=True)
def no_mirroring(monkeypatch: pytest.MonkeyPatch) -> None:
    def tripwire(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("kmirror run got past validation and tried to mirror")

    monkeypatch.setattr(supervisor, "run_mirror", tripwire)


@pytest.fixture
def configs(tmp_path: Path) -> tuple[str, str]:
    """A valid consumer and producer config file."""
    source = tmp_path / "source.properties"
    source.write_text("bootstrap.servers=source:9092\n", encoding="utf-8")
    target = tmp_path / "target.properties"
    target.write_text("bootstrap.servers=target:9092\n", encoding="utf-8")
    return str(source), str(target)


def test_version_exits_0_and_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"kmirror {__version__}"


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--num.strems", "--num-streams", "--numstreams"])
def test_misspelt_run_flag_suggests_the_right_one(
    capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    assert main(["run", flag, "2"]) == 2
    assert "did you mean --num.streams?" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--num.strems", "--num-streams", "--bogus"])
def test_misspelt_run_flag_exits_2_without_traceback(
    capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    assert main(["run", flag, "2"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err
    assert flag in err
    assert "Traceback" not in err


def test_num_stream_prefix_is_an_unknown_flag(
    capsys: pytest.CaptureFixture[str], configs: tuple[str, str]
) -> None:
    source, target = configs
    assert main([
        "run", "--consumer.config", source, "--producer.config", target,
        "--whitelist", ".*", "--num.stream", "2",
    ]) == 2
    assert "--num.streams" in capsys.readouterr().err


def test_num_stream_fails_before_connecting(capsys: pytest.CaptureFixture[str]) -> None:
    # `kmirror run --num.stream 2`, with nothing else: exits 2 without reaching a cluster
    assert main(["run", "--num.stream", "2"]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags",
    [
        ["--whitelist", "a", "--include", "b"],
        ["--include", "a", "--whitelist", "b"],
        ["--whitelist", "a", "--whitelist", "b"],
        ["--blacklist", "a", "--exclude", "b"],
    ],
)
def test_conflicting_topic_flags_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    assert main(["run", *flags]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ConfigError: ")
    assert f"{flags[2]} conflicts with {flags[0]}" in lines[0]
    assert "Traceback" not in err


def test_zookeeper_in_consumer_config_exits_2_naming_file_and_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, configs: tuple[str, str]
) -> None:
    # Given a classic consumer config with a ZooKeeper address
    _, target = configs
    source = tmp_path / "old-consumer.properties"
    source.write_text(
        "zookeeper.connect=zk1:2181\nbootstrap.servers=b:9092\ngroup.id=mm\n",
        encoding="utf-8",
    )
    # When run
    code = main([
        "run", "--consumer.config", str(source), "--producer.config", target,
        "--whitelist", ".*",
    ])
    # Then exit 2 and one ConfigError line naming the file and the key, no traceback
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"ConfigError: {source}: zookeeper.connect: " in err
    assert "bootstrap.servers=" in err


def test_every_config_problem_is_printed_once_per_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "source.properties"
    source.write_text("zk.connect=zk:2181\n", encoding="utf-8")
    target = tmp_path / "target.properties"
    target.write_text("bootstrap.servers=t:9092\nacks=1\n", encoding="utf-8")
    code = main([
        "run", "--consumer.config", str(source), "--producer.config", str(target),
        "--include", ".*", "--num.streams", "0",
    ])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("ConfigError: ") for line in lines)
    text = "\n".join(lines)
    for part in ("zk.connect", "bootstrap.servers is missing", "kmirror needs acks=all",
                 "--num.streams 0"):
        assert part in text
    assert len(lines) == 4


@pytest.mark.parametrize(
    "flags",
    [
        ["--num.streams", "abc"],
        ["--num.streams", "1.5"],
        ["--num.producers", "x"],
        ["--abort.on.send.failure", "maybe"],
    ],
)
def test_bad_flag_values_exit_2(capsys: pytest.CaptureFixture[str], flags: list[str]) -> None:
    assert main(["run", *flags]) == 2
    err = capsys.readouterr().err
    assert flags[0] in err
    assert "Traceback" not in err


def test_missing_required_flags_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "--consumer.config" in err and "--producer.config" in err
    assert "--whitelist/--include" in err


def test_verbose_shows_the_traceback_for_our_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--verbose", "run", "--whitelist", "a", "--include", "b"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "ConfigError: --include conflicts with --whitelist" in err


def test_bad_metrics_port_is_reported_with_the_missing_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--metrics.port", "70000"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "ConfigError: --consumer.config FILE is required (the source cluster's settings)",
        "ConfigError: --producer.config FILE is required (the target cluster's settings)",
        "ConfigError: --whitelist/--include REGEX is required (e.g. --include '.*' for every "
        "topic)",
        "ConfigError: --metrics.port 70000: use 1-65535, or 0 to disable",
    ]


def test_bad_group_regex_exits_2_before_anything_starts(
    capsys: pytest.CaptureFixture[str], configs: tuple[str, str]
) -> None:
    # Given --sync.group.offsets with a groups regex Java rejects (\p{L} is no ASCII class)
    source, target = configs
    code = main(["run", "--consumer.config", source, "--producer.config", target,
                 "--include", ".*", "--sync.group.offsets", "--sync.group.offsets.groups",
                 r"\p{L}.*"])
    # Then exit 2 with one line naming the flag and the fault, and the mirror never started
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(r"ConfigError: --sync.group.offsets.groups '\\p{L}.*': invalid "
                          r"regular expression: \p{L} is not supported")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
