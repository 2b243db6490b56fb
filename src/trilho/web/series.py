"""Chart series from stored serving windows, and the plotly figure documents the pages draw (pure, no I/O).

Per version and window: request rate, error rate, latency percentiles (:mod:`trilho.obs.histograms`, the one
quantile rule) and, per shadow pair, the agreement rate. Figures are plain ``{"data": [...], "layout":
{...}}`` dictionaries that the bundled plotly.js renders in the browser.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trilho.obs.histograms import merge, quantile

PALETTE = ("#1f6feb", "#d9480f", "#2f9e44", "#9c36b5", "#e8590c", "#0b7285")


def version_series(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """Per ``version (variant)``: window end times, rps, error rate and p50/p95/p99 latency in ms."""
    grouped: dict[tuple[str, Any], list[Mapping[str, Any]]] = {}
    for r in rows:
        grouped.setdefault((f"{r['version']} ({r['variant']})", r["window_end"]), []).append(r)
    out: dict[str, dict[str, list[Any]]] = {}
    for (label, end), rs in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        s = out.setdefault(label, {k: [] for k in ("t", "rps", "error_rate", "p50", "p95", "p99")})
        n = sum(int(r["requests"]) for r in rs)
        seconds = max((r["window_end"] - r["window_start"]).total_seconds() for r in rs) or 1.0
        hist = merge(r["latency_histogram"] for r in rs)
        s["t"].append(end.isoformat())
        s["rps"].append(round(n / seconds, 3))
        s["error_rate"].append(sum(int(r["errors"]) for r in rs) / n if n else None)
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            v = quantile(hist["bounds"], hist["counts"], q) if hist else None
            s[name].append(None if v is None else round(v * 1000, 3))
    return out


def shadow_series(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """Per ``shadow vs primary``: window end times, pairs compared and the agreement rate."""
    out: dict[str, dict[str, list[Any]]] = {}
    for r in rows:
        s = out.setdefault(
            f"{r['shadow_version']} vs {r['primary_version']}", {"t": [], "agreement": [], "n": []}
        )
        s["t"].append(r["window_end"].isoformat())
        s["n"].append(int(r["compared"]))
        s["agreement"].append(r["agreed"] / r["compared"] if r["compared"] else None)
    return out


def line_figure(
    series: Mapping[str, Mapping[str, list[Any]]],
    key: str,
    title: str,
    y_title: str,
    *,
    percent: bool = False,
) -> dict[str, Any]:
    """A line chart with one trace per series, y = ``series[name][key]``."""
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name,
            "x": s["t"],
            "y": s[key],
            "line": {"color": PALETTE[i % len(PALETTE)], "width": 2},
            "marker": {"size": 4},
        }
        for i, (name, s) in enumerate(series.items())
    ]
    return {"data": data, "layout": _layout(title, y_title, percent=percent)}


def latency_figure(series: Mapping[str, Mapping[str, list[Any]]]) -> dict[str, Any]:
    """p50 (dotted), p95 (dashed) and p99 (solid) per version."""
    data = []
    for i, (name, s) in enumerate(series.items()):
        for q, dash in (("p50", "dot"), ("p95", "dash"), ("p99", "solid")):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{name} {q}",
                    "x": s["t"],
                    "y": s[q],
                    "line": {"color": PALETTE[i % len(PALETTE)], "dash": dash, "width": 2},
                }
            )
    return {"data": data, "layout": _layout("Latency percentiles", "ms")}


def bar_figure(x: Sequence[Any], y: Sequence[Any], title: str, y_title: str) -> dict[str, Any]:
    """A single bar chart."""
    return {
        "data": [{"type": "bar", "x": list(x), "y": list(y), "marker": {"color": PALETTE[0]}}],
        "layout": _layout(title, y_title),
    }


def heatmap_figure(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> dict[str, Any]:
    """A confusion matrix (rows: reference, columns: candidate) with counts written in the cells."""
    labels = [str(x) for x in labels]
    return {
        "data": [
            {
                "type": "heatmap",
                "z": [list(r) for r in matrix],
                "x": labels,
                "y": labels,
                "colorscale": [[0, "#f4f7fb"], [1, "#1f6feb"]],
                "showscale": False,
                "text": [[str(v) for v in r] for r in matrix],
                "texttemplate": "%{text}",
            }
        ],
        "layout": {
            **_layout(title, "human (reference)"),
            # automargin grows the margins to fit the tick labels and titles (long labels were clipped)
            "margin": {"l": 20, "r": 15, "t": 40, "b": 20},
            "xaxis": {"title": {"text": "judge", "standoff": 8}, "automargin": True, "type": "category"},
            "yaxis": {
                "title": {"text": "human (reference)", "standoff": 8},
                "autorange": "reversed",
                "automargin": True,
                "type": "category",
            },
        },
    }


def interval_figure(rows: Sequence[Mapping[str, Any]], title: str) -> dict[str, Any]:
    """A forest plot: one point per row (``label``, ``estimate``, ``low``, ``high``) with its interval."""
    est = [r["estimate"] for r in rows]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": est,
                "y": [r["label"] for r in rows],
                "marker": {"size": 10, "color": PALETTE[0]},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [None if r["high"] is None else r["high"] - r["estimate"] for r in rows],
                    "arrayminus": [None if r["low"] is None else r["estimate"] - r["low"] for r in rows],
                },
            }
        ],
        "layout": {
            **_layout(title, ""),
            "xaxis": {"tickformat": ".1%", "zeroline": True, "zerolinecolor": "#888", "zerolinewidth": 2},
            "height": 120 + 40 * len(rows),
        },
    }


def business_series(readings: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """Per business metric, from the controller's stored readings (one per tick,
    :func:`trilho.rollout.business.read_readings`): times, the relative lift, its always-valid interval and
    the check's status."""
    out: dict[str, dict[str, list[Any]]] = {}
    for r in readings:
        s = out.setdefault(str(r["metric"]), {k: [] for k in ("t", "lift", "low", "high", "status")})
        s["t"].append(r["at"])
        s["lift"].append(r.get("relative"))
        s["low"].append(r["lower"])
        s["high"].append(r["upper"])
        s["status"].append(r.get("status"))
    return out


def business_figure(series: Mapping[str, Mapping[str, list[Any]]]) -> dict[str, Any]:
    """Each business metric's lift at every controller tick, with its always-valid interval as error bars
    (the interval the guardrail or goal was judged by)."""
    data = []
    for i, (name, s) in enumerate(sorted(series.items())):
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": s["t"],
                "y": s["lift"],
                "text": s["status"],
                "line": {"color": PALETTE[i % len(PALETTE)]},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        None if y is None else h - y for h, y in zip(s["high"], s["lift"], strict=True)
                    ],
                    "arrayminus": [
                        None if y is None else y - lo for lo, y in zip(s["low"], s["lift"], strict=True)
                    ],
                },
            }
        )
    layout = _layout(
        "Business metrics: lift vs stable (always-valid interval)", "relative lift", percent=True
    )
    layout["yaxis"].update(rangemode="normal", zeroline=True, zerolinecolor="#888", zerolinewidth=2)
    layout["showlegend"] = True  # the metric's name, even for one metric
    return {"data": data, "layout": layout}


def _layout(title: str, y_title: str, *, percent: bool = False) -> dict[str, Any]:
    yaxis: dict[str, Any] = {"title": {"text": y_title}, "rangemode": "tozero"}
    if percent:
        yaxis["tickformat"] = ".1%"
    return {
        "title": {"text": title, "font": {"size": 14}},
        "height": 280,
        "margin": {"l": 55, "r": 15, "t": 40, "b": 40},
        "legend": {"orientation": "h", "y": -0.2},
        "yaxis": yaxis,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
    }
