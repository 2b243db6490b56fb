"""`trilho golden` commands: run a suite, compare two versions (and record a signed gate), snapshot."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from trilho.cli._common import JsonFlag, emit, handles_errors, settings
from trilho.cli.model import registry
from trilho.errors import InputError

app = typer.Typer(
    help="Golden tests: run suites, compare versions, regenerate snapshots.", no_args_is_help=True
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="golden")


def _model_ref(suite_path: str, model: str | None) -> str:
    from trilho.golden import load_suite

    ref = model or load_suite(suite_path).model
    if not ref:
        raise InputError(
            "no model to run", fix="pass --model NAME@REF or set `model:` in the suite", field="model"
        )
    return ref


@app.command("run")
@handles_errors
def run_cmd(
    ctx: typer.Context,
    suite: Annotated[str, typer.Argument(help="Suite YAML file.")],
    model: Annotated[
        str | None, typer.Option("--model", help="NAME@REF (default: the suite's model).")
    ] = None,
    junit: Annotated[str | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only cases with this tag.")] = None,
    record: Annotated[
        bool, typer.Option("--record", help="Store a signed gate record on the version.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Run a golden suite against a model version; exit 1 if any case fails."""
    from trilho.golden import load_suite, record_run, run_suite, to_junit_xml
    from trilho.registry import signing_key

    if record and tag:
        raise InputError("--record needs the whole suite", fix="drop --tag to record a gate", field="tag")
    ref = _model_ref(suite, model)
    s = load_suite(suite).filter(tag)
    start = time.perf_counter()
    reg = registry(ctx)
    result = run_suite(s, reg.load_predictor(ref))
    seconds = time.perf_counter() - start
    gate = record_run(reg, result, signing_key(settings(ctx).home)) if record else None
    if junit:
        Path(junit).parent.mkdir(parents=True, exist_ok=True)
        Path(junit).write_text(to_junit_xml(result, seconds=seconds))

    def render(c: Console) -> None:
        for r in result.results:
            mark = "[green]PASS[/]" if r.passed else "[red]FAIL[/]"
            c.print(f"{mark} {r.case_id}" + ("" if r.passed else f"  {'; '.join(r.failures)}"))
        n, bad = len(result.results), len(result.failed)
        colour = "green" if not bad else "red"
        c.print(f"[{colour}]{n - bad}/{n} cases passed[/] — {s.name} on {result.model}")
        if gate is not None:
            c.print(f"recorded signed gate #{gate.id} on {gate.ref}")

    emit({**result.to_dict(), "record": gate.to_dict() if gate else None}, json_out, render)
    if not result.passed:
        raise typer.Exit(1)


@app.command("compare")
@handles_errors
def compare_cmd(
    ctx: typer.Context,
    suite: Annotated[str, typer.Argument(help="Suite YAML file.")],
    candidate: Annotated[str, typer.Option("--candidate", help="Candidate NAME@REF.")],
    baseline: Annotated[str, typer.Option("--baseline", help="Baseline NAME@REF (e.g. NAME@champion).")],
    record: Annotated[
        bool, typer.Option("--record", help="Store a signed gate record on the candidate.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Compare candidate with baseline: per-case deltas, metric deltas with bootstrap CIs; exit 1 on fail."""
    from trilho.golden import compare
    from trilho.registry import signing_key

    key = signing_key(settings(ctx).home) if record else None
    outcome = compare(registry(ctx), suite, candidate, baseline, record=record, key=key)
    cmp = outcome.comparison

    def render(c: Console) -> None:
        changed = [x for x in cmp.cases if x["change"] != "same"]
        for x in changed:
            colour = "red" if x["change"] == "regressed" else "green"
            c.print(f"[{colour}]{x['change']}[/] {x['id']}")
        table = Table("metric", "baseline", "candidate", "Δ", f"{cmp.gate.confidence:.0%} CI", "gate")
        for m in cmp.metrics:
            gate = ("[green]pass[/]" if m.passed else "[red]fail[/]") if m.gated else "-"
            table.add_row(
                m.name,
                f"{m.baseline:.4f}",
                f"{m.candidate:.4f}",
                f"{m.delta:+.4f}",
                f"[{m.ci_low:+.4f}, {m.ci_high:+.4f}]",
                gate,
            )
        c.print(table)
        colour = "green" if cmp.passed else "red"
        c.print(
            f"[{colour}]{cmp.decision}[/]: {cmp.candidate} vs {cmp.baseline} "
            f"(lower bound must exceed −δ = {-cmp.gate.delta:g})"
        )
        if outcome.record:
            c.print(f"recorded signed gate #{outcome.record.id} on {outcome.record.ref}")

    emit(outcome.to_dict(), json_out, render)
    if not cmp.passed:
        raise typer.Exit(1)


@app.command("snapshot")
@handles_errors
def snapshot_cmd(
    ctx: typer.Context,
    suite: Annotated[str, typer.Argument(help="Suite YAML file.")],
    model: Annotated[
        str | None, typer.Option("--model", help="NAME@REF (default: the suite's model).")
    ] = None,
    write: Annotated[bool, typer.Option("--write", help="Write the new expected outputs.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Show (and with --write, apply) the diff that regenerating expected outputs would make."""
    from trilho.golden import snapshot

    snap = snapshot(registry(ctx), suite, _model_ref(suite, model))
    if write and snap.changed:
        snap.write()

    def render(c: Console) -> None:
        if not snap.changed:
            c.print("expected outputs are up to date")
            return
        c.out(snap.diff, highlight=False)
        verb = "wrote" if write else "would change"
        c.print(f"{verb} {len(snap.changed)} case(s)" + ("" if write else " — rerun with --write to apply"))

    emit({**snap.to_dict(), "written": bool(write and snap.changed)}, json_out, render)
