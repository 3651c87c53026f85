"""The Grafana dashboard queries only metrics kmirror exposes, and shows all of them.

No Prometheus and no Grafana: the metrics are built, touched once, rendered in the exposition
format and parsed back, and the dashboard's PromQL is checked against the sample names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from kmirror.observe.metrics import MirrorMetrics

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "kmirror.json"
METRIC_NAME = re.compile(r"kmirror_[a-z_]+")

#: A plausible value for every label name MirrorMetrics uses.
LABEL_VALUES = {
    "source": "east",
    "topic": "orders",
    "partition": "3",
    "stream": "0",
    "reason": "small batches",
    "path": "whole",
    "kind": "refused_record",
    "outcome": "proven",
}

#: What a non-counter name may end with: a unit, or what it counts.
UNIT_SUFFIXES = ("_seconds", "_bytes", "_ratio", "_records", "_partitions", "_running")

#: Units a panel may declare in fieldConfig.defaults.unit.
PANEL_UNITS = {"ops", "Bps", "s", "percentunit", "short"}


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included (collapsed rows keep theirs inside)."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _panel_exprs(dash: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in _panels(dash["panels"])
            for target in panel.get("targets", []) if target.get("expr")]


def _template_exprs(dash: dict[str, Any]) -> list[str]:
    exprs = []
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        exprs.extend(q for q in (query, var.get("definition")) if q)
    return exprs


def _names(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in METRIC_NAME.findall(expr)}


def _declared(m: MirrorMetrics) -> dict[str, MetricWrapperBase]:
    return {attr: value for attr, value in vars(m).items()
            if isinstance(value, MetricWrapperBase)}


def _touch(metric: MetricWrapperBase) -> None:
    labelnames: tuple[str, ...] = metric._labelnames  # no public accessor
    child: Any = (metric.labels(**{name: LABEL_VALUES[name] for name in labelnames})
                  if labelnames else metric)
    if isinstance(metric, Counter):
        child.inc()
    elif isinstance(metric, Gauge):
        child.set(1)
    elif isinstance(metric, Histogram):
        child.observe(0.2)
    else:  # pragma: no cover - a new metric type needs a branch here
        pytest.fail(f"don't know how to touch {type(metric).__name__}")


def _sample_names(metric: MetricWrapperBase) -> set[str]:
    return {sample.name for family in metric.collect() for sample in family.samples}


@pytest.fixture(scope="module")
def metrics() -> MirrorMetrics:
    m = MirrorMetrics()
    for metric in _declared(m).values():
        _touch(metric)
    return m


@pytest.fixture(scope="module")
def exposed(metrics: MirrorMetrics) -> set[str]:
    text = generate_latest(metrics.registry).decode("utf-8")
    return {sample.name for family in text_string_to_metric_families(text)
            for sample in family.samples}


def test_dashboard_is_grafana_json() -> None:
    dash = _dashboard()
    assert dash["schemaVersion"] >= 36
    assert [i["name"] for i in dash["__inputs"]] == ["DS_PROMETHEUS"]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert "label_values(kmirror_mirrored_records_total, source)" in _template_exprs(dash)
    ids = [p["id"] for p in _panels(dash["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_every_panel_has_a_prometheus_datasource_and_a_unit() -> None:
    for panel in _panels(_dashboard()["panels"]):
        if panel["type"] == "row":
            continue
        title = panel["title"]
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", title
        assert all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in panel["targets"]), title
        assert panel["targets"], f"{title}: no query"
        assert panel["fieldConfig"]["defaults"].get("unit") in PANEL_UNITS, title


def test_all_metrics_were_touched(metrics: MirrorMetrics, exposed: set[str]) -> None:
    for attr, metric in _declared(metrics).items():
        assert _sample_names(metric) & exposed, f"{attr}: no sample exposed"


def test_dashboard_queries_only_exposed_metrics(exposed: set[str]) -> None:
    dash = _dashboard()
    queried = _names(_panel_exprs(dash) + _template_exprs(dash))
    assert queried, "no PromQL found in the dashboard"
    missing = sorted(queried - exposed)
    assert not missing, f"the dashboard queries metrics kmirror does not expose: {missing}"


def test_dashboard_shows_every_declared_metric(metrics: MirrorMetrics) -> None:
    used = _names(_panel_exprs(_dashboard()))
    unused = sorted(attr for attr, metric in _declared(metrics).items()
                    if not _sample_names(metric) & used)
    assert not unused, f"metrics no panel shows: {unused}"


def test_metric_names_carry_units_or_total(metrics: MirrorMetrics, exposed: set[str]) -> None:
    for attr, metric in _declared(metrics).items():
        for family in metric.collect():  # a counter's family name drops its _total
            name, kind = family.name, family.type
            assert name.startswith("kmirror_"), f"{attr}: {name}"
            if kind == "counter":
                assert f"{name}_total" in exposed, f"{attr}: counter {name} not exposed as _total"
            else:
                assert name.endswith(UNIT_SUFFIXES), f"{attr}: {name} ({kind}) carries no unit"
                assert not name.endswith("_total"), f"{attr}: {name} is a {kind}, not a counter"
