"""The exposure log: the gateway's routing decisions as Parquet parts, read back with DuckDB; a bounded buffer
that drops instead of blocking; closed parts survive a kill -9 of the writing process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trilho.serving.assignment import Assigner
from trilho.serving.exposures import ExposureLog
from trilho.store import routing as rt
from trilho.store.routing import Deployment, Route

X = {"x1": 1.0, "x2": 2.0}


def _rows(root: Path, where: str = "") -> list[tuple]:
    glob = str(root / "**" / "part-*.parquet")
    sql = (
        "SELECT model, day, unit, version, variant, generation, ts, request_id "
        f"FROM read_parquet('{glob}', hive_partitioning = true) {where} ORDER BY ts"
    )
    return duckdb.sql(sql).fetchall()


def test_gateway_logs_every_routed_request_over_a_socket(registered, start_gateway, tmp_path):
    store, root = registered
    dep = Deployment("scorer", routes=(Route("1", weight=0.7), Route("2", "canary", 0.3)))
    rt.set_deployment(store, dep)
    folder = tmp_path / "exposures"
    gw = start_gateway(store, root, exposures_dir=str(folder))
    units = [f"user-{i}" for i in range(60)]
    with httpx.Client(base_url=gw.url) as c:
        served = {}
        for u in units:
            r = c.post(
                "/v1/models/scorer:predict",
                json={"instances": [X]},
                headers={"X-Trilho-Unit": u, "X-Request-Id": f"req-{u}"},
            )
            assert r.status_code == 200
            served[u] = r.headers["x-trilho-model-version"]
        anonymous = c.post(
            "/v1/models/scorer:predict", json={"instances": [X]}, headers={"X-Request-Id": "anon"}
        )
        assert anonymous.status_code == 200
    generation = gw.gateway.models["scorer"].generation
    gw.stop()  # closes the last part

    rows = _rows(folder)
    assert len(rows) == len(units) + 1
    assigner = Assigner.for_deployment(dep)
    by_unit = {r[2]: r for r in rows if r[2] is not None}
    assert set(by_unit) == set(units)
    for u, (model, day, _, version, variant, gen, ts, rid) in by_unit.items():
        route = assigner.route_for(u)
        assert (model, version, variant, gen, rid) == (
            "scorer",
            route.version,
            route.role,
            generation,
            f"req-{u}",
        )
        assert version == served[u]  # the log says what the client was answered with
        assert str(day) == ts.strftime("%Y-%m-%d")
    assert {r[4] for r in rows} == {"stable", "canary"}
    (anon,) = [r for r in rows if r[2] is None]
    assert anon[7] == "anon"
    assert not list(folder.rglob(".*.tmp"))


def test_gateway_from_settings_logs_under_the_home_unless_turned_off(tmp_path):
    from dataclasses import replace

    from trilho.config import resolve_settings
    from trilho.serving.server import gateway_from_settings
    from trilho.serving.settings import GatewaySettings

    settings = resolve_settings(tmp_path / "home")
    on = gateway_from_settings(settings, GatewaySettings())
    assert on.exposures is not None and on.exposures.root == tmp_path / "home" / "exposures"
    off = gateway_from_settings(settings, replace(GatewaySettings(), exposures=False))
    assert off.exposures is None
    for gw in (on, off):
        gw.executor.shutdown()
        gw.store.dispose()


def test_full_buffer_drops_and_counts_never_blocks(tmp_path):
    log = ExposureLog(tmp_path, capacity=3, rotate_rows=10**6, rotate_s=10**6)
    for i in range(5):
        log.record(f"u{i}", "m", "1", "stable", 7, f"r{i}")
    assert log.dropped == 2
    assert log.flush() == 0  # not due yet: the rows wait in the open part
    log.record("u9", "m", "1", "stable", 7, "r9")  # room again once drained
    assert log.flush(force=True) == 4 and log.parts == 1
    assert [r[2] for r in _rows(tmp_path)] == ["u0", "u1", "u2", "u9"]


def test_parts_rotate_by_rows_and_split_by_model(tmp_path):
    log = ExposureLog(tmp_path, rotate_rows=4, rotate_s=10**6)
    for i in range(6):
        log.record(f"u{i}", "a" if i % 2 else "b/c", "1", "stable", 1, f"r{i}")
    assert log.flush() == 6  # 6 >= 4 rows: a part per model closes
    assert log.parts == 2
    folders = sorted(p.parent.name for p in tmp_path.rglob("part-*.parquet"))
    assert folders == ["model=a", "model=b%2Fc"]  # a model name is one folder, whatever it contains
    assert sorted({r[0] for r in _rows(tmp_path)}) == ["a", "b/c"]  # DuckDB decodes the folder name
    log.close()
    assert log.parts == 2  # nothing left to write


WRITER = textwrap.dedent(
    """
    import sys, time
    from trilho.serving.exposures import ExposureLog

    log = ExposureLog(sys.argv[1], writer_id="w", rotate_rows=500, flush_interval_s=0.005)
    log.start()
    i = 0
    while True:
        for _ in range(100):
            log.record(f"u{i}", "m", "1", "stable", 1, f"r{i}")
            i += 1
        print(i, log.parts, flush=True)
        time.sleep(0.001)
    """
)


@pytest.mark.slow  # a few seconds: a child process
def test_kill_9_loses_only_the_open_buffer(tmp_path):
    folder = tmp_path / "exposures"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE, text=True, env=env
    )
    recorded = 0
    try:
        for line in proc.stdout:
            recorded, parts = map(int, line.split())
            if parts >= 5:
                break
        proc.send_signal(signal.SIGKILL)  # most likely while a part is being written
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    parts = sorted(folder.rglob("part-*.parquet"))
    assert len(parts) >= 5
    for part in parts:  # every visible part is whole
        ((n,),) = duckdb.sql(f"SELECT COUNT(*) FROM read_parquet('{part}')").fetchall()
        assert n > 0
    numbers = sorted(int(r[2][1:]) for r in _rows(folder))  # (times tie within a µs: sort by number)
    # parts hold a prefix of what was recorded, never a row twice or out of thin air
    assert numbers == list(range(len(numbers)))
    units = numbers
    assert len(units) >= 5 * 500 and recorded >= 5 * 500


def _send(url: str, units: list[str]) -> dict[str, str]:
    with httpx.Client(base_url=url) as c:
        return {
            u: c.post(
                "/v1/models/scorer:predict", json={"instances": [X]}, headers={"X-Trilho-Unit": u}
            ).headers["x-trilho-model-version"]
            for u in units
        }


@pytest.mark.slow  # a few seconds: two gateways
def test_ramp_and_restart_move_units_only_into_the_canary_and_measure_reads_the_log(
    registered, start_gateway, tmp_path
):
    """A weight ramp moves units stable → canary only, a restart moves none; `measure rollout` reads the
    gateway's own log: each unit keeps its first version, the moved ones are counted, SRM uses the units
    first exposed under the newest generation."""
    from trilho.measure.exposure import analyze_rollout
    from trilho.measure.metrics import mean
    from trilho.measure.sql import DuckDBSource

    store, root = registered
    rt.set_deployment(store, Deployment("scorer", routes=(Route("1", weight=0.9), Route("2", "canary", 0.1))))
    folder = tmp_path / "exposures"
    old = [f"user-{i}" for i in range(150)]
    gw = start_gateway(store, root, exposures_dir=str(folder))
    before = _send(gw.url, old)
    rt.set_weights(store, "scorer", {"1": 0.6, "2": 0.4})
    until = time.monotonic() + 5
    while gw.gateway.generation != rt.current_generation(store) and time.monotonic() < until:
        time.sleep(0.02)
    after = _send(gw.url, old)
    gw.stop()
    again = start_gateway(store, root, exposures_dir=str(folder))  # a restart: same folder, new parts
    new = [f"new-{i}" for i in range(300)]
    restarted = _send(again.url, old + new)
    again.stop()

    moved = {u for u in old if before[u] != after[u]}
    assert moved and all((before[u], after[u]) == ("1", "2") for u in moved)  # never canary → stable
    assert all(restarted[u] == after[u] for u in old)
    rows = _rows(folder)
    assert len(rows) == 2 * len(old) + len(old) + len(new)

    events = tmp_path / "events.parquet"
    first = {}
    for _, _, unit, _, _, _, ts, _ in rows:
        first.setdefault(unit, ts)
    units = sorted(first)
    pq.write_table(
        pa.table(
            {
                "unit": units * 2,
                "ts": pa.array(
                    [first[u] - timedelta(days=1) for u in units]
                    + [first[u] + timedelta(hours=1) for u in units],
                    pa.timestamp("us", tz="UTC"),
                ),
                "orders": [float(i % 3) for i in range(len(units))]
                + [float(i % 5) for i in range(len(units))],
            }
        ),
        events,
    )
    res = analyze_rollout(
        DuckDBSource(events), folder, "scorer", [mean("orders", "orders_pre")], weights={"1": 0.6, "2": 0.4}
    )
    s = res.exposure
    assert (s.units, s.multi_version_units, s.pre_exposure_events) == (450, len(moved), 450)
    assert s.srm_generation == rt.current_generation(store)
    assert res.ab.srm is not None and sum(res.ab.srm.counts.values()) == len(new)
    assert res.ab.arms == {
        "1": sum(1 for u in old if before[u] == "1") + sum(1 for u in new if restarted[u] == "1"),
        "2": sum(1 for u in old if before[u] == "2") + sum(1 for u in new if restarted[u] == "2"),
    }
