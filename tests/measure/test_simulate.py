"""The simulator: streamed Parquet with a known lift that the A/B analysis recovers."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from trilho.errors import MeasurementError
from trilho.measure import ab
from trilho.measure.metrics import mean
from trilho.measure.simulate import ImpressionSpec, simulate_geo_panel, simulate_impressions
from trilho.measure.sql import DuckDBSource


def test_streams_chunks_and_records_truth(tmp_path):
    calls = []
    spec = ImpressionSpec(days=2, per_day=50_000, lift=0.2, seed=3, chunk_rows=20_000)
    truth = simulate_impressions(tmp_path, spec, lambda d, t: calls.append(d))
    assert calls == [20_000, 40_000, 50_000, 70_000, 90_000, 100_000]
    f = pq.ParquetFile(tmp_path / "day=000.parquet")
    assert f.metadata.num_rows == 50_000 and f.metadata.num_row_groups == 3
    assert json.loads((tmp_path / "truth.json").read_text())["rows"] == truth["rows"] == 100_000
    res = ab.analyze(DuckDBSource(tmp_path), [mean("clicks", "pre_clicks")], variant="variant")
    e = res.effects[0]
    assert e.relative_ci_lower < 0.2 < e.relative_ci_upper and e.variance_reduction > 0


def test_same_seed_same_bytes(tmp_path):
    spec = ImpressionSpec(days=1, per_day=5_000, seed=9)
    simulate_impressions(tmp_path / "a", spec)
    simulate_impressions(tmp_path / "b", spec)
    a = pq.read_table(tmp_path / "a" / "day=000.parquet")
    b = pq.read_table(tmp_path / "b" / "day=000.parquet")
    assert a.equals(b)


def test_geo_panel_truth(tmp_path):
    rows, truth = simulate_geo_panel(tmp_path / "g.csv", units=10, periods=50, treated=2, lift=0.1, seed=1)
    assert len(rows) == 500 and truth["treated"] == ["geo000", "geo001"] and truth["att"] > 0
    with pytest.raises(MeasurementError):
        simulate_geo_panel(None, units=3, treated=2)
