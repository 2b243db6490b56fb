"""End to end in headless Chromium: pages with data and drawn charts, a viewer who cannot act, and a
rollback clicked in the UI (confirm accepted) that changes the routing table and lands in the audit log."""

from __future__ import annotations

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from trilho.rollout import RolloutService
from trilho.store.routing import get_deployment
from trilho.web.screenshots import PAGES, chrome, sign_in, wait_for_charts

from .conftest import chromium_or_skip

# One worker runs these in file order (one shared browser and seeded site) under `-n 2 --dist loadgroup`.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    chromium_or_skip()
    d = chrome(tmp_path_factory.mktemp("chrome-profile"))
    yield d
    d.quit()


def test_every_page_renders_with_data_and_drawn_charts(site, driver):
    sign_in(driver, site.base, site.tokens["viewer"])
    expected = {"models": 0, "rollouts": 4, "slos": 0, "evals": 2, "experiments": 1}
    for name, path in PAGES + (("overview", "/ui/rollouts"), ("experiment list", "/ui/experiments")):
        driver.get(site.base + path)
        assert "Traceback" not in driver.page_source
        assert driver.find_elements(By.TAG_NAME, "h1"), name
        charts = wait_for_charts(driver)
        assert charts >= expected.get(name, 0), name
    driver.get(site.base + "/ui/rollouts/iris")
    wait_for_charts(driver)
    # plotly drew real SVG traces for each variant
    assert len(driver.find_elements(By.CSS_SELECTOR, "#chart-requests .scatterlayer .trace")) >= 2
    assert "token:v-viewer" in driver.find_element(By.ID, "whoami").text
    # printed, the page drops navigation and buttons but keeps the charts
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not driver.find_element(By.ID, "actions").is_displayed()
        assert not driver.find_element(By.ID, "nav-models").is_displayed()
        assert driver.find_element(By.ID, "chart-latency").is_displayed()
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_viewer_cannot_click_rollback(site, driver):
    sign_in(driver, site.base, site.tokens["viewer"], "/ui/rollouts/iris")
    button = driver.find_element(By.ID, "btn-rollback")
    assert not button.is_enabled()
    assert not driver.find_elements(By.CSS_SELECTOR, "form[action='/ui/rollouts/iris/rollback']")
    assert driver.find_element(By.ID, "viewer-note").is_displayed()
    # and the server refuses the POST the button would have sent
    cookie = driver.get_cookie("trilho_token")["value"]
    r = httpx.post(f"{site.base}/ui/rollouts/iris/rollback", cookies={"trilho_token": cookie}, timeout=20)
    assert r.status_code == 403
    assert get_deployment(site.store, "iris").canaries  # still in canary


def test_rollout_page_updates_live_without_a_reload(site, driver):
    sign_in(driver, site.base, site.tokens["viewer"], "/ui/rollouts/iris")  # no reliance on test order
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "live"))
    wait_for_charts(driver)
    driver.execute_script("window.__same_page = true")
    service = RolloutService(site.store)
    service.pause("iris", actor="user:bob", reason="checking the dashboard polls")
    # the page swaps these elements as it polls: an element found a moment ago may be stale, so look again
    live = WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,))
    live.until(lambda d: d.find_element(By.ID, "phase").text == "paused")
    assert driver.execute_script("return window.__same_page") is True  # no reload happened
    live.until(lambda d: "user:bob" in d.find_element(By.ID, "audit").text)
    service.resume("iris", actor="user:bob", reason="done checking")
    live.until(lambda d: d.find_element(By.ID, "phase").text == "canary")
    wait_for_charts(driver)


def test_rollback_clicked_in_the_ui_changes_routing_and_is_audited(site, driver):
    driver.delete_all_cookies()
    sign_in(driver, site.base, site.tokens["alice"], "/ui/rollouts/iris")
    assert [r.role for r in get_deployment(site.store, "iris").routes] == ["stable", "canary"]
    # dismissing the confirmation changes nothing
    driver.find_element(By.ID, "btn-rollback").click()
    WebDriverWait(driver, 30).until(ec.alert_is_present()).dismiss()
    assert get_deployment(site.store, "iris").canaries
    # accepting it rolls back
    driver.find_element(By.ID, "btn-rollback").click()
    alert = WebDriverWait(driver, 30).until(ec.alert_is_present())
    assert "Rollback iris?" in alert.text
    alert.accept()
    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.ID, "done")))
    dep = get_deployment(site.store, "iris")
    assert [(r.version, r.role, r.weight) for r in dep.routes] == [("1", "stable", 1.0)]
    assert driver.find_element(By.ID, "phase").text == "rolled_back"
    entry = [e for e in RolloutService(site.store).history("iris") if e["action"] == "rollback"][-1]
    assert entry["actor"] == "token:alice"
    assert "token:alice" in driver.find_element(By.ID, "audit").text
    assert RolloutService(site.store).verify_audit().ok


def test_confusion_matrix_axis_labels_are_drawn_inside_the_chart(site, driver):
    sign_in(driver, site.base, site.tokens["viewer"], "/ui/evals")
    wait_for_charts(driver)
    clipped = driver.execute_script(
        """
        const chart = document.querySelector('#chart-confusion-1');
        const box = chart.querySelector('.main-svg').getBoundingClientRect();
        const texts = chart.querySelectorAll('.xtick text, .ytick text, .g-xtitle text, .g-ytitle text');
        const out = [];
        texts.forEach(t => { const r = t.getBoundingClientRect();
          if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5
              || r.bottom > box.bottom + 0.5) out.push(t.textContent); });
        return [texts.length, out];
        """
    )
    assert clipped[0] >= 4 and clipped[1] == [], clipped  # tick labels and both titles, none outside the svg


def test_experiment_report_plots_are_drawn_natively(site, driver):
    sign_in(driver, site.base, site.tokens["viewer"], "/ui/experiments/checkout-button")
    charts = wait_for_charts(driver)
    assert not driver.find_elements(By.TAG_NAME, "iframe")
    plots = driver.find_elements(By.CSS_SELECTOR, "#report-plots .chart.drawn")
    assert len(plots) >= 1 and charts >= 1 + len(plots)
