"""Act 2 — a LightGCN recommender trained on a synthetic Gowalla-shaped graph, evaluated against popularity,
registered, and served through a gateway process with micro-batching; latency measured from the client."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from trilho.demo.runner import ActResult, DemoContext

MODEL = "recs"
SLO_MS = 50.0


def act(ctx: DemoContext) -> ActResult:
    """Run act 2 and report what it saw."""

    from trilho.recsys import api
    from trilho.recsys.data import save_dataset
    from trilho.recsys.synth import synthesize
    from trilho.recsys.train import TrainConfig
    from trilho.registry import Registry
    from trilho.rollout.scenario import spawn_gateway, wait_ready
    from trilho.store.routing import BatchingConfig, Deployment, Route, SLOConfig, set_deployment

    work = ctx.workdir / "recsys"
    scale, epochs = (0.02, 10) if ctx.quick else (0.05, 30)
    with ctx.console.status(f"synthesising a Gowalla-shaped graph at scale {scale}"):
        ds = synthesize("gowalla", scale=scale, seed=1)
        save_dataset(work / "data", ds)
    ctx.console.print(f"graph: {ds.n_users:,} users × {ds.n_items:,} items, {len(ds.train):,} training edges")
    api.fit(
        work / "data",
        work / "model",
        TrainConfig(epochs=epochs, lr=5e-3, patience=5, seed=1, threads=1),
        progress=not ctx.console.stderr,  # with --json, stdout carries only the JSON
    )
    quality = api.evaluate(work / "model", work / "data")
    recall, pop = quality["model"]["recall@20"], quality["popularity"]["recall@20"]
    ctx.console.print(f"test recall@20 {recall:.3f} vs popularity {pop:.3f}")

    registry = Registry(ctx.store, ctx.settings.artifacts_url)
    mv = api.register(registry, MODEL, work / "model", metrics={"recall@20": recall})
    set_deployment(
        ctx.store,
        Deployment(
            MODEL,
            routes=(Route(str(mv.version)),),
            deadline_ms=2000.0,
            batching=BatchingConfig(enabled=True, max_batch_size=64, max_wait_ms=1.0),
            slo=SLOConfig(latency_ms=SLO_MS, target=0.99),
        ),
        actor="user:demo",
    )
    with ctx.console.status("starting a gateway process and sending requests"):
        gateway = spawn_gateway(ctx.settings.database_url, ctx.settings.home, log=ctx.workdir / "recs-gw.log")
        try:
            wait_ready([gateway])
            latencies, errors = _load(gateway.url, ds.n_users, n=600 if ctx.quick else 3000)
            time.sleep(1.1)  # one SLO tick (once a second with the default windows)
            slo = _slo_counts(gateway.url)
        finally:
            gateway.stop()
    p50, p99 = (float(np.percentile(latencies, q)) for q in (50, 99))
    ctx.console.print(
        f"served {len(latencies)} recommendations: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {errors} errors"
    )
    ctx.shared["recsys"] = {"recall": recall, "p50_ms": p50, "p99_ms": p99}
    return ActResult(
        title="LightGCN recommender trained, registered and served through the gateway",
        ok=errors == 0 and recall > pop,
        figures=[
            ("recall@20 (model / popularity)", f"{recall:.3f} / {pop:.3f}"),
            ("served p50 / p99 (client side)", f"{p50:.1f} / {p99:.1f} ms"),
            ("model", mv.ref),
            (
                f"SLO 99 % < {SLO_MS:g} ms (gateway clock)",
                f"{slo['good']:.0f} good / {slo['bad']:.0f} bad, page alerts firing: {slo['alerts']:.0f}",
            ),
        ],
    )


def _load(url: str, n_users: int, *, n: int, concurrency: int = 8) -> tuple[list[float], int]:
    """``n`` requests from ``concurrency`` clients; returns latencies in ms and the count of non-200s."""
    rng = np.random.default_rng(0)
    users = rng.integers(0, n_users, n).tolist()

    def one(client: httpx.Client, user: int) -> tuple[float, bool]:
        t = time.perf_counter()
        r = client.post(f"{url}/v1/models/{MODEL}:predict", json={"instances": [{"user_id": user, "k": 20}]})
        return (time.perf_counter() - t) * 1000, r.status_code == 200

    with httpx.Client(timeout=5.0, limits=httpx.Limits(max_connections=concurrency)) as client:
        for u in users[:20]:  # warm up
            one(client, u)
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(lambda u: one(client, u), users))
    return [ms for ms, _ in results], sum(1 for _, ok in results if not ok)


def _slo_counts(url: str) -> dict[str, float]:
    """Good/bad requests against the deployment's SLO and the alerts firing, from the gateway's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {"good": 0.0, "bad": 0.0, "alerts": 0.0}
    for fam in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=5.0).text):
        for s in fam.samples:
            if s.labels.get("model") != MODEL:
                continue
            if s.name == "trilho_serving_slo_events_total":
                out[s.labels["outcome"]] += s.value
            elif s.name == "trilho_serving_slo_alert_firing":
                out["alerts"] += s.value
    return out
