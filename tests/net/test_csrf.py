"""Cookie-authenticated servers over real sockets (issue 18, items 4 and 5): a state-changing request needs a
matching Origin or Referer, the sign-in forms carry a CSRF token, and the annotation app takes the annotator
from the token, never from the request."""

from __future__ import annotations

import re

import httpx

from trilho.store.routing import get_deployment


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_a_dashboard_action_without_origin_or_referer_is_refused(dashboard):
    store, cookie = dashboard.extra["store"], {"trilho_token": dashboard.extra["token"]}
    with httpx.Client(base_url=dashboard.url, cookies=cookie, timeout=10) as c:
        r = c.post("/ui/rollouts/scorer/kill", data={"reason": "no origin"})
        assert r.status_code == 403 and r.json()["error"] == "CrossSiteRequest"
        r = c.post("/ui/rollouts/scorer/kill", headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        assert get_deployment(store, "scorer").kill == "off"
        r = c.post(
            "/ui/rollouts/scorer/kill",
            data={"reason": "from the page"},
            headers={"Referer": c.base_url.join("/ui/rollouts/scorer").__str__()},
        )
        assert r.status_code == 303 and get_deployment(store, "scorer").kill == "candidates"


def test_the_dashboard_login_needs_its_csrf_token_and_its_own_origin(dashboard):
    token, own = dashboard.extra["token"], {"Origin": dashboard.url}
    with httpx.Client(base_url=dashboard.url, timeout=10) as c:
        assert c.post("/ui/login", data={"token": token}, headers=own).status_code == 403  # no CSRF token
        csrf = _csrf(c.get("/ui/login").text)
        r = c.post(
            "/ui/login", data={"token": token, "csrf": csrf}, headers={"Origin": "https://evil.example"}
        )
        assert r.status_code == 403  # a cross-site login post
        r = c.post("/ui/login", data={"token": token, "csrf": "forged"}, headers=own)
        assert r.status_code == 403
        csrf = _csrf(c.get("/ui/login").text)  # every form shown gets a fresh token (and cookie)
        r = c.post("/ui/login", data={"token": token, "csrf": csrf}, headers=own)
        assert r.status_code == 303 and "trilho_token" in r.cookies


def test_the_annotation_app_needs_a_token_and_the_actor_comes_from_it(annotate):
    queue, token = annotate.extra["queue"], annotate.extra["token"]
    with httpx.Client(base_url=annotate.url, timeout=10) as c:
        assert c.get("/api/next").status_code == 401
        assert (
            c.post(
                "/api/labels", json={"item_id": "x", "label": "good"}, headers={"Origin": annotate.url}
            ).status_code
            == 401
        )
        assert 'id="token"' in c.get("/").text  # the page asks for a token, not a name
        bearer = {"Authorization": f"Bearer {token}"}
        item = c.get("/api/next", headers=bearer).json()["item"]
        spoof = c.post(
            "/api/labels",
            json={"item_id": item["item_id"], "annotator": "../x", "label": "good"},
            headers=bearer,
        )
        assert spoof.status_code == 400 and spoof.json()["field"] == "annotator"
        r = c.post("/api/labels", json={"item_id": item["item_id"], "label": "good"}, headers=bearer)
        assert r.status_code == 200
    assert {row["annotator"] for row in _labels(queue)} == {"alice"}


def _labels(queue) -> list[dict]:
    from sqlalchemy import select

    from trilho.store.tables import evals as t

    with queue.store.connect() as conn:
        return [dict(r) for r in conn.execute(select(t.annotation_labels)).mappings()]


def test_the_annotation_form_signs_in_with_csrf_and_refuses_cross_site_posts(annotate):
    token, own = annotate.extra["token"], {"Origin": annotate.url}
    with httpx.Client(base_url=annotate.url, timeout=10) as c:
        csrf = _csrf(c.get("/").text)
        assert c.post("/login", data={"token": token}, headers=own).status_code == 403
        assert c.post("/login", data={"token": token, "csrf": csrf}).status_code == 403  # no Origin
        csrf = _csrf(c.get("/").text)
        r = c.post("/login", data={"token": token, "csrf": csrf}, headers=own)
        assert r.status_code == 303
        page = c.get("/").text
        assert 'id="who">alice<' in page and 'name="annotator"' not in page
        item_id = re.search(r'name="item_id" value="([^"]+)"', page).group(1)
        form = {"item_id": item_id, "label": "bad", "annotator": "mallory"}
        r = c.post("/label", data=form, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403  # a cross-site form post with a valid cookie
        r = c.post("/label", data=form, headers=own)
        assert r.status_code == 303
    assert {row["annotator"] for row in _labels(annotate.extra["queue"])} == {"alice"}
