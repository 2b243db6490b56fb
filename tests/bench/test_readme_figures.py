"""The README's figures are generated from benchmarks/results/*.json, and every target there is a real one."""

from __future__ import annotations

import copy

import pytest
from benchmarks import readme_figures as rf


@pytest.fixture(scope="module")
def results():
    return rf.load_results()


def test_readme_agrees_with_the_results_files(results):
    drift = rf.drifts(rf.README.read_text(encoding="utf-8"), results)
    assert not drift, "\n".join(drift) + "\nrun: python -m benchmarks.readme_figures"


def test_a_changed_result_is_caught(results):
    readme = rf.README.read_text(encoding="utf-8")
    changed = copy.deepcopy(results)
    first = next(iter(changed.values()))
    first["targets"][0]["value"] = "a different figure"
    assert rf.drifts(readme, changed)


def test_rendering_is_idempotent_and_fills_inline_figures(results):
    text = f'a <!-- fig registry "{results["registry"]["targets"][0]["name"]}" -->old<!-- /fig --> b\n'
    text += f"{rf.TABLE_START}\nstale\n{rf.TABLE_END}\n"
    once = rf.render(text, results)
    assert rf.render(once, results) == once
    assert "-->old<!--" not in once and "stale" not in once


def test_an_inline_figure_naming_no_target_is_an_error(results):
    text = f'<!-- fig registry "no such target" -->1<!-- /fig -->\n{rf.TABLE_START}\n{rf.TABLE_END}\n'
    with pytest.raises(KeyError, match="has no target 'no such target'"):
        rf.render(text, results)


@pytest.mark.parametrize("name", sorted(rf.load_results()))
def test_every_target_is_measured_and_judged(name, results):
    """A 'report' is context, not a target; names are unique; `met` is a boolean from a measured value."""
    targets = results[name]["targets"]
    names = [t["name"] for t in targets]
    assert len(names) == len(set(names)), f"{name}.json repeats a target name"
    for t in targets:
        assert set(t) >= {"name", "goal", "value", "met"}, t
        assert isinstance(t["met"], bool), t
        assert t["goal"].strip().lower() != "report", f"{name}: {t['name']!r} is a report, not a target"


def test_an_inline_figure_may_name_a_recorded_figure(results):
    """Context a benchmark measured for the README (its ``figures``) fills inline figures like a target."""
    changed = copy.deepcopy(results)
    changed["registry"]["figures"] = {"reference agreement": 0.873}
    text = f'k <!-- fig registry "reference agreement" -->?<!-- /fig -->\n{rf.TABLE_START}\n{rf.TABLE_END}\n'
    assert "-->0.873<!--" in rf.render(text, changed)
