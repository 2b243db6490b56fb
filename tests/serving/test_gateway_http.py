"""The gateway end to end over real sockets, with versions loaded from the real registry."""

from __future__ import annotations

import time

import httpx
import pytest

from trilho.store import routing as rt
from trilho.store.routing import BreakerConfig, CacheConfig, Deployment, Route

X = {"x1": 1.0, "x2": 2.0}


def _predict(client, instances=None, **headers):
    return client.post("/v1/models/scorer:predict", json={"instances": instances or [X]}, headers=headers)


def _wait(cond, timeout=5.0, step=0.02):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if cond():
            return True
        time.sleep(step)
    return False


def test_protocols_headers_and_bad_input_never_5xx(registered, start_gateway):
    store, root = registered
    rt.set_deployment(store, Deployment("scorer", routes=(Route("1"),)))
    gw = start_gateway(store, root, max_body_bytes=4096)
    with httpx.Client(base_url=gw.url) as c:
        assert c.get("/readyz").status_code == 200 and c.get("/healthz").json() == {"status": "ok"}
        r = _predict(c, [X, {"x1": 0.5, "x2": -1.0}])
        assert r.status_code == 200 and r.json() == {"predictions": [{"y": 4.0}, {"y": 0.0}]}
        assert r.headers["x-trilho-model-version"] == "1" and r.headers["x-trilho-variant"] == "stable"
        r = c.post(
            "/v2/models/scorer/infer",
            json={
                "id": "a",
                "inputs": [
                    {"name": "x1", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]},
                    {"name": "x2", "shape": [2, 1], "datatype": "FP64", "data": [[0.0], [1.0]]},
                ],
            },
        )
        assert r.status_code == 200
        assert r.json()["outputs"] == [{"name": "y", "shape": [2], "datatype": "FP64", "data": [2.0, 5.0]}]
        assert c.get("/v2").json()["name"] == "trilho" and c.get("/v2/health/ready").json() == {"ready": True}
        meta = c.get("/v2/models/scorer").json()
        assert meta["versions"] == ["1"] and [i["name"] for i in meta["inputs"]] == ["x1", "x2"]
        assert c.get("/v2/models/scorer/ready").json() == {"ready": True}

        bad = {
            "malformed": c.post(
                "/v1/models/scorer:predict",
                content=b'{"instances": [',
                headers={"content-type": "application/json"},
            ),
            "content_type": c.post(
                "/v1/models/scorer:predict",
                content=b"x1=1",
                headers={"content-type": "application/x-www-form-urlencoded"},
            ),
            "oversized": _predict(c, [X] * 400),
            "unknown_model": c.post("/v1/models/nope:predict", json={"instances": [X]}),
            "wrong_type": _predict(c, [{"x1": "abc", "x2": 1.0}]),
            "out_of_range": _predict(c, [{"x1": 1.0, "x2": 1000.0}]),
            "missing": _predict(c, [{"x1": 1.0}]),
            "not_objects": c.post("/v1/models/scorer:predict", json={"instances": [1, 2]}),
            "no_instances": c.post("/v1/models/scorer:predict", json={"rows": []}),
            "bad_deadline": _predict(c, **{"X-Trilho-Deadline-Ms": "soon"}),
            "v2_shape": c.post(
                "/v2/models/scorer/infer",
                json={"inputs": [{"name": "x1", "shape": [3], "datatype": "FP64", "data": [1.0]}]},
            ),
            "wrong_method": c.get("/v1/models/scorer:predict"),
            "unknown_path": c.get("/v3/anything"),
        }
        expected = {
            "malformed": 400,
            "content_type": 415,
            "oversized": 413,
            "unknown_model": 404,
            "wrong_type": 422,
            "out_of_range": 422,
            "missing": 422,
            "not_objects": 422,
            "no_instances": 422,
            "bad_deadline": 400,
            "v2_shape": 422,
            "wrong_method": 405,
            "unknown_path": 404,
        }
        for what, resp in bad.items():
            assert resp.status_code == expected[what], (what, resp.status_code, resp.text)
            body = resp.json()
            if what.startswith("v2"):  # OIP V2's error body: {"error": "<message>"}, the type beside it
                assert body["error"].startswith(body["type"] + ": ") and "shape" in body["error"], body
            else:
                assert body["error"] and body["message"], what
        violation = bad["out_of_range"].json()
        assert violation["field"] == "x2" and violation["value"] == 1000.0 and violation["rule"]
        assert bad["wrong_type"].json()["field"] == "x1"
        # the gateway is still healthy after all of that
        assert _predict(c).status_code == 200
        metrics = c.get("/metrics").text
        for name in (
            "trilho_serving_requests_total",
            "trilho_serving_request_duration_seconds_bucket",
            "trilho_serving_batch_size_items",
            "trilho_serving_queue_wait_seconds",
        ):
            assert name in metrics, name
        labels = ('code="200"', 'model="scorer"', 'transport="http"', 'variant="stable"', 'version="1"')
        assert any(
            line.startswith("trilho_serving_requests_total{") and all(x in line for x in labels)
            for line in metrics.splitlines()
        ), metrics


def test_routing_changes_apply_within_a_second_and_survive_a_restart(registered, start_gateway):
    store, root = registered
    rt.set_deployment(store, Deployment("scorer", routes=(Route("1"),)))
    gw = start_gateway(store, root)
    with httpx.Client(base_url=gw.url) as c:
        assert _predict(c).headers["x-trilho-model-version"] == "1"
        written = time.monotonic()
        rt.set_weights(store, "scorer", {"1": 0.0, "2": 1.0})
        assert _wait(lambda: _predict(c).headers["x-trilho-model-version"] == "2", timeout=3.0)
        assert time.monotonic() - written < 1.0
        # a 50/50 split is sticky per unit
        rt.set_weights(store, "scorer", {"1": 0.5, "2": 0.5})
        assert _wait(lambda: gw.gateway.generation == rt.current_generation(store))
        seen = {
            u: _predict(c, **{"X-Trilho-Unit": f"user-{u}"}).headers["x-trilho-model-version"]
            for u in range(40)
        }
        assert set(seen.values()) == {"1", "2"}
        for u in range(0, 40, 5):
            assert _predict(c, **{"X-Trilho-Unit": f"user-{u}"}).headers["x-trilho-model-version"] == seen[u]
    gw.stop()
    again = start_gateway(store, root)  # a restart loses no configuration
    with httpx.Client(base_url=again.url) as c:
        assert {
            _predict(c, **{"X-Trilho-Unit": f"user-{u}"}).headers["x-trilho-model-version"] for u in range(40)
        } == {"1", "2"}
        assert _predict(c, **{"X-Trilho-Unit": "user-7"}).headers["x-trilho-model-version"] == seen[7]


def test_shadow_outputs_are_compared_and_written_to_the_store(registered, start_gateway):
    store, root = registered
    rt.set_deployment(
        store,
        Deployment(
            "scorer",
            routes=(Route("1"), Route("2", "shadow", 0.0), Route("3", "shadow", 0.0)),
            shadow_fraction=1.0,
            comparators=("exact", "numeric:0.01:y"),
        ),
    )
    gw = start_gateway(store, root)
    with httpx.Client(base_url=gw.url) as c:
        for i in range(10):
            r = _predict(c, [{"x1": float(i), "x2": 1.0}])
            assert r.status_code == 200 and r.headers["x-trilho-model-version"] == "1"

        def compared():
            rows = rt.read_shadow_windows(store, "scorer")
            return (
                {(r["shadow_version"], r["comparator"]): r for r in rows}
                if sum(r["compared"] for r in rows) >= 40
                else None
            )

        assert _wait(lambda: compared() is not None, timeout=5)
        rows = rt.read_shadow_windows(store, "scorer")
        agg = {}
        for r in rows:
            a = agg.setdefault((r["shadow_version"], r["comparator"]), [0, 0])
            a[0] += r["compared"]
            a[1] += r["agreed"]
        assert agg[("2", "exact")] == [10, 10] and agg[("3", "exact")] == [10, 0]
        assert agg[("3", "numeric:0.01:y")][1] == 0
        metrics = c.get("/metrics").text
        assert (
            'trilho_serving_shadow_agreement_ratio{comparator="exact",model="scorer",primary_version="1",'
            'variant="shadow",version="2"} 1.0' in metrics
        )
        assert _wait(lambda: sum(r["requests"] for r in rt.read_windows(store, "scorer")) >= 10)
        windows = rt.read_windows(store, "scorer")
        assert {(w["version"], w["variant"]) for w in windows} == {("1", "stable")}


OUTAGE = """
import os

def predict(records):
    if os.path.exists({flag!r}):
        raise ConnectionError("feature store unreachable")
    return [{{"y": 2.0 * r["x1"] + r["x2"]}} for r in records]
"""


def test_a_bad_record_fails_alone_and_never_trips_the_breaker(registered, start_gateway):
    store, root = registered
    rt.set_deployment(
        store,
        Deployment(
            "scorer",
            routes=(Route("1", weight=0.0), Route("4", "canary", 1.0)),
            breaker=BreakerConfig(failures=3, reset_after_s=60),
        ),
    )
    gw = start_gateway(store, root)
    boom = [{"x1": 666.0, "x2": 1.0}]
    with httpx.Client(base_url=gw.url) as c:
        assert _predict(c).headers["x-trilho-model-version"] == "4"
        failures = 'trilho_serving_record_failures_total{model="scorer",variant="canary",version="4"}'
        before = _total(c, failures)
        for _ in range(5):  # one caller keeps sending a record v4 raises on: stable answers it each time
            r = _predict(c, boom)
            assert r.status_code == 200 and r.json()["predictions"] == [{"y": 1333.0}], r.text
            assert r.json()["fallback"] == {"reason": "model_error", "source": "stable"}
        r = _predict(c)
        assert r.headers["x-trilho-model-version"] == "4" and "fallback" not in r.json()
        assert gw.gateway.status()["models"]["scorer"]["versions"]["4"]["breaker"] == "closed"
        assert _total(c, failures) - before == 5  # counted apart from the breaker
        # two records, the second poisoned, on a deployment whose every version raises on it: a 422 naming it
        rt.set_deployment(store, Deployment("scorer", routes=(Route("4"),)))
        assert _wait(lambda: gw.gateway.generation == rt.current_generation(store))
        r = _predict(c, [{"x1": 1.0, "x2": 2.0}, *boom])
        assert r.status_code == 422 and r.json()["error"] == "ModelError", r.text
        assert r.json()["record"] == 1 and r.json()["exception"] == "RuntimeError: boom"
        assert "record 1 of this request" in r.json()["message"]


def test_a_model_failing_for_everyone_trips_the_breaker_and_the_fallback_answers(
    registered, start_gateway, tmp_path
):
    store, root = registered
    flag = tmp_path / "outage"
    outage = _register(store, root, tmp_path, "outage", OUTAGE.format(flag=str(flag)))
    rt.set_deployment(
        store,
        Deployment(
            "scorer",
            routes=(Route("1", weight=0.0), Route(outage, "canary", 1.0)),
            breaker=BreakerConfig(failures=3, reset_after_s=60),
            fallback_response={"y": -1.0},
        ),
    )
    gw = start_gateway(store, root)
    with httpx.Client(base_url=gw.url) as c:
        assert _predict(c).headers["x-trilho-model-version"] == outage
        flag.touch()  # the model's backend goes down: it fails on every record, the known-good ones too
        reasons = []
        for _ in range(5):
            r = _predict(c)
            assert r.status_code == 200, r.text
            assert r.headers["x-trilho-model-version"] == "1" and r.json()["predictions"] == [{"y": 4.0}]
            reasons.append(r.json()["fallback"]["reason"])
        assert reasons[:3] == ["model_error"] * 3 and reasons[3:] == ["breaker_open"] * 2
        assert gw.gateway.status()["models"]["scorer"]["versions"][outage]["breaker"] == "open"
        metrics = c.get("/metrics").text
        assert (
            'trilho_serving_fallbacks_total{model="scorer",reason="breaker_open",source="stable",'
            f'variant="canary",version="{outage}"}}' in metrics
        )
    # with the stable version itself failing (its breaker is still open: breakers outlive table changes),
    # the static default answers
    rt.set_deployment(store, Deployment("scorer", routes=(Route(outage),), fallback_response={"y": -1.0}))
    assert _wait(lambda: gw.gateway.generation == rt.current_generation(store))
    with httpx.Client(base_url=gw.url) as c:
        r = _predict(c)
        assert r.status_code == 200 and r.json() == {
            "predictions": [{"y": -1.0}],
            "fallback": {"reason": "breaker_open", "source": "static"},
        }
        assert r.headers["x-trilho-fallback"] == "breaker_open; source=static"


def test_hanging_model_misses_its_deadline_and_the_fallback_answers(registered, start_gateway):
    store, root = registered
    rt.set_deployment(
        store,
        Deployment(
            "scorer",
            routes=(Route("5"),),
            deadline_ms=100,
            fallback_response={"y": 0.0},
            breaker=BreakerConfig(failures=2, reset_after_s=60),
        ),
    )
    gw = start_gateway(store, root)
    hang = [{"x1": 777.0, "x2": 0.0}]
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        t0 = time.monotonic()
        r = _predict(c, hang, **{"X-Trilho-Deadline-Ms": "50"})
        assert time.monotonic() - t0 < 1.2  # answered on budget, not after the model's 1.5 s
        assert r.status_code == 200 and r.json()["fallback"] == {"reason": "deadline", "source": "static"}
        _predict(c, hang)
        r = _predict(c)
        assert r.json()["fallback"]["reason"] == "breaker_open"
        assert gw.gateway.status()["models"]["scorer"]["versions"]["5"]["breaker"] == "open"


def test_cache_never_serves_a_rolled_back_version(registered, start_gateway):
    store, root = registered
    rt.set_deployment(store, Deployment("scorer", routes=(Route("3"),), cache=CacheConfig(enabled=True)))
    gw = start_gateway(store, root)
    with httpx.Client(base_url=gw.url) as c:
        assert _predict(c).json()["predictions"] == [{"y": 5.0}]
        assert _predict(c).json()["predictions"] == [{"y": 5.0}]  # from cache
        assert 'event="hit"' in c.get("/metrics").text
        rt.set_routes(store, "scorer", (Route("1"),))  # roll back to v1
        assert _wait(lambda: gw.gateway.generation == rt.current_generation(store))
        r = _predict(c)
        assert r.json()["predictions"] == [{"y": 4.0}] and r.headers["x-trilho-model-version"] == "1"
        assert gw.gateway.models["scorer"].cache is not None
        assert all(v == "1" for v, _ in gw.gateway.models["scorer"].cache._data)


def test_kill_switch_modes(registered, start_gateway):
    store, root = registered
    rt.set_deployment(
        store,
        Deployment(
            "scorer", routes=(Route("1", weight=0.0), Route("3", "canary", 1.0)), fallback_response={"y": 9.0}
        ),
    )
    gw = start_gateway(store, root)
    with httpx.Client(base_url=gw.url) as c:
        assert _predict(c).headers["x-trilho-model-version"] == "3"
        rt.set_kill(store, "scorer", "candidates")
        assert _wait(lambda: _predict(c).headers["x-trilho-model-version"] == "1", timeout=2.0)
        rt.set_kill(store, "scorer", "all")
        assert _wait(lambda: _predict(c).json().get("fallback", {}).get("reason") == "killed", timeout=2.0)
        assert _predict(c).json()["predictions"] == [{"y": 9.0}]
        rt.set_kill(store, "scorer", "off")
        assert _wait(lambda: _predict(c).headers["x-trilho-model-version"] == "3", timeout=2.0)
    assert gw.gateway.ready


@pytest.mark.postgres
def test_store_outage_keeps_serving_the_last_table(pg_schema, tmp_path, start_gateway):
    from tests.serving.conftest import register_versions
    from tests.serving.tcp_proxy import TcpProxy

    from trilho.registry import Registry
    from trilho.store import Store

    url, schema = pg_schema
    direct = Store(url, schema=schema)
    direct.migrate()
    register_versions(Registry(direct, tmp_path / "artifacts"), tmp_path)
    rt.set_deployment(direct, Deployment("scorer", routes=(Route("1"),)))
    with TcpProxy("127.0.0.1", 5432) as proxy:
        via_proxy = Store(url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"), schema=schema)
        gw = start_gateway(via_proxy, tmp_path / "artifacts")
        with httpx.Client(base_url=gw.url) as c:
            assert _predict(c).status_code == 200
            proxy.stop()  # the store goes away
            assert _wait(lambda: c.get("/readyz").json()["store"] == "unreachable", timeout=15)
            for _ in range(5):
                r = _predict(c)
                assert r.status_code == 200 and r.headers["x-trilho-model-version"] == "1"
            assert "trilho_serving_store_up 0.0" in c.get("/metrics").text
            rt.set_weights(direct, "scorer", {"1": 0.0, "3": 1.0})  # written while this gateway is cut off
            proxy.start()
            assert _wait(lambda: _predict(c).headers["x-trilho-model-version"] == "3", timeout=15)
            assert c.get("/readyz").json()["store"] == "ok"
        via_proxy.dispose()
    direct.dispose()


SLOW_SHADOW = """
import os
import time
from trilho.serving.context import is_shadow_call

def predict(records):
    if is_shadow_call():
        time.sleep(float(os.environ.get("TRILHO_TEST_SHADOW_SLEEP_S", "0")))
        if os.environ.get("TRILHO_TEST_SHADOW_BROKEN"):
            raise RuntimeError("broken shadow")
    else:
        time.sleep(float(os.environ.get("TRILHO_TEST_LIVE_SLEEP_S", "0")))
    return [{'y': 2.0 * r['x1'] + r['x2']} for r in records]
"""


def _register(store, root, tmp_path, module: str, source: str) -> str:
    """Register ``source`` (a python module defining predict) as a new version of ``scorer``; its version."""
    import yaml
    from tests.serving.conftest import CONTRACT

    from trilho.registry import Registry

    path = tmp_path / "src" / module / f"{module}.py"
    path.parent.mkdir(parents=True)
    path.write_text(source)
    contract = tmp_path / f"{module}-contract.yaml"
    contract.write_text(yaml.safe_dump(CONTRACT, sort_keys=False))
    return str(
        Registry(store, root).register("scorer", path, "python", contract, entry=f"{module}:predict").version
    )


def _register_slow_shadow(store, root, tmp_path) -> str:
    """Register SLOW_SHADOW as a new version of ``scorer``; its version."""
    return _register(store, root, tmp_path, "slow_shadow", SLOW_SHADOW)


def _total(c, prefix: str) -> float:
    """The sum of the /metrics samples whose line starts with ``prefix``."""
    return sum(float(ln.split()[-1]) for ln in c.get("/metrics").text.splitlines() if ln.startswith(prefix))


def _shadow_total(c, counter: str) -> float:
    return _total(c, f"trilho_serving_shadow_{counter}_total{{")


def test_a_kill_switch_never_waits_for_a_shadow_version_to_warm_up(
    registered, tmp_path, start_gateway, monkeypatch
):
    store, root = registered
    slow = _register_slow_shadow(store, root, tmp_path)
    rt.set_deployment(store, Deployment("scorer", routes=(Route("1"),), fallback_response={"y": 9.0}))
    gw = start_gateway(store, root, shadow_isolation="thread")
    monkeypatch.setenv("TRILHO_TEST_SHADOW_SLEEP_S", "10")  # the shadow's warm-up: a 10-s model load
    with httpx.Client(base_url=gw.url) as c:
        rt.set_deployment(
            store,
            Deployment(
                "scorer",
                routes=(Route("1"), Route(slow, "shadow", 0.0)),
                shadow_fraction=1.0,
                fallback_response={"y": 9.0},
            ),
        )
        assert _wait(lambda: gw.gateway.generation == rt.current_generation(store), timeout=3.0)
        assert _predict(c).status_code == 200  # live traffic goes on while the shadow warms up
        rt.set_kill(store, "scorer", "all")
        assert _wait(lambda: _predict(c).json().get("fallback", {}).get("reason") == "killed", timeout=3.0)
        monkeypatch.setenv("TRILHO_TEST_SHADOW_SLEEP_S", "0")
        rt.set_kill(store, "scorer", "off")
        assert _wait(lambda: _predict(c).headers["x-trilho-model-version"] == "1", timeout=3.0)
        # once warmed (the 10-s warm-up ends), the shadow joins the table and its copies are compared
        assert _wait(
            lambda: _predict(c).status_code == 200 and _shadow_total(c, "compared") > 0,
            timeout=30.0,
            step=0.2,
        )
    assert gw.gateway.ready


def test_a_shadow_whose_warm_up_fails_is_reported_and_tried_again_at_the_next_table(
    registered, tmp_path, start_gateway, monkeypatch
):
    store, root = registered
    broken = _register_slow_shadow(store, root, tmp_path)
    monkeypatch.setenv("TRILHO_TEST_SHADOW_BROKEN", "1")
    shadowed = Deployment("scorer", routes=(Route("1"), Route(broken, "shadow", 0.0)), shadow_fraction=1.0)
    rt.set_deployment(store, shadowed)
    gw = start_gateway(store, root, shadow_isolation="thread")
    with httpx.Client(base_url=gw.url) as c:
        status = c.get("/readyz")
        assert status.status_code == 200  # the live version is ready; the shadow's failure is reported
        assert "broken shadow" in status.json()["errors"][f"scorer@{broken}"]
        assert _predict(c).json() == {"predictions": [{"y": 4.0}]}
        monkeypatch.delenv("TRILHO_TEST_SHADOW_BROKEN")  # mended
        rt.set_deployment(store, shadowed)  # the next table
        assert _wait(lambda: f"scorer@{broken}" not in c.get("/readyz").json()["errors"], timeout=10.0)
        assert _wait(
            lambda: _predict(c).status_code == 200 and _shadow_total(c, "compared") > 0,
            timeout=10.0,
            step=0.2,
        )


def test_a_model_keeps_its_deployment_until_a_new_canary_is_warm_and_other_changes_never_wait(
    registered, tmp_path, start_gateway, monkeypatch
):
    from tests.serving.conftest import register_versions

    from trilho.registry import Registry
    from trilho.rollout.controller import gateway_generations

    store, root = registered
    (tmp_path / "other").mkdir()
    register_versions(Registry(store, root), tmp_path / "other", name="other")
    slow = _register_slow_shadow(store, root, tmp_path)
    rt.set_deployment(store, Deployment("scorer", routes=(Route("1"),)))
    rt.set_deployment(store, Deployment("other", routes=(Route("1"),), fallback_response={"y": 9.0}))
    gw = start_gateway(store, root)
    before = gw.gateway.generation
    monkeypatch.setenv("TRILHO_TEST_LIVE_SLEEP_S", "8")  # the canary's warm-up: an 8-s model load
    with httpx.Client(base_url=gw.url) as c:
        rt.set_routes(store, "scorer", (Route("1", weight=0.5), Route(slow, "canary", 0.5)))
        assert _wait(lambda: f"scorer@{slow}" in c.get("/readyz").json()["preparing"], timeout=3.0)
        units = [{"x-trilho-unit": str(i)} for i in range(40)]
        # meanwhile scorer's previous deployment serves everyone, and the gateway does not claim the new table
        assert {_predict(c, **u).headers["x-trilho-model-version"] for u in units} == {"1"}
        assert gw.gateway.generation == before and c.get("/readyz").status_code == 200
        # another model's kill switch is in effect at once, and the controller can tell
        rt.set_kill(store, "other", "all")
        killed = c.post("/v1/models/other:predict", json={"instances": [X]})
        assert _wait(
            lambda: (
                c.post("/v1/models/other:predict", json={"instances": [X]}).json().get("fallback")
                == {"reason": "killed", "source": "static"}
            ),
            timeout=3.0,
        ), killed.text
        now = rt.current_generation(store)
        assert gateway_generations([gw.url], c, "other") == [now]
        assert gateway_generations([gw.url], c) == [before]  # scorer's change is not in effect yet
        monkeypatch.setenv("TRILHO_TEST_LIVE_SLEEP_S", "0")
        # once the canary's warm-up ends, scorer switches over and the whole table is in effect
        assert _wait(lambda: gw.gateway.generation == now, timeout=30.0)
        assert {_predict(c, **u).headers["x-trilho-model-version"] for u in units} == {"1", slow}


def test_versions_the_table_no_longer_names_are_unloaded_and_their_errors_forgotten(
    registered, start_gateway
):
    store, root = registered
    rt.set_deployment(
        store,
        Deployment(
            "scorer", routes=(Route("1", weight=0.5), Route("2", "canary", 0.5), Route("99", "shadow"))
        ),
    )
    gw = start_gateway(store, root)
    units = [{"x-trilho-unit": str(i)} for i in range(40)]
    with httpx.Client(base_url=gw.url) as c:
        assert "scorer@99" in c.get("/readyz").json()["errors"]  # no such version in the registry
        assert {_predict(c, **u).headers["x-trilho-model-version"] for u in units} == {"1", "2"}
        rt.set_routes(store, "scorer", (Route("1"),))  # the canary rolled back, the shadow gone
        assert _wait(lambda: gw.gateway.generation == rt.current_generation(store))
        assert ("scorer", "2") not in gw.gateway._loaded and ("scorer", "2") not in gw.gateway._runtimes
        assert c.get("/readyz").json()["errors"] == {}
        rt.set_routes(store, "scorer", (Route("1", weight=0.5), Route("2", "canary", 0.5)))  # named again
        assert _wait(lambda: gw.gateway.generation == rt.current_generation(store), timeout=10.0)
        assert {_predict(c, **u).headers["x-trilho-model-version"] for u in units} == {"1", "2"}


def test_store_refusing_window_writes_shows_in_store_up_and_loses_nothing(registered, start_gateway):
    from sqlalchemy import text

    store, root = registered
    rt.set_deployment(store, Deployment("scorer", routes=(Route("1"),)))
    with store.transaction() as conn:  # the store still answers reads but refuses every window write
        conn.execute(
            text(
                "CREATE TRIGGER immutable BEFORE INSERT ON serving_windows "
                "BEGIN SELECT RAISE(ABORT, 'the store is read-only'); END"
            )
        )
    gw = start_gateway(store, root)
    with httpx.Client(base_url=gw.url) as c:
        for _ in range(7):
            assert _predict(c).status_code == 200
        assert _wait(lambda: "trilho_serving_store_up 0.0" in c.get("/metrics").text)
        assert "trilho_serving_window_write_failures_total" in c.get("/metrics").text
        assert c.get("/readyz").json()["store"] == "refusing writes"
        with store.transaction() as conn:
            conn.execute(text("DROP TRIGGER immutable"))
        assert _wait(lambda: "trilho_serving_store_up 1.0" in c.get("/metrics").text)
        assert c.get("/readyz").json()["store"] == "ok"
    assert sum(w["requests"] for w in rt.read_windows(store, "scorer")) == 7  # retried, none lost


RECS = """
def predict(records):
    out = []
    for r in records:
        if r["user_id"] < 0:
            raise KeyError(f"unknown user {r['user_id']}")
        out.append({"items": list(range(r["user_id"], r["user_id"] + r["k"]))})  # k=None raises here
    return out
"""
RECS_CONTRACT = {
    "apiVersion": "v3.0.2", "kind": "DataContract", "id": "recs-io", "name": "recs", "version": "1.0.0",
    "schema": [
        {"name": "request", "x-trilho": {"role": "input", "examples": [{"user_id": 1, "k": 2}]},
         "properties": [
             {"name": "user_id", "logicalType": "integer", "physicalType": "int64", "required": True},
             {"name": "k", "logicalType": "integer", "physicalType": "int64", "description": "default 20",
              "logicalTypeOptions": {"minimum": 1}, "x-trilho": {"default": 20}}]},
        {"name": "response", "x-trilho": {"role": "output"},
         "properties": [{"name": "items", "logicalType": "array", "required": True,
                         "items": {"logicalType": "integer", "physicalType": "int64"}}]},
    ],
}  # fmt: skip


def test_recs_over_sockets_default_filled_and_a_poisoned_record_fails_only_its_request(
    sqlite_store, tmp_path, start_gateway
):
    """Issue 17's recs run: 5 requests without k got 503 model_error and opened the breaker; with one bad
    request among 30 concurrent good ones, 31 of 90 good requests failed."""
    import asyncio

    import yaml

    from trilho.registry import Registry

    (tmp_path / "recs").mkdir()
    (tmp_path / "recs" / "recs.py").write_text(RECS)
    (tmp_path / "recs.yaml").write_text(yaml.safe_dump(RECS_CONTRACT, sort_keys=False))
    root = tmp_path / "artifacts"
    Registry(sqlite_store, root).register(
        "recs", tmp_path / "recs" / "recs.py", "python", tmp_path / "recs.yaml", entry="recs:predict"
    )
    rt.set_deployment(
        sqlite_store, Deployment("recs", routes=(Route("1"),), breaker=BreakerConfig(failures=3))
    )
    gw = start_gateway(sqlite_store, root)
    path = "/v1/models/recs:predict"
    with httpx.Client(base_url=gw.url) as c:
        for _ in range(5):
            r = c.post(path, json={"instances": [{"user_id": 0}]})
            assert r.status_code == 200 and r.json()["predictions"] == [{"items": list(range(20))}], r.text

    async def rounds(n: int) -> tuple[int, list]:
        bad = []
        good_failed = 0
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as ac:
            for round_ in range(n):
                users = [round_ + i for i in range(30)] + [-1]
                rs = await asyncio.gather(
                    *(ac.post(path, json={"instances": [{"user_id": u, "k": 3}]}) for u in users)
                )
                good_failed += sum(r.status_code != 200 for r in rs[:-1])
                bad.append((rs[-1].status_code, rs[-1].json().get("record"), rs[-1].json().get("reason")))
        return good_failed, bad

    good_failed, bad = asyncio.run(rounds(20))
    assert good_failed == 0
    assert set(bad) == {(422, 0, "model_error")}
    assert gw.gateway.status()["models"]["recs"]["versions"]["1"]["breaker"] == "closed"
