"""The burn-rate math: known values, the multi-window rule, and properties over random traffic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trilho.web.slo import (
    DEFAULT_RULES,
    Events,
    Objective,
    burn,
    burn_rate,
    declared,
    evaluate,
    events_from_windows,
    good_under,
)

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
AVAIL = Objective("availability", "errors", 0.99)


def test_burn_rate_is_bad_share_over_budget():
    assert burn_rate(990, 1000, AVAIL) == pytest.approx(1.0)
    assert burn_rate(900, 1000, AVAIL) == pytest.approx(10.0)
    assert burn_rate(1000, 1000, AVAIL) == 0.0
    assert burn_rate(0, 0, AVAIL) is None


def test_objective_rejects_bad_targets():
    with pytest.raises(ValueError):
        Objective("x", "errors", 1.0)
    with pytest.raises(ValueError):
        Objective("x", "latency", 0.9)
    with pytest.raises(ValueError):
        Objective("x", "saturation", 0.9)


def test_latency_good_events_count_buckets_under_the_threshold():
    hist = {"bounds": [0.1, 0.25, 0.5], "counts": [5, 3, 2, 1]}
    assert good_under(hist, 0.25) == 8
    lat = Objective("latency", "latency", 0.9, threshold_s=0.25)
    rows = [{"window_end": NOW, "requests": 11, "errors": 0, "latency_histogram": hist}]
    assert events_from_windows(rows, lat) == [Events(NOW, 8, 11)]


def _steady(bad_share_recent: float, minutes: int = 120) -> list[Events]:
    out = []
    for i in range(minutes):
        end = NOW - timedelta(minutes=minutes - 1 - i)
        bad = bad_share_recent if i >= minutes - 60 else 0.0
        out.append(Events(end, int(1000 * (1 - bad)), 1000))
    return out


def test_page_fires_only_when_long_and_short_windows_burn():
    firing = evaluate(_steady(0.2), AVAIL, NOW)  # 20 % errors for the last hour: burn 20x
    assert any(r.severity == "page" and r.long == timedelta(hours=1) for r in firing.firing)
    quiet = evaluate(_steady(0.0), AVAIL, NOW)
    assert quiet.firing == () and quiet.budget_remaining == pytest.approx(1.0)
    # a spike that ended 30 minutes ago: the 1 h window still burns, the 5 m one does not → no 1h page
    spike = [
        e if e.end < NOW - timedelta(minutes=30) else Events(e.end, e.total, e.total) for e in _steady(0.3)
    ]
    assert not any(r.long == timedelta(hours=1) for r in evaluate(spike, AVAIL, NOW).firing)


@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.integers(0, 500), st.integers(0, 4000)), min_size=1, max_size=40
    ),
    st.floats(0.5, 0.9999),
)
def test_burn_properties(rows, target):
    obj = Objective("a", "errors", target)
    events = [Events(NOW - timedelta(minutes=m), min(g, t), t) for g, t, m in rows]
    for w in (timedelta(minutes=5), timedelta(hours=1), timedelta(days=3)):
        b = burn(events, obj, w, NOW)
        if b.total == 0:
            assert b.rate is None
        else:
            assert 0.0 <= b.rate <= 1.0 / obj.budget + 1e-9
    # windows nest: a longer window never has fewer events than a shorter one
    totals = [
        burn(events, obj, w, NOW).total for w in (timedelta(minutes=5), timedelta(hours=1), timedelta(days=3))
    ]
    assert totals == sorted(totals)
    status = evaluate(events, obj, NOW)
    for rule in status.firing:
        assert rule in DEFAULT_RULES
        assert burn(events, obj, rule.short, NOW).rate > rule.burn_rate


def test_a_declared_slo_is_the_objective_and_rules_the_gateway_tracks():
    from trilho.store.routing import SLOConfig

    objective, rules = declared(SLOConfig(latency_ms=50, target=0.99, alerts=(("page", 600, 60, 10.0),)))
    assert (objective.kind, objective.target, objective.threshold_s) == ("latency", 0.99, 0.05)
    assert [(r.severity, r.long, r.short, r.burn_rate) for r in rules] == [
        ("page", timedelta(minutes=10), timedelta(minutes=1), 10.0)
    ]
    default_objective, default_rules = declared(SLOConfig(latency_ms=250))
    assert default_objective.target == 0.99 and [r.burn_rate for r in default_rules] == [14.4, 6.0]


def test_errors_are_bad_events_of_a_latency_slo_even_when_fast():
    hist = {"bounds": [0.1, 0.25, 0.5], "counts": [5, 3, 2, 1]}
    lat = Objective("latency", "latency", 0.9, threshold_s=0.25)
    rows = [{"window_end": NOW, "requests": 11, "errors": 3, "latency_histogram": hist}]
    assert events_from_windows(rows, lat) == [Events(NOW, 5, 11)]
