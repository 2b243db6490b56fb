"""trilho.measure: causal measurement — A/B with CUPED/CUPAC from SQL sufficient statistics, geo experiments
with synthetic control and conformal inference, power and market selection, simulation, lift reports.

Typical use::

    from trilho.measure import analyze_ab, DuckDBSource, mean, ratio
    res = analyze_ab(DuckDBSource("users.csv"), [mean("orders", "orders_covariate")], variant="variant")
"""

from trilho.measure.ab import ABResult, analyze_moments
from trilho.measure.ab import analyze as analyze_ab
from trilho.measure.estimators import Effect, estimate
from trilho.measure.geo import GeoResult, PlaceboResult, Predictor, multi_cell, synthetic_control
from trilho.measure.markets import PowerCurve, power_by_simulation, select_markets
from trilho.measure.metrics import Covariate, Metric, mean, parse_metric, proportion, ratio
from trilho.measure.moments import Moments
from trilho.measure.multiplicity import adjust, benjamini_hochberg, holm
from trilho.measure.panel import Panel
from trilho.measure.power import minimum_detectable_effect, plan_duration, power_at, sample_size
from trilho.measure.report import build_report, render_html, write_report
from trilho.measure.sequential import sequential_interval
from trilho.measure.simulate import ImpressionSpec, simulate_geo_panel, simulate_impressions
from trilho.measure.spark import SparkSource
from trilho.measure.sql import DuckDBSource, SQLAlchemySource, read_moments
from trilho.measure.srm import SRMResult, srm_test
from trilho.measure.timing import CovariateTiming
from trilho.measure.trimmed_match import trimmed_match

__all__ = [
    "ABResult",
    "Covariate",
    "CovariateTiming",
    "DuckDBSource",
    "Effect",
    "GeoResult",
    "ImpressionSpec",
    "Metric",
    "Moments",
    "Panel",
    "PlaceboResult",
    "PowerCurve",
    "Predictor",
    "SQLAlchemySource",
    "SparkSource",
    "SRMResult",
    "adjust",
    "analyze_ab",
    "analyze_moments",
    "benjamini_hochberg",
    "build_report",
    "estimate",
    "holm",
    "mean",
    "minimum_detectable_effect",
    "multi_cell",
    "parse_metric",
    "plan_duration",
    "power_at",
    "power_by_simulation",
    "proportion",
    "ratio",
    "read_moments",
    "render_html",
    "sample_size",
    "select_markets",
    "sequential_interval",
    "simulate_geo_panel",
    "simulate_impressions",
    "srm_test",
    "synthetic_control",
    "trimmed_match",
    "write_report",
]
