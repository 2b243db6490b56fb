"""The rollout page draws each business metric's lift over the controller's decisions with the always-valid
interval it was judged by: a rollout rolled back on its orders guardrail shows the lift below zero with its
whole interval under it, in the served page and drawn by plotly in headless Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from selenium.webdriver.common.by import By

from trilho.clock import ManualClock
from trilho.rollout.controller import Controller
from trilho.rollout.gates import skip_gates
from trilho.rollout.plan import load_plan
from trilho.store.routing import Deployment, Route, set_deployment
from trilho.testing.exposures import Exposures, write_live_windows
from trilho.web.screenshots import chrome, sign_in, wait_for_charts
from trilho.web.series import business_figure, business_series

from .conftest import chromium_or_skip, start_site

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_business_series_reads_the_stored_readings():
    rows = [
        {"metric": "orders", "at": "2026-12-08T03:00:05", "relative": -0.02, "lower": -0.09, "upper": 0.05,
         "status": "pass"},
        {"metric": "orders", "at": "2026-12-08T03:00:10", "relative": -0.05, "lower": -0.08, "upper": -0.01,
         "status": "fail"},
    ]  # fmt: skip
    s = business_series(rows)
    assert s["orders"]["t"] == ["2026-12-08T03:00:05", "2026-12-08T03:00:10"]
    assert s["orders"]["status"] == ["pass", "fail"]
    (trace,) = business_figure(s)["data"]
    assert trace["error_y"]["array"][1] == pytest.approx(0.04)
    assert trace["error_y"]["arrayminus"][1] == pytest.approx(0.03)
    assert business_series([]) == {}


@pytest.fixture(scope="module")
def rolled_back(tmp_path_factory):
    """A shop rollout whose candidate costs 5 % of orders, rolled back on the guardrail by the controller."""
    from trilho.store import Store

    home = tmp_path_factory.mktemp("business-web")
    store = Store(f"sqlite:///{home / 'trilho.db'}")
    store.migrate()
    set_deployment(store, Deployment("shop", routes=(Route("1"),)))
    clock = ManualClock(datetime(2026, 12, 8, 3, 0, tzinfo=UTC))
    ctl = Controller(store, clock=clock, gates=skip_gates("test", "dashboard test"), holder="c1")
    sim = Exposures(store, clock, home, units_per_s=200)
    sim.lift = {"2": -0.05}
    plan = {
        "interval": 5,
        "steps": [{"canary": {"weight": 50, "min_requests": 1, "min_duration": "1m"}}],
        "analysis": {
            "error_rate": None,
            "latency": None,
            "business": {
                "outcomes": str(sim.outcomes), "exposures": str(sim.root), "planned_units": 20000,
                "metrics": [{"metric": "orders", "covariate": "orders_pre", "min_units": 500}],
            },
        },
    }  # fmt: skip
    ctl.service.start("shop", "2", load_plan(plan), actor="alice")
    last = [clock.now()]

    def tick(_c=None) -> None:  # the gateway's users (exposures, events) and its serving windows
        sim()
        write_live_windows(store, "shop", last[0], clock.now(), {"1": "stable", "2": "canary"})
        last[0] = clock.now()

    ctl.run(seconds=600, tick_every=5, on_tick=tick)
    ro = ctl.service.latest("shop")
    assert ro.state.phase.value == "rolled_back"
    from trilho.rollout.business import read_readings

    readings = read_readings(store, ro.id)
    assert (
        len(readings) >= 2 and readings[-1]["status"] == "fail"
    )  # every tick with an interval, then the fail
    site, stop = start_site(store, home)
    yield site
    stop()
    store.dispose()


def test_the_rollout_page_serves_the_business_lift_chart(rolled_back):
    with httpx.Client(base_url=rolled_back.base, headers={"Origin": rolled_back.base}, timeout=20) as c:
        page = c.get("/ui/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        c.post("/ui/login", data={"token": rolled_back.tokens["viewer"], "csrf": csrf})
        html = c.get("/ui/rollouts/shop").text
    assert 'id="chart-business"' in html and "always-valid interval" in html


def test_the_business_lift_chart_is_drawn_in_chromium(rolled_back, tmp_path):
    chromium_or_skip()
    driver = chrome(tmp_path / "profile")
    try:
        sign_in(driver, rolled_back.base, rolled_back.tokens["viewer"], "/ui/rollouts/shop")
        wait_for_charts(driver)
        traces = driver.find_elements(By.CSS_SELECTOR, "#chart-business .scatterlayer .trace")
        assert len(traces) == 1
        assert len(driver.find_elements(By.CSS_SELECTOR, "#chart-business .scatterlayer .point")) >= 2
        assert driver.find_elements(By.CSS_SELECTOR, "#chart-business .errorbar")  # the intervals are drawn
        assert "orders" in driver.find_element(By.ID, "chart-business").text
    finally:
        driver.quit()
