"""The sample-ratio check of a rollout covers every routing generation, old versions included: units first
routed under a generation are tested against the shares in force then (the store's routing history), so a
logging bug in an earlier generation is caught even when the newest generation looks right; under correct
routing the combined test falsely alarms at most α of the time."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from trilho.cli.main import app
from trilho.measure.exposure import analyze_rollout
from trilho.measure.exposure_sim import EPOCH
from trilho.measure.metrics import parse_metric
from trilho.measure.sql import DuckDBSource
from trilho.measure.srm import srm_by_generation
from trilho.store.routing import (
    Deployment,
    Route,
    set_deployment,
    set_kill,
    set_weights,
    shares_by_generation,
)


def write_generations(folder, model, generations, *, drop=None, seed=0):
    """An exposure log and outcomes where each (generation, shares, units) routes its own new units;
    ``drop`` = (generation, version, fraction) loses that share of those units' exposures (a logging bug)."""
    rng = np.random.default_rng(seed)
    rows, events, start = [], [], 0
    for gen, shares, n in generations:
        names = list(shares)
        p = np.array([shares[v] for v in names])
        version = np.array(names)[rng.choice(len(names), size=n, p=p / p.sum())]
        for i, v in enumerate(version):
            unit = f"g{gen}-{i}"
            t = EPOCH + timedelta(seconds=start + i)
            if drop and drop[0] == gen and drop[1] == v and rng.random() < drop[2]:
                continue
            rows.append((unit, str(v), "stable" if v == names[0] else "canary", gen, t))
            events.append((unit, t + timedelta(minutes=1), int(rng.poisson(2.0))))
        start += n
    day = folder / "exposures" / f"day={EPOCH:%Y-%m-%d}" / f"model={model}"
    day.mkdir(parents=True, exist_ok=True)
    unit, version, variant, gen, ts = zip(*rows, strict=True)
    columns = {
        "unit": unit,
        "version": version,
        "variant": variant,
        "generation": np.array(gen, np.int64),
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "request_id": [f"r{i}" for i in range(len(unit))],
    }
    pq.write_table(pa.table(columns), day / "part-sim-000001.parquet")
    eu, et, eo = zip(*events, strict=True)
    pq.write_table(
        pa.table({"unit": eu, "ts": pa.array(et, pa.timestamp("us", tz="UTC")), "orders": eo}),
        folder / "outcomes.parquet",
    )
    return folder / "exposures", folder / "outcomes.parquet"


GENS = [(1, {"1": 0.9, "2": 0.1}, 4000), (2, {"1": 0.5, "2": 0.5}, 4000), (3, {"1": 1.0}, 1000)]
SHARES = {g: s for g, s, _ in GENS}


def analyze(exposures, outcomes, **kw):
    return analyze_rollout(
        DuckDBSource(outcomes), exposures, "rec", [parse_metric("orders")], stable="1", **kw
    )


def test_a_logging_bug_in_an_old_generation_fails_the_check_the_newest_generation_passes(tmp_path):
    exposures, outcomes = write_generations(tmp_path, "rec", GENS[:2], drop=(1, "2", 0.3))
    newest_only = analyze(exposures, outcomes, weights=SHARES[2])
    assert newest_only.ab.srm.passed  # generation 2 alone is fine
    every = analyze(exposures, outcomes, generation_weights=SHARES)
    assert not every.ab.srm.passed and every.ab.headline_blocked
    assert every.exposure.srm_generations == (1, 2)
    assert every.ab.srm.counts["1/2"] < every.ab.srm.expected["1/2"] * 0.8
    assert any("across generations 1, 2" in w for w in every.ab.warnings)


def test_correct_routing_over_three_generations_passes_and_counts_every_unit(tmp_path):
    exposures, outcomes = write_generations(tmp_path, "rec", GENS, seed=4)
    res = analyze(exposures, outcomes, generation_weights=SHARES)
    assert res.ab.srm.passed, res.ab.srm
    assert res.exposure.srm_generations == (1, 2)  # generation 3 routes to one version: nothing to test
    assert sum(res.ab.srm.counts.values()) == 8000


def test_a_unit_on_a_version_its_generation_gave_no_share_is_a_mismatch(tmp_path):
    gens = [(1, {"1": 0.5, "2": 0.5}, 2000), (2, {"1": 0.5, "2": 0.5}, 2000)]
    exposures, outcomes = write_generations(tmp_path, "rec", gens, seed=5)
    res = analyze(exposures, outcomes, generation_weights={1: {"1": 1.0}, 2: {"1": 0.5, "2": 0.5}})
    assert not res.ab.srm.passed
    assert any("version 2 under generation 1, which gave it no share" in w for w in res.ab.warnings)
    unknown = analyze(exposures, outcomes, generation_weights={2: {"1": 0.5, "2": 0.5}})
    assert unknown.ab.srm.passed and any(
        "generation(s) 1 are not in the store" in w for w in unknown.ab.warnings
    )


def test_false_alarm_rate_of_the_combined_check_is_at_most_alpha():
    rng = np.random.default_rng(11)
    alpha, reps, alarms = 0.05, 400, 0
    shares = {1: {"a": 0.9, "b": 0.1}, 2: {"a": 0.5, "b": 0.3, "c": 0.2}, 3: {"a": 0.5, "b": 0.5}}
    for _ in range(reps):
        counts = {}
        for g, s in shares.items():
            n = rng.multinomial(int(rng.integers(200, 3000)), list(s.values()))
            counts[g] = dict(zip(s, n.tolist(), strict=True))
        alarms += not srm_by_generation(counts, shares, alpha=alpha).passed
    assert alarms / reps <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / reps)  # 0.072


@given(
    st.dictionaries(
        st.integers(1, 9),
        st.tuples(st.integers(1, 500), st.integers(1, 500)),
        min_size=1,
        max_size=4,
    )
)
def test_counts_exactly_as_expected_never_alarm_and_a_missing_share_always_does(gens):
    shares = {g: {"s": a / (a + b), "c": b / (a + b)} for g, (a, b) in gens.items()}
    counts = {g: {"s": a * 10, "c": b * 10} for g, (a, b) in gens.items()}
    res = srm_by_generation(counts, shares)
    assert res.passed and res.result.pvalue == pytest.approx(1.0)
    assert res.tested == tuple(sorted(gens))
    first = min(gens)
    assert not srm_by_generation(counts, {**shares, first: {"s": 1.0}}).passed


def test_the_store_keeps_every_generations_shares_and_the_cli_checks_them(tmp_path):
    from trilho.config import resolve_settings
    from trilho.store import open_store

    home = tmp_path / "home"
    store = open_store(resolve_settings(home))
    first = set_deployment(store, Deployment("rec", routes=(Route("1"), Route("2", "canary", 0.0))))
    ramp = set_weights(store, "rec", {"1": 0.9, "2": 0.1})
    half = set_weights(store, "rec", {"1": 0.5, "2": 0.5})
    killed = set_kill(store, "rec", "candidates")
    history = shares_by_generation(store, "rec")
    assert history[first.generation] == {"1": 1.0, "2": 0.0}
    assert history[ramp.generation] == {"1": 0.9, "2": 0.1}
    assert history[half.generation] == {"1": 0.5, "2": 0.5}
    assert history[killed.generation] == {"1": 1.0}
    set_kill(store, "rec", "off")
    gens = [(ramp.generation, {"1": 0.9, "2": 0.1}, 3000), (half.generation, {"1": 0.5, "2": 0.5}, 3000)]
    exposures, outcomes = write_generations(tmp_path, "rec", gens, drop=(ramp.generation, "2", 0.35), seed=2)
    base = ["--home", str(home), "measure", "rollout", "rec", "--exposures", str(exposures)]
    out = CliRunner().invoke(app, [*base, "--outcomes", str(outcomes), "--metric", "orders", "--json"])
    assert out.exit_code == 1, out.output
    body = json.loads(out.stdout)
    assert body["result"]["rollout"]["srm_generations"] == [ramp.generation, half.generation]
    assert not body["result"]["srm"]["passed"]
