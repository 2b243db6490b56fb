"""The dashboard over a real socket (httpx): every page, sign-in, roles on actions, and readable errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from trilho.registry import Registry
from trilho.rollout import RolloutService
from trilho.rollout.auth import create_token, revoke_token
from trilho.store import Store
from trilho.store.routing import get_deployment
from trilho.testing.dashboard import seed
from trilho.web import create_app
from trilho.web.screenshots import serve_in_thread

from .conftest import start_site

PAGES = [
    "/ui/models",
    "/ui/models/iris",
    "/ui/rollouts",
    "/ui/rollouts/iris",
    "/ui/slos",
    "/ui/evals",
    "/ui/experiments",
    "/ui/experiments/checkout-button",
]


@contextmanager
def client(site, role: str | None = None) -> Iterator[httpx.Client]:
    """An HTTP client posting from the dashboard's own origin (as its pages do), signed in with the token of
    ``role`` when given."""
    with httpx.Client(
        base_url=site.base, follow_redirects=False, timeout=20, headers={"Origin": site.base}
    ) as c:
        if role:
            r = login(c, site.tokens[role], next="/ui/models")
            assert r.status_code == 303 and r.headers["location"] == "/ui/models"
        yield c


def login(c: httpx.Client, token: str, **fields: str) -> httpx.Response:
    """Sign in through the form: its CSRF token comes with the page (and its cookie)."""
    page = c.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return c.post("/ui/login", data={"token": token, "csrf": csrf, **fields})


def test_pages_need_a_sign_in(site):
    with client(site) as c:
        r = c.get("/ui/rollouts/iris")
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next=/ui/rollouts/iris")
        assert c.get("/ui/login").status_code == 200
        assert c.get("/").headers["location"] == "/ui/"


def test_every_page_renders_with_data(site):
    with client(site, "viewer") as c:
        bodies = {}
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 200, (path, r.text[:300])
            assert "Traceback" not in r.text and "No data yet" not in r.text.split("<main>")[1][:200]
            bodies[path] = r.text
        assert "iris@2" in bodies["/ui/models/iris"] and "tenure_months" in bodies["/ui/models/iris"]
        assert "golden" in bodies["/ui/models/iris"]
        assert 'id="chart-latency"' in bodies["/ui/rollouts/iris"]
        assert "shadow_agreement" in bodies["/ui/rollouts/iris"]  # the statistics behind a decision
        assert "page: 1h &amp; 5m" in bodies["/ui/slos"]  # ranker burns its budget
        assert "faithfulness-judge" in bodies["/ui/evals"] and "support" in bodies["/ui/evals"]
        assert "Krippendorff" in bodies["/ui/evals"] and 'id="chart-confusion-1"' in bodies["/ui/evals"]
        assert "+6.3%" in bodies["/ui/experiments"] or "checkout-button" in bodies["/ui/experiments"]
        r = c.get("/ui/experiments/checkout-button/report.html")
        assert r.status_code == 200 and "Lift report" in r.text
        js = c.get("/ui/static/plotly.min.js")
        assert (
            js.status_code == 200 and len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()
        )


def test_rollouts_list_shows_real_steps_and_percent_weights(site):
    """A promoted rollout is "full 100%" (it read "5 / 4"), a canary "3 / 4 canary" at "25%"."""
    import re

    with client(site, "viewer") as c:
        page = c.get("/ui/rollouts").text
        detail = c.get("/ui/rollouts/churn").text
    rows = {
        m[0]: (m[1].strip(), m[2].strip())
        for m in re.findall(
            r'<a href="/ui/rollouts/(\w+)">.*?<td class="step">(.*?)</td>\s*<td class="weight">(.*?)</td>',
            page,
            re.S,
        )
    }
    assert rows == {"iris": ("3 / 4 canary", "25%"), "churn": ("full", "100%")}
    assert re.search(r'id="position">full 100%<', detail) and "5 / 4" not in detail
    assert re.search(r'id="plan">inline plan &#39;default&#39;<', detail), detail[:3000]
    routing = re.findall(r'class="tag \w+">(\w+ \w+ [\d.]+%)<', page)
    assert "2 canary 25%" in routing and "1 stable 75%" in routing


@pytest.mark.parametrize(
    "path",
    [
        "/ui/models/nope",
        "/ui/rollouts/nope",
        "/ui/experiments/nope",
        "/ui/experiments/../../etc/passwd",
        "/ui/no-such-page",
        "/ui/models/..%2F..%2Fx",
    ],
)
def test_unknown_ids_give_a_readable_404(site, path):
    with client(site, "viewer") as c:
        r = c.get(path)
    assert r.status_code == 404
    assert 'id="error"' in r.text and "Traceback" not in r.text


def test_bad_and_revoked_tokens_give_401(site):
    with client(site) as c:
        r = login(c, "trl_not-a-real-token")
        assert r.status_code == 401 and "unknown or revoked" in r.text
        c.cookies.set("trilho_token", "trl_forged", path="/ui")
        r = c.get("/ui/models")
        assert r.status_code == 401 and 'id="error"' in r.text and "Sign in" in r.text
    secret = create_token(site.store, "temp", "viewer", actor="user:admin")
    with client(site) as c:
        assert login(c, secret).status_code == 303
        assert c.get("/ui/models").status_code == 200
        revoke_token(site.store, "temp", actor="user:admin")
        r = c.get("/ui/models")
        assert r.status_code == 401 and "revoked" in r.text


def test_viewer_action_is_refused_403_and_audited(site):
    before = get_deployment(site.store, "iris")
    with client(site, "viewer") as c:
        page = c.get("/ui/rollouts/iris").text
        assert 'id="btn-rollback"' in page and "/ui/rollouts/iris/rollback" not in page  # no form for viewers
        r = c.post("/ui/rollouts/iris/rollback", data={"reason": "try"})
    assert r.status_code == 403 and "needs deployer" in r.text
    assert get_deployment(site.store, "iris").routes == before.routes
    last = RolloutService(site.store).history("iris")[-1]
    assert last["action"] == "api" and last["actor"] == "token:v-viewer" and last["evidence"]["status"] == 403


def test_deployer_pause_and_resume_are_audited_with_the_actor(site):
    with client(site, "deployer") as c:
        r = c.post("/ui/rollouts/iris/pause", data={"reason": "looking at latency"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/rollouts/iris?done=pause"
        assert "paused" in c.get("/ui/rollouts/iris").text
        r = c.post("/ui/rollouts/churn/pause")  # churn's rollout is promoted: a readable refusal
        assert r.status_code == 409 and "cannot pause a rollout that is promoted" in r.text
        assert c.post("/ui/rollouts/nope/pause").status_code == 404
        assert c.post("/ui/rollouts/iris/resume").status_code == 303
        assert c.post("/ui/rollouts/iris/explode").status_code == 404
        r = c.post("/ui/rollouts/iris/pause", headers={"Origin": "https://evil.example"})
        assert r.status_code == 403  # a cross-site form post is refused even with a valid cookie
    hist = RolloutService(site.store).history("iris")
    pause = [e for e in hist if e["action"] == "pause"][-1]
    assert pause["actor"] == "token:d-deployer" and pause["reason"] == "looking at latency"
    assert RolloutService(site.store).verify_audit().ok


def test_a_store_that_is_down_gives_503(tmp_path):
    down = Store("postgresql+psycopg://127.0.0.1:9/none?connect_timeout=1")
    app = create_app(down, registry=Registry(down, tmp_path / "a"), reports_dir=tmp_path / "r")
    base, stop = serve_in_thread(app)
    try:
        with httpx.Client(base_url=base, timeout=20, headers={"Origin": base}) as c:
            c.cookies.set("trilho_token", "trl_" + "x" * 43, path="/ui")
            r = c.get("/ui/rollouts")
            assert r.status_code == 503 and "unreachable" in r.text and "Traceback" not in r.text
            r = login(c, "trl_" + "x" * 43)
            assert r.status_code == 503
    finally:
        stop()
        down.dispose()


def test_pages_render_on_each_backend(store, tmp_path):
    seed(store, tmp_path, experiments=False)
    site, stop = start_site(store, tmp_path)
    try:
        with client(site, "viewer") as c:
            for path in PAGES[:-1]:
                assert c.get(path).status_code == 200, path
            assert "No data yet" in c.get("/ui/experiments").text
    finally:
        stop()


def test_the_slo_page_shows_each_deployments_declared_slo(site):
    """ranker declares 99.5 % within 250 ms (and pages); iris and churn declare none: the page says how."""
    with client(site, "viewer") as c:
        body = c.get("/ui/slos").text
    ranker = body.split('id="slo-ranker"')[1].split("</section>")[0]
    assert "99.50% of requests faster than 250 ms" in ranker and "page: 1h &amp; 5m" in ranker
    iris = body.split('id="slo-iris"')[1].split("</section>")[0]
    assert "No SLO declared" in iris and "<table" not in iris
    assert "95.00%" not in body and "without error" not in body  # the old hard-coded objectives are gone


def test_the_model_page_shows_lineage_as_a_table_and_each_contract_once(site):
    with client(site, "viewer") as c:
        body = c.get("/ui/models/iris").text
    v2, v1 = body.split('id="version-2"')[1], body.split('id="version-1"')[1]
    assert '<table class="grid lineage">' in v2 and "<pre" not in body
    assert "<code>data" in v2 or "<code>git" in v2  # dotted lineage keys, not a JSON dump
    assert body.count('<table class="grid contract">') == len(_roles(body))
    assert "Same contract as" in v1.split("</section>")[0] and "tenure_months" in v2


def _roles(body: str) -> list[str]:
    return [s.split("</caption>")[0] for s in body.split('<table class="grid contract"><caption>')[1:]]


def test_the_experiment_page_draws_the_reports_plots_itself(site):
    with client(site, "viewer") as c:
        body = c.get("/ui/experiments/checkout-button").text
    assert "<iframe" not in body and 'id="chart-report-1"' in body
    assert "Relative effects with intervals" in body
