"""The gateway's SLO tracker: what counts as good, burn rates over injected time, multiwindow alerts, metric
export, the declared SLO's validation and storage, and the per-request cost."""

from __future__ import annotations

import timeit
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from trilho.errors import InputError
from trilho.obs import render_latest
from trilho.serving.slo import SLOBook, SLOTracker, window_label
from trilho.store.routing import Deployment, Route, SLOConfig, get_deployment, set_deployment

FAST = SLOConfig(latency_ms=100, target=0.99, alerts=(("page", 60, 5, 14.4), ("ticket", 600, 60, 6)))


def _samples(name: str, **labels: str) -> dict[tuple, float]:
    out = {}
    for fam in text_string_to_metric_families(render_latest().decode()):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_good_means_answered_within_the_threshold():
    t = SLOTracker("m", FAST, now=0.0)
    t.record(200, 0.099, False)  # good
    t.record(200, 0.1, False)  # exactly at the threshold: good
    t.record(200, 0.101, False)  # slow
    t.record(503, 0.001, False)  # shed: fast but not answered
    t.record(200, 0.01, True)  # an error fallback
    assert (t.good, t.bad) == (2, 3)


def test_burn_rate_over_windows_with_injected_time():
    t = SLOTracker("m", FAST, now=0.0)
    for _ in range(990):
        t.record(200, 0.01, False)
    for _ in range(10):
        t.record(200, 0.5, False)
    t.snapshot(50.0)  # 1000 requests, 1 % bad: the budget burns exactly at rate 1
    assert t.burn(timedelta(seconds=60), 50.0) == pytest.approx(1.0)
    for _ in range(100):
        t.record(503, 0.0, False)
    t.snapshot(58.0)  # the last 5 s saw only the 100 shed requests
    assert t.burn(timedelta(seconds=5), 58.0) == pytest.approx(100.0)
    assert t.burn(timedelta(seconds=60), 58.0) == pytest.approx((110 / 1100) / 0.01)
    t.snapshot(70.0)  # nothing new in the last 5 s: no events, no burn rate
    assert t.burn(timedelta(seconds=5), 70.0) is None


def test_alert_needs_both_windows_burning():
    t = SLOTracker("m", FAST, now=0.0)
    for _ in range(1000):
        t.record(200, 0.01, False)
    t.snapshot(55.0)
    for _ in range(20):
        t.record(503, 0.0, False)
    t.snapshot(59.0)
    # short window: 100 % bad; long window: 20/1020 ≈ 2 % → burn ≈ 1.96, far below 14.4: no page
    assert [f for _, f in t.firing(59.0)] == [False, False]
    for _ in range(300):
        t.record(503, 0.0, False)
    t.snapshot(60.0)
    page, ticket = t.firing(60.0)
    assert page[1] and ticket[1]  # long ≈ 24 %: 24x; short 100 %: 100x
    t.snapshot(70.0)  # 5 s quiet: the page clears although its long window still burns; the ticket's 1 m
    assert [f for _, f in t.firing(70.0)] == [False, True]  # short window still holds the burst
    assert t.burn(timedelta(seconds=60), 70.0) > 14.4


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.01, 30.0), st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=60
    ),
    st.sampled_from([5.0, 60.0, 600.0]),
)
def test_window_counts_match_a_direct_sum(steps, window_s):
    """Counts over a window equal the events recorded after the last snapshot at or before its start."""
    t = SLOTracker("m", FAST, now=0.0)
    now, log = 0.0, [(0.0, 0, 0)]
    for dt, good, bad in steps:
        now += dt
        for _ in range(good):
            t.record(200, 0.0, False)
        for _ in range(bad):
            t.record(503, 0.0, False)
        t.snapshot(now)
        log.append((now, good, bad))
    start = now - window_s
    base = max(i for i, (ts, _, _) in enumerate(log) if ts <= start) if log[0][0] <= start else 0
    want_good = sum(g for _, g, _ in log[base + 1 :])
    want_total = want_good + sum(b for _, _, b in log[base + 1 :])
    assert t.counts(timedelta(seconds=window_s), now) == (want_good, want_total)


def test_book_follows_deployments_and_exports_metrics():
    book = SLOBook()
    dep = Deployment("slo-unit", routes=(Route("1"),), slo=FAST)
    book.sync([dep, Deployment("no-slo", routes=(Route("1"),))], now=0.0)
    assert list(book.trackers) == ["slo-unit"]
    tr = book.trackers["slo-unit"]
    for _ in range(50):
        tr.record(200, 0.01, False)
    for _ in range(50):
        tr.record(503, 0.0, False)
    book.tick(now=2.0)
    assert _samples("trilho_serving_slo_alert_firing", model="slo-unit", window="1m/5s") == {
        (("model", "slo-unit"), ("severity", "page"), ("window", "1m/5s")): 1.0
    }
    burn = _samples("trilho_serving_slo_burn_rate", model="slo-unit", window="5s")
    assert list(burn.values()) == [pytest.approx(50.0)]
    events = _samples("trilho_serving_slo_events_total", model="slo-unit")
    assert sorted(events.values()) == [50.0, 50.0]
    assert book.status(now=2.0)["slo-unit"]["alerts"][0]["firing"] is True
    book.sync([dep], now=3.0)
    assert book.trackers["slo-unit"] is tr  # unchanged SLO: counts kept
    book.sync([], now=4.0)
    assert book.trackers == {}
    assert _samples("trilho_serving_slo_alert_firing", model="slo-unit") == {}  # series removed


def test_ticks_follow_the_shortest_window():
    book = SLOBook()
    assert book.interval_s() == 1.0
    book.sync([Deployment("tick", routes=(Route("1"),), slo=SLOConfig(50, alerts=(("p", 4, 0.5, 2),)))])
    assert book.interval_s() == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"latency_ms": 0}, "slo.latency_ms"),
        ({"latency_ms": "fast"}, "slo.latency_ms"),
        ({"latency_ms": 50, "target": 1.0}, "slo.target"),
        ({"latency_ms": 50, "alerts": (("page", 60, 300, 14.4),)}, "slo.alerts"),
        ({"latency_ms": 50, "alerts": (("page", 3600, 300),)}, "slo.alerts"),
        ({"latency_ms": 50, "alerts": (("page", 3600, 300, 0),)}, "slo.alerts"),
    ],
)
def test_bad_slo_names_the_field(kwargs, field):
    with pytest.raises(InputError) as err:
        SLOConfig(**kwargs)
    assert err.value.fields["field"] == field


def test_default_alerts_are_the_sre_pairs():
    assert SLOConfig(50).alerts == (("page", 3600.0, 300.0, 14.4), ("page", 21600.0, 1800.0, 6.0))
    tr = SLOTracker("m", SLOConfig(50), now=0.0)
    assert [window_label(w) for w in tr.windows] == ["5m", "30m", "1h", "6h"]


def test_declared_slo_survives_the_store(store):
    dep = Deployment("stored-slo", routes=(Route("1"),), slo=FAST)
    assert Deployment.from_dict(dep.to_dict()) == dep
    set_deployment(store, dep, actor="test")
    assert get_deployment(store, "stored-slo").slo == FAST


def test_record_costs_about_a_microsecond():
    t = SLOTracker("m", FAST, now=0.0)
    n = 100_000
    best = min(timeit.repeat(lambda: t.record(200, 0.01, False), number=n, repeat=5)) / n
    assert best < 2e-6, f"SLOTracker.record took {best * 1e9:.0f} ns"
