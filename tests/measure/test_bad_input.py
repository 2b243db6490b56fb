"""Bad A/B input gives one clear MeasurementError naming the column and the fix — never a NaN lift."""

from __future__ import annotations

import pytest

from trilho.errors import MeasurementError
from trilho.measure import ab
from trilho.measure.metrics import mean
from trilho.measure.sql import DuckDBSource


def _csv(tmp_path, text):
    p = tmp_path / "d.csv"
    p.write_text(text)
    return DuckDBSource(p)


def test_missing_column(tea_csv):
    with pytest.raises(MeasurementError) as e:
        ab.analyze(DuckDBSource(tea_csv), [mean("clicks")], variant="variant")
    assert e.value.fields["value"] == "clicks" and "orders" in e.value.fix


def test_missing_variant_column(tea_csv):
    with pytest.raises(MeasurementError, match="'arm' is missing"):
        ab.analyze(DuckDBSource(tea_csv), [mean("orders")], variant="arm")


def test_unexpected_variant_values(tmp_path):
    src = _csv(tmp_path, "v,y\nA,1\nB,2\nC,3\nA,2\nB,3\nC,1\n")
    with pytest.raises(MeasurementError, match="unexpected value"):
        ab.analyze(src, [mean("y")], variant="v", variants=["A", "B"])
    with pytest.raises(MeasurementError, match="no control was named"):
        ab.analyze(src, [mean("y")], variant="v")


def test_unknown_control(tea_csv):
    with pytest.raises(MeasurementError, match="control value 'x'"):
        ab.analyze(DuckDBSource(tea_csv), [mean("orders")], variant="variant", control="x")


def test_nan_and_null_values(tmp_path):
    with pytest.raises(MeasurementError, match="'y' has 1 missing"):
        ab.analyze(_csv(tmp_path, "v,y\n0,1\n0,\n1,2\n1,3\n"), [mean("y")], variant="v")
    with pytest.raises(MeasurementError, match="NaN"):
        ab.analyze(_csv(tmp_path, "v,y\n0,1.0\n0,nan\n1,2.0\n1,3.0\n"), [mean("y")], variant="v")


def test_constant_metric_refused(tmp_path):
    with pytest.raises(MeasurementError, match="zero variance"):
        ab.analyze(_csv(tmp_path, "v,y\n0,1\n0,1\n1,1\n1,1\n"), [mean("y")], variant="v")


def test_zero_denominator_refused(tmp_path):
    from trilho.measure.metrics import ratio

    with pytest.raises(MeasurementError, match="denominator 's'"):
        ab.analyze(_csv(tmp_path, "v,y,s\n0,1,0\n0,1,0\n1,1,0\n1,2,0\n"), [ratio("y", "s")], variant="v")


def test_single_arm(tmp_path):
    with pytest.raises(MeasurementError, match="needs two or more"):
        ab.analyze(_csv(tmp_path, "v,y\n0,1\n0,2\n"), [mean("y")], variant="v")


def test_srm_blocks_headline(tmp_path):
    rows = "v,y\n" + "".join(f"0,{i % 3}\n" for i in range(600)) + "".join(f"1,{i % 4}\n" for i in range(400))
    res = ab.analyze(_csv(tmp_path, rows), [mean("y")], variant="v")
    assert not res.srm.passed and res.headline_blocked
    assert any("sample ratio mismatch" in w for w in res.warnings)
