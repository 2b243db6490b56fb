"""`trilho eval` commands: calibrate, check, run, annotate, online — thin wrappers over ``trilho.evals``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from trilho.cli._common import JsonFlag, emit, handles_errors, open_store, server_logs

app = typer.Typer(help="GenAI evals: checks, judges, calibration, suites and gates.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Attach the ``eval`` group to the root command."""
    root.add_typer(app, name="eval")


@app.command()
@handles_errors
def calibrate(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV / JSONL / JSON / Parquet file with labels.")],
    human: Annotated[str, typer.Option("--human", help="Column with the human (reference) label.")],
    judge: Annotated[list[str], typer.Option("--judge", help="Column with a judge's label (repeatable).")],
    rater: Annotated[
        list[str], typer.Option("--rater", help="Extra rater column for Krippendorff's alpha.")
    ] = [],  # noqa: B006
    tie: Annotated[list[str], typer.Option("--tie", help="Label that means a tie (repeatable).")] = [],  # noqa: B006
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    floor: Annotated[float, typer.Option("--kappa-floor", help="Minimum kappa for a judge to gate.")] = 0.6,
    save: Annotated[
        str | None, typer.Option("--save", help="Record the result in the store under this judge name.")
    ] = None,
    population: Annotated[
        str | None,
        typer.Option(
            "--population",
            help="MODEL@VERSION whose outputs the file holds: stores the labelled items with the record, so "
            "the judge gates only versions whose outputs match them (or that have their own calibration).",
        ),
    ] = None,
    suite: Annotated[str, typer.Option("--suite", help="Suite the population's outputs came from.")] = "",
    window: Annotated[
        str | None, typer.Option("--window", help="Time window of the outputs, START/END (ISO dates).")
    ] = None,
    input_col: Annotated[str, typer.Option("--input-col", help="Column with each item's input.")] = "input",
    output_col: Annotated[
        str, typer.Option("--output-col", help="Column with each item's output (the text judged).")
    ] = "output",
    json_out: JsonFlag = False,
) -> None:
    """Agreement of a judge with human labels: percent agreement, Cohen's kappa, confusion, bootstrap CIs."""
    from trilho.evals.calibration import calibrate as run

    pop = _population(population, suite, window, save)
    report = run(file, human=human, judge=judge, raters=rater, ties=tie, n_boot=n_boot, seed=seed)
    items = _population_items(file, human, judge[0], input_col, output_col) if pop is not None else []
    data = report.to_dict()
    data["kappa_floor"] = floor
    data["can_gate"] = {j: report.can_gate(floor, j) for j in report.judges}
    if save:
        from trilho.evals.records import save_calibration

        data["saved_id"] = save_calibration(open_store(ctx), save, report, population=pop, items=items)
        if pop is not None:
            data["population"] = {**pop.to_dict(), "items": len(items)}

    def render(console) -> None:
        from rich.table import Table

        for name, pa in report.judges.items():
            tab = Table(title=f"{name} vs {human} ({pa.n} rows)")
            tab.add_column("metric")
            tab.add_column("value", justify="right")
            tab.add_column("95% CI", justify="right")
            tab.add_row(
                "agreement",
                f"{pa.agree}/{pa.n} = {pa.percent.estimate:.1%}",
                f"[{pa.percent.low:.1%}, {pa.percent.high:.1%}]",
            )
            if pa.ties:
                pct = "n/a" if pa.percent_without_ties is None else f"{pa.percent_without_ties:.1%}"
                tab.add_row(
                    "agreement without ties", f"{pa.agree_without_ties}/{pa.n_without_ties} = {pct}", ""
                )
            tab.add_row(
                "Cohen's kappa", f"{pa.kappa.estimate:.3f}", f"[{pa.kappa.low:.3f}, {pa.kappa.high:.3f}]"
            )
            for lab, row in pa.per_class.items():
                p = "-" if row["precision"] is None else f"{row['precision']:.3f}"
                r = "-" if row["recall"] is None else f"{row['recall']:.3f}"
                tab.add_row(f"  {lab}", f"P {p} / R {r}", f"n={row['support']}")
            console.print(tab)
            ok = data["can_gate"][name]
            console.print(f"{name}: {'can' if ok else '[red]cannot[/]'} gate a deploy (kappa floor {floor})")
        if report.alpha is not None:
            console.print(f"Krippendorff's alpha over {', '.join(report.raters)}: {report.alpha:.3f}")

    emit(data, json_out, render)


def _population(population: str | None, suite: str, window: str | None, save: str | None):
    """The ``--population`` / ``--suite`` / ``--window`` options as a Population (None without one)."""
    from trilho.errors import EvalError
    from trilho.evals.judge_gate import Population
    from trilho.names import check_name

    if population is None:
        if window is not None or suite:
            raise EvalError(
                "--suite and --window describe a --population", fix="add --population MODEL@VERSION",
                field="population",
            )  # fmt: skip
        return None
    if save is None:
        raise EvalError(
            "--population is stored with the calibration, so it needs --save NAME",
            fix="add --save JUDGE_NAME",
            field="population",
            value=population,
        )
    model, sep, version = population.rpartition("@")
    if not sep or not model or not version:
        raise EvalError(
            f"--population {population!r} must be MODEL@VERSION",
            fix="name the model version whose outputs were labelled, e.g. copilot@3",
            field="population",
            value=population,
        )
    check_name(model, "model name", field="population", error=EvalError)
    check_name(version, "version", field="population", error=EvalError)
    span = None
    if window is not None:
        start, sep, end = window.partition("/")
        if not sep or not start or not end or start > end:
            raise EvalError(
                f"--window {window!r} must be START/END with START <= END",
                fix="e.g. --window 2026-11-01/2026-11-30",
                field="window",
                value=window,
            )
        span = (start, end)
    return Population(model, version, suite, span)


def _population_items(file: Path, human: str, judge: str, input_col: str, output_col: str):
    """The labelled rows of ``file`` that calibrate (both labels present), as population items."""
    from trilho.errors import EvalError
    from trilho.evals.calibration import read_table

    rows = read_table(file)
    if rows and output_col not in rows[0]:
        raise EvalError(
            f"column {output_col!r} (the outputs the judge labelled) is missing; a population needs them",
            fix=f"pass --output-col with one of: {', '.join(map(str, rows[0]))}",
            field="output_col",
            value=output_col,
        )

    def given(v) -> bool:
        return v is not None and not (isinstance(v, str) and not v.strip())

    return [
        {
            "id": r.get("id"),
            "input": r.get(input_col),
            "output": r[output_col],
            "human": str(r[human]).strip(),
            "judge": str(r[judge]).strip(),
        }
        for r in rows
        if given(r.get(human)) and given(r.get(judge))
    ]


@app.command()
@handles_errors
def check(
    policy: Annotated[str, typer.Argument(help="Policy YAML file, or 'default'.")],
    text: Annotated[str | None, typer.Argument(help="Text to check (or use --file).")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Read the text from this file ('-' for stdin).")
    ] = None,
    on: Annotated[str, typer.Option("--on", help="Run the input or the output checks.")] = "output",
    json_out: JsonFlag = False,
) -> None:
    """Run a policy's checks on one text; exit 1 when the policy blocks or redacts it."""
    import sys

    from trilho.errors import CheckFailed, EvalError
    from trilho.evals.policy import Action, Policy

    if on not in ("input", "output"):
        raise EvalError(f"--on must be input or output, got {on!r}", field="on", value=on)
    if (text is None) == (file is None):
        raise EvalError("give the text as an argument or with --file (exactly one)", field="text")
    if file is not None:
        if str(file) == "-":
            text = sys.stdin.read()
        elif not file.is_file():
            raise EvalError(f"file {str(file)!r} does not exist", field="file", value=str(file))
        else:
            text = file.read_text(encoding="utf-8")
    pol = Policy.load(policy)
    try:
        verdict = pol.evaluate(text or "", on=on)
    finally:
        pol.close()
    data = {"ok": verdict.action in (Action.ALLOW, Action.FLAG), "policy": pol.name, **verdict.to_dict()}

    def render(console) -> None:
        colour = {"allow": "green", "flag": "yellow", "redact": "yellow", "block": "red"}[str(verdict.action)]
        console.print(f"[{colour}]{verdict.action}[/] ({verdict.seconds * 1000:.2f} ms)")
        for r in verdict.results:
            mark = "error" if r.error else ("ok" if r.passed else "FAIL")
            kinds = ", ".join(sorted({f.kind for f in r.findings}))
            console.print(f"  {r.check:<18} {mark:<6} {kinds or r.error or ''}")
        if verdict.text != text:
            console.print(f"→ {verdict.text}")

    emit(data, json_out, render)
    if not data["ok"]:
        raise typer.Exit(CheckFailed.exit_code)


@app.command("run")
@handles_errors
def run_cmd(
    ctx: typer.Context,
    suite: Annotated[Path, typer.Argument(help="Suite YAML file.")],
    gate: Annotated[
        bool,
        typer.Option(
            "--gate",
            help="Fail (exit 1) when a threshold is missed or a metric regresses against the baseline.",
        ),
    ] = False,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Stored run id (or 'latest') to compare against.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Registry model version (NAME@VERSION) to record the gate against."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Report folder (default TRILHO_HOME/reports).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Run an eval suite, write HTML + JSON reports, and optionally gate (exit 0 pass / 1 fail / 2 error)."""
    from trilho.cli._common import settings
    from trilho.evals.service import evaluate_suite

    s = settings(ctx)
    # like `python -m`, the folder the command runs in is importable: a suite's `callable` target names a
    # module of the project (`eval_target:answer`), not an installed package
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    outcome = evaluate_suite(
        suite,
        store=open_store(ctx),
        reports_dir=out or s.reports_dir,
        artifacts_dir=s.artifacts_url,
        gate=gate,
        baseline=baseline,
        model_ref=model,
    )
    data = outcome.to_dict()
    decision = outcome.run.gate

    def render(console) -> None:
        from rich.table import Table

        tab = Table(title=f"suite {outcome.run.suite} · run {outcome.run.run_id}")
        tab.add_column("metric")
        tab.add_column("value", justify="right")
        for name, value in sorted(outcome.run.metrics.items()):
            tab.add_row(name, f"{value:.4f}")
        console.print(tab)
        for name, b in sorted(outcome.run.baselines.items()):
            line = f"  {name}: win rate {b['judge_win_rate']:.4f}, length-only {b['length_win_rate']:.4f}"
            if b["labelled"]:
                line += (
                    f"; accuracy vs humans {b['judge_accuracy']:.4f} vs baseline {b['length_accuracy']:.4f}"
                )
            console.print(line)
        for jg in outcome.run.judge_gates:
            mark = "[green]may gate[/]" if jg["use_judge"] else "[red]may not gate[/]"
            console.print(f"  judge {jg['judge']} on {jg['target']}: {mark} ({jg['status']})")
        if decision is not None:
            for t in decision.regressions:
                console.print(
                    f"  {t.metric}: {t.baseline:.4f} → {t.candidate:.4f} ({t.test}, p={t.p_value:.3g})"
                    f"{' [red]regressed[/]' if t.regressed else ''}"
                )
            colour = "green" if decision.passed else "red"
            console.print(f"gate: [{colour}]{decision.decision.upper()}[/]")
            for r in decision.reasons:
                console.print(f"  - {r}")
        console.print(f"report: {outcome.html_report}")

    emit(data, json_out, render)
    if decision is not None:
        raise typer.Exit(decision.exit_code)


annotate_app = typer.Typer(
    help="Human annotation queue: seed, serve the web page, agreement, export.", no_args_is_help=True
)
app.add_typer(annotate_app, name="annotate")


def _queue(ctx: typer.Context, queue: str, labels: str | None = None):
    from trilho.evals.annotations import AnnotationQueue

    return AnnotationQueue(
        open_store(ctx), queue, labels=[x.strip() for x in labels.split(",")] if labels else None
    )


@annotate_app.command("seed")
@handles_errors
def annotate_seed(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="JSONL/CSV with 'input', 'output' (and optional 'judge') per row.")
    ],
    labels: Annotated[str, typer.Option("--labels", help="Comma-separated label set.")],
    queue: Annotated[str, typer.Option("--queue", help="Queue name.")] = "default",
    json_out: JsonFlag = False,
) -> None:
    """Add items to an annotation queue (idempotent)."""
    from trilho.evals.calibration import read_table

    added = _queue(ctx, queue, labels).seed(read_table(file))
    emit({"queue": queue, "added": added}, json_out, lambda c: c.print(f"added {added} item(s) to {queue}"))


@annotate_app.command("serve")
@handles_errors
@server_logs
def annotate_serve(
    ctx: typer.Context,
    queue: Annotated[str, typer.Option("--queue", help="Queue name.")] = "default",
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8765,
) -> None:
    """Serve the annotation page and API (Ctrl-C to stop); annotators sign in with a token (`trilho rollout
    token create NAME --role annotator`)."""
    from trilho.evals.annotate_app import make_annotation_app
    from trilho.net import HttpLimits
    from trilho.net.refusals import RefusalSummary, audit_writer
    from trilho.net.server import run
    from trilho.rollout import RolloutService
    from trilho.rollout.auth import authenticate

    q = _queue(ctx, queue)
    limits = HttpLimits.from_env()
    refusals = RefusalSummary("annotate", audit_writer(RolloutService(q.store), "annotation app"))
    app = make_annotation_app(
        q, authenticate=lambda secret: authenticate(q.store, secret), limits=limits, refusals=refusals
    )
    run(app, host=host, port=port, limits=limits)


@annotate_app.command("agreement")
@handles_errors
def annotate_agreement(
    ctx: typer.Context,
    queue: Annotated[str, typer.Option("--queue", help="Queue name.")] = "default",
    json_out: JsonFlag = False,
) -> None:
    """Inter-annotator agreement and queue status."""
    q = _queue(ctx, queue)
    data = {"queue": queue, "status": q.stats(), **q.agreement()}
    emit(data, json_out, lambda c: c.print(data))


@annotate_app.command("export")
@handles_errors
def annotate_export(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Argument(help="JSONL file for `trilho eval calibrate --human human --judge judge`.")
    ],
    queue: Annotated[str, typer.Option("--queue", help="Queue name.")] = "default",
    json_out: JsonFlag = False,
) -> None:
    """Write decided items as a calibration set (human = final label, judge = the item's judge label)."""
    import json

    rows = _queue(ctx, queue).calibration_rows()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), encoding="utf-8")
    emit(
        {"queue": queue, "rows": len(rows), "file": str(out)},
        json_out,
        lambda c: c.print(f"wrote {len(rows)} row(s) to {out}"),
    )


@app.command("calibrations")
@handles_errors
def calibrations_cmd(
    ctx: typer.Context,
    judge: Annotated[str, typer.Argument(help="Judge (calibration) name given to `eval calibrate --save`.")],
    items: Annotated[
        int | None,
        typer.Option("--items", help="Print the labelled items of this calibration record id (JSON Lines)."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """A judge's stored calibrations: the population each was measured on, κ, and how many labelled items are
    kept (what a gate decision that used it can be re-derived from)."""
    import json as _json

    from trilho.errors import EvalError
    from trilho.evals.records import calibration_items, calibrations_of, population_of

    store = open_store(ctx)
    records = calibrations_of(store, judge)
    if not records:
        raise EvalError(
            f"judge {judge!r} has no stored calibration",
            fix=f"run `trilho eval calibrate FILE --human COL --judge COL --save {judge}`",
            field="judge",
            value=judge,
        )
    if items is not None:
        if items not in {r["id"] for r in records}:
            raise EvalError(
                f"calibration record {items} is not one of judge {judge!r}'s",
                fix=f"use one of: {', '.join(str(r['id']) for r in records)}",
                field="items",
                value=items,
            )
        rows = calibration_items(store, items)
        if json_out:
            emit({"judge": judge, "calibration_id": items, "items": rows}, True, lambda c: None)
        else:
            typer.echo("".join(_json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows), nl=False)
        return
    data = {
        "judge": judge,
        "calibrations": [
            {
                "id": r["id"],
                "created_at": str(r["created_at"]),
                "population": (pop.to_dict() if (pop := population_of(r)) is not None else None),
                "n": r["n"],
                "kappa": {"estimate": r["kappa"], "low": r["kappa_low"], "high": r["kappa_high"]},
                "items_stored": len(calibration_items(store, r["id"])),
            }
            for r in records
        ],
    }

    def render(console) -> None:
        from rich.table import Table

        tab = Table(title=f"calibrations of {judge}")
        for col in ("id", "population", "n", "κ [95 %]", "items stored"):
            tab.add_column(col)
        for c in data["calibrations"]:
            pop = c["population"]
            where = (
                "–"
                if pop is None
                else f"{pop['model']}@{pop['version']}" + (f" ({pop['suite']})" if pop["suite"] else "")
            )
            k = c["kappa"]
            tab.add_row(
                str(c["id"]), where, str(c["n"]), f"{k['estimate']:.3f} [{k['low']:.3f}, {k['high']:.3f}]",
                str(c["items_stored"]),
            )  # fmt: skip
        console.print(tab)

    emit(data, json_out, render)


@app.command("online")
@handles_errors
def online_cmd(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Served model name.")],
    version: Annotated[
        list[str], typer.Option("--version", help="Version to show (repeatable; default: every version).")
    ] = [],  # noqa: B006
    json_out: JsonFlag = False,
) -> None:
    """The gateway's online evaluation per version: coverage, violations, the weighted judge score."""
    import math

    from trilho.errors import EvalError
    from trilho.evals.online_store import online_summary, online_versions

    store = open_store(ctx)
    versions = list(version) or online_versions(store, model)
    if not versions:
        raise EvalError(
            f"no online evaluation windows are stored for {model!r}",
            fix="serve it with `trilho serve --evals FILE` naming this model",
            field="model",
            value=model,
        )

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return None if isinstance(v, float) and not math.isfinite(v) else v

    data = {"model": model, "versions": [clean(online_summary(store, model, v)) for v in versions]}

    def render(console) -> None:
        from rich.table import Table

        tab = Table(title=f"online evaluation · {model}")
        for col in (
            "version",
            "checked",
            "coverage",
            "violating",
            "violations",
            "judged",
            "judge score [95 %]",
        ):
            tab.add_column(col)
        for s in data["versions"]:
            js = s["judge_score"]
            score = "–" if js["mean"] is None else f"{js['mean']:.3f}"
            if js["low"] is not None:
                score += f" [{js['low']:.3f}, {js['high']:.3f}]"
            cov = "–" if s["coverage"] is None else f"{s['coverage']:.1%}"
            viol = ", ".join(f"{k} {n}" for k, n in sorted(s["violations"].items())) or "–"
            tab.add_row(
                s["version"], str(s["checked"]), cov, str(s["violating"]), viol, str(s["judged"]), score
            )
        console.print(tab)

    emit(data, json_out, render)


@app.command("demo")
@handles_errors
def demo_cmd(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option("--data", help="Folder with the GenAI reference data.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """The evals demo act: a calibrated offline judge gates a good and a regressed copilot (exit 0)."""
    import tempfile

    from trilho import datasets
    from trilho.cli._common import console, settings
    from trilho.errors import EvalError
    from trilho.evals.demo import demo_act

    folder = data or datasets.path("genai")
    if not (folder / "xstest_v2_completions_gpt4_gpteval.csv").is_file():
        raise EvalError(f"reference data not found in {folder}", fix="pass --data FOLDER", field="data")
    s = settings(ctx)
    with tempfile.TemporaryDirectory() as tmp:
        out = demo_act(
            tmp,
            store=open_store(ctx),
            reports_dir=s.reports_dir,
            data_dir=folder,
            say=(lambda m: None) if json_out else console.print,
        )
    from trilho.errors import CheckFailed

    ok = out["champion"]["gate"]["decision"] == "pass" and out["candidate"]["gate"]["decision"] == "fail"
    emit(out, json_out, lambda c: c.print("[green]evals act OK[/]" if ok else "[red]evals act went wrong[/]"))
    if not ok:
        raise CheckFailed("the demo's good copilot did not pass or the regressed one did not fail")
