"""Recsys compute benchmark: training cost, naive vs optimised in-process serving, index recall parity.

Run: ``python -m benchmarks.bench_recsys [--quick]`` (``make bench-recsys [QUICK=1]``).

On the Gowalla-shaped synthetic graph (full: 29,858 users × 40,981 items, 810,128 training edges; quick: 5 %):

* training: seconds per LightGCN epoch (BPR, batch 2048, full-graph propagation per step);
* naive per-request path (full propagation + scoring + top-k, what PyG ``recommend()`` does per call) vs the
  optimised :class:`~trilho.recsys.predictor.RecsysPredictor` in-process: per-request latency (p50/p99) and
  batched scoring throughput — the in-process compute floor the served numbers are later compared with;
* the served path's per-stage breakdown (parse, lookup, score, top-k, serialise) per request, for a lone
  request and a batch of 64, measured in-process around the gateway's own parse/validate/encode code — and,
  per served run, from the gateway's own metrics (queue wait, the predictor's lookup / score / top-k /
  format per batch, the model call, the rest of the gateway's time, the mean batch size);
* recall@20 parity of the bf16 two-stage scan and faiss HNSW / fp16 / int8 against exact, and fold-in cosine
  against a full recompute;
* served (``benchmarks/recsys_served.py``): the naive path (no batching) and the predictor (micro-batching;
  the index that scored batches of ``SERVED_BATCH`` fastest among exact and the variants that passed their
  recall parity) through one trilho gateway
  process under open-loop load at increasing rates — p50/p99/p99.9, saturation throughput, served ÷
  in-process compute floor, and the served targets (p99 ≤ 10 ms at ≥ 1,000 req/s; ≥ 50× the naive served
  throughput at equal or better p99).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks._results import print_table, print_targets, target, write_results

SCALE_FULL, SCALE_QUICK = 1.0, 0.05


# --- hooks for the served (HTTP) comparison ----------------------------------------------------------------
def prepare_model(
    out: str | Path,
    *,
    scale: float = SCALE_FULL,
    seed: int = 0,
    epochs: int = 1,
    threads: int = 1,
    max_batches: int | None = None,
    lr: float = 1e-3,
    progress: bool = True,
) -> dict[str, Any]:
    """Synthesise the Gowalla-shaped graph, train ``epochs`` epochs and save the artifact under ``out``."""
    from trilho.recsys.api import fit
    from trilho.recsys.data import save_dataset
    from trilho.recsys.synth import synthesize
    from trilho.recsys.train import TrainConfig

    out = Path(out)
    t0 = time.perf_counter()
    ds = synthesize("gowalla", scale=scale, seed=seed)
    synth_s = time.perf_counter() - t0
    save_dataset(out / "data", ds)
    summary = fit(
        out / "data",
        out / "model",
        TrainConfig(epochs=epochs, seed=seed, threads=threads, max_batches=max_batches, lr=lr),
        progress=progress,
    )
    return {
        "synth_seconds": synth_s,
        "dataset": ds.summary(),
        "model_dir": str(out / "model"),
        "train": summary,
    }


def build_predictor(artifact_dir: str | Path, **config: Any):
    """The optimised predictor for an artifact folder (what the gateway serves)."""
    from trilho.recsys.predictor import load

    return load(artifact_dir, **config)


def build_naive(artifact_dir: str | Path):
    """The naive per-request-propagation predictor for the same artifact (the baseline to serve over HTTP)."""
    from trilho.recsys.artifact import load_artifact
    from trilho.recsys.naive import NaivePredictor

    return NaivePredictor(load_artifact(artifact_dir))


# --- measurements -------------------------------------------------------------------------------------------
def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1e3, q))


def _per_request(pred: Any, records: list[dict]) -> dict[str, float]:
    lat = []
    for r in records:
        t = time.perf_counter()
        pred.predict([r])
        lat.append(time.perf_counter() - t)
    return {
        "p50_ms": _pct(lat, 50),
        "p99_ms": _pct(lat, 99),
        "mean_ms": float(np.mean(lat) * 1e3),
        "requests_per_s": len(lat) / sum(lat),
    }


def _batched(pred: Any, users: np.ndarray, batch: int, rounds: int) -> dict[str, float]:
    lat = []
    for i in range(rounds):
        sl = users[(i * batch) % users.size :][:batch]
        recs = [{"user_id": int(u), "k": 20} for u in sl]
        t = time.perf_counter()
        pred.predict(recs)
        lat.append(time.perf_counter() - t)
    rows = batch * rounds
    return {"batch": batch, "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99), "rows_per_s": rows / sum(lat)}


SERVED_STAGES = ("parse", "lookup", "score", "topk", "serialise")
# the batch that picks the served index: the p99 at the target rate is made of requests that bunched into
# small batches (the mean is 1-3 rows at 1,000-1,500 req/s)
SERVED_BATCH = 4


def _batched_rate(batched: list[dict[str, Any]], batch: int) -> float:
    """Rows per second of the one-thread batched run at ``batch``."""
    return next(s["rows_per_s"] for s in batched if s["batch"] == batch and s["threads"] == 1)


def _stage_breakdown(model_dir: Path, users: np.ndarray, batch: int, rounds: int) -> dict[str, Any]:
    """Per-request time of each stage of the served path, measured in-process around the gateway's own code.

    parse: JSON body decode (msgspec, as the gateway), ``parse_v1`` and the contract's input validator;
    lookup / score / topk: the predictor's stage timers (lookup includes request checks and query building);
    serialise: the predictor's result rows, the contract's output validator and the JSON encode of the
    response body. ``batch`` requests share one ``predict`` call, as the micro-batcher makes them do.
    """
    import json

    import msgspec

    from trilho.contracts import load_contract
    from trilho.recsys.artifact import CONTRACT_PATH
    from trilho.serving.models import LoadedVersion
    from trilho.serving.protocols import parse_v1
    from trilho.serving.settings import GatewaySettings

    pred = build_predictor(model_dir, cache_size=0)
    lv = LoadedVersion("recs", "1", pred.predict, contract=load_contract(CONTRACT_PATH))
    vin, vout = lv.validate_input, lv.validate_output
    decode, encode = msgspec.json.Decoder().decode, msgspec.json.Encoder().encode
    max_instances = GatewaySettings().max_instances
    bodies = [json.dumps({"instances": [{"user_id": int(u), "k": 20}]}).encode() for u in users[: batch * 4]]
    parse_s = serialise_s = 0.0
    for i in range(rounds + 1):  # round 0 warms up
        if i == 1:
            pred.reset_timings()
            parse_s = serialise_s = 0.0
        chunk = [bodies[(i * batch + j) % len(bodies)] for j in range(batch)]
        t0 = time.perf_counter()
        records = [vin(r) for b in chunk for r in parse_v1(decode(b), max_instances)]
        t1 = time.perf_counter()
        outputs = pred.predict(records)
        t2 = time.perf_counter()
        for o in outputs:
            encode({"predictions": [vout(o)]})
        t3 = time.perf_counter()
        parse_s += t1 - t0
        serialise_s += t3 - t2
    tm = pred.timings()
    rows = tm["rows"]
    ms = {
        "parse": parse_s / rows * 1e3,
        "lookup": tm["ms_per_row"]["lookup"],
        "score": tm["ms_per_row"]["score"],
        "topk": tm["ms_per_row"]["topk"],
        "serialise": tm["ms_per_row"]["format"] + serialise_s / rows * 1e3,
    }
    total = sum(ms.values())
    return {
        "batch": batch,
        "requests": rows,
        "ms_per_request": ms,
        "share": {k: v / total for k, v in ms.items()},
        "total_ms_per_request": total,
    }


def _foldin_cosine(model_dir: Path, n_users: int, seed: int) -> dict[str, float]:
    """Fold-in vs re-propagating the whole graph with each user's validation edges added."""
    from trilho.recsys.artifact import load_artifact
    from trilho.recsys.data import load_dataset
    from trilho.recsys.graph import normalized_adjacency, propagate

    art = load_artifact(model_dir)
    pred = build_predictor(model_dir, cache_size=0)
    ds = load_dataset(Path(model_dir).parent / "data")
    ego = torch.cat([torch.from_numpy(art.user_ego), torch.from_numpy(art.item_ego)])
    rng = np.random.default_rng(seed)
    cos = []
    for u in rng.choice(np.unique(ds.valid.users), n_users, replace=False):
        held = ds.valid.items[ds.valid.users == u]
        folded = pred.embed([{"user_id": int(u), "recent_items": held.tolist()}])[0]
        adj = normalized_adjacency(
            np.concatenate([ds.train.users, np.full(held.size, u)]),
            np.concatenate([ds.train.items, held]),
            ds.n_users,
            ds.n_items,
        )
        with torch.no_grad():
            full = propagate(adj, ego, art.meta["layers"])[u].numpy()
        cos.append(float(folded @ full / (np.linalg.norm(folded) * np.linalg.norm(full))))
    return {"users": n_users, "min": min(cos), "mean": float(np.mean(cos))}


def _served(
    model_dir: Path,
    users: np.ndarray,
    quick: bool,
    floor: float,
    naive_inproc: dict[str, float],
    rows: list[dict[str, Any]],
    targets: list[dict[str, Any]],
    serving: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Naive vs optimised through one gateway process under open-loop load; adds rows and targets.
    ``serving``: the optimised predictor's settings (its index)."""
    from benchmarks.recsys_served import measure_served

    # the naive path saturates near 1 / propagation time: its rates bracket that, in few requests
    naive_sat = naive_inproc["requests_per_s"]
    naive_rates = [round(naive_sat * f, 2) for f in (0.25, 0.5, 1.0, 2.0)]
    fast_rates = [250.0, 500.0, 1000.0, 2000.0, 4000.0]
    if not quick:
        fast_rates = [250.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0]
    served = measure_served(
        model_dir,
        users.tolist(),
        naive_rates=naive_rates,
        fast_rates=fast_rates,
        seconds_naive=2.0 if quick else 10.0,
        seconds_fast=2.0 if quick else 5.0,
        serving=serving,
    )
    naive, fast = served["naive"], served["optimised"]
    print_table(
        "served through the gateway (open loop)",
        [
            {
                "model": r["model"],
                "offered/s": r["offered_rps"],
                "achieved/s": round(r["achieved_rps"], 1),
                "p50 ms": round(r["p50_ms"], 2),
                "p99 ms": round(r["p99_ms"], 2),
                "p99.9 ms": round(r["p999_ms"], 2),
                "late sends %": round(r["late_sends_pct"], 1),
                "unanswered %": round(r["unanswered_pct"], 1),
                "non-2xx": r["non_2xx"],
            }
            for r in naive["runs"] + fast["runs"]
        ],
    )
    print_table(
        "served-path stages of the optimised model, ms per request (the gateway's own metrics per run)",
        [
            {"offered/s": r["offered_rps"], **{k: round(v, 3) for k, v in r["served_stages_ms"].items()}}
            for r in fast["runs"]
        ],
    )
    stage_run = next((r for r in fast["runs"] if r["offered_rps"] == 1000.0), fast["runs"][0])
    for stage, ms in stage_run["served_stages_ms"].items():
        what = f"served stage {stage} @ {stage_run['offered_rps']:g}/s"
        rows.append({"what": what, "value": round(ms, 3), "unit": "" if stage == "mean_batch_size" else "ms"})
    for label, s in (("naive", naive), ("optimised", fast)):
        for r in s["runs"]:
            for key, name in (("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p99.9")):
                what = f"served {label} @ {r['offered_rps']:g}/s: {name}"
                rows.append({"what": what, "value": round(r[key], 2), "unit": "ms"})
        what = f"served {label}: saturation" + ("" if s["saturated"] else " (not reached: lower bound)")
        rows.append({"what": what, "value": round(s["saturation_rps"], 1), "unit": "req/s"})
    ratio_floor = fast["saturation_rps"] / floor
    rows.append(
        {"what": "served optimised saturation ÷ compute floor", "value": round(ratio_floor, 3), "unit": "×"}
    )
    # throughput at equal or better p99: the best rate the optimised model served with every request answered
    # (2xx) and a p99 no worse than the naive model's best p99, against the naive saturation throughput
    clean = [r for r in fast["runs"] if r["unanswered_pct"] == 0 and r["non_2xx"] == 0]
    at_p99 = [r for r in clean if r["p99_ms"] <= naive["min_p99_ms"]]
    best = max(at_p99, key=lambda r: r["achieved_rps"]) if at_p99 else None
    ratio_naive = (best["achieved_rps"] if best else 0.0) / naive["saturation_rps"]
    rows.append(
        {
            "what": f"served rate at p99 ≤ naive's best ({naive['min_p99_ms']:.0f} ms) ÷ naive saturation",
            "value": round(ratio_naive, 1),
            "unit": "×",
        }
    )
    sustained = fast["sustained"]  # highest rate kept with p99 ≤ 10 ms
    rows.append(
        {
            "what": "served optimised: highest rate kept at p99 ≤ 10 ms",
            "value": sustained["offered_rps"] if sustained else 0,
            "unit": "req/s",
        }
    )
    served["floor_rows_per_s"] = floor
    served["saturation_over_floor"] = ratio_floor
    served["throughput_over_naive_at_equal_p99"] = ratio_naive
    served["optimised_run_at_equal_p99"] = best
    at_1000 = next((r for r in fast["runs"] if r["offered_rps"] == 1000.0), None)
    shown = sustained if sustained and sustained["offered_rps"] >= 1000 else at_1000
    targets.append(
        target(
            "served optimised: p99 at ≥ 1,000 req/s",
            "≤ 10 ms",
            f"{shown['p99_ms']:.2f} ms at {shown['offered_rps']:g}/s" if shown else "not reached",
            bool(sustained and sustained["offered_rps"] >= 1000),
        )
    )
    targets.append(
        target(
            "served throughput vs naive served, at equal or better p99",
            "≥ 50×",
            round(ratio_naive, 1),
            ratio_naive >= 50,
        )
    )
    return served


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print tables, write ``benchmarks/results/recsys.json``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 %% scale, fewer requests (≤ 1 min).")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for training (1 is fastest here).")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--max-batches",
        type=int,
        default=None,
        help="Train only this many batches and extrapolate the epoch (default: the whole epoch).",
    )
    ap.add_argument(
        "--lr",
        type=float,
        default=1e-2,
        help="Adam learning rate (1e-2 trains a usable model in one epoch: the HNSW parity guard can pass).",
    )
    ap.add_argument("--keep", type=Path, default=None, help="Keep data and model in this folder.")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    scale = SCALE_QUICK if args.quick else SCALE_FULL
    n_single = 300 if args.quick else 2000
    n_naive = 10 if args.quick else 20
    rows: list[dict[str, Any]] = []

    work = args.keep or Path(tempfile.mkdtemp(prefix="trilho-bench-recsys-"))
    max_batches = args.max_batches  # None: the whole epoch
    prep = prepare_model(
        work,
        scale=scale,
        seed=args.seed,
        epochs=args.epochs,
        threads=args.threads,
        max_batches=max_batches,
        lr=args.lr,
    )
    model_dir = Path(prep["model_dir"])
    tr = prep["train"]
    ds = prep["dataset"]
    rows.append({"what": "synthesise graph", "value": round(prep["synth_seconds"], 2), "unit": "s"})
    run, full = tr["batches_per_epoch"]["run"], tr["batches_per_epoch"]["full"]
    epoch_s = tr["seconds_per_epoch"] * full / run
    rows.append(
        {
            "what": "train step (batch 2048, full-graph propagation)",
            "value": round(epoch_s / full, 3),
            "unit": "s",
        }
    )
    what = "train epoch" + (f" (extrapolated from {run} of {full} batches)" if run < full else "")
    rows.append({"what": what, "value": round(epoch_s, 1), "unit": "s"})

    rng = np.random.default_rng(args.seed)
    users = rng.permutation(ds["users"])
    naive = build_naive(model_dir)
    naive_recs = [{"user_id": int(u), "k": 20} for u in users[:n_naive]]
    naive_by_threads = {}
    for threads in (1, 2):  # the naive path gets its best thread count: propagation is one big SpMM
        torch.set_num_threads(threads)
        naive_by_threads[threads] = _per_request(naive, naive_recs)
    naive_threads = min(naive_by_threads, key=lambda t: naive_by_threads[t]["mean_ms"])
    naive_stats = {**naive_by_threads[naive_threads], "threads": naive_threads}
    fast = build_predictor(
        model_dir, cache_size=0
    )  # serving default: 1 intra-op thread (see PredictorConfig)
    _per_request(fast, [{"user_id": int(u), "k": 20} for u in users[:50]])  # warm-up
    fast_stats = _per_request(fast, [{"user_id": int(u), "k": 20} for u in users[:n_single]])
    cached = build_predictor(model_dir)
    _per_request(cached, [{"user_id": int(u), "k": 20} for u in users[:n_single]])
    cache_stats = _per_request(cached, [{"user_id": int(u), "k": 20} for u in users[:n_single]])
    fold_recs = [
        {"user_id": int(u), "k": 20, "recent_items": rng.choice(ds["items"], 5, replace=False).tolist()}
        for u in users[:n_single]
    ]
    fold_stats = _per_request(fast, fold_recs)
    cold_stats = _per_request(fast, [{"user_id": -1 - i, "k": 20} for i in range(n_single)])
    for name, s in (
        ("naive: propagate + score per request", naive_stats),
        ("predictor, no cache", fast_stats),
        ("predictor, cache hit", cache_stats),
        ("predictor, fold-in 5 fresh items", fold_stats),
        ("predictor, cold start (popularity)", cold_stats),
    ):
        rows.append({"what": f"{name}: p50", "value": round(s["p50_ms"], 3), "unit": "ms"})
        rows.append({"what": f"{name}: p99", "value": round(s["p99_ms"], 3), "unit": "ms"})
        rows.append({"what": f"{name}: sequential", "value": round(s["requests_per_s"], 1), "unit": "req/s"})

    batched = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for b in sorted({1, SERVED_BATCH, 8, 32, 64, 256}):
            fast.reset_timings()
            st = _batched(fast, users, b, max(4, (200 if args.quick else 1500) // b))
            st["threads"] = threads
            st["stages_ms_per_row"] = {k: round(v, 4) for k, v in fast.timings()["ms_per_row"].items()}
            batched.append(st)
            what = f"batched scoring, batch {b}, {threads} thread(s)"
            rows.append({"what": what, "value": round(st["rows_per_s"], 1), "unit": "rows/s"})
    torch.set_num_threads(1)
    floor = max(s["rows_per_s"] for s in batched)
    stages = {}
    for b in (1, 64):
        st = stages[f"batch_{b}"] = _stage_breakdown(
            model_dir, users, b, max(20, (300 if args.quick else 2000) // b)
        )
        for stage in SERVED_STAGES:
            what = f"served-path stage {stage} (batch {b})"
            rows.append({"what": what, "value": round(st["ms_per_request"][stage], 4), "unit": "ms/request"})
    print_table(
        "served-path stages, ms per request (in-process, around the gateway's parse/serialise code)",
        [
            {
                "batch": st["batch"],
                **{k: round(v, 4) for k, v in st["ms_per_request"].items()},
                "total": round(st["total_ms_per_request"], 4),
            }
            for st in stages.values()
        ],
    )

    parity: dict[str, Any] = {}
    variants = {  # name → predictor settings; HNSW also with a denser graph (M 48, efConstruction 200)
        "hnsw": {"index": "hnsw"},
        "hnsw-m48": {"index": "hnsw", "hnsw_m": 48, "hnsw_ef_construction": 200},
        "bf16": {"index": "bf16"},
        "fp16": {"index": "fp16"},
        "int8": {"index": "int8"},
    }
    for kind, settings in variants.items():
        t = time.perf_counter()
        try:
            p = build_predictor(model_dir, cache_size=0, **settings)
        except Exception as exc:  # a refused index is a result, not a crash
            parity[kind] = {"refused": str(exc)}
            rows.append({"what": f"{kind}: refused", "value": 0, "unit": str(exc)[:60]})
            continue
        build_s = time.perf_counter() - t
        st = _batched(p, users, 64, max(4, (200 if args.quick else 1500) // 64))
        small = _batched(p, users, SERVED_BATCH, max(20, (200 if args.quick else 1500) // SERVED_BATCH))
        one = _per_request(p, [{"user_id": int(u), "k": 20} for u in users[: n_single // 2]])
        parity[kind] = {
            **p.index_info,
            "build_s": build_s,
            "rows_per_s_batch64": st["rows_per_s"],
            f"rows_per_s_batch{SERVED_BATCH}": small["rows_per_s"],
            "p99_ms_single": one["p99_ms"],
        }
        rows.append(
            {
                "what": f"{kind}: recall@20 vs exact",
                "value": round(p.index_info["recall_vs_exact"], 4),
                "unit": "ratio",
            }
        )
        rows.append(
            {
                "what": f"{kind}: batched scoring, batch 64",
                "value": round(st["rows_per_s"], 1),
                "unit": "rows/s",
            }
        )
        rows.append(
            {
                "what": f"{kind}: batched scoring, batch {SERVED_BATCH}",
                "value": round(small["rows_per_s"], 1),
                "unit": "rows/s",
            }
        )
        rows.append({"what": f"{kind}: single request p99", "value": round(one["p99_ms"], 3), "unit": "ms"})

    fold = _foldin_cosine(model_dir, 5 if args.quick else 10, args.seed)
    rows.append(
        {"what": "fold-in cosine vs full recompute (min)", "value": round(fold["min"], 6), "unit": "cos"}
    )

    speedup = fast_stats["requests_per_s"] / naive_stats["requests_per_s"]
    rows.append({"what": "per-request speed-up vs naive", "value": round(speedup, 1), "unit": "×"})
    targets = [
        target(
            "in-process p99, one request (no cache)",
            "≤ 10 ms",
            round(fast_stats["p99_ms"], 3),
            fast_stats["p99_ms"] <= 10,
        ),
        target("in-process compute floor (best batched)", "≥ 1,000 rows/s", round(floor, 1), floor >= 1000),
        target("per-request throughput vs naive", "≥ 50×", round(speedup, 1), speedup >= 50),
        target(
            "p99 vs naive p99",
            "equal or better",
            round(fast_stats["p99_ms"], 3),
            fast_stats["p99_ms"] <= naive_stats["p99_ms"],
        ),
        target("fold-in cosine vs full recompute", "≥ 0.99", round(fold["min"], 6), fold["min"] >= 0.99),
    ]
    for kind, info in parity.items():
        rec = info.get("recall_vs_exact", 0.0)
        targets.append(
            target(f"{kind} recall@20 vs exact", "≥ 0.99 (else refused)", round(rec, 4), rec >= 0.99)
        )

    # serve the optimised model with the index that scores small batches fastest — what the gateway's
    # micro-batcher forms at the target rate — among exact and the variants that passed their recall parity
    speed = {"exact": _batched_rate(batched, SERVED_BATCH)}
    for kind, info in parity.items():
        if "recall_vs_exact" in info:
            speed[kind] = info[f"rows_per_s_batch{SERVED_BATCH}"]
    best = max(speed, key=speed.get)
    served_index = {"index": "exact"} if best == "exact" else variants[best]
    rows.append({"what": "served optimised index", "value": best, "unit": ""})
    served = _served(model_dir, users, args.quick, floor, naive_stats, rows, targets, served_index)

    print_table(
        f"recsys compute ({'quick, ' if args.quick else ''}scale {scale}: {ds['users']:,} users, "
        f"{ds['items']:,} items, {ds['train']:,} train edges)",
        rows,
    )
    print_targets(targets)
    extra = {
        "scale": scale,
        "dataset": ds,
        "threads": args.threads,
        "train": {
            "seconds_per_epoch": epoch_s,
            "batches_per_epoch": tr["batches_per_epoch"],
            **{k: tr[k] for k in ("epochs_run", "valid", "config")},
        },
        "naive": naive_stats,
        "naive_by_threads": naive_by_threads,
        "predictor": {
            "no_cache": fast_stats,
            "cache_hit": cache_stats,
            "foldin": fold_stats,
            "cold": cold_stats,
        },
        "batched": batched,
        "stages": stages,
        "compute_floor_rows_per_s": floor,
        "indexes": parity,
        "foldin_cosine": fold,
        "served": served,
        "served_index": served_index,
        "notes": "in-process and served numbers on shared 2-core CPUs (the load generator shares them); the "
        "model is trained --epochs epochs at --lr; the served optimised model uses the index that scored "
        f"batches of {SERVED_BATCH} fastest among exact and the variants that passed their recall parity "
        "(speeds in served_index_speed, rows/s).",
        "served_index_speed": speed,
    }
    path = write_results("recsys", rows, targets, quick=args.quick, extra=extra)
    print(f"wrote {path}")
    return extra


if __name__ == "__main__":
    main()
