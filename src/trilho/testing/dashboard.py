"""A seeded store for the dashboard's tests, screenshots and demos, built only through public APIs.

``seed(store, home)`` registers three models (python flavour, with contracts and gate records), runs real
rollouts with the controller on a :class:`~trilho.clock.ManualClock` while a small traffic simulator writes
the serving windows a gateway would (one rollout left in canary, one promoted, one model burning its error
budget), stores eval suite runs, a judge calibration, online-eval windows and an annotation queue, and
writes two A/B lift reports. Deterministic for a given seed.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from trilho.clock import ManualClock
from trilho.rollout import Controller, load_plan
from trilho.rollout.gates import skip_gates
from trilho.store.routing import Deployment, Route, SLOConfig, get_deployment, set_deployment, write_windows
from trilho.testing.windows import serving_row, shadow_row

BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]

PLAN = {
    "interval": 5,
    "steps": [
        {"shadow": {"percent": 50, "min_requests": 200, "min_duration": "1m"}},
        {"canary": {"weight": 5, "min_requests": 50, "min_duration": "2m"}},
        {"canary": {"weight": 25, "min_requests": 300, "min_duration": "2m"}},
        {"canary": {"weight": 50, "min_requests": 500, "min_duration": "2m"}},
    ],
    "analysis": {
        "error_rate": {"min_requests": 20},
        "latency": {"min_requests": 50},
        "shadow_agreement": {"threshold": 0.9, "min_pairs": 100},
    },
    "missing_metrics": {"intervals": 3, "action": "rollback"},
}

CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: {name}-io
name: {name}
version: 1.0.0
schema:
- name: request
  x-trilho:
    role: input
    examples:
    - {{tenure_months: 3, monthly_spend: 42.5, plan: basic}}
    - {{tenure_months: 40, monthly_spend: 99.0, plan: pro}}
  properties:
  - {{name: tenure_months, logicalType: integer, physicalType: int32, required: true,
     logicalTypeOptions: {{minimum: 0, maximum: 600}}}}
  - {{name: monthly_spend, logicalType: number, physicalType: float64, required: true,
     logicalTypeOptions: {{minimum: 0}}}}
  - {{name: plan, logicalType: string, physicalType: string, required: false,
     quality: [{{type: library, rule: validValues, validValues: [basic, pro, team]}}]}}
- name: response
  x-trilho: {{role: output}}
  properties:
  - {{name: score, logicalType: number, physicalType: float64, required: true,
     logicalTypeOptions: {{minimum: 0, maximum: 1}}}}
"""

MODEL = textwrap.dedent(
    """
    def predict(records):
        return [{"score": min(1.0, {k} * r["monthly_spend"] / (1 + r["tenure_months"]))} for r in records]
    """
)


def _hist(n: int, seconds: float, rng: np.random.Generator) -> dict[str, list]:
    counts = [0] * (len(BOUNDS) + 1)
    if n:
        samples = rng.lognormal(np.log(seconds), 0.45, size=n)
        for i in np.searchsorted(BOUNDS, samples):
            counts[int(i)] += 1
    return {"bounds": BOUNDS, "counts": counts}


@dataclass
class Traffic:
    """A gateway stand-in: splits ``rps`` by the routing table and writes per-version windows."""

    store: Any
    clock: Any
    model: str
    rps: float = 60.0
    seed: int = 1
    error_rate: dict[str, float] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    agreement: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.last = self.clock.now()

    def __call__(self, _controller: Any = None) -> None:
        """Write the windows since the last call (called before every controller tick)."""
        now = self.clock.now()
        secs = (now - self.last).total_seconds()
        if secs <= 0:
            return
        dep = get_deployment(self.store, self.model)
        rows, srows = [], []
        total = int(self.rng.poisson(self.rps * secs))
        for route in dep.routes:
            if route.role == "shadow" or (dep.kill != "off" and route.role != "stable"):
                continue
            n = int(self.rng.binomial(total, route.weight if dep.kill == "off" else 1.0))
            lat = self.latency.get(route.version, 0.012)
            errors = int(self.rng.binomial(n, self.error_rate.get(route.version, 0.002)))
            histogram = _hist(n, lat, self.rng)  # draws in the order the seeded dashboard was made with
            rows.append(
                serving_row(
                    self.model,
                    route.version,
                    route.role,
                    self.last,
                    now,
                    requests=n,
                    errors=errors,
                    latency_s=lat,
                    histogram=histogram,
                    model_histogram=_hist(n, lat, self.rng),
                )
            )
        for route in dep.shadows if dep.kill == "off" else ():
            n = int(self.rng.binomial(total, dep.shadow_fraction))
            agreed = int(self.rng.binomial(n, self.agreement.get(route.version, 0.985)))
            srows.append(
                shadow_row(
                    self.model,
                    dep.stable.version,
                    route.version,
                    self.last,
                    now,
                    compared=n,
                    agreed=agreed,
                    errors=0,
                    histogram=_hist(n, 0.012, self.rng),
                )
            )
        write_windows(self.store, rows, srows)
        self.last = now


def _register(registry, tmp: Path, name: str, versions: int) -> None:
    contract = tmp / f"{name}.yaml"
    contract.write_text(CONTRACT.format(name=name))
    for v in range(1, versions + 1):
        src = tmp / f"{name}-v{v}"
        src.mkdir(parents=True, exist_ok=True)
        (src / "model.py").write_text(MODEL.replace("{k}", str(0.01 * v)))
        mv = registry.register(
            name,
            src / "model.py",
            "python",
            contract,
            entry="model:predict",
            metrics={"auc": round(0.80 + 0.02 * v, 3)},
            params={"k": 0.01 * v},
        )
        registry.record_gate(mv.ref, "golden", "pass", {"suite": f"{name}-golden", "cases": 48, "failed": 0})
        if v > 1:
            registry.record_gate(
                mv.ref, "eval", "pass", {"suite": "support-answers", "faithfulness": 0.93, "pii_leaks": 0}
            )
    registry.set_alias(name, "champion", 1)
    if versions > 1:
        registry.set_alias(name, "challenger", versions)


def _rollout(store, clock: ManualClock, model: str, candidate: str, seconds: float, **traffic: Any) -> None:
    set_deployment(store, Deployment(model, routes=(Route("1"),)), actor="demo")
    ctl = Controller(store, clock=clock, gates=skip_gates("user:demo", "demo data"), holder=f"demo-{model}")
    try:
        ctl.service.start(model, candidate, load_plan(PLAN), actor="user:alice")
        sim = Traffic(store, clock, model, **traffic)
        ctl.run(seconds=seconds, tick_every=5, on_tick=sim)
    finally:
        ctl.close()


def _burning(store, clock: ManualClock, model: str) -> None:
    """An hour of windows for a model whose stable version fails 9 % of requests: its declared SLO (99.5 %
    answered within 250 ms) pages."""
    slo = SLOConfig(latency_ms=250, target=0.995)
    set_deployment(store, Deployment(model, routes=(Route("1"),), slo=slo), actor="demo")
    rng = np.random.default_rng(7)
    end: datetime = clock.now()
    rows = []
    for i in range(72):
        w_end = end - timedelta(minutes=5 * (71 - i))
        n = int(rng.poisson(3000))
        err = 0.004 if i < 60 else 0.09
        rows.append(
            dict(
                gateway="g1",
                model=model,
                version="1",
                variant="stable",
                window_start=w_end - timedelta(minutes=5),
                window_end=w_end,
                requests=n,
                errors=int(rng.binomial(n, err)),
                fallbacks=0,
                shed=0,
                latency_sum_s=n * 0.05,
                latency_histogram=_hist(n, 0.05 if i < 60 else 0.2, rng),
            )
        )
    write_windows(store, rows)


def _evals(store, clock: ManualClock) -> None:
    from trilho.evals import AnnotationQueue, calibrate_labels
    from trilho.evals.gates import GateDecision
    from trilho.evals.online_store import write_windows as write_online
    from trilho.evals.records import save_calibration
    from trilho.evals.runs import save_run
    from trilho.evals.suites import SuiteRun

    rng = np.random.default_rng(3)
    for i, (version, faith, passed) in enumerate((("1", 0.91, True), ("2", 0.93, True), ("3", 0.84, False))):
        gate = GateDecision(
            passed, (), (), ("all thresholds met",) if passed else ("faithfulness 0.84 < 0.88",)
        )
        run = SuiteRun(
            run_id=f"run-{i + 1:04d}-{version}",
            suite="support-answers",
            metrics={"faithfulness": faith, "pii_leak_rate": 0.0, "refusal_rate": 0.02 + 0.01 * i},
            items=[
                {"id": f"q{j}", "scores": {"faithfulness": float(rng.random() < faith)}} for j in range(20)
            ],
            binary_metrics={"faithfulness"},
            usage={"judge_calls": 20},
            model="support-bot",
            version=version,
            gate=gate,
            judge_kappas={"faithfulness-judge": 0.74},
        )
        save_run(store, run, clock=clock)
        clock.advance(60)
    labels = ["good", "bad", "unsure"]
    human = [labels[int(i)] for i in rng.choice(3, size=120, p=[0.6, 0.3, 0.1])]
    judge = [h if rng.random() < 0.82 else labels[int(rng.integers(3))] for h in human]
    # calibrated under XSTest-style class names: long labels the confusion matrix must fit on its axes
    named = dict(zip(labels, ("full_compliance", "full_refusal", "partial_refusal"), strict=True))
    report = calibrate_labels(
        [named[h] for h in human],
        {"faithfulness-judge": [named[j] for j in judge]},
        n_boot=200,
        source="demo-labels.csv",
    )
    save_calibration(store, "faithfulness-judge", report, clock=clock)
    base = clock.now()
    rows = []
    for i in range(24):
        rows.append(
            dict(
                model="support-bot",
                version="2",
                window_end=base + timedelta(minutes=5 * i),
                seen=400,
                checked=400,
                violations_json=__import__("json").dumps(
                    {
                        "pii": int(rng.poisson(2)),
                        "banned_terms": int(rng.poisson(1)),
                        "prompt_injection": int(rng.poisson(0.5 + (i > 16) * 3)),
                    }
                ),
                sampled=40,
                drops=0,
                judged=40,
                sum_w=400.0,
                sum_wy=360.0,
                sum_w2=4000.0,
                sum_w2y=3600.0,
                sum_w2y2=3600.0,
            )
        )
    write_online(store, rows)
    q = AnnotationQueue(store, "support", labels=labels, clock=clock)
    q.seed([{"input": f"question {i}", "output": f"answer {i}", "judge": judge[i]} for i in range(30)])
    for _ in range(8):
        for who in ("ana", "bruno"):
            item = q.next_item(who)
            if item:
                label = judge[int(str(item["input"]).split()[-1])]
                if who == "bruno" and rng.random() < 0.4:
                    label = labels[int(rng.integers(3))]
                q.submit(item["item_id"], who, label)


def _experiments(reports_dir: Path, tmp: Path) -> None:
    import pandas as pd

    from trilho.measure import ab
    from trilho.measure.metrics import mean
    from trilho.measure.report import build_report, write_report
    from trilho.measure.sql import DuckDBSource

    rng = np.random.default_rng(11)
    for name, lift in (("checkout-button", 0.06), ("ranking-v2", 0.015)):
        n = 4000
        variant = rng.integers(0, 2, size=n)
        pre = rng.gamma(2.0, 2.0, size=n)
        orders = pre * 0.8 + rng.gamma(2.0, 1.0, size=n)
        orders = orders * (1 + lift * variant)
        csv = tmp / f"{name}.csv"
        pd.DataFrame(
            {"user": range(n), "variant": variant, "orders": orders, "orders_covariate": pre}
        ).to_csv(csv, index=False)
        res = ab.analyze(DuckDBSource(str(csv)), [mean("orders", "orders_covariate")], variant="variant")
        write_report(build_report(res.to_dict(), seed=11), reports_dir / name)


def seed(store, home: str | Path, *, evals: bool = True, experiments: bool = True) -> dict[str, Any]:
    """Fill ``store`` (migrated) and ``home`` (artifacts, reports) with demo data; returns what it made."""
    from trilho.registry import Registry

    home = Path(home)
    tmp = home / "demo-src"
    tmp.mkdir(parents=True, exist_ok=True)
    registry = Registry(store, home / "artifacts")
    for name, versions in (("iris", 2), ("churn", 2), ("ranker", 1), ("support-bot", 3)):
        _register(registry, tmp, name, versions)
    clock = ManualClock(datetime.fromisoformat("2026-03-02T09:00:00+00:00"))
    _rollout(store, clock, "churn", "2", 900, rps=60, seed=2)
    clock.advance(120)
    _rollout(store, clock, "iris", "2", 300, rps=80, seed=4, latency={"2": 0.015})
    _burning(store, clock, "ranker")
    if evals:
        _evals(store, clock)
    if experiments:
        _experiments(home / "reports", tmp)
    return {"models": ["iris", "churn", "ranker", "support-bot"], "reports": home / "reports"}
