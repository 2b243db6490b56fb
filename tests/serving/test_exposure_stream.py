"""The exposure log scaled out over a real Redis stream: gateways send, a consumer writes the same Parquet
layout; entries read but not acknowledged before a crash are written on the next drain; a full stream drops
and counts instead of blocking."""

from __future__ import annotations

import uuid

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.serving.test_exposures import _rows

from trilho.serving.exposure_stream import RedisStreamSink, StreamConsumer, decode, encode
from trilho.serving.exposures import ExposureLog
from trilho.store import routing as rt
from trilho.store.routing import Deployment, Route

URL = "redis://127.0.0.1:6379/0"
X = {"x1": 1.0, "x2": 2.0}


@pytest.fixture
def stream():
    import redis

    r = redis.Redis.from_url(URL, socket_connect_timeout=1)
    try:
        r.ping()
    except redis.RedisError:
        pytest.skip("Redis is not running at 127.0.0.1:6379")
    name = f"trilho:test:exposures:{uuid.uuid4().hex}"
    yield name
    r.delete(name)


text = st.text(max_size=12)


@settings(deadline=None)  # the first example imports pyarrow
@given(
    st.lists(
        st.tuples(st.none() | text, text, text, text, st.integers(0, 2**40), st.integers(0, 2**62), text),
        max_size=20,
    )
)
def test_encode_decode_round_trip(rows):
    assert decode(encode(rows)) == rows


@pytest.mark.redis
def test_two_gateways_one_stream_one_parquet_log(stream, tmp_path):
    logs = [ExposureLog(None, sink=RedisStreamSink(URL, stream=stream)) for _ in range(2)]
    for g, log in enumerate(logs):
        for i in range(50):
            log.record(f"u{g}-{i}", "m" if i % 2 else "n", "1", "stable", 3, f"r{g}-{i}")
        assert log.flush() == 50  # a sink takes every flush
    folder = tmp_path / "exposures"
    consumer = StreamConsumer(URL, folder, stream=stream)
    assert consumer.drain() == 100
    rows = _rows(folder)
    assert sorted(r[2] for r in rows) == sorted(f"u{g}-{i}" for g in range(2) for i in range(50))
    assert {r[0] for r in rows} == {"m", "n"} and {r[5] for r in rows} == {3}
    assert consumer.drain() == 0 and consumer._r.xlen(stream) == 0  # acknowledged and deleted


@pytest.mark.redis
def test_entries_read_but_not_acknowledged_are_written_after_a_crash(stream, tmp_path):
    log = ExposureLog(None, sink=RedisStreamSink(URL, stream=stream))
    log.record("a", "m", "1", "stable", 1, "r1")
    log.flush()
    first = StreamConsumer(URL, tmp_path / "x", stream=stream, consumer="c")
    first._r.xreadgroup("parquet", "c", {stream: ">"}, count=10)  # read, then "crash" before the part
    again = StreamConsumer(URL, tmp_path / "exposures", stream=stream, consumer="c")
    assert again.drain() == 1
    assert [r[2] for r in _rows(tmp_path / "exposures")] == ["a"]


@pytest.mark.redis
def test_a_full_stream_drops_and_counts(stream, tmp_path):
    log = ExposureLog(None, sink=RedisStreamSink(URL, stream=stream, maxlen=1))
    log.record("a", "m", "1", "stable", 1, "r1")
    log.flush()
    log.record("b", "m", "1", "stable", 1, "r2")
    with pytest.raises(Exception, match="unconsumed"):
        log.flush()
    assert log.dropped == 1 and log.written == 1


@pytest.mark.redis
def test_gateway_sends_its_exposures_to_the_stream(registered, start_gateway, stream, tmp_path):
    store, root = registered
    rt.set_deployment(store, Deployment("scorer", routes=(Route("1", weight=0.5), Route("2", "canary", 0.5))))
    gw = start_gateway(store, root, exposures_redis_url=URL, exposures_stream=stream)
    with httpx.Client(base_url=gw.url) as c:
        for i in range(20):
            c.post("/v1/models/scorer:predict", json={"instances": [X]}, headers={"X-Trilho-Unit": f"u{i}"})
    gw.stop()  # the last flush goes to the stream
    folder = tmp_path / "exposures"
    assert StreamConsumer(URL, folder, stream=stream).drain() == 20
    assert sorted(r[2] for r in _rows(folder)) == sorted(f"u{i}" for i in range(20))
    assert {r[3] for r in _rows(folder)} == {"1", "2"}


@pytest.mark.redis
def test_cli_consume_once_writes_the_homes_log(stream, tmp_path):
    import json

    from typer.testing import CliRunner

    from trilho.cli.main import app

    log = ExposureLog(None, sink=RedisStreamSink(URL, stream=stream))
    for i in range(7):
        log.record(f"u{i}", "m", "1", "stable", 1, f"r{i}")
    log.flush()
    home = tmp_path / "home"
    args = ["--home", str(home), "exposures", "consume", "--redis-url", URL, "--stream", stream, "--once"]
    out = CliRunner().invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["rows"] == 7
    assert len(_rows(home / "exposures")) == 7
