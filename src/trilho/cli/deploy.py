"""`trilho deploy apply|diff|show|list|delete|schema`: deployment files, thin over trilho.rollout.deployfile.

Exit codes: 0 ok; ``diff`` exits 1 when what is live differs from the file (a check that failed, like
``git diff --exit-code``: CI can catch drift); 2 for a file or argument that cannot be used (nothing written).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from trilho.cli._common import JsonFlag, dump_json, emit, handles_errors, open_store, settings
from trilho.cli.rollout import Actor, _actor

app = typer.Typer(help="Deployment files: what each model serves, declared in YAML.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="A deployment YAML (see docs/deployment.md).")]


def register(root: typer.Typer) -> None:
    """Add ``trilho deploy`` to the root command."""
    root.add_typer(app, name="deploy")


def _resolver(ctx: typer.Context, store):
    from trilho.registry import Registry
    from trilho.rollout.deployfile import registry_resolver

    return registry_resolver(Registry(store, settings(ctx).artifacts_url))


def _render_changes(c: Console, changes: list[Any]) -> None:
    table = Table("field", "live", "file")
    for ch in changes:
        table.add_row(Text(ch.field), Text(_cell(ch.live)), Text(_cell(ch.desired)))
    c.print(table)


def _cell(value: Any) -> str:
    return "-" if value is None else value if isinstance(value, str) else json.dumps(value)


@app.command("apply")
@handles_errors
def apply_cmd(ctx: typer.Context, file: FileArg, actor: Actor = None, json_out: JsonFlag = False) -> None:
    """Make the live deployment match the file (idempotent: a second apply says unchanged), audited."""
    from trilho.rollout.deployfile import apply_deployment, load_deployment_file

    spec = load_deployment_file(file)
    store = open_store(ctx)
    try:
        result = apply_deployment(store, spec, _resolver(ctx, store), actor=_actor(actor), source=str(file))
    finally:
        store.dispose()

    def render(c: Console) -> None:
        if result.action == "unchanged":
            c.print(f"{result.model}: unchanged (generation {result.generation})")
            return
        c.print(f"[green]{result.model}: {result.action}[/] (routing generation {result.generation})")
        if result.action == "changed":
            _render_changes(c, result.changes)

    emit({"ok": True, **result.to_dict()}, json_out, render)


@app.command("diff")
@handles_errors
def diff_cmd(ctx: typer.Context, file: FileArg, json_out: JsonFlag = False) -> None:
    """Show how the live deployment differs from the file; exit 1 when it does, 0 when it matches."""
    from trilho.rollout.deployfile import diff_live, load_deployment_file

    spec = load_deployment_file(file)
    store = open_store(ctx)
    try:
        _, changes = diff_live(store, spec, _resolver(ctx, store))
    finally:
        store.dispose()

    def render(c: Console) -> None:
        if not changes:
            c.print(f"{spec.model}: live matches {file}")
        else:
            c.print(f"{spec.model}: {len(changes)} field(s) differ (live → {file})")
            _render_changes(c, changes)

    emit(
        {"model": spec.model, "same": not changes, "changes": [c.to_dict() for c in changes]},
        json_out,
        render,
    )
    if changes:
        raise typer.Exit(1)


@app.command("show")
@handles_errors
def show_cmd(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model name.")],
    json_out: JsonFlag = False,
) -> None:
    """Print the live deployment as a deployment file (``trilho deploy show m > deployment.yaml``)."""
    from trilho.rollout.deployfile import from_deployment
    from trilho.store.routing import get_deployment

    store = open_store(ctx)
    try:
        live = get_deployment(store, model)
    finally:
        store.dispose()
    if live is None:
        from trilho.errors import InputError

        raise InputError(
            f"model {model!r} has no deployment",
            fix="list deployments with `trilho deploy list`, or create one with `trilho deploy apply FILE`",
            field="model",
            value=model,
        )
    spec = from_deployment(live)
    if json_out:
        emit({**spec.model_dump(mode="json"), "kill": live.kill, "generation": live.generation}, True)
    else:
        sys.stdout.write(f"# live at routing generation {live.generation}, kill switch {live.kill}\n")
        sys.stdout.write(spec.to_yaml())


@app.command("list")
@handles_errors
def list_cmd(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Every deployment: stable version, canaries and shadows (weights in %), kill switch, generation."""
    from trilho.store.routing import list_deployments

    store = open_store(ctx)
    try:
        deps = list_deployments(store)
    finally:
        store.dispose()
    rows = [
        {
            "model": d.model,
            "stable": d.stable.version,
            "routes": [
                {
                    "version": r.version,
                    "role": r.role,
                    "weight": None if r.role == "shadow" else round(r.weight * 100, 6),
                }
                for r in d.routes
            ],
            "shadow_percent": round(d.shadow_fraction * 100, 6),
            "kill": d.kill,
            "generation": d.generation,
        }
        for d in deps
    ]

    def render(c: Console) -> None:
        if not rows:
            c.print("no deployments yet: trilho deploy apply deployment.yaml")
            return
        table = Table("model", "routes", "shadow %", "kill", "generation")
        for r in rows:
            routes = ", ".join(
                f"{x['version']} {x['role']}" + ("" if x["weight"] is None else f" {x['weight']:g} %")
                for x in r["routes"]
            )
            table.add_row(r["model"], routes, f"{r['shadow_percent']:g}", r["kill"], str(r["generation"]))
        c.print(table)

    emit({"deployments": rows}, json_out, render)


@app.command("delete")
@handles_errors
def delete_cmd(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Model name, or the deployment file that names it.")],
    actor: Actor = None,
    json_out: JsonFlag = False,
) -> None:
    """Stop serving a model (refused while a rollout of it runs), audited."""
    from trilho.rollout.deployfile import delete_deployment_audited, load_deployment_file

    model = load_deployment_file(target).model if target.endswith((".yaml", ".yml", ".json")) else target
    store = open_store(ctx)
    try:
        gen = delete_deployment_audited(store, model, actor=_actor(actor))
    finally:
        store.dispose()
    emit(
        {"ok": True, "model": model, "action": "deleted", "generation": gen},
        json_out,
        lambda c: c.print(
            f"[green]{model}: deleted[/] (routing generation {gen}); the gateways stop serving it"
        ),
    )


@app.command("schema")
@handles_errors
def schema_cmd(
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of deployment files (for editor completion)."""
    from trilho.rollout.deployfile import json_schema

    text = dump_json(json_schema()) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
