"""CUPAC: any prediction column works as a covariate, as long as its timing is declared and pre-exposure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trilho.errors import MeasurementError
from trilho.measure import api


@pytest.fixture
def with_prediction(tea_csv, tmp_path):
    df = pd.read_csv(tea_csv)
    # A "model" fitted on pre-period features only: least squares of orders on the three covariates.
    X = np.column_stack([np.ones(len(df)), df.sessions_covariate, df.orders_covariate, df.revenue_covariate])
    beta = np.linalg.lstsq(X, df.orders, rcond=None)[0]
    df["orders_prediction"] = X @ beta
    p = tmp_path / "users.csv"
    df.to_csv(p, index=False)
    return p


def test_cupac_prediction_reduces_variance(with_prediction):
    kw = dict(variant="variant", metrics=["orders"], correction="none")
    cupac = api.run_ab(
        str(with_prediction),
        covariates=["orders_prediction"],
        covariate_times=["orders_prediction=2024-02-29"],
        start="2024-03-01",
        **kw,
    )
    cuped = api.run_ab(str(with_prediction), covariates=["orders_covariate"], **kw)
    e, c = cupac.effects[0], cuped.effects[0]
    assert e.variance_reduction >= c.variance_reduction - 0.01
    assert e.ci_lower < e.effect < e.ci_upper
    assert cupac.timing[0].basis == "timestamp"


def test_cupac_prediction_after_start_refused(with_prediction):
    with pytest.raises(MeasurementError, match="after exposure"):
        api.run_ab(
            str(with_prediction),
            variant="variant",
            metrics=["orders"],
            covariates=["orders_prediction"],
            covariate_times=["orders_prediction=2024-03-02"],
            start="2024-03-01",
        )
