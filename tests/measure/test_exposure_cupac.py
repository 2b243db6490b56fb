"""CUPAC in `measure rollout`: a unit-level table of predictions made before the experiment (a model fitted on
other, historical users' pre-period features) is a covariate of the same CUPED estimator. On simulated
rollouts whose lift is known it reduces the variance more than the metric's own pre-period sum, its
intervals cover the truth at their nominal rate, and predictions computed after a unit's first exposure,
missing or repeated units are refused naming the problem."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from trilho.cli.main import app
from trilho.errors import MeasurementError
from trilho.measure.ab import analyze_moments
from trilho.measure.exposure import analyze_rollout
from trilho.measure.exposure_sim import EPOCH, SimulatedRollout, write_rollout
from trilho.measure.metrics import mean
from trilho.measure.moments import Moments
from trilho.measure.sql import DuckDBSource

LIFT = 0.04
MEAN = 2.0


def features(rng, n):
    lam = rng.gamma(2.0, MEAN / 2.0, size=n)
    return lam, rng.poisson(lam), rng.poisson(4 * lam)  # rate, orders last week, sessions last week


def fitted_predictor(seed=99, n=20_000):
    """Least squares of orders on last week's orders and sessions, fitted on historical users only."""
    rng = np.random.default_rng(seed)
    lam, orders_pre, sessions_pre = features(rng, n)
    X = np.column_stack([np.ones(n), orders_pre, sessions_pre])
    beta = np.linalg.lstsq(X, rng.poisson(lam), rcond=None)[0]
    return lambda o, s: np.column_stack([np.ones(len(o)), o, s]) @ beta


PREDICT = fitted_predictor()


def simulate(n, seed):
    """Units split 50/50 between stable 1 and candidate 2 (known lift), with their CUPAC prediction."""
    rng = np.random.default_rng(seed)
    lam, orders_pre, sessions_pre = features(rng, n)
    version = np.where(rng.random(n) < 0.5, "1", "2")
    orders = rng.poisson(lam * np.where(version == "2", 1 + LIFT, 1.0))
    sim = SimulatedRollout(
        version=version,
        variant=np.where(version == "1", "stable", "canary"),
        arrival=np.sort(rng.uniform(0, 86_400, n)),
        orders_pre=orders_pre,
        orders=orders,
        impressions=np.zeros(n, dtype=np.int64),
        clicks=np.zeros(n, dtype=np.int64),
        mean_rate=MEAN,
        lifts={"2": LIFT},
    )
    return sim, PREDICT(orders_pre, sessions_pre)


def write_units(folder, prediction, *, late=0, drop=0, repeat=0):
    n = len(prediction)
    at = [EPOCH - timedelta(days=2)] * n
    for i in range(late):
        at[i] = EPOCH + timedelta(days=3)  # after every unit's first exposure
    units = [f"u{i}" for i in range(n)]
    pred = list(prediction)
    units, pred, at = units[drop:], pred[drop:], at[drop:]
    units += units[:repeat]
    pred += pred[:repeat]
    at += at[:repeat]
    path = folder / "units.parquet"
    pq.write_table(
        pa.table(
            {
                "unit": units,
                "orders_prediction": pred,
                "predicted_at": pa.array(at, pa.timestamp("us", tz="UTC")),
            }
        ),
        path,
    )
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cupac")
    sim, prediction = simulate(8000, seed=2)
    exposures, outcomes = write_rollout(sim, folder, "rec")
    return folder, sim, prediction, exposures, outcomes


def run(exposures, outcomes, covariate, **kw):
    metric = mean("orders", covariate)
    res = analyze_rollout(DuckDBSource(outcomes), exposures, "rec", [metric], stable="1", **kw)
    return res.ab.effect("orders", "2")


def test_cupac_reduces_variance_beyond_cuped_and_matches_the_numpy_reference(files):
    folder, sim, prediction, exposures, outcomes = files
    units = write_units(folder, prediction)
    plain = run(exposures, outcomes, None)
    cuped = run(exposures, outcomes, "orders_pre")
    cupac = run(exposures, outcomes, "orders_prediction", units_table=units, units_time="predicted_at")
    assert cupac.covariate == "orders_prediction"
    assert 0 < cuped.variance_reduction < cupac.variance_reduction
    assert cupac.se < cuped.se < plain.se
    truth = sim.true_effect("2", "1")
    for e in (plain, cuped, cupac):
        assert e.ci_lower <= truth <= e.ci_upper
    data = np.column_stack([sim.orders, prediction]).astype(float)
    ref = {v: Moments.from_array(("orders", "orders_prediction"), data[sim.version == v]) for v in ("1", "2")}
    expect = analyze_moments([mean("orders", "orders_prediction")], ref, control="1", srm=False).effects[0]
    assert cupac.effect == pytest.approx(expect.effect, abs=1e-9)
    assert cupac.se == pytest.approx(expect.se, rel=1e-9)


def test_cupac_intervals_cover_the_known_lift_at_their_nominal_rate():
    """200 simulated rollouts through the estimator the SQL path feeds (per-arm moments of the unit table)."""
    reps, covered, seq_covered = 200, 0, 0
    widths = {"none": [], "cuped": [], "cupac": []}
    for r in range(reps):
        sim, prediction = simulate(4000, seed=1000 + r)
        truth = sim.true_effect("2", "1")
        data = np.column_stack([sim.orders, sim.orders_pre, prediction]).astype(float)
        cols = ("orders", "orders_pre", "orders_prediction")
        m = {v: Moments.from_array(cols, data[sim.version == v]) for v in ("1", "2")}
        for name, cov in (("none", None), ("cuped", "orders_pre"), ("cupac", "orders_prediction")):
            res = analyze_moments([mean("orders", cov)], m, control="1", srm=False, sequential_planned_n=4000)
            e = res.effects[0]
            widths[name].append(e.ci_upper - e.ci_lower)
            if name == "cupac":
                covered += e.ci_lower <= truth <= e.ci_upper
                seq_covered += e.sequential_ci_lower <= truth <= e.sequential_ci_upper
    assert covered / reps >= 0.92  # nominal 0.95; 0.92 is 2 binomial SDs below it at 200 reps
    assert seq_covered / reps >= 0.95
    assert np.mean(widths["cupac"]) < np.mean(widths["cuped"]) < np.mean(widths["none"])


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"late": 5}, "computed at or after the first exposure of 5 unit(s)"),
        ({"drop": 3}, "3 exposed unit(s) have no row in the units table"),
        ({"repeat": 2}, "2 repeated unit(s)"),
    ],
)
def test_late_missing_or_repeated_predictions_are_refused(files, tmp_path, kw, words):
    _, _, prediction, exposures, outcomes = files
    units = write_units(tmp_path, prediction, **kw)
    with pytest.raises(MeasurementError) as err:
        run(exposures, outcomes, "orders_prediction", units_table=units, units_time="predicted_at")
    assert words in err.value.message


def test_the_cli_takes_a_units_table_and_names_a_missing_time_column(files, tmp_path):
    folder, _, prediction, exposures, outcomes = files
    units = write_units(tmp_path, prediction)
    base = ["--home", str(tmp_path / "home"), "measure", "rollout", "rec", "--exposures", str(exposures)]
    base += ["--outcomes", str(outcomes), "--metric", "orders", "--covariate", "orders=orders_prediction"]
    base += ["--units", str(units), "--weights", "1=0.5,2=0.5"]
    ok = CliRunner().invoke(app, [*base, "--units-time", "predicted_at"])
    assert ok.exit_code == 0, ok.output
    assert "orders" in ok.output
    bad = CliRunner().invoke(app, base)
    assert bad.exit_code == 2 and "--units-time" in bad.output
