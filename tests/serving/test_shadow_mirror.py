"""The shadow mirror's parts: frames survive any split of the byte stream, copies beyond the bound are refused
(and nothing else changes), the child pins itself to the CPUs named for it, and a bad CPU list is a clear
configuration error on the API and the CLI."""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.serving.test_shadow_isolation import _compared, _register, _wait
from typer.testing import CliRunner

from trilho.cli.main import app
from trilho.errors import ConfigError
from trilho.serving import GatewaySettings
from trilho.serving.isolation import InProcessShadows, RegistrySpec, ShadowMirror, decode_frames, encode_frame
from trilho.serving.models import as_loaded
from trilho.serving.settings import format_cpus, parse_cpus

messages = st.lists(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=12,
    ),
    max_size=8,
)


@given(messages, st.lists(st.integers(1, 64), min_size=1, max_size=30))
def test_frames_decode_to_the_messages_sent_however_the_stream_is_cut(sent, cuts):
    stream = b"".join(encode_frame(m) for m in sent)
    buffer, received, pos, i = bytearray(), [], 0, 0
    while pos < len(stream):  # the pipe hands over arbitrary pieces
        size = cuts[i % len(cuts)]
        buffer += stream[pos : pos + size]
        pos, i = pos + size, i + 1
        received += decode_frames(buffer)
    assert received == sent
    assert buffer == bytearray()  # nothing half-read is left


def test_a_partial_frame_stays_in_the_buffer():
    frame = encode_frame({"a": 1})
    buffer = bytearray(frame[:-1])
    assert decode_frames(buffer) == [] and bytes(buffer) == frame[:-1]
    buffer += frame[-1:]
    assert decode_frames(buffer) == [{"a": 1}] and buffer == bytearray()


def test_copies_beyond_the_bound_are_refused_and_nothing_else_changes():
    built: list[list[int]] = []

    async def scenario() -> None:
        mirror = ShadowMirror(
            RegistrySpec("sqlite://", None, "."),
            lambda copies: built.append(copies) or [],  # no steps: nothing reaches a child
            lambda context, outcome: None,
            InProcessShadows(lambda model, version: as_loaded(model, version, list)),
            max_inflight=3,
            linger_s=0.01,
        )
        assert [mirror.put(i) for i in range(5)] == [True, True, True, False, False]
        await asyncio.sleep(0.05)  # the linger passes: the queued copies are handed to build, then released
        assert built == [[0, 1, 2]]
        assert mirror.put(5) and mirror.pid is None  # room again; no child started for no steps
        mirror.close()

    asyncio.run(scenario())


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs CPU affinity (Linux) and two CPUs to tell a pinned child from an unpinned one",
)
def test_the_shadow_child_runs_on_the_cpus_named_for_it(sqlite_store, tmp_path, start_gateway):
    import httpx

    cpu = max(os.sched_getaffinity(0))  # an unpinned child would inherit every CPU of this process
    root, _log = _register(sqlite_store, tmp_path)
    gw = start_gateway(sqlite_store, root, shadow_isolation="auto", shadow_cpus=(cpu,))
    assert gw.gateway.shadow_in_child  # naming CPUs for the child asks for one
    compared = _compared(gw.url)
    r = httpx.post(f"{gw.url}/v1/models/scorer:predict", json={"instances": [{"x1": 1.0, "x2": 1.0}]})
    assert r.status_code == 200
    assert _wait(lambda: _compared(gw.url) >= compared + 1)
    assert os.sched_getaffinity(gw.gateway.shadow_mirror.pid) == {cpu}
    assert gw.gateway._shadow_pump._thread is None  # the event loop feeds the child: no shadow thread


@pytest.mark.parametrize(
    ("text", "cpus"), [(None, ()), ("", ()), ("3", (3,)), ("2,3", (2, 3)), ("1-3,6", (1, 2, 3, 6))]
)
def test_cpu_lists_parse(text, cpus):
    assert parse_cpus(text) == cpus


@given(st.lists(st.integers(0, 512), max_size=10))
def test_a_formatted_cpu_list_parses_back(cpus):
    assert parse_cpus(format_cpus(tuple(cpus))) == tuple(sorted(set(cpus)))


@pytest.mark.parametrize("text", ["x", "-1", "3-1", "1,,a", "1.5"])
def test_a_bad_cpu_list_names_the_field(text):
    with pytest.raises(ConfigError, match="shadow_cpus") as err:
        parse_cpus(text)
    assert err.value.fields["field"] == "shadow_cpus"


def test_cpus_for_a_shadow_thread_are_a_config_error():
    with pytest.raises(ConfigError, match="shadow_isolation is 'thread'"):
        GatewaySettings(shadow_isolation="thread", shadow_cpus=(1,))
    with pytest.raises(ConfigError, match="CPU numbers"):
        GatewaySettings(shadow_cpus=(-1,))
    with pytest.raises(ConfigError, match="this machine has CPUs"):
        GatewaySettings(shadow_cpus=(os.cpu_count() or 1,))


def test_the_cli_refuses_a_bad_cpu_list_before_serving(tmp_path, monkeypatch):
    monkeypatch.setenv("TRILHO_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["serve", "--port", "0", "--shadow-cpus", "two"])
    assert result.exit_code != 0
    assert "shadow_cpus" in result.output and "2,3" in result.output
    assert not (tmp_path / "home").exists()  # nothing was set up


def test_a_starting_child_is_not_cut_off_by_the_answer_timeout(sqlite_store, tmp_path, start_gateway):
    import httpx

    root, _log = _register(sqlite_store, tmp_path)
    # a child takes longer than 0.5 s to start (a fresh interpreter, trilho, the model: ~0.8 s here): the
    # answer clock starts when it is ready, so neither the warm-up nor the first steps look like a hang
    gw = start_gateway(sqlite_store, root, shadow_isolation="process", shadow_timeout_s=0.5)
    first = gw.gateway.shadow_mirror.pid
    assert first is not None and gw.gateway.ready
    compared = _compared(gw.url)
    for i in range(3):
        body = {"instances": [{"x1": float(i), "x2": 1.0}]}
        assert httpx.post(f"{gw.url}/v1/models/scorer:predict", json=body).status_code == 200
    assert _wait(lambda: _compared(gw.url) >= compared + 3)
    assert gw.gateway.shadow_mirror.pid == first  # never replaced
