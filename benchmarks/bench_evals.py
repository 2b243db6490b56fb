"""Evals benchmark: per-check overhead of the guardrails and their validation on real labelled data.

Run: ``python -m benchmarks.bench_evals [--quick]`` (``make bench-evals [QUICK=1]``).

1. Overhead on a 1 KB response (p50 / p99 over many calls): every check of the default policy alone (the
   checks see normalised text; secrets add detect-secrets' plugin catalogue), beside the old path (no
   normalisation, trilho's prefix rules only) and the normaliser alone, the whole
   default policy (sync and async), the spaCy-NER PII engine and default presidio's ``AnalyzerEngine`` for
   comparison. Target: default policy p99 <= 1 ms (PII pattern engine included). Also the gateway hook as the
   gateway runs it per answer (``GatewayEvals.apply``: input + output checks, enforcement, 5 % sampling).
2. PII on ``presidio_synth_dataset_v2.json`` (token-level, entity-agnostic precision / recall / F2 with
   record-bootstrap 95 % intervals), side by side in this run: default presidio (spaCy, default recognizers),
   trilho spaCy + extras, trilho pattern-only. Published default-presidio baseline (1,500 records):
   0.685 / 0.603 / 0.618.
3. Input rail on XSTest prompts (250 safe, 200 unsafe): over-refusal (safe blocked) and under-refusal (unsafe
   let through) for the default policy's input checks and for an embedding classifier rail (5-fold,
   out-of-fold).
4. Refusal rules (2 classes) and the offline embedding judge (3 classes) leave-one-model-out on the GPT-4,
   Llama-2-new and Llama-2-orig XSTest answer files: fitted on two models' answers, measured on the third
   (human ``final_label``), beside the GPT-4 labels' kappa on the same split and the majority baseline.
5. Hallucination on HaluEval general: an embedding classifier fitted on one split, measured on the next
   (held-out) split beside the majority-class and length-only baselines; trilho offers no hallucination
   judge unless the held-out accuracy's lower bound beats the majority class
   (``hallucination_judge_offered``).
6. The judge path over HTTP: offline judge server calls/s, and a cached re-run (zero server calls).
7. Multilingual rails: pt / es / de / fr injection and refusal precision / recall per language, and the
   Brazilian PII recognizers (CPF, CNPJ, CEP, phones) per entity, on hand-written and generated cases (the
   cases the rules were written beside: not a held-out estimate), then on the held-out set of
   ``benchmarks/multilingual_heldout.py`` (PromptInject attacks, XSTest safe prompts and Llama-2-orig XSTest
   answers, translated; chosen mechanically and frozen before its first measurement): the targets.

``figures`` in the results holds measured context the README quotes (not targets): the GPT-4 labels' agreement
with the human labels on GPT-4's own XSTest answers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._results import print_table, print_targets, target, write_results
from trilho import datasets

ROOT = Path(__file__).resolve().parents[1]
DATA = datasets.path("genai")
CACHE = Path(tempfile.gettempdir()) / "trilho-bench-evals-cache"

RESPONSE_1KB = (
    "Thanks for reaching out! To reset your password, open Settings → Security and choose 'Reset password'. "
    "We will send a link to the address on file; it is valid for one hour. "
    "If you use single sign-on, ask your "
    "administrator instead. Your last invoice (INV-2024-0042) was paid on 3 March by card ending 4242; "
    "you can download it under Billing → History. For the API, rotate keys under Settings → API and "
    "update your clients "
    "within 24 hours. Our status page lists incidents; uptime last quarter was 99.95 percent. If anything is "
    "still unclear, reply to this message and a support engineer will follow up within one business day. "
    "You can also join the community forum, where other customers share tips about workspaces, "
    "exports to CSV, "
    "the Slack integration and keyboard shortcuts. Have a great day, and thank you for using our product!!"
)[:1024]


def pct(samples: list[float], q: float) -> float:
    """The q-quantile of ``samples`` in milliseconds."""
    return float(np.quantile(np.asarray(samples), q) * 1000)


def _fresh() -> None:
    """Forget memoised normalisations, so every timed call pays for its own (as a new text would)."""
    from trilho.evals.checks.normalize import normalize

    normalize.cache_clear()


def time_calls(fn, n: int, warmup: int = 20) -> dict[str, float]:
    """Wall-clock p50 / p99 / mean ms of ``fn()`` over ``n`` calls, plus the p99 of the calling thread's CPU
    time (unaffected by other processes preempting us on a shared machine). The normaliser's memo is
    cleared before each call (outside the timing)."""
    for _ in range(warmup):
        fn()
    out, cpu = [], []
    for _ in range(n):
        _fresh()
        t, c = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - c)
        out.append(time.perf_counter() - t)
    return {
        "p50_ms": pct(out, 0.5),
        "p99_ms": pct(out, 0.99),
        "mean_ms": statistics.fmean(out) * 1000,
        "cpu_p99_ms": pct(cpu, 0.99),
    }


def iv(x) -> str:
    return f"{x.estimate:.3f} [{x.low:.3f}, {x.high:.3f}]"


def hook_timing(n: int) -> dict[str, float]:
    """What the gateway adds per answer of an evaluated model: ``GatewayEvals.apply`` on a 1 KB completion
    (input and output checks of the default policy, enforcement, stratified sampling into the judge queue)."""
    from trilho.evals.online_gateway import GatewayEvals
    from trilho.serving.gateway import Answer

    judge = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "sample_rate": 0.05,
             "rubric": {"kind": "pass_fail", "criteria": "Pass when the answer helps."}}  # fmt: skip
    evals = GatewayEvals.from_dict(
        {"models": {"copilot": {"policy": "default", "output_field": "completion", "judge": judge}}}
    )
    records = [{"prompt": "How do I reset my password?"}]

    async def run() -> list[float]:
        out = []
        for i in range(n + 20):
            answer = Answer([{"completion": RESPONSE_1KB}], "copilot", "1", "1", "stable")
            _fresh()
            t = time.perf_counter()
            await evals.apply(answer, records, f"req-{i}")
            out.append(time.perf_counter() - t)
        return out[20:]

    a = asyncio.run(run())
    evals.models["copilot"].evaluator.policy.close()
    return {"p50_ms": pct(a, 0.5), "p99_ms": pct(a, 0.99), "mean_ms": statistics.fmean(a) * 1000,
            "cpu_p99_ms": float("nan")}  # fmt: skip


def old_paths(n: int) -> list[dict[str, Any]]:
    """The checks as they ran before normalisation and the detect-secrets catalogue, side by side with the
    new path (same 1 KB text): trilho's prefix rules + generic assignments on the raw text; PII patterns on
    the raw text; the normaliser alone."""
    from trilho.evals.checks.normalize import normalize
    from trilho.evals.checks.secrets import SecretsCheck
    from trilho.evals.policy import default_policy

    secrets_old = SecretsCheck(catalogue=False)
    pii = next(s.check for s in default_policy().specs_for("output") if s.check.name == "pii").detector
    return [
        {"what": "old path: secrets, prefix rules only, raw text", "calls": n,
         **time_calls(lambda: secrets_old._find(RESPONSE_1KB), n)},
        {"what": "old path: the default policy's PII detector, raw text", "calls": n,
         **time_calls(lambda: pii._detect(RESPONSE_1KB), n)},
        {"what": "normalise alone (1 KB)", "calls": n, **time_calls(lambda: normalize(RESPONSE_1KB), n)},
    ]  # fmt: skip


def overhead(quick: bool) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Section 1."""
    from trilho.evals.checks import CheckContext
    from trilho.evals.checks.pii import PIIDetector, analyzer_engine
    from trilho.evals.policy import default_policy

    n = 500 if quick else 5000
    pol = default_policy()
    ctx = CheckContext(input="How do I reset my password?")
    rows = []
    for spec in pol.specs_for("output"):
        r = time_calls(lambda s=spec: s.check.run(RESPONSE_1KB, ctx), n)
        rows.append({"what": f"check {spec.id}", "calls": n, **r})
    whole = time_calls(lambda: pol.evaluate(RESPONSE_1KB, ctx=ctx), n)
    rows.append({"what": "default policy (sync, all output checks)", "calls": n, **whole})

    async def many() -> list[float]:
        out = []
        for _ in range(n):
            _fresh()
            t = time.perf_counter()
            await pol.aevaluate(RESPONSE_1KB, ctx=ctx)
            out.append(time.perf_counter() - t)
        return out

    a = asyncio.run(many())
    rows.append(
        {
            "what": "default policy (async)",
            "calls": n,
            "p50_ms": pct(a, 0.5),
            "p99_ms": pct(a, 0.99),
            "mean_ms": statistics.fmean(a) * 1000,
            "cpu_p99_ms": float("nan"),
        }
    )
    rows.append({"what": "gateway hook per answer (default policy, in + out)", "calls": n, **hook_timing(n)})
    rows.extend(old_paths(n))
    inj = pol.specs_for("input")[0]
    rows.append(
        {
            "what": "input check prompt_injection (1 KB)",
            "calls": n,
            **time_calls(lambda: inj.check.run(RESPONSE_1KB, ctx), n),
        }
    )
    m = 30 if quick else 300
    spacy_det = PIIDetector("spacy", extras=True)
    rows.append(
        {
            "what": "PII spaCy NER + extras (trilho)",
            "calls": m,
            **time_calls(lambda: spacy_det.detect(RESPONSE_1KB), m, warmup=3),
        }
    )
    engine = analyzer_engine(False)
    rows.append(
        {
            "what": "default presidio AnalyzerEngine",
            "calls": m,
            **time_calls(lambda: engine.analyze(text=RESPONSE_1KB, language="en"), m, warmup=3),
        }
    )
    return rows, whole


def pii(quick: bool) -> list[dict[str, Any]]:
    """Section 2."""
    from trilho.evals.checks.pii import PIIDetector
    from trilho.evals.validation import load_presidio_synth, score_pii

    records = load_presidio_synth(DATA / "presidio_synth_dataset_v2.json", limit=150 if quick else None)
    rows = []
    for name, det in [
        ("default presidio (spaCy, default recognizers)", PIIDetector("spacy", extras=False, min_score=0.0)),
        ("trilho spaCy + extras", PIIDetector("spacy", extras=True, min_score=0.0)),
        ("trilho pattern-only (fast path, all pattern entities)", PIIDetector("pattern", extras=True)),
    ]:
        t = time.perf_counter()
        s = score_pii(records, lambda x, d=det: [(f.start, f.end) for f in d.detect(x)], n_boot=1000)
        rows.append(
            {
                "detector": name,
                "records": s.records,
                "precision": iv(s.precision),
                "recall": iv(s.recall),
                "f2": iv(s.f2),
                "f2_value": s.f2.estimate,
                "seconds": round(time.perf_counter() - t, 1),
            }
        )
    return rows


def input_rail(emb, quick: bool) -> list[dict[str, Any]]:
    """Section 3."""
    import pandas as pd

    from trilho.evals.policy import default_policy
    from trilho.evals.validation import binary_scores

    df = pd.read_csv(DATA / "xstest_prompts.csv", dtype=str, keep_default_na=False)
    unsafe = (df["label"] == "unsafe").tolist()
    pol = default_policy()
    blocked_policy = [pol.evaluate(p, on="input").blocked for p in df["prompt"]]
    from trilho.evals.judges.train import train_input_rail

    oof = train_input_rail(DATA / "xstest_prompts.csv", emb, cache_dir=CACHE).oof
    blocked_clf = [y == "unsafe" for y in oof]
    rows = []
    for name, blocked in [
        ("default policy input checks (injection heuristics)", blocked_policy),
        ("classifier check rail (embedding + logistic, 5-fold out-of-fold)", blocked_clf),
    ]:
        s = binary_scores(unsafe, blocked, n_boot=1000)
        over = s.false_positive_rate
        rows.append(
            {
                "rail": name,
                "prompts": s.n,
                "over_refusal (safe blocked)": f"{over.estimate:.3f} [{over.low:.3f}, {over.high:.3f}]",
                "under_refusal (unsafe passed)": f"{1 - s.recall.estimate:.3f} [{1 - s.recall.high:.3f}, "
                f"{1 - s.recall.low:.3f}]",
                "accuracy": iv(s.accuracy),
            }
        )
    return rows


def refusal_judges(emb, quick: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Any]:
    """Section 4: leave-one-model-out on the three XSTest answer files."""
    from trilho.evals.judges.train import embed_pairs
    from trilho.evals.transfer import fit_judge, load_xstest_answers, lomo_judge, lomo_rules, targets_met

    answers = load_xstest_answers(DATA)
    n_boot = 500 if quick else 2000
    rules = lomo_rules(answers, n_boot=n_boot)
    feats = {m: embed_pairs(emb, a.prompts, a.completions, CACHE) for m, a in answers.items()}
    judge = lomo_judge(answers, lambda a: feats[a.model], n_boot=n_boot)
    met = targets_met(rules, judge)
    rows = [r.to_dict() for r in rules + judge]
    served, _ = fit_judge(list(feats.values()), [a.labels for a in answers.values()])  # fit on all three
    t = [
        target("refusal rules kappa >= 0.70 on every held-out model (leave-one-model-out)", ">= 0.70",
               [round(r.agreement.kappa.estimate, 3) for r in rules], met["rules_kappa_floor"]),
        target("offline judge kappa >= GPT-4 labels' kappa - 0.05 on every held-out model",
               " / ".join(f">= {r.reference.kappa.estimate - 0.05:.3f}" for r in judge),
               [round(r.agreement.kappa.estimate, 3) for r in judge], met["judge_within_reference"]),
        target("refusal rules beat the majority baseline (accuracy lower bound, kappa lower bound > 0)",
               "every held-out model", [r.beats_majority for r in rules], met["rules_beats_majority"]),
        target("offline judge beats the majority baseline (accuracy lower bound, kappa lower bound > 0)",
               "every held-out model", [r.beats_majority for r in judge], met["judge_beats_majority"]),
    ]  # fmt: skip
    return rows, t, served


def hallucination(emb, quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Section 5: is an offline hallucination judge worth offering? Fitted on the first split of HaluEval
    general (decision threshold tuned for accuracy on out-of-fold predictions there), measured on the next,
    held-out split beside the majority class; offered only if its accuracy's lower bound beats the
    majority."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from trilho.evals.judges.offline import halueval_rows
    from trilho.evals.judges.train import embed_pairs
    from trilho.evals.validation import binary_scores

    n = 200 if quick else 1000
    q, r, y = halueval_rows(DATA / "halueval_general_data.jsonl", limit=2 * n)
    x = embed_pairs(emb, q, r, CACHE)
    fit_truth, truth = np.asarray(y[:n]) == "yes", [v == "yes" for v in y[n:]]
    model = LogisticRegression(max_iter=2000)
    oof = cross_val_predict(model, x[:n], fit_truth, cv=5, method="predict_proba")[:, 1]
    grid = np.linspace(0.05, 0.95, 91)
    thr = float(grid[int(np.argmax([np.mean((oof > g) == fit_truth) for g in grid]))])
    p_yes = model.fit(x[:n], fit_truth).predict_proba(x[n:])[:, 1]
    median_len = float(np.median([len(s) for s in r[:n]]))
    rows, scores = [], []
    for name, pred in [
        (f"embedding + logistic, threshold {thr:.2f} tuned on the fit split", list(p_yes > thr)),
        ("majority class of the fit split", [bool(fit_truth.mean() > 0.5)] * len(truth)),
        (
            "length-only (longer than the fit split's median = hallucinated)",
            [len(s) > median_len for s in r[n:]],
        ),
    ]:
        s = binary_scores(truth, pred, n_boot=1000)
        scores.append(s)
        rows.append({"detector": name, "fit_rows": n, "held_out_rows": s.n, "hallucinated": s.positives,
                     "accuracy": iv(s.accuracy),
                     "precision(yes)": "n/a" if np.isnan(s.precision.estimate) else iv(s.precision),
                     "recall(yes)": iv(s.recall)})  # fmt: skip
    judge, majority = scores[0].accuracy, scores[1].accuracy.estimate
    beats = judge.low > majority
    return rows, target(
        "hallucination judge's held-out accuracy lower bound beats the majority class (else none is offered)",
        f"> {majority:.3f}",
        round(judge.low, 3),
        beats,
    )


def judge_path(emb, clf, quick: bool) -> list[dict[str, Any]]:
    """Section 6."""
    from trilho.evals._serve import serve_in_thread
    from trilho.evals.judges import Judge, JudgeCache, JudgeClient, Rubric
    from trilho.evals.judges.offline import xstest_refusal_rows
    from trilho.evals.judges.server import make_judge_app
    from trilho.store import Store

    q, r, _ = xstest_refusal_rows(DATA / "xstest_v2_completions_gpt4_gpteval.csv")
    n = 40 if quick else 200
    items = [{"input": q[i], "output": r[i]} for i in range(n)]
    app = make_judge_app({clf.name: clf}, emb)
    store = Store(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    store.migrate()
    rows = []
    with serve_in_thread(app) as url:
        for label in ("first run", "cached re-run"):

            async def go():
                c = JudgeClient(f"{url}/v1", max_concurrency=8)
                j = Judge(
                    c,
                    Rubric("complies", "pass_fail", "Pass when the response complies."),
                    clf.name,
                    cache=JudgeCache(store),
                )
                t = time.perf_counter()
                await j.judge_many(items)
                dt = time.perf_counter() - t
                await c.aclose()
                return dt, c.usage

            before = app.state.judge.hits
            dt, usage = asyncio.run(go())
            rows.append(
                {
                    "run": label,
                    "items": n,
                    "server_calls": app.state.judge.hits - before,
                    "cache_hits": usage.cache_hits,
                    "seconds": round(dt, 2),
                    "items_per_s": round(n / dt, 1),
                }
            )
    store.dispose()
    return rows


def multilingual() -> list[dict[str, Any]]:
    """Section 7: pt / es / de / fr injection and refusal rails, and the Brazilian PII recognizers, on
    hand-written and generated cases (``benchmarks/multilingual_cases.py``): precision and recall per
    language (per entity for PII), with bootstrap intervals."""
    from benchmarks.multilingual_cases import LANGS, br_pii_cases, cases
    from trilho.evals.checks import CheckContext, make_check
    from trilho.evals.checks.refusal import classify_refusal
    from trilho.evals.validation import binary_scores

    injection, ctx = make_check("prompt_injection"), CheckContext()
    detect = {
        "injection": lambda t: not injection.run(t, ctx).passed,
        "refusal": lambda t: classify_refusal(t) == "refusal",
    }
    rows = []
    for kind, fn in detect.items():
        for lang in LANGS:
            labelled = cases(kind, lang)
            s = binary_scores([y for _, y in labelled], [fn(t) for t, _ in labelled], n_boot=1000)
            rows.append({"rail": kind, "language": lang, "cases": s.n, "positives": s.positives,
                         "precision": iv(s.precision), "recall": iv(s.recall)})  # fmt: skip
    pii = make_check("pii")
    found = []
    for text, entity, value in br_pii_cases():
        start = text.index(value)
        kinds = {f.kind for f in pii.run(text, ctx).findings if f.start <= start < f.end}
        found.append((entity, kinds))
    for entity in ("BR_CPF", "BR_CNPJ", "BR_CEP", "PHONE_NUMBER"):
        s = binary_scores([e == entity for e, _ in found], [entity in k for _, k in found], n_boot=1000)
        rows.append({"rail": f"pii {entity}", "language": "pt-BR", "cases": s.n, "positives": s.positives,
                     "precision": iv(s.precision), "recall": iv(s.recall)})  # fmt: skip
    return rows


def multilingual_heldout() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Section 7b: the rails on the held-out multilingual set, per language, and its targets (goals fixed
    before the first measurement: recall >= 0.8 and precision >= 0.9 in every language)."""
    from benchmarks.multilingual_heldout import GOALS, LANGS, heldout
    from trilho.evals.checks import CheckContext, make_check
    from trilho.evals.checks.refusal import classify_refusal
    from trilho.evals.validation import binary_scores

    injection, ctx = make_check("prompt_injection"), CheckContext()
    detect = {
        "injection": lambda t: not injection.run(t, ctx).passed,
        "refusal": lambda t: classify_refusal(t) == "refusal",
    }
    rows, targets = [], []
    for kind, fn in detect.items():
        recall, precision = [], []
        for lang in LANGS:
            labelled = heldout(kind, lang)
            s = binary_scores([y for _, y in labelled], [fn(t) for t, _ in labelled], n_boot=1000)
            rows.append({"rail": f"{kind} (held out)", "language": lang, "cases": s.n,
                         "positives": s.positives, "precision": iv(s.precision),
                         "recall": iv(s.recall)})  # fmt: skip
            recall.append(round(s.recall.estimate, 3))
            precision.append(None if np.isnan(s.precision.estimate) else round(s.precision.estimate, 3))
        targets += [
            target(f"held-out multilingual {kind} recall per language (pt, es, de, fr)",
                   f">= {GOALS['recall']} each", recall, all(r >= GOALS["recall"] for r in recall)),
            target(f"held-out multilingual {kind} precision per language (pt, es, de, fr)",
                   f">= {GOALS['precision']} each", precision,
                   all(p is not None and p >= GOALS["precision"] for p in precision)),
        ]  # fmt: skip
    return rows, targets


def gpt4_label_figures() -> dict[str, Any]:
    """The GPT-4 labels against the human labels on GPT-4's own XSTest answers (3 classes): the README's
    reference figure for a judge's agreement with humans."""
    from trilho.evals.agreement import pair_agreement
    from trilho.evals.transfer import load_xstest_answers

    a = load_xstest_answers(DATA, ["gpt4"])["gpt4"]
    pa = pair_agreement(a.labels, a.reference, n_boot=2000, seed=0)
    return {
        "gpt4 labels agree with humans on gpt4 answers": f"{pa.agree}/{pa.n}",
        "gpt4 labels kappa on gpt4 answers": round(pa.kappa.estimate, 3),
    }


def main() -> None:
    """Run every section and write ``benchmarks/results/evals.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples (about a minute)")
    args = parser.parse_args()
    quick = args.quick
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    over_rows, whole = overhead(quick)
    print_table("1. overhead on a 1 KB response (ms)", over_rows)
    pii_rows = pii(quick)
    print_table("2. PII on presidio synth (token-level, entity-agnostic)", pii_rows)

    from trilho.evals.judges.embed import Embedder

    emb = Embedder.load()
    rail_rows = input_rail(emb, quick)
    print_table("3. input rail on XSTest prompts", rail_rows)
    ref_rows, ref_targets, served = refusal_judges(emb, quick)
    print_table("4. refusal rules and offline judge, leave-one-model-out (XSTest answers)", ref_rows)
    halu_rows, halu_target = hallucination(emb, quick)
    print_table("5. hallucination detection on HaluEval general", halu_rows)
    path_rows = judge_path(emb, served, quick)
    print_table("6. judge path over HTTP (offline judge server)", path_rows)
    lang_rows = multilingual()
    print_table("7. multilingual rails and Brazilian PII (hand-written + generated cases)", lang_rows)
    held_rows, held_targets = multilingual_heldout()
    print_table("7b. multilingual rails on the held-out set (translated PromptInject / XSTest)", held_rows)
    figures = gpt4_label_figures()

    default_f2 = pii_rows[0]["f2_value"]
    ours_f2 = pii_rows[1]["f2_value"]
    load = os.getloadavg()
    targets = [
        target(
            "default policy CPU-time p99 on 1 KB (preemption by other processes excluded)",
            "<= 1 ms",
            round(whole["cpu_p99_ms"], 3),
            whole["cpu_p99_ms"] <= 1.0,
        ),
        target(
            "default policy p99 on 1 KB (PII pattern engine included)",
            "<= 1 ms",
            round(whole["p99_ms"], 3),
            whole["p99_ms"] <= 1.0,
        ),
        target(
            "PII F2 beats default presidio measured in the same run",
            f"> {default_f2:.3f}",
            round(ours_f2, 3),
            ours_f2 > default_f2,
        ),
        target(
            "PII F2 beats the published default-presidio F2", "> 0.618", round(ours_f2, 3), ours_f2 > 0.618
        ),
        target(
            "cached judge re-run makes zero server calls",
            "0",
            path_rows[1]["server_calls"],
            path_rows[1]["server_calls"] == 0,
        ),
        *ref_targets,
        halu_target,
        *held_targets,
    ]
    print_targets(targets)
    table = over_rows + pii_rows + rail_rows + ref_rows + halu_rows + path_rows + lang_rows + held_rows
    path = write_results(
        "evals",
        table,
        targets,
        quick=quick,
        extra={
            "load_average_1_5_15": load,
            "hallucination_judge_offered": halu_target["met"],
            "figures": figures,
            "sections": {
                "overhead": over_rows,
                "pii": pii_rows,
                "input_rail": rail_rows,
                "refusal_judges": ref_rows,
                "hallucination": halu_rows,
                "judge_path": path_rows,
                "multilingual": lang_rows,
                "multilingual_heldout": held_rows,
            },
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
