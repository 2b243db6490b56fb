"""Chart series: histogram quantiles and per-version aggregation of serving windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from trilho.web.series import shadow_series, version_series

BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25]


def test_version_series_sums_gateways_and_computes_rates():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    counts = [0, 10, 0, 0, 0, 0, 0]
    rows = [
        dict(
            gateway=g,
            version="2",
            variant="canary",
            window_start=t0,
            window_end=t0 + timedelta(seconds=10),
            requests=50,
            errors=e,
            latency_histogram={"bounds": BOUNDS, "counts": counts},
        )
        for g, e in (("g1", 1), ("g2", 4))
    ]
    s = version_series(rows)["2 (canary)"]
    assert s["rps"] == [10.0] and s["error_rate"] == [pytest.approx(0.05)]
    assert 5.0 <= s["p50"][0] <= 10.0
    sh = shadow_series(
        [dict(shadow_version="2", primary_version="1", window_end=t0, compared=200, agreed=190)]
    )
    assert sh["2 vs 1"]["agreement"] == [pytest.approx(0.95)]
    assert np.isclose(sh["2 vs 1"]["n"][0], 200)
