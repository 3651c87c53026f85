"""Tests for `kmirror offsets translate` (kmirror.cli.offsets) over in-memory clusters.

``connect`` (``kmirror.offsets.clusters``) hands out fakes (source and target told apart by their
label), so the flow is checked without a broker: refusals before any write, the plan, --dry-run,
--json. The fake target serves the offset syncs as the bytes kmirror wrote, so the syncs are
decoded as from a real cluster.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import kmirror.cli.offsets as offsets_cli
from kmirror.cli import main
from kmirror.offsets.syncs import SYNC_TOPIC, encode
from tests.unit.offsets.fakes import FakeSource, FakeTarget, sync

ORDERS = ("east.orders", 0)


class World:
    """The two fake clusters the command will see."""

    def __init__(self) -> None:
        self.source = FakeSource({"billing": {("orders", 0): 15}, "billing-v2": {}})
        self.target = FakeTarget(ends={ORDERS: 130})
        self.syncs = [sync(10, 110), sync(20, 120)]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    world = World()

    class FakeClient:
        def __init__(self, settings: dict[str, str], label: str) -> None:
            self.label = f"{label} ({settings['bootstrap.servers']})"
            self._side: Any = world.source if label.startswith("source") else world.target

        def read_topic(self, topic: str,
                       on_record: Callable[[bytes | None, bytes | None], None],
                       start: Mapping[int, int] | None = None) -> dict[int, int]:
            assert topic == SYNC_TOPIC and start is None
            for slot, offset_sync in enumerate(world.syncs):
                on_record(*encode(offset_sync, f"f{slot}"))
            return {0: len(world.syncs)}

        def __getattr__(self, name: str) -> Any:
            return getattr(self._side, name)

    monkeypatch.setattr(offsets_cli, "connect", FakeClient)
    yield world


@pytest.fixture
def configs(tmp_path: Path) -> list[str]:
    source = tmp_path / "east.properties"
    source.write_text("bootstrap.servers=source:9092\n", encoding="utf-8")
    target = tmp_path / "target.properties"
    target.write_text("bootstrap.servers=target:9092\n", encoding="utf-8")
    return ["--consumer.config", str(source), "--producer.config", str(target)]


def run(*args: str) -> int:
    return main(["offsets", "translate", *args])


def test_writes_the_plan_and_says_what_it_wrote(
    world: World, configs: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(*configs, "--group", "billing") == 0
    out = capsys.readouterr().out
    assert "group billing" in out and "115" in out and "write" in out
    assert "wrote 1 offset(s) on the target (1 exact)" in out
    assert world.target.writes == [("billing", {ORDERS: 115})]


def test_dry_run_writes_nothing(world: World, configs: list[str],
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*configs, "--group", "billing", "--dry-run", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dry_run"] is True and data["source_alias"] == "east"
    (group,) = data["groups"]
    assert group["written"] == [] and group["partitions"][0]["target_offset"] == 115
    assert world.target.writes == []


def test_json_lists_what_was_written(world: World, configs: list[str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*configs, "--group", "billing", "--json") == 0
    (group,) = json.loads(capsys.readouterr().out)["groups"]
    assert group["written"] == [{"topic": "east.orders", "partition": 0, "offset": 115}]


def test_an_unknown_group_is_refused_with_close_names(
    world: World, configs: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(*configs, "--group", "billing", "--group", "biling") == 2
    err = capsys.readouterr().err
    assert "--group biling: no committed offsets on the source cluster (source:9092)" in err
    assert "did you mean billing" in err
    assert world.target.writes == []  # billing was fine, but nothing is written


def test_a_group_active_on_the_target_is_refused(
    world: World, configs: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    world.target.members["billing"] = 2
    assert run(*configs, "--group", "billing") == 2
    err = capsys.readouterr().err
    assert "--group billing: 2 member(s) active on the target cluster (target:9092)" in err
    assert "stop them first" in err
    assert world.target.writes == []


def test_syncs_of_another_alias_name_the_alias_to_give(
    world: World, configs: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(*configs, "--group", "billing", "--source.alias", "west") == 2
    err = capsys.readouterr().err
    assert "--source.alias is 'west' but the offset syncs" in err and "'east'" in err


def test_no_syncs_at_all_is_bad_input(world: World, configs: list[str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    world.syncs = []
    assert run(*configs, "--group", "billing") == 2
    assert "no offset syncs in topic kmirror.offset-syncs" in capsys.readouterr().err


def test_missing_config_files_are_named(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--consumer.config", str(tmp_path / "a.properties"), "--producer.config",
               str(tmp_path / "b.properties"), "--group", "g") == 2
    err = capsys.readouterr().err
    assert "a.properties: no such file" in err and "b.properties: no such file" in err
