"""Shadow versions run in a child process at background CPU priority by default (no GIL and no CPU time taken
from live requests), with the shadow flag set; a child that dies or hangs is replaced and live traffic never
notices; "thread" keeps them in-process. Live model threads yield to the event loop (SCHED_BATCH)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import httpx
import pytest
import yaml
from tests.serving.conftest import CONTRACT

from trilho.errors import ConfigError
from trilho.registry import Registry
from trilho.serving import GatewaySettings
from trilho.store import routing as rt
from trilho.store.routing import Deployment, Route

PROBE = textwrap.dedent("""
    import os
    import time
    from trilho.serving.context import is_shadow_call

    LOG = {log!r}

    def predict(records):
        if any(r['x1'] == -999 for r in records) and is_shadow_call():
            os._exit(3)  # a crash in native code, as far as the gateway can tell
        if any(r['x1'] == -777 for r in records) and is_shadow_call():
            time.sleep(3600)  # a hung shadow model
        if any(r['x1'] == -555 for r in records) and is_shadow_call():
            spent = time.process_time()
            while time.process_time() - spent < 0.3:  # a shadow step that needs CPU time to finish
                pass
        with open(LOG, 'a') as f:
            f.write(f"{{os.getpid()}} {{is_shadow_call()}}\\n")
        return [{{'y': 2.0 * r['x1'] + r['x2']}} for r in records]
""")


def _register(store, tmp_path):
    contract = tmp_path / "contract.yaml"
    contract.write_text(yaml.safe_dump(CONTRACT, sort_keys=False))
    reg = Registry(store, tmp_path / "artifacts")
    log = tmp_path / "calls.log"
    for module in ("stable_probe", "shadow_probe"):
        folder = tmp_path / "src" / module
        folder.mkdir(parents=True)
        (folder / f"{module}.py").write_text(PROBE.format(log=str(log)))
        reg.register("scorer", folder / f"{module}.py", "python", contract, entry=f"{module}:predict")
    rt.set_deployment(
        store, Deployment("scorer", routes=(Route("1"), Route("2", "shadow", 0.0)), shadow_fraction=1.0)
    )
    return tmp_path / "artifacts", log


def _calls(log):
    if not log.exists():
        return []
    return [tuple(line.split()) for line in log.read_text().splitlines()]


def _wait(check, timeout=30.0):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if check():
            return True
        time.sleep(0.05)
    return False


def _metric(url, prefix):
    """A counter's total over its series (metrics are per process: tests compare against a baseline)."""
    text = httpx.get(url + "/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix + "{"))


def _compared(url):
    return _metric(url, "trilho_serving_shadow_compared_total")


def _errors(url):
    return _metric(url, "trilho_serving_shadow_errors_total")


def _answering_child(gw):
    """The predict URL and the (compared, errors) totals once the shadow child has answered one copy."""
    url = f"{gw.url}/v1/models/scorer:predict"
    compared, errors = _compared(gw.url), _errors(gw.url)
    assert httpx.post(url, json={"instances": [{"x1": 1.0, "x2": 1.0}]}).status_code == 200
    assert _wait(lambda: _compared(gw.url) >= compared + 1)  # the child is up and answering
    return url, compared + 1, errors


def test_shadow_calls_run_in_a_child_process_flagged_as_shadow(sqlite_store, tmp_path, start_gateway):
    root, log = _register(sqlite_store, tmp_path)
    gw = start_gateway(sqlite_store, root, shadow_isolation="process")
    assert gw.gateway.shadow_in_child
    before = _compared(gw.url)
    for i in range(5):
        r = httpx.post(
            f"{gw.url}/v1/models/scorer:predict", json={"instances": [{"x1": float(i), "x2": 1.0}]}
        )
        assert r.status_code == 200
    assert _wait(lambda: _compared(gw.url) >= before + 5)
    calls = _calls(log)
    live = {pid for pid, shadow in calls if shadow == "False"}
    shadow = {pid for pid, flag in calls if flag == "True"}
    assert live == {str(os.getpid())}  # the live version runs in this (the gateway's) process
    assert shadow and str(os.getpid()) not in shadow  # shadow calls ran elsewhere


def test_a_dying_shadow_child_is_replaced_and_live_answers_stay_fine(sqlite_store, tmp_path, start_gateway):
    root, log = _register(sqlite_store, tmp_path)
    gw = start_gateway(sqlite_store, root, shadow_linger_ms=0.0, shadow_isolation="process")
    url, compared, errors = _answering_child(gw)
    first_child = {pid for pid, flag in _calls(log) if flag == "True"}
    crash = httpx.post(url, json={"instances": [{"x1": -999.0, "x2": 1.0}]})  # kills the shadow child
    assert crash.status_code == 200 and crash.json() == {"predictions": [{"y": -1997.0}]}

    assert _wait(lambda: _errors(gw.url) >= errors + 1)
    for i in range(3):  # the next shadow call starts a new child
        assert httpx.post(url, json={"instances": [{"x1": float(i), "x2": 1.0}]}).status_code == 200
    assert _wait(lambda: _compared(gw.url) >= compared + 3)
    children = {pid for pid, flag in _calls(log) if flag == "True"}
    assert children - first_child, "a new child process served the later shadow calls"


def test_thread_isolation_keeps_shadows_in_process(sqlite_store, tmp_path, start_gateway):
    root, log = _register(sqlite_store, tmp_path)
    gw = start_gateway(sqlite_store, root, shadow_isolation="thread")
    assert not gw.gateway.shadow_in_child
    compared = _compared(gw.url)
    r = httpx.post(f"{gw.url}/v1/models/scorer:predict", json={"instances": [{"x1": 1.0, "x2": 1.0}]})
    assert r.status_code == 200
    assert _wait(lambda: _compared(gw.url) >= compared + 1)
    assert {pid for pid, _ in _calls(log)} == {str(os.getpid())}
    assert (str(os.getpid()), "True") in _calls(log)


def test_unknown_isolation_is_a_config_error():
    with pytest.raises(ConfigError, match="shadow_isolation"):
        GatewaySettings(shadow_isolation="container")


def test_shadows_fall_back_to_a_thread_when_no_child_process_can_start(
    sqlite_store, tmp_path, start_gateway, monkeypatch
):
    from trilho.serving import isolation

    def refuse(self, *args, **kwargs):
        raise RuntimeError("An attempt has been made to start a new process before bootstrapping")

    root, log = _register(sqlite_store, tmp_path)
    monkeypatch.setattr(isolation.multiprocessing.context.SpawnProcess, "start", refuse)
    gw = start_gateway(sqlite_store, root, shadow_isolation="process")
    compared = _compared(gw.url)
    r = httpx.post(f"{gw.url}/v1/models/scorer:predict", json={"instances": [{"x1": 1.0, "x2": 1.0}]})
    assert r.status_code == 200
    assert _wait(lambda: _compared(gw.url) >= compared + 1)
    assert gw.gateway.shadow_mirror.in_process and not gw.gateway.shadow_in_child
    assert (str(os.getpid()), "True") in _calls(log)  # the shadow ran here, flagged as a shadow call


def test_the_shadow_child_exits_when_its_gateway_is_killed(sqlite_store, tmp_path):
    import signal
    import subprocess
    import sys

    root, log = _register(sqlite_store, tmp_path)
    script = tmp_path / "gateway.py"
    script.write_text(
        textwrap.dedent(f"""
        import time
        from trilho.serving import GatewaySettings, RegistryProvider, run_in_thread
        from trilho.store import Store

        if __name__ == "__main__":
            store = Store({sqlite_store.url!r})
            gw = run_in_thread(provider=RegistryProvider(store, {str(root)!r}), store=store,
                               settings=GatewaySettings(port=0, poll_interval_s=0.1,
                                                        shadow_isolation="process"))
            print(gw.url, flush=True)
            time.sleep(600)
        """)
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        r = httpx.post(f"{url}/v1/models/scorer:predict", json={"instances": [{"x1": 1.0, "x2": 1.0}]})
        assert r.status_code == 200
        assert _wait(lambda: any(flag == "True" for _, flag in _calls(log)))
        child = next(int(pid) for pid, flag in _calls(log) if flag == "True")
        assert child != proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)  # no shutdown at all
        proc.wait(10)

    def gone():
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        return False

    assert _wait(gone, timeout=10), f"shadow child {child} outlived its killed gateway"


@pytest.mark.parametrize(("cores", "expected"), [(2, False), (3, False), (4, True), (16, True)])
def test_auto_isolation_takes_a_child_process_only_with_a_core_to_spare(monkeypatch, cores, expected):
    from trilho.serving.settings import shadow_in_child

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)))
    assert shadow_in_child("auto") is expected
    assert shadow_in_child("auto", cpus=(1,))  # CPUs named for the shadow child: a child
    assert shadow_in_child("process") and not shadow_in_child("thread")


def test_the_shadow_child_runs_at_background_priority(sqlite_store, tmp_path, start_gateway):
    root, _log = _register(sqlite_store, tmp_path)
    gw = start_gateway(sqlite_store, root, shadow_isolation="process")
    child = gw.gateway.shadow_mirror.pid  # started by the shadow version's warm-up
    assert child is not None and child != os.getpid()
    if hasattr(os, "SCHED_IDLE"):
        assert os.sched_getscheduler(child) == os.SCHED_IDLE


def test_model_threads_yield_to_the_event_loop(sqlite_store, tmp_path, start_gateway):
    root, _log = _register(sqlite_store, tmp_path)
    gw = start_gateway(sqlite_store, root, shadow_isolation="thread")
    compared = _compared(gw.url)
    r = httpx.post(f"{gw.url}/v1/models/scorer:predict", json={"instances": [{"x1": 1.0, "x2": 1.0}]})
    assert r.status_code == 200
    assert _wait(lambda: _compared(gw.url) >= compared + 1)
    live, pump = gw.gateway.executor._threads, gw.gateway._shadow_pump._thread
    threads = [t for t in (*live, pump) if t.native_id]
    assert live and pump in threads
    if hasattr(os, "SCHED_BATCH"):
        assert {os.sched_getscheduler(t.native_id) for t in threads} == {os.SCHED_BATCH}


def test_a_hung_shadow_child_is_replaced_after_the_shadow_timeout(sqlite_store, tmp_path, start_gateway):
    root, log = _register(sqlite_store, tmp_path)
    gw = start_gateway(
        sqlite_store, root, shadow_linger_ms=0.0, shadow_timeout_s=1.5, shadow_isolation="process"
    )
    url = f"{gw.url}/v1/models/scorer:predict"
    first = gw.gateway.shadow_mirror.pid
    compared, errors = _compared(gw.url), _errors(gw.url)
    hang = httpx.post(url, json={"instances": [{"x1": -777.0, "x2": 1.0}]})
    assert hang.status_code == 200 and hang.json() == {"predictions": [{"y": -1553.0}]}
    assert _wait(lambda: _errors(gw.url) >= errors + 1, timeout=15)
    assert httpx.post(url, json={"instances": [{"x1": 2.0, "x2": 1.0}]}).status_code == 200
    assert _wait(lambda: _compared(gw.url) >= compared + 1, timeout=30)
    assert gw.gateway.shadow_mirror.pid not in (None, first)


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or not os.path.exists("/proc/self/schedstat"),
    reason="needs CPU affinity and schedstat (Linux)",
)
def test_a_starved_shadow_child_is_not_taken_for_a_hung_one(sqlite_store, tmp_path, start_gateway):
    cpu = max(os.sched_getaffinity(0))
    root, _log = _register(sqlite_store, tmp_path)
    gw = start_gateway(sqlite_store, root, shadow_linger_ms=0.0, shadow_timeout_s=1.0, shadow_cpus=(cpu,))
    url, compared, errors = _answering_child(gw)
    child = gw.gateway.shadow_mirror.pid

    def same_cpu_normal_priority() -> None:
        os.sched_setaffinity(0, {cpu})

    # a busy neighbour at normal priority on the child's CPU: the SCHED_IDLE child gets almost no CPU time,
    # and its step needs 0.3 s of it
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=same_cpu_normal_priority)
    try:
        r = httpx.post(url, json={"instances": [{"x1": -555.0, "x2": 1.0}]})
        assert r.status_code == 200 and r.json() == {"predictions": [{"y": -1109.0}]}
        time.sleep(4.0)  # four timeouts' worth of wall time without an answer
        assert gw.gateway.shadow_mirror.pid == child and _errors(gw.url) == errors
    finally:
        spin.kill()
        spin.wait()
    assert _wait(lambda: _compared(gw.url) >= compared + 1)  # it carries on once the CPU is free
    assert gw.gateway.shadow_mirror.pid == child and _errors(gw.url) == errors


def test_an_unknown_model_thread_policy_is_a_config_error():
    with pytest.raises(ConfigError, match="model_thread_sched"):
        GatewaySettings(model_thread_sched="realtime")


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 1), (3, 2), (16, 2)])
def test_batch_concurrency_is_chosen_by_cores_unless_configured(monkeypatch, cores, expected):
    from trilho.serving.settings import batch_concurrency

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)))
    assert batch_concurrency(None) == expected
    assert batch_concurrency(3) == 3


def test_a_gateway_stops_promptly_while_its_shadow_child_hangs(sqlite_store, tmp_path):
    from trilho.serving import RegistryProvider, run_in_thread

    root, _log = _register(sqlite_store, tmp_path)
    settings = GatewaySettings(port=0, poll_interval_s=0.1, shadow_linger_ms=0.0, shadow_isolation="process")
    gw = run_in_thread(provider=RegistryProvider(sqlite_store, root), store=sqlite_store, settings=settings)
    try:
        url = f"{gw.url}/v1/models/scorer:predict"
        assert httpx.post(url, json={"instances": [{"x1": -777.0, "x2": 1.0}]}).status_code == 200
        time.sleep(0.5)  # the shadow step now waits on a child that sleeps for an hour
    finally:
        t0 = time.perf_counter()
        gw.stop()
    assert time.perf_counter() - t0 < 4.0


def test_an_unloaded_shadow_version_is_dropped_by_the_child_which_serves_it_again_when_named(
    sqlite_store, tmp_path, start_gateway
):
    root, _log = _register(sqlite_store, tmp_path)
    gw = start_gateway(sqlite_store, root, shadow_linger_ms=0.0, shadow_isolation="process")
    url, compared, errors = _answering_child(gw)
    mirror = gw.gateway.shadow_mirror
    child = mirror.pid
    rt.set_deployment(sqlite_store, Deployment("scorer", routes=(Route("1"),)))  # the shadow removed
    assert _wait(lambda: gw.gateway.generation == rt.current_generation(sqlite_store))
    assert ("scorer", "2") not in mirror._versions and ("scorer", "2") not in gw.gateway._loaded
    rt.set_deployment(
        sqlite_store,
        Deployment("scorer", routes=(Route("1"), Route("2", "shadow", 0.0)), shadow_fraction=1.0),
    )
    # the table applies at once; the shadow joins when the child has warmed it up again
    assert _wait(lambda: "2" in httpx.get(f"{gw.url}/readyz").json()["models"]["scorer"]["versions"])
    assert httpx.post(url, json={"instances": [{"x1": 2.0, "x2": 1.0}]}).status_code == 200
    assert _wait(lambda: _compared(gw.url) >= compared + 1)
    assert mirror.pid == child and _errors(gw.url) == errors  # the same child, after an unanswered message
