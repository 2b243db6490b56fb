"""``trilho init`` / ``update`` (project templates), ``trilho pipeline run`` and ``trilho ct check|watch``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trilho.cli._common import JsonFlag, emit, handles_errors, open_store, server_logs, settings

pipeline_app = typer.Typer(help="Run a project's pipeline: data contract → … → canary.", no_args_is_help=True)
ct_app = typer.Typer(
    help="Continuous training: drift checks and drift-triggered retraining.", no_args_is_help=True
)


def init(
    name: Annotated[str, typer.Argument(help="Project name (and default folder).")],
    template: Annotated[str, typer.Option("--template", "-t", help="tabular, recsys or llm.")] = "tabular",
    dest: Annotated[Path | None, typer.Option("--dest", help="Folder to create (default ./NAME).")] = None,
    data: Annotated[list[str], typer.Option("--data", help="Template answer KEY=VALUE (repeatable).")] = [],  # noqa: B006
    defaults: Annotated[bool, typer.Option("--defaults", help="Take every default (always on).")] = True,
    template_dir: Annotated[
        Path | None, typer.Option("--template-dir", help="Render from this template folder (a fork).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Render a new project from a template (a git repository with one commit)."""
    from trilho.templates.render import init_project, parse_data

    result = init_project(name, template=template, dest=dest, data=parse_data(data), source=template_dir)
    emit(
        result.to_dict(),
        json_out,
        lambda c: c.print(
            f"[green]created[/] {result.dest} from the {template} template {result.version} "
            f"({len(result.files)} files)\nnext: cd {result.dest} && make test && trilho pipeline run"
        ),
    )


def update(
    project: Annotated[Path, typer.Option("--project", help="Project folder.")] = Path("."),
    data: Annotated[list[str], typer.Option("--data", help="Change a template answer KEY=VALUE.")] = [],  # noqa: B006
    template_dir: Annotated[
        Path | None, typer.Option("--template-dir", help="Update from this template folder (a fork).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Pull the installed template's changes into the project (three-way merge; your edits are kept)."""
    from trilho.pipeline.project import find_project
    from trilho.templates.render import parse_data, update_project

    root = find_project(project)
    result = update_project(root, data=parse_data(data), source=template_dir)

    def render(c) -> None:
        c.print(
            f"updated {result.dest} to the {result.template} template {result.version}: "
            f"{len(result.files)} file(s) changed"
        )
        for f in result.files:
            c.print(f"  {'[red]conflict[/] ' if f in result.conflicts else ''}{f}")
        if result.conflicts:
            c.print("resolve the <<<<<<< markers, then commit")

    emit(result.to_dict(), json_out, render)


@pipeline_app.command("run")
@handles_errors
def pipeline_run(
    ctx: typer.Context,
    stage: Annotated[list[str], typer.Option("--stage", help="Run up to this stage (repeatable).")] = [],  # noqa: B006
    project: Annotated[Path | None, typer.Option("--project", help="Project folder (default: cwd).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Run every stage even if its inputs are unchanged.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Run the stages; exit 1 when a gate fails (nothing is registered), 2 on bad input."""
    from trilho.pipeline.project import load_project
    from trilho.pipeline.runner import run_pipeline

    load_project(project)  # bad input fails before the store is opened (nothing written)
    result = run_pipeline(
        project, stages=stage or None, store=open_store(ctx), settings=settings(ctx), force=force
    )

    def render(c) -> None:
        v = result.version
        c.print(f"[bold green]pipeline ok[/] — {result.project}" + (f" v{v}" if v else ""))

    emit(result.to_dict(), json_out, render)


@ct_app.command("check")
@handles_errors
def ct_check(
    reference: Annotated[Path, typer.Option("--reference", help="Training reference (CSV/Parquet).")],
    current: Annotated[Path, typer.Option("--current", help="Recent data (CSV/Parquet).")],
    feature: Annotated[list[str], typer.Option("--feature", help="Column to check (repeatable).")] = [],  # noqa: B006
    label: Annotated[str | None, typer.Option("--label", help="Label column (performance decay).")] = None,
    prediction: Annotated[str | None, typer.Option("--prediction", help="Prediction column.")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Family-wise significance level.")] = 0.01,
    min_sample: Annotated[int, typer.Option("--min-sample", help="Fewer values: 'insufficient'.")] = 200,
    psi_min: Annotated[float, typer.Option("--psi-min", help="Smallest PSI that counts as drift.")] = 0.1,
    ks_min: Annotated[float, typer.Option("--ks-min", help="Smallest KS D that counts as drift.")] = 0.1,
    json_out: JsonFlag = False,
) -> None:
    """Drift per feature (PSI, KS, Wasserstein / chi-square) and accuracy decay; exit 1 on drift."""
    from trilho.ct import DriftConfig, check_files

    cfg = DriftConfig(alpha=alpha, min_sample=min_sample, psi_min=psi_min, ks_min=ks_min)
    report = check_files(
        reference, current, features=feature or None, label=label, prediction=prediction, config=cfg
    )

    def render(c) -> None:
        from rich.table import Table

        tab = Table(title=f"drift of {current.name} against {reference.name}")
        for col in ("feature", "kind", "status", "PSI", "KS D", "Wasserstein", "chi²", "p", "n"):
            tab.add_column(col, justify="left" if col in ("feature", "kind", "status") else "right")
        for f in report.features:
            colour = {"drift": "red", "ok": "green"}.get(f.status, "yellow")
            tab.add_row(
                f.feature,
                f.kind,
                f"[{colour}]{f.status}[/]",
                f"{f.psi:.4f}",
                "" if f.ks is None else f"{f.ks:.4f}",
                "" if f.wasserstein is None else f"{f.wasserstein:.4g}",
                "" if f.chi2 is None else f"{f.chi2:.4g}",
                f"{f.p_value:.3g}",
                str(f.n_current),
            )
        c.print(tab)
        if report.performance:
            c.print(f"performance: {report.performance}")
        c.print("[red]DRIFT[/]" if report.drifted else "[green]no drift[/]")

    emit(report.to_dict(), json_out, render)
    if report.drifted:
        raise typer.Exit(1)


@ct_app.command("watch")
@handles_errors
@server_logs
def ct_watch(
    ctx: typer.Context,
    current: Annotated[Path, typer.Option("--current", help="Folder where new windows (CSV/Parquet) land.")],
    project: Annotated[Path | None, typer.Option("--project", help="Project folder (default: cwd).")] = None,
    reference: Annotated[
        Path | None, typer.Option("--reference", help="Reference (default ct.reference).")
    ] = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between checks.")] = 60.0,
    iterations: Annotated[int | None, typer.Option("--iterations", help="Stop after N checks.")] = None,
    consecutive: Annotated[
        int | None, typer.Option("--consecutive", help="Drifting windows before retraining.")
    ] = None,
    cooldown: Annotated[float | None, typer.Option("--cooldown", help="Seconds between retrains.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Check each new window; after k drifting windows (outside the cooldown) retrain through the pipeline."""
    from trilho.ct import Watcher, watch_folder
    from trilho.pipeline.project import load_project

    load_project(project)
    if not current.is_dir():
        from trilho.errors import InputError

        raise InputError(
            f"--current {str(current)!r} is not a folder",
            fix="pass the folder new windows land in",
            field="current",
            value=str(current),
        )
    watcher = Watcher(
        project or Path.cwd(),
        reference=reference,
        consecutive=consecutive,
        cooldown_s=cooldown,
        store=open_store(ctx),
        settings=settings(ctx),
    )
    from trilho.cli._common import console

    def on_window(w) -> None:
        if not json_out:
            console.print(
                f"window {w.index} ({w.source}): "
                + ("[red]drift[/] " + ", ".join(w.report.drifted_features) if w.report.drifted else "ok")
                + f" — {w.decision.reason}"
            )

    summary = watch_folder(watcher, current, interval_s=interval, iterations=iterations, on_window=on_window)
    emit(
        summary.to_dict(),
        json_out,
        lambda c: c.print(f"{len(summary.windows)} window(s), {len(summary.retrains)} retrain(s)"),
    )


def register(root: typer.Typer) -> None:
    """Add ``init``, ``update`` and the ``pipeline`` and ``ct`` groups to the root command."""
    root.command("init")(handles_errors(init))
    root.command("update")(handles_errors(update))
    root.add_typer(pipeline_app, name="pipeline")
    root.add_typer(ct_app, name="ct")
