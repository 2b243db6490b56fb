"""Time to production, measured: from `trilho init` to a new version serving canary traffic, per template.

For each template, in a fresh TRILHO_HOME, with the real `trilho` command:
  1. `trilho init NAME --template T`                     (render + git init)
  2. `trilho pipeline run`                               (v1: validate → … → register → deployed as stable)
  3. `trilho serve` and `trilho controller` start         (gateway + rollout control loop)
  4. a change is committed, `trilho pipeline run` again  (v2 through the same gates → the plan starts: shadow)
  5. live traffic through the gateway until the controller moves v2 to its first canary step.
The template's rollout plan is used as rendered (shadow: ≥200 mirrored requests and ≥30 s).

    python -m benchmarks.bench_time_to_production [--quick]     # --quick: the tabular template only
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks._results import print_table, target, write_results
from trilho.net import free_port

TRILHO = str(Path(sys.executable).parent / "trilho")
REQUESTS = {
    "tabular": {"tenure_months": 3, "monthly_spend": 99.0},
    "recsys": {"user_id": 0, "k": 5},
    "llm": {"question": "How do I reset my password?"},
}
TUNED_LATENCY: float | None = None
CHANGES = {  # a small, legitimate change per template: [(file, old, new), ...]
    "tabular": [("params.yaml", "C: 1.0", "C: 0.9")],
    "recsys": [("params.yaml", "lr: 0.01", "lr: 0.012")],
    "llm": [  # a reworded FAQ answer, and its golden expectation with it
        (f, "you get a CSV file by email within minutes.", "a CSV file arrives by email within minutes.")
        for f in ("data/faq.csv", "golden/cases.jsonl")
    ],
}


def _run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-1500:]}")
    return time.perf_counter() - start


def measure(template: str, work: Path, timeout: float = 240.0) -> dict:
    """Run the five steps for one template; returns seconds per step and the total."""
    home = work / "home"
    env = {**os.environ, "TRILHO_HOME": str(home)}
    env.pop("TRILHO_DATABASE_URL", None)
    name, proj = f"{template}-demo", work / f"{template}-demo"
    model = name.replace("-", "_")
    row: dict = {"template": template}
    t0 = time.perf_counter()
    row["init_s"] = _run([TRILHO, "init", name, "--template", template, "--dest", str(proj)], env)
    row["pipeline_v1_s"] = _run([TRILHO, "pipeline", "run", "--project", str(proj)], env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [TRILHO, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [TRILHO, "controller", "--interval", "5", "--tick", "0.5", "--gateway", url],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        start = time.perf_counter()
        with httpx.Client(timeout=5.0) as client:
            while True:
                try:
                    if client.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.perf_counter() - start > 60:
                    raise RuntimeError("the gateway did not come up in 60 s")
                time.sleep(0.2)
            row["serve_up_s"] = time.perf_counter() - start
            for rel, old, new in CHANGES[template]:
                path = proj / rel
                path.write_text(path.read_text().replace(old, new))
            if TUNED_LATENCY is not None:  # --latency-ratio: the shadow p99 check (1.5× by default); 0 = off
                check = "null" if TUNED_LATENCY == 0 else f"{{max_ratio: {TUNED_LATENCY}}}"
                plan = proj / "rollout/plan.yaml"
                text = plan.read_text().replace(
                    "min_duration: 30s}", f"min_duration: 30s, analysis: {{latency: {check}}}}}"
                )
                plan.write_text(text)
            row["shadow_latency_max_ratio"] = _plan_latency_ratio(proj / "rollout/plan.yaml")
            subprocess.run(
                ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", "a change"],
                cwd=proj,
                check=True,
            )
            row["pipeline_v2_s"] = _run([TRILHO, "pipeline", "run", "--project", str(proj)], env)
            start = time.perf_counter()
            body = {"instances": [REQUESTS[template]]}
            sent, phase = 0, None
            from trilho.config import resolve_settings
            from trilho.rollout import RolloutService
            from trilho.store import open_store

            service = RolloutService(open_store(resolve_settings(home)))
            last_poll = 0.0
            while True:
                client.post(f"{url}/v1/models/{model}:predict", json=body)
                sent += 1
                now = time.perf_counter()
                if now - last_poll > 1.0:
                    last_poll = now
                    ro = service.latest(model).to_dict()
                    phase = (ro["phase"], ro["position"])
                    if ro["step_kind"] == "canary":
                        break
                    if not service.latest(model).active:
                        why = [(h.get("action"), h.get("reason")) for h in service.history(model)][-3:]
                        raise RuntimeError(
                            f"{template}: v2 ended in {ro['phase']} before canary: {why}; plan: {ro['plan']}"
                        )
                if now - start > timeout:
                    raise RuntimeError(f"v2 not in canary after {timeout:.0f} s (last state {phase})")
            row["shadow_to_canary_s"] = time.perf_counter() - start
            row["requests"] = sent
            row["reached"] = f"{phase[1]} {phase[2]}%" if phase and phase[1] == "canary" else str(phase)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    row["total_s"] = time.perf_counter() - t0
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}


def _plan_latency_ratio(plan_file: Path) -> float | str:
    """The shadow step's p99 latency ratio as the rendered plan says it (after any --latency-ratio edit)."""
    from trilho.rollout.plan import load_plan

    plan = load_plan(plan_file)
    shadow = next((i for i, step in enumerate(plan.steps) if step.kind == "shadow"), None)
    if shadow is None:
        return "no shadow step"
    latency = plan.analysis_for(shadow).latency
    return "off" if latency is None else latency.max_ratio


def _shadow_latency_ratio(rows: list[dict]) -> float | str | list:
    """One value when every template's plan agrees, else each template's."""
    ratios = {r["template"]: r.get("shadow_latency_max_ratio") for r in rows}
    distinct = set(map(str, ratios.values()))
    return next(iter(ratios.values())) if len(distinct) == 1 else [ratios]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the tabular template")
    parser.add_argument(
        "--latency-ratio",
        type=float,
        default=None,
        help="loosen the shadow step's p99 latency ratio (default plan: 1.5)",
    )
    args = parser.parse_args()
    global TUNED_LATENCY
    TUNED_LATENCY = args.latency_ratio
    templates = ["tabular"] if args.quick else ["tabular", "recsys", "llm"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for t in templates:
            (Path(tmp) / t).mkdir()
            rows.append(measure(t, Path(tmp) / t))
    print_table("time to production (seconds)", rows)
    targets = [
        target(f"{r['template']}: init → canary", "≤ 10 min", r["total_s"], r["total_s"] <= 600) for r in rows
    ]
    write_results(
        "time_to_production",
        rows,
        targets,
        quick=args.quick,
        extra={"shadow_latency_max_ratio": _shadow_latency_ratio(rows)},
    )


if __name__ == "__main__":
    main()
