"""Metric names follow Prometheus' conventions, enforced where metrics are made (import fails otherwise)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import trilho
from trilho.obs.metrics import _made, gauge, naming_problem


@pytest.mark.parametrize(
    ("kind", "name", "doc", "problem"),
    [
        ("counter", "trilho_x_requests", "Requests.", "ends in _total"),
        ("gauge", "trilho_x_generation_count", "Generation in use.", "does not end in _total or _count"),
        ("gauge", "trilho_x_last_sync_seconds", "Unix time of the last poll.", "_timestamp_seconds"),
        ("gauge", "trilho_x_open_ratio", "1 while the breaker is open.", "0/1 state"),
        ("counter", "trilho_x_requests_total", "Requests.", None),
        ("gauge", "trilho_x_agreement_ratio", "Share of pairs that agreed.", None),
        ("gauge", "trilho_x_last_sync_timestamp_seconds", "Unix time of the last poll.", None),
    ],
)
def test_naming_rules(kind, name, doc, problem):
    found = naming_problem(kind, name, doc)
    assert (found is None) if problem is None else (problem in found)


def test_a_metric_breaking_the_rules_is_refused_where_it_is_made():
    with pytest.raises(ValueError, match="trilho_x_state_ratio.*0/1 state"):
        gauge("trilho_x_state_ratio", "1 while something holds.")


def test_every_metric_trilho_defines_follows_the_rules():
    for module in pkgutil.walk_packages(trilho.__path__, "trilho."):
        if ".templates." not in module.name:
            importlib.import_module(module.name)  # metrics are made at import: a bad name raises here
    assert len(_made) >= 40
    for name, metric in _made.items():
        assert naming_problem(type(metric).__name__.lower(), name, metric._documentation) is None
