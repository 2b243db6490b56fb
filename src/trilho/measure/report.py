"""Lift reports: the JSON behind the page (deterministic) and a self-contained HTML page (plotly inline).

``build_report`` turns an A/B or geo result (its ``to_dict()``) into plain-language findings, trust checks and
plot data; ``write_report`` writes ``report.json`` (sorted keys, no timestamps: the same input and seed give
byte-identical JSON) and ``report.html`` (plotly.js embedded, no CDN).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from trilho.errors import MeasurementError

REPORT_VERSION = 1


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return None if not math.isfinite(x) else x
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if hasattr(x, "isoformat"):
        return x.isoformat()
    return x


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x * 100:+.{digits}f}%"


def _check(name: str, status: str, detail: str) -> dict:
    return {"name": name, "status": status, "detail": detail}


def _ab_findings(res: dict) -> tuple[list[dict], list[dict]]:
    findings, checks = [], []
    srm = res.get("srm")
    if srm:
        status = "pass" if srm["passed"] else "fail"
        checks.append(
            _check(
                "sample ratio",
                status,
                f"arms {srm['counts']} vs expected {srm['expected']}: p = {srm['pvalue']:.3g} "
                f"({srm['method']}, threshold {srm['alpha']})",
            )
        )
    if res.get("rollout"):  # trilho measure rollout: what the exposure join saw
        checks.append(_rollout_check(res["rollout"]))
    for t in res.get("covariate_timing", []):
        checks.append(
            _check(
                f"covariate timing: {t['column']}",
                "pass" if t["basis"] != "naming-contract" else "warn",
                f"{t['basis']}: {t['detail']}",
            )
        )
    for w in res.get("warnings", []):
        if "differs between arms" in w:
            checks.append(_check("covariate balance", "warn", w))
    blocked = res.get("headline_blocked", False)
    for e in res["effects"]:
        conf = round((1 - e["alpha"]) * 100)
        p = e["pvalue_adjusted"] if e.get("pvalue_adjusted") is not None else e["pvalue"]
        if blocked:
            text = (
                f"{e['metric']}: no lift is reported because the sample-ratio check failed; the arms are not "
                "comparable until the assignment problem is found."
            )
        else:
            text = (
                f"{e['metric']} changed by {_pct(e['relative'])} "
                f"in {e['treatment_arm']} vs {e['control_arm']} "
                f"({conf}% interval {_pct(e['relative_ci_lower'])} to {_pct(e['relative_ci_upper'])})."
            )
        if e.get("sequential_ci_lower") is not None and not blocked:
            text += (
                f" Anytime-valid interval for the difference: {e['sequential_ci_lower']:+.4g} to "
                f"{e['sequential_ci_upper']:+.4g} (valid however often it is looked at)."
            )
        prob = (
            f"If the change had no effect, a difference at least this large would appear with probability "
            f"{p:.3g}"
            + (" (adjusted for multiple metrics)." if e.get("pvalue_adjusted") is not None else ".")
        )
        findings.append(
            {
                "metric": e["metric"],
                "headline": text,
                "probability": prob,
                "significant": (p < e["alpha"]) and not blocked,
            }
        )
    return findings, checks


def _rollout_check(r: dict) -> dict:
    moved = r["multi_version_units"]
    return _check(
        "exposure join",
        "warn" if moved else "pass",
        f"{r['exposures']} exposures of {r['units']} units to {r['model']}; {moved} unit(s) on more than one "
        f"version (kept with their first); {r['pre_exposure_events']} events before exposure used as "
        f"covariates only; {r['unexposed_events']} events of units never exposed left out",
    )


def _geo_findings(res: dict) -> tuple[list[dict], list[dict]]:
    checks = []
    imb = res["scaled_l2_imbalance"]
    checks.append(
        _check(
            "pre-period fit",
            "pass" if imb < 0.3 else ("warn" if imb < 0.6 else "fail"),
            f"scaled L2 imbalance {imb:.3f} (0 perfect, 1 no better than equal weights); "
            f"pre-period RMSPE {res['pre_rmspe']:.4g}",
        )
    )
    hhi = res["donor_concentration"]
    top = max(res["weights"].items(), key=lambda kv: kv[1]) if res["weights"] else ("-", 0.0)
    checks.append(
        _check(
            "donor concentration",
            "pass" if top[1] <= 0.8 else "warn",
            f"{len(res['weights'])} donors, largest '{top[0]}' {top[1]:.0%}, Herfindahl {hhi:.3f}",
        )
    )
    who = " + ".join(res["treated"])
    text = (
        f"In {who}, the outcome was {_pct(res['lift'])} versus its synthetic control from {res['start']} to "
        f"{res['end']}: {res['att']:.4g} per unit and period, {res['incremental']:.5g} in total."
    )
    prob = "No inference was requested."
    c = res.get("conformal")
    if c:
        ci = c["ci"]
        mc = (
            f" ({c['draws']} Monte-Carlo draws, MC standard error {c['mc_se']:.3f})"
            if c.get("mc_se") is not None
            else f" (all {c['draws']} cyclic time shifts)"
        )
        level = round((1 - ci["alpha"]) * 100)
        prob = (
            f"Conformal test: if there were no effect, residuals this large would appear with probability "
            f"{c['pvalue']:.3g}{mc}. Effects per unit and period consistent with the data at {level}%: "
            + (" ∪ ".join(f"{_end(lo, '−∞')} to {_end(hi, '∞')}" for lo, hi in ci["pieces"]) or "none")
            + "."
        )
        if c.get("explanation"):
            prob += " " + c["explanation"]
        mean = c.get("average_effect")
        if mean:
            a = mean["ci"]
            prob += (
                " That set holds constant effects (lq statistic); the average effect, from the mean "
                f"statistic over the same permutations: {_end(a['lower'], '−∞')} to {_end(a['upper'], '∞')}"
                f" (p = {mean['pvalue']:.3g})."
            )
        het = c.get("heterogeneity")
        if het and het.get("average"):
            a = het["average"]["ci"]
            prob += (
                " Average effect, valid under a time-varying effect: "
                f"{_end(a['lower'], '−∞')} to {_end(a['upper'], '∞')}"
                f" ({het['blocks']} pre-period blocks of {het['block_length']})."
            )
        elif het and het.get("average_unavailable") and het["average_unavailable"] not in prob:
            prob += " Average effect, valid under a time-varying effect: " + het["average_unavailable"] + "."
    pl = res.get("placebo")
    if pl:
        prob += (
            f" Placebo-in-space: rank {pl['rank']} of {pl['units']} by post/pre MSPE ratio, "
            f"p = {pl['pvalue']:.3g}."
        )
    if res.get("iroas") is not None:
        text += f" iROAS {res['iroas']:.3g}."
    return [{"metric": who, "headline": text, "probability": prob}], checks


def _trimmed_findings(res: dict) -> tuple[list[dict], list[dict]]:
    level = f"{res['confidence']:.0%}"
    text = (
        f"Every unit of spend returned {res['iroas']:.4g} units of response (iROAS), {level} interval "
        f"{res['ci_lower']:.4g} to {res['ci_upper']:.4g}, from {res['pairs']} geo pairs."
    )
    prob = (
        f"Trimmed match (Chen & Au): {res['trimmed_pairs']} pair(s) trimmed from each end "
        f"(trim rate {res['trim_rate']:.2g}), standard error {res['se']:.3g}."
    )
    status = "pass" if res["pairs"] >= 10 else "warn"
    checks = [_check("pairs", status, f"{res['pairs']} pairs (fewer than 10 make the interval fragile)")]
    return [{"metric": "iROAS", "headline": text, "probability": prob}], checks


def _end(x: float | None, unbounded: str) -> str:
    """An interval end; null (an unbounded end) reads as ``unbounded``."""
    return unbounded if x is None else f"{x:.4g}"


def build_report(result: dict, *, seed: int | None = None, inputs: dict | None = None) -> dict:
    """The report document (JSON-ready, deterministic) for an A/B, geo or trimmed-match result dictionary."""
    kind = result.get("kind")
    if kind == "ab":
        findings, checks = _ab_findings(result)
    elif kind == "geo":
        findings, checks = _geo_findings(result)
    elif kind == "trimmed-match":
        findings, checks = _trimmed_findings(result)
    else:
        raise MeasurementError(
            "the result file is neither an A/B, a geo nor a trimmed-match result",
            fix="pass the JSON written by `trilho measure ab/geo/trimmed-match --json`",
            field="result",
        )
    return _clean(
        {
            "report_version": REPORT_VERSION,
            "kind": kind,
            "seed": seed,
            "inputs": inputs or {},
            "findings": findings,
            "trust_checks": checks,
            "result": result,
        }
    )


def report_json(report: dict) -> str:
    """Canonical JSON text of a report (sorted keys, fixed separators, no NaN)."""
    return json.dumps(report, sort_keys=True, indent=2, allow_nan=False) + "\n"


def _figures(report: dict) -> list:
    import plotly.graph_objects as go

    r = report["result"]
    figs = []
    if report["kind"] == "geo":
        t, o, s = r["times"], r["observed"], r["synthetic"]
        gap = [a - b for a, b in zip(o, s, strict=True)]
        f = go.Figure([go.Scatter(x=t, y=o, name="observed"), go.Scatter(x=t, y=s, name="synthetic control")])
        f.add_vline(x=r["start"], line_dash="dash")
        figs.append(("Observed vs synthetic", f))
        post = [i for i, x in enumerate(t) if x >= r["start"]]
        cum, acc = [], 0.0
        for i in post:
            acc += gap[i]
            cum.append(acc)
        f = go.Figure(
            [
                go.Bar(x=t, y=gap, name="pointwise effect"),
                go.Scatter(x=[t[i] for i in post], y=cum, name="cumulative effect", yaxis="y2"),
            ]
        )
        f.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "cumulative"})
        figs.append(("Pointwise and cumulative effect", f))
        w = r["weights"]
        figs.append(("Donor weights", go.Figure([go.Bar(x=list(w.values()), y=list(w), orientation="h")])))
        if r.get("placebo"):
            ratios = r["placebo"]["ratios"]
            f = go.Figure([go.Histogram(x=list(ratios.values()), nbinsx=20, name="placebos")])
            f.add_vline(x=r["placebo"]["ratio"], line_color="red")
            figs.append(("Placebo distribution (post/pre MSPE ratio)", f))
    elif report["kind"] == "trimmed-match":
        f = go.Figure(
            go.Scatter(
                x=[r["iroas"]],
                y=["iROAS"],
                mode="markers",
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [r["ci_upper"] - r["iroas"]],
                    "arrayminus": [r["iroas"] - r["ci_lower"]],
                },
            )
        )
        figs.append(("iROAS and its interval", f))
    else:
        eff = r["effects"]
        names = [f"{e['metric']} ({e['treatment_arm']})" for e in eff]
        f = go.Figure()
        f.add_trace(
            go.Scatter(
                x=[e["relative"] for e in eff],
                y=names,
                mode="markers",
                name="relative effect",
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [e["relative_ci_upper"] - e["relative"] for e in eff],
                    "arrayminus": [e["relative"] - e["relative_ci_lower"] for e in eff],
                },
            )
        )
        f.add_vline(x=0, line_dash="dash")
        figs.append(("Relative effects with intervals", f))
        cu = [e for e in eff if e.get("unadjusted_ci_lower") is not None]
        if cu:
            f = go.Figure()
            for label, lo, hi in (
                ("without CUPED", "unadjusted_ci_lower", "unadjusted_ci_upper"),
                ("with CUPED", "ci_lower", "ci_upper"),
            ):
                f.add_trace(
                    go.Scatter(
                        x=[(e[lo] + e[hi]) / 2 for e in cu],
                        y=[e["metric"] for e in cu],
                        mode="markers",
                        name=label,
                        error_x={"type": "data", "array": [(e[hi] - e[lo]) / 2 for e in cu]},
                    )
                )
            figs.append(("CUPED: intervals before and after (absolute effect)", f))
    return figs


def render_html(report: dict) -> str:
    """A self-contained HTML page: findings, trust checks, plots (plotly.js inline, no network)."""
    parts = []
    for i, (title, fig) in enumerate(_figures(report)):
        fig.update_layout(title=title, height=380, margin={"l": 40, "r": 40, "t": 50, "b": 40})
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"fig{i}"))
    rows = "".join(
        f"<tr class='{html.escape(c['status'])}'><td>{html.escape(c['name'])}</td>"
        f"<td>{html.escape(c['status'])}</td>"
        f"<td>{html.escape(c['detail'])}</td></tr>"
        for c in report["trust_checks"]
    )
    finds = "".join(
        f"<li><p><b>{html.escape(f['headline'])}</b></p><p>{html.escape(f['probability'])}</p></li>"
        for f in report["findings"]
    )
    seed = "none" if report.get("seed") is None else str(report["seed"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>trilho lift report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td{{border:1px solid #ccc;padding:4px 8px}}
tr.fail td{{background:#fdd}}tr.warn td{{background:#ffd}}tr.pass td{{background:#dfd}}</style></head>
<body><h1>Lift report ({html.escape(report["kind"])})</h1>
<h2>What we found</h2><ul>{finds}</ul>
<h2>Trust checks</h2><table>{rows}</table>
<h2>Plots</h2>{"".join(parts)}
<p><small>seed: {html.escape(seed)} · report version {report["report_version"]} · data behind this page:
report.json</small></p></body></html>
"""


def write_report(report: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    j, h = out / "report.json", out / "report.html"
    j.write_text(report_json(report))
    h.write_text(render_html(report))
    return j, h
