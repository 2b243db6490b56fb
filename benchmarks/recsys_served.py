"""The served half of the recsys benchmark: naive vs optimised recommendations through the trilho gateway.

Both models are registered in a fresh store and deployed on one gateway process (the same code path as
``trilho serve``):

* ``recs-naive`` — :class:`~trilho.recsys.naive.NaivePredictor` (full propagation per request), a
  python-flavour version, batching off;
* ``recs`` — the trained model as :func:`trilho.recsys.api.register` registers it (torch flavour,
  :class:`~trilho.recsys.module.LightGCNServing` over :class:`~trilho.recsys.predictor.RecsysPredictor`) with
  its per-user cache OFF through ``serving.json`` (every request is scored; the load generator repeats one
  body, so a cache would only measure the cache), micro-batching on.

Open-loop (constant arrival rate) load from :func:`benchmarks.serving.loadgen.run_open_loop` at increasing
rates, one model at a time; the load generator runs on the same cores as the gateway.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx

from benchmarks.serving.loadgen import run_open_loop

FAST, NAIVE = "recs", "recs-naive"
_NAIVE_ENTRY = '''"""Benchmark entry point: the naive per-request-propagation predictor (the baseline)."""

from pathlib import Path

from trilho.recsys.artifact import load_artifact
from trilho.recsys.naive import NaivePredictor

predictor = NaivePredictor(load_artifact(Path(__file__).resolve().parent))
'''


def prepare_home(
    model_dir: Path,
    home: Path,
    *,
    max_batch_size: int = 64,
    max_wait_ms: float = 1.0,
    serving: dict[str, Any] | None = None,
) -> None:
    """A TRILHO_HOME whose store serves ``recs`` (batched predictor, ``serving`` settings such as its index)
    and ``recs-naive`` (unbatched naive)."""
    from trilho.recsys.api import ENTRY, write_entry
    from trilho.recsys.artifact import CONTRACT_PATH
    from trilho.recsys.module import SERVING_CONFIG
    from trilho.registry import Registry
    from trilho.store import Store
    from trilho.store.routing import BatchingConfig, Deployment, Route, set_deployment

    store = Store(f"sqlite:///{home / 'trilho.db'}")
    store.migrate()
    reg = Registry(store, home / "artifacts")
    for name, flavor, batching in (
        (FAST, "torch", BatchingConfig(True, max_batch_size, max_wait_ms)),
        (NAIVE, "python", BatchingConfig(enabled=False)),
    ):
        folder = home / "src" / name
        shutil.copytree(model_dir, folder)
        if flavor == "torch":
            write_entry(folder)
            (folder / SERVING_CONFIG).write_text(json.dumps({"cache_size": 0, **(serving or {})}), "utf-8")
            entry = ENTRY
        else:
            (folder / "bench_naive_entry.py").write_text(_NAIVE_ENTRY, "utf-8")
            entry = "bench_naive_entry:predictor"
        examples = [{"user_id": 0, "k": 5}, {"user_id": 1, "k": 3}]  # the naive path has no cold start
        mv = reg.register(name, folder, flavor, CONTRACT_PATH, entry=entry, examples=examples)
        set_deployment(
            store,
            Deployment(name, routes=(Route(str(mv.version)),), deadline_ms=60_000.0, batching=batching),
            actor="user:bench",
        )
    store.dispose()


def _drain(url: str, path: str, body: bytes) -> None:
    """One request answered in turn: requests a saturated run left queued are done before the next run."""
    httpx.post(url + path, content=body, headers={"Content-Type": "application/json"}, timeout=300.0)


def _conns(rate: float) -> int:
    """Keep-alive connections for ``rate``: each reused within ~4 s (the server drops idle ones after 5 s),
    at most 64 in flight."""
    return max(1, min(64, int(rate * 4)))


# (metric, labels it must carry) → key; sums and counts are read before and after each run
_SERVED = {
    "trilho_serving_request_duration_seconds": "gateway",
    "trilho_serving_queue_wait_seconds": "queue_wait",
    "trilho_serving_model_duration_seconds": "model_call",
    "trilho_serving_batch_size_items": "batch_size",
}


def _scrape(url: str, model: str) -> dict[str, float]:
    """Sums and counts of the gateway's own latency metrics for ``model`` (and the predictor's stages)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    text = httpx.get(url + "/metrics", timeout=30.0).text
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            if not smp.name.endswith(("_sum", "_count")):
                continue
            base, part = smp.name.rsplit("_", 1)
            if base in _SERVED and smp.labels.get("model") == model:
                key = _SERVED[base]
            elif base == "trilho_recsys_stage_seconds" and model == FAST:
                key = f"stage_{smp.labels.get('stage')}"
            else:
                continue
            out[f"{key}/{part}"] = out.get(f"{key}/{part}", 0.0) + smp.value
    return out


def served_stages(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Mean milliseconds per request of each served stage between two scrapes (a batch's stage time counts
    in full for every request in it: each waits for the whole batch)."""

    def mean(key: str) -> float:
        n = after.get(f"{key}/count", 0.0) - before.get(f"{key}/count", 0.0)
        return (after.get(f"{key}/sum", 0.0) - before.get(f"{key}/sum", 0.0)) / n if n else 0.0

    ms = {"queue_wait": mean("queue_wait") * 1e3}
    for stage in ("lookup", "score", "topk", "format"):
        ms[stage] = mean(f"stage_{stage}") * 1e3
    ms["model_call"] = mean("model_call") * 1e3
    ms["gateway_total"] = mean("gateway") * 1e3
    # the gateway's time neither queued nor in the model: parse, contract checks, routing, accounting, and the
    # hand-offs to and from the model thread (event-loop waits under load)
    ms["gateway_other"] = max(0.0, ms["gateway_total"] - ms["queue_wait"] - ms["model_call"])
    ms["mean_batch_size"] = mean("batch_size")
    return ms


def _sweep(url: str, model: str, body: bytes, rates: list[float], seconds: float) -> list[dict[str, Any]]:
    path = f"/v1/models/{model}:predict"
    run_open_loop(url, path, body, rates[0], min(seconds, 2.0), conns=_conns(rates[0]))  # warm-up
    runs = []
    for rate in rates:
        _drain(url, path, body)
        before = _scrape(url, model)
        r = run_open_loop(url, path, body, rate, seconds, conns=_conns(rate))
        runs.append({"model": model, **r, "served_stages_ms": served_stages(before, _scrape(url, model))})
        if r["unanswered_pct"] > 20:  # far past saturation: higher rates only add queueing
            break
    return runs


def summarise(runs: list[dict[str, Any]], p99_slo_ms: float | None = None) -> dict[str, Any]:
    """Saturation throughput (best achieved rate), whether the sweep reached it, and the best rate kept
    with every request answered with a 2xx, ≥ 95 % of the offered rate achieved and p99 ≤ the SLO."""
    ok = [
        r
        for r in runs
        if r["unanswered_pct"] == 0
        and r["non_2xx"] == 0
        and r["achieved_rps"] >= 0.95 * r["offered_rps"]
        and (p99_slo_ms is None or r["p99_ms"] <= p99_slo_ms)
    ]
    best = max(ok, key=lambda r: r["offered_rps"]) if ok else None
    top = runs[-1]
    return {
        "saturation_rps": max(r["achieved_rps"] for r in runs),
        # False: even the highest offered rate was kept up with, so saturation_rps is only a lower bound
        "saturated": top["achieved_rps"] < 0.95 * top["offered_rps"] or top["unanswered_pct"] > 0,
        "sustained": best,
        "min_p99_ms": min(r["p99_ms"] for r in runs),
    }


def measure_served(
    model_dir: str | Path,
    users: list[int],
    *,
    naive_rates: list[float],
    fast_rates: list[float],
    seconds_naive: float,
    seconds_fast: float,
    serving: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run both open-loop sweeps against one gateway process; the raw runs and a summary per model."""
    from trilho.rollout.scenario import spawn_gateway, wait_ready

    home = Path(tempfile.mkdtemp(prefix="trilho-bench-recsys-served-"))
    try:
        prepare_home(Path(model_dir), home, serving=serving)
        log = home / "gateway.log"
        gw = spawn_gateway(f"sqlite:///{home / 'trilho.db'}", home, log=log)
        try:
            wait_ready([gw], timeout=180.0)
            body = json.dumps({"instances": [{"user_id": int(users[0]), "k": 20}]}).encode()
            naive = _sweep(gw.url, NAIVE, body, naive_rates, seconds_naive)
            fast = _sweep(gw.url, FAST, body, fast_rates, seconds_fast)
        finally:
            gw.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {
        "naive": {"runs": naive, **summarise(naive)},
        "optimised": {"runs": fast, **summarise(fast, p99_slo_ms=10.0)},
        "notes": "one gateway process; open-loop generator on the same 2 cores; optimised = predictor with "
        "its per-user cache off and gateway micro-batching (64, 1 ms); naive = per-request propagation, "
        "no batching; unanswered requests count with their wait when the run stopped (lower bound).",
    }
