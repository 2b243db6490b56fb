"""Measurement benchmark: calibration (coverage, size, CUPED variance reduction) and scale, side by side.

    python -m benchmarks.bench_measure [--quick] [--only calib,sc,coherence,scale,prop99] [--days D]
                                       [--statistics mean,lq]

- A/B calibration: >= 2,000 simulated experiments (vectorised data, trilho's estimator on their moments) for
  means, ratios, CUPED and CUPED-ratio: 95 % interval coverage, rejection rate at zero effect, CUPED variance
  reduction vs rho².
- Synthetic control calibration: GeoLift-like factor-model panels, conformal test at the true effect (the
  interval covers the truth iff p >= alpha, by construction).
- Synthetic control coherence (``coherence``): factor-model panels with a constant and with a growing effect,
  every method and statistic: 95 % coverage of the true average effect by the interval trilho reports for it
  (``ConformalResult.average_effect_interval``: the heterogeneity-robust block-average interval for ``lq``
  and for a set that is not one bounded interval, otherwise the conformal set — a rule that never looks at
  where the ATT falls), and the share of runs whose reported interval contains the ATT.
- Each section records its own ``measured_at`` and machine under ``sections``; ``--only`` keeps the others'.
- Scale: impressions simulated to Parquet under .bench/ (QUICK: 2M rows; full: 30 days x 10M = 300M), analysed
  by trilho (DuckDB, 2 threads) and by tea-tasting (lazy polars frame, 2 threads; its Ibis backend does not
  import with the installed DuckDB) in separate processes: wall time and peak RSS.
- Prop 99 synthetic control (nested V) vs pysyncon.
- Spark (opt-in, ``--only spark``): the same A/B SQL on the scale Parquet through a local[1] Spark session:
  session start, query time, the driver JVM's peak RSS, and the lift next to DuckDB's.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks._results import print_table, print_targets, target, write_results
from trilho import datasets

ROOT = Path(__file__).resolve().parents[1]
DATA = datasets.path("causal")
BENCH = ROOT / ".bench"


# --- A/B calibration -------------------------------------------------------------------------------------
def _ab_calibration(k: int, n: int, seed: int = 0) -> tuple[list[dict], dict]:
    from trilho.measure.estimators import estimate
    from trilho.measure.metrics import mean, ratio
    from trilho.measure.moments import Moments

    rng = np.random.default_rng(seed)
    rho_target = 0.7
    cols = ["y", "x", "num", "den", "num_pre", "den_pre"]
    lift = 0.05
    mu_c = 10.0
    # population truths
    true_abs_mean = {0.0: 0.0, 1.0: lift * mu_c}
    rows, hits = [], {}
    deltas = {"mean": [], "cuped": []}
    vr = []
    rejects0 = {"mean": 0, "ratio": 0, "cuped": 0, "cuped-ratio": 0}
    for i in range(k):
        eff = 0.0 if i % 2 == 0 else 1.0  # half the experiments at zero effect
        arms = []
        for arm in (0, 1):
            z = rng.normal(size=n)
            x = 10 + 3 * z  # pre-period covariate
            e = rng.normal(size=n)
            y = mu_c * (1 + lift * eff * arm) + 3 * (rho_target * z + math.sqrt(1 - rho_target**2) * e)
            lam = rng.gamma(2.0, 1.5, n)  # heterogeneous users
            den = rng.poisson(lam) + 1.0
            p = 0.3 * (1 + lift * eff * arm)
            num = rng.binomial(den.astype(np.int64), p).astype(float)
            den_pre = rng.poisson(lam) + 1.0
            num_pre = rng.binomial(den_pre.astype(np.int64), 0.3).astype(float)
            arms.append(Moments.from_array(cols, np.column_stack([y, x, num, den, num_pre, den_pre])))
        c, t = arms
        true_mean = true_abs_mean[eff]
        true_ratio_rel = lift * eff
        for name, m, truth_abs, truth_rel in (
            ("mean", mean("y"), true_mean, true_mean / mu_c),
            ("cuped", mean("y", "x"), true_mean, true_mean / mu_c),
            ("ratio", ratio("num", "den"), 0.3 * lift * eff, true_ratio_rel),
            ("cuped-ratio", ratio("num", "den", "num_pre/den_pre"), 0.3 * lift * eff, true_ratio_rel),
        ):
            r = estimate(m, c, t)
            h = hits.setdefault(name, [0, 0])
            h[0] += r.ci_lower <= truth_abs <= r.ci_upper
            h[1] += r.relative_ci_lower <= truth_rel <= r.relative_ci_upper
            if eff == 0.0 and r.pvalue < 0.05:
                rejects0[name] += 1
            if name in deltas:
                deltas[name].append(r.effect - truth_abs)
            if name == "cuped":
                vr.append(r.variance_reduction)
    zero = k // 2 + k % 2
    for name, (a, rel) in hits.items():
        rows.append(
            {
                "check": f"A/B {name}",
                "experiments": k,
                "coverage_abs": a / k,
                "coverage_rel": rel / k,
                "reject_rate_at_zero": rejects0[name] / zero,
            }
        )
    emp_vr = 1 - np.var(deltas["cuped"]) / np.var(deltas["mean"])
    extra = {
        "rho": rho_target,
        "rho2": rho_target**2,
        "cuped_vr_estimated_mean": float(np.mean(vr)),
        "cuped_vr_empirical": float(emp_vr),
        "duration_saving": rho_target**2,
        "vr_se": float(np.sqrt(2 / (k / 2)) * (1 - rho_target**2)),
    }
    return rows, extra


# --- synthetic control calibration ---------------------------------------------------------------------
def _sc_calibration(k: int, seed: int = 1) -> list[dict]:
    from trilho.measure.conformal import conformal_pvalue
    from trilho.measure.synth import counterfactual, fit_weights

    rng = np.random.default_rng(seed)
    units, T, post_len = 30, 105, 15
    cover = {"block": 0, "iid": 0}
    rej0 = {"block": 0, "iid": 0}
    n0 = 0
    for i in range(k):
        level = rng.lognormal(7.0, 0.4, units)
        f = rng.normal(0, 1, (T, 2))
        load = rng.uniform(0.5, 1.5, (2, units))
        Y = level + 20 * (f @ load) + rng.normal(0, 30, (T, units))
        y1 = Y[:, :2].mean(axis=1)
        Y0 = Y[:, 2:]
        tau = 0.0 if i % 2 == 0 else 0.05 * float(y1.mean())
        post = np.arange(T) >= T - post_len
        y1 = y1 + tau * post
        all_rows = np.ones(T, dtype=bool)

        def refit(y, Y0=Y0, all_rows=all_rows):
            return counterfactual(y, Y0, fit_weights(y, Y0, method="demeaned"), all_rows, "demeaned")

        for perm in ("block", "iid"):
            p = conformal_pvalue(y1, post, refit, tau, permutations=perm, draws=200, seed=i)
            cover[perm] += p >= 0.05
            if tau == 0.0:
                p0 = p
                rej0[perm] += p0 < 0.05
        n0 += tau == 0.0
    return [
        {
            "check": f"synthetic control conformal ({perm})",
            "experiments": k,
            "coverage_abs": cover[perm] / k,
            "coverage_rel": None,
            "reject_rate_at_zero": rej0[perm] / n0,
        }
        for perm in ("block", "iid")
    ]


# --- synthetic control: coherent conformal sets under constant and growing effects --------------------------
SC_METHODS = ("demeaned", "classic", "ridge")
SC_STATISTICS = ("mean", "lq")
SC_EFFECTS = ("constant", "growing")


def _factor_panel(seed: int, effect: str, units: int = 20, T0: int = 140, T1: int = 7):
    """A GeoLift-like factor-model panel: unit 0 treated for the last ``T1`` periods with an average effect of
    about 2 noise s.d., constant or growing linearly from 0 (so its post-period mean is the truth)."""
    from trilho.measure.panel import Panel

    rng = np.random.default_rng(seed)
    T = T0 + T1
    level = rng.lognormal(7.0, 0.4, units)
    f = rng.normal(0, 1, (T, 2))
    load = rng.uniform(0.5, 1.5, (2, units))
    Y = level + 20 * (f @ load) + rng.normal(0, 30, (T, units))
    avg = 60.0
    path = np.full(T1, avg) if effect == "constant" else avg * 2 * np.arange(1, T1 + 1) / (T1 + 1)
    Y[T0:, 0] += path
    return Panel(tuple(f"u{i}" for i in range(units)), tuple(range(T)), Y), float(path.mean()), T0


def reported_interval(conformal):
    """The interval trilho tells people to read for the average effect
    (:meth:`~trilho.measure.conformal.ConformalResult.average_effect_interval`: the block-average interval for
    ``lq`` and for a set that is not one bounded interval, otherwise the set)."""
    return conformal.average_effect_interval()


def _coherence_cell(cell: tuple[str, str, str, int, int]) -> dict:
    """One method × statistic × effect shape over ``k`` panels (one BLAS thread: these are small matrices, and
    a threaded BLAS on a busy 2-core machine ran the ridge cells 35x slower)."""
    from threadpoolctl import threadpool_limits

    from trilho.measure.geo import synthetic_control

    method, stat, effect, k, seed = cell
    cover = contains = unexplained = incoherent = set_cover = 0
    t = time.perf_counter()
    with threadpool_limits(1):
        for i in range(k):
            panel, truth, T0 = _factor_panel(seed + i, effect)
            r = synthetic_control(panel, ["u0"], T0, method=method, statistic=stat, alpha=0.05)
            c = r.conformal
            rep = reported_interval(c)
            cover += rep.contains(truth)
            set_cover += c.ci.contains(truth)
            contains += rep.contains(r.att)
            incoherent += not c.coherent
            unexplained += (not c.coherent) and not c.explanation
    row = {
        "check": f"SC conformal {method}/{stat}/{effect}",
        "experiments": k,
        "coverage_abs": cover / k,
        "coverage_se": math.sqrt(0.95 * 0.05 / k),
        "contains_estimate": contains / k,
        "set_coverage": set_cover / k,  # the statistic's own set (lq: constant effects), no target
        "incoherent_share": incoherent / k,
        "unexplained": unexplained,
        "s_per_run": (time.perf_counter() - t) / k,
    }
    print(row, flush=True)
    return row


def _sc_coherence(
    k: int, seed: int = 11, workers: int = 2, statistics: tuple[str, ...] = SC_STATISTICS
) -> list[dict]:
    """For every method, statistic and effect shape: 95 % coverage of the true average effect by the reported
    interval, and the share of runs whose reported interval contains the reported ATT (cells in parallel)."""
    from multiprocessing import get_context

    cells = [(m, s, e, k, seed) for m in SC_METHODS for s in statistics for e in SC_EFFECTS]
    with get_context("spawn").Pool(workers) as pool:
        return pool.map(_coherence_cell, cells, chunksize=1)


# --- scale --------------------------------------------------------------------------------------------
RUN_TRILHO = """
import json, resource, sys, time
t = time.perf_counter()
from trilho.measure import ab
from trilho.measure.metrics import mean, ratio
from trilho.measure.sql import DuckDBSource
src = DuckDBSource(sys.argv[1], threads=2, memory_limit="1500MB")
metrics = [mean("clicks", "pre_clicks"), mean("revenue", "pre_revenue"), ratio("revenue", "clicks")]
res = ab.analyze(src, metrics,
                 variant="variant", correction="none")
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "lift_clicks": res.effects[0].relative, "ci": [res.effects[0].relative_ci_lower,
                  res.effects[0].relative_ci_upper]}))
"""

RUN_TEA = """
import json, resource, sys, time
t = time.perf_counter()
import polars as pl, tea_tasting as tt
data = pl.scan_parquet(sys.argv[1] + "/*.parquet")  # lazy: tea-tasting aggregates through narwhals/polars
exp = tt.Experiment(clicks=tt.Mean("clicks", "pre_clicks"), revenue=tt.Mean("revenue", "pre_revenue"),
                    rev_per_click=tt.RatioOfMeans("revenue", "clicks"))
res = exp.analyze(data, control=0)
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "lift_clicks": res["clicks"].rel_effect_size}))
"""

RUN_SPARK = """
import json, resource, sys, time
t = time.perf_counter()
from trilho.measure import ab
from trilho.measure.metrics import mean, ratio
from trilho.measure.spark import SparkSource, local_session, stop_local_session
spark = local_session()
start_s = time.perf_counter() - t
metrics = [mean("clicks", "pre_clicks"), mean("revenue", "pre_revenue"), ratio("revenue", "clicks")]
res = ab.analyze(SparkSource(sys.argv[1], spark=spark), metrics, variant="variant", correction="none")
wall = time.perf_counter() - t
jvm = spark.sparkContext._gateway.proc.pid  # spark-submit execs the driver JVM in this process
hwm = [line for line in open(f"/proc/{jvm}/status") if line.startswith("VmHWM")][0].split()[1]
stop_local_session()
print(json.dumps({"wall_s": wall, "start_s": start_s, "query_s": wall - start_s,
                  "peak_rss_mb": int(hwm) / 1024 + resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "lift_clicks": res.effects[0].relative}))
"""


def _run(code: str, path: Path) -> dict:
    import os

    env = {**os.environ, "POLARS_MAX_THREADS": "2", "OMP_NUM_THREADS": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
        env=env,
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    for line in reversed(out.stdout.strip().splitlines()):
        if '{"wall_s"' in line:  # a progress bar may share the line: take the JSON from where it starts
            return json.loads(line[line.index('{"wall_s"') :])
    return {"error": f"no result line in output: {out.stdout[-200:]!r}"}


def _scale(days: int, per_day: int) -> tuple[list[dict], dict]:
    from trilho.measure.simulate import ImpressionSpec, simulate_impressions

    folder = BENCH / f"impressions_{days}x{per_day}"
    truth_file = folder / "truth.json"
    t = time.perf_counter()
    if not truth_file.exists():
        simulate_impressions(folder, ImpressionSpec(days=days, per_day=per_day, lift=0.02, seed=42))
    sim_s = time.perf_counter() - t
    tr = _run(RUN_TRILHO, folder)
    tea = _run(RUN_TEA, folder)
    rows = days * per_day
    table = [
        {
            "check": f"A/B scale trilho ({rows:,} rows)",
            "wall_s": tr.get("wall_s"),
            "peak_rss_mb": tr.get("peak_rss_mb"),
            "lift": tr.get("lift_clicks"),
        },
        {
            "check": f"A/B scale tea-tasting ({rows:,} rows)",
            "wall_s": tea.get("wall_s"),
            "peak_rss_mb": tea.get("peak_rss_mb"),
            "lift": tea.get("lift_clicks"),
        },
    ]
    info = {
        "rows": rows,
        "simulate_s": sim_s,
        "trilho": tr,
        "tea_tasting": tea,
        "true_lift": 0.02,
        "ratio_tea_over_trilho": (tea["wall_s"] / tr["wall_s"])
        if "wall_s" in tea and "wall_s" in tr
        else None,
    }
    return table, info


# --- Prop 99 ------------------------------------------------------------------------------------------
def _prop99(with_pysyncon: bool) -> dict:
    import pandas as pd

    from trilho.measure.geo import Predictor, synthetic_control
    from trilho.measure.panel import Panel

    df = pd.read_csv(DATA / "prop99_smoking.csv")
    yrs = lambda a, b: tuple(range(a, b + 1))  # noqa: E731
    preds = [
        Predictor("lnincome", yrs(1980, 1988)),
        Predictor("age15to24", yrs(1980, 1988)),
        Predictor("retprice", yrs(1980, 1988)),
        Predictor("beer", yrs(1984, 1988)),
        Predictor("cigsale", (1975,)),
        Predictor("cigsale", (1980,)),
        Predictor("cigsale", (1988,)),
    ]
    panel = Panel.from_frame(
        df, unit="state", time="year", outcome="cigsale", extra=["lnincome", "beer", "age15to24", "retprice"]
    )
    t = time.perf_counter()
    res = synthetic_control(panel, ["California"], 1989, method="classic", predictors=preds, inference="none")
    ours = time.perf_counter() - t
    out = {
        "trilho_s": ours,
        "trilho_weights": dict(list(res.weights.items())[:5]),
        "trilho_rmspe": res.pre_rmspe,
    }
    if with_pysyncon:
        from pysyncon import Dataprep, Synth

        donors = [s for s in df.state.unique() if s != "California"]
        dp = Dataprep(
            foo=df,
            predictors=["lnincome", "age15to24", "retprice"],
            predictors_op="mean",
            time_predictors_prior=range(1980, 1989),
            special_predictors=[
                ("beer", range(1984, 1989), "mean"),
                ("cigsale", [1975], "mean"),
                ("cigsale", [1980], "mean"),
                ("cigsale", [1988], "mean"),
            ],
            dependent="cigsale",
            unit_variable="state",
            time_variable="year",
            treatment_identifier="California",
            controls_identifier=donors,
            time_optimize_ssr=range(1970, 1989),
        )
        t = time.perf_counter()
        s = Synth()
        s.fit(dataprep=dp, optim_method="Nelder-Mead", optim_initial="equal")
        out["pysyncon_s"] = time.perf_counter() - t
        w = s.weights(round=4).sort_values(ascending=False).head(5)
        out["pysyncon_weights"] = {str(k): float(v) for k, v in w.items()}
    return out


def _spark(days: int, per_day: int) -> dict:
    """The scale data set's A/B through Spark (local[1]) next to DuckDB's answer on the same files."""
    from trilho.measure.simulate import ImpressionSpec, simulate_impressions

    folder = BENCH / f"impressions_{days}x{per_day}"
    if not (folder / "truth.json").exists():
        simulate_impressions(folder, ImpressionSpec(days=days, per_day=per_day, lift=0.02, seed=42))
    info = _run(RUN_SPARK, folder)
    duck = _run(RUN_TRILHO, folder)
    info["duckdb_wall_s"] = duck.get("wall_s")
    info["duckdb_lift_clicks"] = duck.get("lift_clicks")
    return info


ALL_SECTIONS = {"calib", "sc", "coherence", "scale", "prop99"}  # "spark" runs only when asked for
SECTION_OF = {
    "A/B on Spark": "spark",
    "A/B scale": "scale",
    "A/B on": "scale",
    "A/B peak": "scale",
    "A/B": "calib",
    "synthetic control conformal": "sc",
    "SC conformal": "coherence",
    "Prop 99": "prop99",
}


def _section(check: str) -> str:
    for prefix, sec in SECTION_OF.items():
        if check.startswith(prefix):
            return sec
    return "calib"


def _merge_previous(only: set, table: list, targets: list, extra: dict, quick: bool):
    """A partial run (``--only``) keeps the other sections of the previous results file."""
    from benchmarks._results import RESULTS_DIR

    prev_path = RESULTS_DIR / "measure.json"
    if not prev_path.exists():
        return table, targets, extra
    prev = json.loads(prev_path.read_text())
    keep_rows = [r for r in prev.get("table", []) if _section(r["check"]) not in only]
    keep_targets = [t for t in prev.get("targets", []) if _section(t["name"]) not in only]
    # a section measured earlier keeps its own stamp (older files had one stamp for the whole file)
    sections = {
        name: {"measured_at": prev.get("measured_at"), "machine": prev.get("machine"), **info}
        for name, info in prev.get("sections", {}).items()
        if name not in only
    }
    sections.update(extra["sections"])
    merged_extra = {k: v for k, v in prev.items() if k in ("ab_calibration", "scale", "prop99", "spark")}
    merged_extra.update(extra)
    merged_extra["sections"] = sections
    return keep_rows + table, keep_targets + targets, merged_extra


def _kept_coherence_rows(rerun: tuple[str, ...]) -> list[dict]:
    """The previous results file's coherence rows for the statistics not rerun (their targets are rebuilt
    from the rows, so a kept row and its targets cannot disagree)."""
    from benchmarks._results import RESULTS_DIR

    prev = json.loads((RESULTS_DIR / "measure.json").read_text())
    keep = []
    for r in prev.get("table", []):
        if r["check"].startswith("SC conformal ") and r["check"].split("/")[1] not in rerun:
            keep.append({k: v for k, v in r.items() if v is not None})
    return keep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="calib,sc,coherence,scale,prop99")
    ap.add_argument("--days", type=int)
    ap.add_argument("--per-day", type=int)
    ap.add_argument("--pysyncon", action="store_true", help="Also time pysyncon in quick mode.")
    ap.add_argument(
        "--statistics",
        default=",".join(SC_STATISTICS),
        help="coherence: statistics to rerun (the others' rows are kept from the previous results file)",
    )
    args = ap.parse_args()
    only = set(args.only.split(","))
    q = args.quick
    table: list[dict] = []
    targets: list[dict] = []
    extra: dict = {}
    if "calib" in only:
        k = 2000
        rows, info = _ab_calibration(k, 400 if q else 1000)
        table += rows
        extra["ab_calibration"] = info
        for r in rows:
            targets.append(
                target(
                    f"{r['check']} 95% coverage",
                    "in [0.94, 0.96]",
                    r["coverage_abs"],
                    0.94 <= r["coverage_abs"] <= 0.96,
                )
            )
            targets.append(
                target(
                    f"{r['check']} size at zero effect",
                    "≈ 0.05 (in [0.035, 0.065])",
                    r["reject_rate_at_zero"],
                    0.035 <= r["reject_rate_at_zero"] <= 0.065,
                )
            )
        targets.append(
            target(
                "CUPED variance reduction = rho²",
                f"≈ {info['rho2']:.2f} (± 0.03)",
                info["cuped_vr_empirical"],
                abs(info["cuped_vr_empirical"] - info["rho2"]) <= 0.03,
            )
        )
    if "sc" in only:
        rows = _sc_calibration(300 if q else 2000)
        table += rows
        for r in rows:
            targets.append(
                target(
                    f"{r['check']} 95% coverage",
                    "in [0.94, 0.96]",
                    r["coverage_abs"],
                    0.94 <= r["coverage_abs"] <= 0.96,
                )
            )
    if "coherence" in only:
        stats = tuple(x for x in SC_STATISTICS if x in args.statistics.split(","))
        rows = _sc_coherence(60 if q else 300, statistics=stats)
        if stats != SC_STATISTICS:
            rows, extra["coherence_kept"] = (
                _kept_coherence_rows(stats) + rows,
                {
                    "statistics": [x for x in SC_STATISTICS if x not in stats],
                    "why": "rows of these statistics are copied from the previous results file, not rerun",
                },
            )
        table += rows
        for r in rows:
            name = r["check"]
            targets.append(
                target(
                    f"{name} 95% coverage",
                    "in [0.94, 0.96]",
                    r["coverage_abs"],
                    0.94 <= r["coverage_abs"] <= 0.96,
                )
            )
            targets.append(
                target(
                    f"{name} interval contains the ATT",
                    "≥ 0.99",
                    r["contains_estimate"],
                    r["contains_estimate"] >= 0.99,
                )
            )
            targets.append(
                target(
                    f"{name} sets printed without their explanation",
                    "= 0",
                    r["unexplained"],
                    r["unexplained"] == 0,
                )
            )
    if "scale" in only:
        days = args.days or (2 if q else 30)
        per_day = args.per_day or (1_000_000 if q else 10_000_000)
        rows, info = _scale(days, per_day)
        table += rows
        extra["scale"] = info
        tr = info["trilho"]
        failed = f"failed: {tr.get('error', 'no result')}"  # a failed measurement is a missed target
        wall, rss = tr.get("wall_s"), tr.get("peak_rss_mb")
        targets.append(
            target(
                f"A/B on {info['rows']:,} rows, 2 threads",
                "≤ 60 s",
                failed if wall is None else wall,
                wall is not None and wall <= 60,
            )
        )
        targets.append(
            target(
                "A/B peak memory",
                "≤ 2048 MB",
                failed if rss is None else rss,
                rss is not None and rss <= 2048,
            )
        )
    if "prop99" in only:
        info = _prop99(with_pysyncon=(not q) or args.pysyncon)
        extra["prop99"] = info
        table.append(
            {
                "check": "Prop 99 synthetic control (nested V)",
                "trilho_s": info["trilho_s"],
                "pysyncon_s": info.get("pysyncon_s"),
            }
        )
        targets.append(
            target("Prop 99 synthetic control", "≤ 1 s", info["trilho_s"], info["trilho_s"] <= 1.0)
        )
    if "spark" in only:
        days = args.days or (2 if q else 30)
        per_day = args.per_day or (1_000_000 if q else 10_000_000)
        info = _spark(days, per_day)
        extra["spark"] = info
        table.append(
            {
                "check": f"A/B on Spark local[1] ({days * per_day:,} rows)",
                "wall_s": info.get("wall_s"),
                "peak_rss_mb": info.get("peak_rss_mb"),
                "lift": info.get("lift_clicks"),
            }
        )
    cols = [
        "check",
        "experiments",
        "coverage_abs",
        "coverage_rel",
        "coverage_se",
        "contains_estimate",
        "set_coverage",
        "incoherent_share",
        "unexplained",
        "s_per_run",
        "reject_rate_at_zero",
        "wall_s",
        "peak_rss_mb",
        "lift",
        "trilho_s",
        "pysyncon_s",
    ]
    used = [c for c in cols if any(c in r for r in table)]
    table = [{c: r.get(c) for c in used} for r in table]
    print_table("measure benchmark", table)
    print_targets(targets)
    from benchmarks._results import machine

    stamp = {
        "quick": q,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
    }
    extra["sections"] = {s: dict(stamp) for s in only}
    if extra:
        from rich import print as rprint

        rprint(extra)
    if only != ALL_SECTIONS:
        table, targets, extra = _merge_previous(only, table, targets, extra, q)
    path = write_results("measure", table, targets, quick=q, extra=extra)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
