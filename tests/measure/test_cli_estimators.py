"""Every estimator from the CLI, on the inputs people have (issue 21, items 2, 3 and 5).

Published numbers through the command line: Prop 99 with the paper's predictors, Basque with R Synth's V
search, the GeoLift walkthrough as one cell of a multi-cell test, and google/trimmed_match's README example.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

PROP99 = [
    "lnincome:mean:1980..1988",
    "age15to24:1980..1988",
    "retprice:mean:1980-1988",
    "beer:1984..1988",
    "cigsale:1975",
    "cigsale:1980",
    "cigsale:1988",
]


def _flags(name: str, values: list[str]) -> list[str]:
    return [x for v in values for x in (name, v)]


def _prop99(cli, causal_data, *extra: str):
    r = cli(
        "measure",
        "geo",
        str(causal_data / "prop99_smoking.csv"),
        "--unit-col",
        "state",
        "--time-col",
        "year",
        "--outcome-col",
        "cigsale",
        "--treated",
        "California",
        "--start",
        "1989",
        *_flags("--predictor", PROP99),
        *extra,
        "--json",
    )
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["result"]


def test_prop99_with_the_papers_predictors_from_the_cli(cli, causal_data):
    res = _prop99(cli, causal_data, "--inference", "placebo")
    published = {"Utah": 0.334, "Nevada": 0.234, "Montana": 0.199, "Colorado": 0.164, "Connecticut": 0.069}
    for state, w in published.items():
        assert res["weights"].get(state, 0.0) == pytest.approx(w, abs=0.02), state
    assert res["method"] == "classic" and len(res["v"]) == 7
    assert res["att"] == pytest.approx(-19, abs=1.0)
    assert res["placebo"]["rank"] == 1 and res["placebo"]["units"] == 39


def test_custom_v_file_equals_the_equal_mode_and_moves_the_weights(cli, causal_data, tmp_path):
    equal = _prop99(cli, causal_data, "--v", "equal", "--inference", "none")
    vfile = tmp_path / "v.json"
    vfile.write_text(json.dumps([1.0] * 7))
    custom = _prop99(cli, causal_data, "--v-file", str(vfile), "--inference", "none")
    assert custom["weights"] == pytest.approx(equal["weights"])
    vfile.write_text("\n".join(["0", "0", "0", "0", "1", "1", "1"]))  # one weight per line: outcome lags only
    lags = _prop99(cli, causal_data, "--v", "custom", "--v-file", str(vfile), "--inference", "none")
    assert lags["weights"] != pytest.approx(equal["weights"])
    assert [lags["v"][k] for k in lags["v"] if not k.startswith("cigsale")] == pytest.approx(
        [0] * 4, abs=1e-9
    )


def test_basque_with_r_synth_v_search_from_the_cli(cli, causal_data):
    cols = ["school.illit", "school.prim", "school.med", "school.high", "school.post.high", "invest"]
    sectors = [
        "sec.agriculture",
        "sec.energy",
        "sec.industry",
        "sec.construction",
        "sec.services.venta",
        "sec.services.nonventa",
    ]
    preds = (
        [f"{c}:1964..1969" for c in cols]
        + ["gdpcap:1960..1969"]
        + [f"{c}:1961,1963,1965,1967,1969" for c in sectors]
        + ["popdens:1969"]
    )
    r = cli(
        "measure",
        "geo",
        str(causal_data / "basque.csv"),
        "--unit-col",
        "regionname",
        "--time-col",
        "year",
        "--outcome-col",
        "gdpcap",
        "--treated",
        "Basque Country (Pais Vasco)",
        "--exclude",
        "Spain (Espana)",
        "--start",
        "1970",
        "--fit-period",
        "1960..1969",
        "--v",
        "synth",
        *_flags("--predictor", preds),
        "--inference",
        "none",
        "--json",
    )
    assert r.exit_code == 0, r.output
    w = json.loads(r.stdout)["result"]["weights"]
    assert w["Cataluna"] == pytest.approx(0.8508, abs=0.025)
    assert w["Madrid (Comunidad De)"] == pytest.approx(0.1492, abs=0.025)


def test_multi_cell_from_the_cli_each_cell_excludes_the_others(cli, causal_data, tmp_path):
    r = cli(
        "measure",
        "geo",
        str(causal_data / "geolift_test.csv"),
        "--cells",
        "walkthrough=chicago,portland;other=cincinnati,miami",
        "--start",
        "2021-04-01",
        "--end",
        "2021-04-15",
        "--report",
        str(tmp_path / "rep"),
        "--json",
    )
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    cells = body["result"]["cells"]
    assert body["result"]["kind"] == "geo-cells" and set(cells) == {"walkthrough", "other"}
    assert not {"cincinnati", "miami"} & set(cells["walkthrough"]["weights"])
    assert not {"chicago", "portland"} & set(cells["other"]["weights"])
    # without cincinnati and miami (0.43 of the published weight) the ATT moves but stays positive
    assert cells["walkthrough"]["att"] > 0
    assert (tmp_path / "rep" / "walkthrough" / "report.html").exists()
    both = ("--treated", "chicago", "--cells", "a,b;c,d", "--start", "2021-04-01")
    r = cli("measure", "geo", str(causal_data / "geolift_test.csv"), *both)
    assert r.exit_code == 2 and "--treated and --cells" in r.output


def _pairs_csv(path, dy, dx, sep=",", base_cost=10):
    rows = ["date,geo,response,cost,pair,assignment".replace(",", sep)]
    for i, (y, x) in enumerate(zip(dy, dx, strict=True)):
        rows.append(sep.join(map(str, ["2020-01-01", 2 * i, 100 + y, base_cost + x, i, 1])))
        rows.append(sep.join(map(str, ["2020-01-01", 2 * i + 1, 100, base_cost, i, 2])))
    path.write_text("\n".join(rows) + "\n")


def test_trimmed_match_from_the_cli_reproduces_the_readme(cli, tmp_path):
    # google/trimmed_match README: Δresponse [1, 10, 3, 8, 5], Δspend [1, 5, 2, 5, 3], confidence 0.80
    data = tmp_path / "pairs.csv"
    _pairs_csv(data, [1, 10, 3, 8, 5], [1, 5, 2, 5, 3], sep=";")  # a semicolon file: separator detected
    r = cli(
        "measure",
        "trimmed-match",
        str(data),
        "--confidence",
        "0.8",
        "--report",
        str(tmp_path / "r"),
        "--json",
    )
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)["result"]
    assert res["iroas"] == pytest.approx(1.60, abs=0.005)
    assert (res["ci_lower"], res["ci_upper"]) == pytest.approx((1.52, 1.66), abs=0.005)
    assert (tmp_path / "r" / "report.html").exists()


def test_trimmed_match_near_zero_spend_is_trilhos_error(cli, tmp_path):
    data = tmp_path / "pairs.csv"
    _pairs_csv(data, [1, 10, 3, 8, 5, 4], [1e-300, 0, 0, 0, 0, 0], base_cost=0)
    r = cli("measure", "trimmed-match", str(data))
    assert r.exit_code == 2
    assert "too close to zero" in r.output and "NaN" not in r.output


def _wide_space_file(path, units=8, periods=40):
    rng = np.random.default_rng(0)
    names = ["VolksWagen", "BMW", "Allianz", "Siemens", "BASF", "Bayer", "SAP", "Adidas"][:units]
    base = rng.normal(0, 1, periods).cumsum()
    Y = 100 + base[:, None] * rng.uniform(0.5, 1.5, units) + rng.normal(0, 0.3, (periods, units))
    Y[30:, 1] += 5.0
    lines = ["Date " + " ".join(f'"{n}"' for n in names)]
    lines += [
        f"2020-01-{t + 1:02d} " + " ".join(f"{y:.3f}" for y in Y[t])
        if t < 31
        else f"2020-02-{t - 30:02d} " + " ".join(f"{y:.3f}" for y in Y[t])
        for t in range(periods)
    ]
    path.write_text("\n".join(lines) + "\n")


def test_space_separated_wide_panel_with_a_quoted_header(cli, tmp_path):
    data = tmp_path / "stocks.txt"
    _wide_space_file(data)
    r = cli("measure", "geo", str(data), "--treated", "BMW", "--start", "2020-01-31")
    assert r.exit_code == 2
    # say what was parsed: the separator and the columns, not the whole header as one column
    assert "space-separated with 9 column(s): 'Date', 'VolksWagen', 'BMW'" in r.output
    r = cli("measure", "geo", str(data), "--wide", "--treated", "BMW", "--start", "2020-01-31", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["result"]["att"] == pytest.approx(5.0, abs=1.5)
    r = cli("measure", "geo", str(data), "--wide", "--sep", ",", "--treated", "BMW", "--start", "2020-01-31")
    assert r.exit_code == 2 and "comma-separated with 1 column(s)" in r.output


def test_select_markets_warns_about_few_windows_and_a_floor_mde(cli, causal_data):
    r = cli(
        "measure",
        "select-markets",
        str(causal_data / "geolift_pretest.csv"),
        "--sizes",
        "2",
        "--candidates",
        "3",
        "--duration",
        "10",
        "--effects",
        "0,0.2",
        "--json",
    )
    assert r.exit_code == 0, r.output
    notes = json.loads(r.stdout)["warnings"]
    assert any("only 5 simulated window(s)" in w for w in notes)
    assert any("smallest effect tried (20.0%)" in w for w in notes)


def test_placebo_with_three_units_says_it_can_never_be_significant():
    import pandas as pd

    from trilho.measure.geo import synthetic_control
    from trilho.measure.panel import Panel

    rng = np.random.default_rng(2)
    Y = 50 + rng.normal(0, 1, (30, 3)).cumsum(axis=0)
    Y[24:, 0] += 20
    df = pd.DataFrame([(f"u{i}", t, Y[t, i]) for i in range(3) for t in range(30)], columns=["u", "t", "y"])
    res = synthetic_control(
        Panel.from_frame(df, unit="u", time="t", outcome="y"), ["u0"], 24, inference="placebo", alpha=0.1
    )
    assert res.placebo.units == 3 and res.placebo.pvalue >= 1 / 3
    assert any("smallest possible p-value is 1/3" in w for w in res.warnings)
