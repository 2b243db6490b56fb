"""The covariate-timing rule: post-exposure covariates are refused, pre-period ones recorded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trilho.errors import MeasurementError
from trilho.measure import ab
from trilho.measure.metrics import Covariate, mean
from trilho.measure.sql import DuckDBSource
from trilho.measure.timing import CovariateTiming, check_timing, parse_covariate_time

START = datetime(2024, 3, 1, tzinfo=UTC)


def test_naming_contract_accepted():
    assert check_timing("orders_covariate", None, start=None).basis == "naming-contract"
    assert check_timing("pre_orders", None, start=None).basis == "naming-contract"


def test_undeclared_covariate_refused():
    with pytest.raises(MeasurementError, match="no recording time") as e:
        check_timing("orders_last_week", None, start=START)
    assert "--covariate-time orders_last_week=" in e.value.fix


def test_declared_after_start_refused():
    _, timing = parse_covariate_time("score=2024-03-05")
    with pytest.raises(MeasurementError, match="after exposure"):
        check_timing("score", timing, start=START)
    _, ok = parse_covariate_time("score=2024-02-28T23:00:00Z")
    assert check_timing("score", ok, start=START).basis == "timestamp"


def test_declared_without_start_refused():
    with pytest.raises(MeasurementError, match="start is unknown"):
        check_timing("score", CovariateTiming(recorded_until=START), start=None)


def test_per_unit_time_column_checked_in_sql(tmp_path):
    p = tmp_path / "d.csv"
    lines = ["v,y,score,score_ts,exposed_at"]
    for i in range(40):
        ts = "2024-02-20" if i != 7 else "2024-03-03"
        lines.append(f"{i % 2},{i % 5},{i % 3},{ts},2024-03-01")
    p.write_text("\n".join(lines) + "\n")
    _, timing = parse_covariate_time("score=@score_ts")
    m = mean("y", Covariate("score", timing=timing))
    with pytest.raises(MeasurementError, match="after exposure for 1 unit"):
        ab.analyze(DuckDBSource(p), [m], variant="v", exposure_column="exposed_at")
    lines[8] = "1,2,1,2024-02-20,2024-03-01"
    p.write_text("\n".join(lines) + "\n")
    res = ab.analyze(DuckDBSource(p), [m], variant="v", exposure_column="exposed_at")
    assert res.timing[0].basis == "column"


def test_post_exposure_covariate_flagged_by_balance(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    v = rng.integers(0, 2, 4000)
    y = rng.normal(10, 2, 4000) + 1.0 * v
    post = y + rng.normal(0, 1, 4000)  # measured after exposure: carries the treatment effect
    p = tmp_path / "d.csv"
    p.write_text(
        "v,y,post_covariate\n" + "".join(f"{a},{b},{c}\n" for a, b, c in zip(v, y, post, strict=True))
    )
    res = ab.analyze(DuckDBSource(p), [mean("y", "post_covariate")], variant="v")
    assert any("differs between arms" in w for w in res.warnings)
