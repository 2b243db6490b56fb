"""The routing-table repository on SQLite and PostgreSQL: generations, atomic writes, kill flag, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trilho.errors import InputError
from trilho.store import routing as rt
from trilho.store.routing import BatchingConfig, Deployment, Route


def _dep(**kw) -> Deployment:
    base = dict(model="iris", routes=(Route("1"),), unit_field="user_id", deadline_ms=50.0)
    base.update(kw)
    return Deployment(**base)


def test_generation_is_monotonic_and_writes_round_trip(store):
    assert rt.current_generation(store) == 0
    d = rt.set_deployment(store, _dep(batching=BatchingConfig(max_batch_size=8)), actor="alice")
    assert d.generation == 1 == rt.current_generation(store)
    got = rt.get_deployment(store, "iris")
    assert got == d and got.batching.max_batch_size == 8 and got.unit_field == "user_id"
    d2 = rt.set_weights(store, "iris", {"1": 0.9, "2": 0.1})
    assert d2.generation == 2
    assert [(r.version, r.role, r.weight) for r in d2.routes] == [("1", "stable", 0.9), ("2", "canary", 0.1)]
    d3 = rt.set_kill(store, "iris", "candidates")
    assert d3.kill == "candidates" and d3.routes == d2.routes and rt.current_generation(store) == 3
    table = rt.load_table(store)
    assert table.generation == 3 and table.deployments["iris"].kill == "candidates"
    assert rt.delete_deployment(store, "iris") == 4
    assert rt.get_deployment(store, "iris") is None and rt.list_deployments(store) == []


def test_bad_writes_change_nothing(store):
    rt.set_deployment(store, _dep())
    gen = rt.current_generation(store)
    with pytest.raises(InputError) as err:
        rt.set_weights(store, "iris", {"1": 0.9, "2": 0.3})
    assert err.value.fields["field"] == "weight"
    with pytest.raises(InputError):
        rt.set_kill(store, "iris", "everything")
    with pytest.raises(InputError):
        rt.set_weights(store, "nope", {"1": 1.0})
    assert rt.current_generation(store) == gen
    assert rt.get_deployment(store, "iris").routes == (Route("1"),)


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"routes": ()}, "routes"),
        ({"routes": (Route("1", "canary"),)}, "routes"),
        ({"routes": (Route("1"), Route("1", "canary", 0.0))}, "routes"),
        ({"routes": (Route("1", "boss"),)}, "role"),
        ({"shadow_fraction": 1.5}, "shadow_fraction"),
        ({"deadline_ms": 0}, "deadline_ms"),
        ({"model": "a@1"}, "model"),
        ({"batching": rt.BatchingConfig(max_concurrency=0)}, "batching"),
    ],
)
def test_invalid_deployments_name_the_field(kw, field):
    with pytest.raises(InputError) as err:
        _dep(**kw)
    assert err.value.fields["field"] == field


def test_shadow_routes_survive_weight_changes(store):
    rt.set_deployment(store, _dep(routes=(Route("1"), Route("3", "shadow", 0.0)), shadow_fraction=0.5))
    d = rt.set_weights(store, "iris", {"1": 0.5, "2": 0.5})
    assert d.shadows == (Route("3", "shadow", 0.0),) and d.shadow_fraction == 0.5
    d = rt.set_routes(store, "iris", (Route("2"),), shadow_fraction=0.0)
    assert d.routes == (Route("2"),) and d.shadow_fraction == 0.0


def test_windows_are_appended_and_read_back(store):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    row = dict(
        gateway="g1",
        model="iris",
        version="1",
        variant="stable",
        window_start=t0,
        window_end=t0 + timedelta(seconds=5),
        requests=10,
        errors=1,
        fallbacks=0,
        shed=0,
        latency_sum_s=0.01,
        latency_histogram={"bounds": [0.001], "counts": [9, 1]},
    )
    shadow = dict(
        gateway="g1",
        model="iris",
        primary_version="1",
        shadow_version="2",
        comparator="exact",
        window_start=t0,
        window_end=t0 + timedelta(seconds=5),
        compared=4,
        agreed=3,
        score_sum=3.0,
        shadow_errors=0,
        dropped=1,
        shadow_latency_sum_s=0.02,
        shadow_latency_histogram={"bounds": [0.001], "counts": [2, 2]},
    )
    rt.write_windows(store, [row], [shadow])
    got = rt.read_windows(store, "iris")
    assert len(got) == 1 and got[0]["requests"] == 10 and got[0]["latency_histogram"]["counts"] == [9, 1]
    assert rt.read_windows(store, "iris", since=t0 + timedelta(seconds=6)) == []
    sh = rt.read_shadow_windows(store, "iris")
    assert sh[0]["agreed"] == 3 and sh[0]["dropped"] == 1


def test_deployment_document_round_trip():
    d = _dep(
        routes=(Route("1", weight=0.75), Route("2", "canary", 0.25), Route("3", "shadow", 0)),
        fallback_response={"label": "unknown"},
        comparators=("label:label",),
    )
    assert Deployment.from_dict(d.to_dict()) == d
    with pytest.raises(InputError):
        Deployment.from_dict({"routes": []})


def test_writes_inside_a_callers_transaction(store):
    rt.set_deployment(store, _dep())
    with store.transaction() as conn:
        gen = rt.bump_generation(conn)
        current = rt.read_deployment(conn, "iris")
        written = rt.write_deployment(
            conn, Deployment("iris", routes=(Route("2"),)), gen, actor="rollout:test"
        )
    assert current.routes == (Route("1"),) and written.generation == gen == rt.current_generation(store)
    assert rt.get_deployment(store, "iris").routes == (Route("2"),)
    with pytest.raises(RuntimeError), store.transaction() as conn:  # the caller's failure undoes everything
        rt.write_deployment(conn, Deployment("iris", routes=(Route("3"),)), rt.bump_generation(conn))
        raise RuntimeError("abort")
    assert rt.get_deployment(store, "iris").routes == (Route("2"),) and rt.current_generation(store) == gen
