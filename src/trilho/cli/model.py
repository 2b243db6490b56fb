"""`trilho model` commands: register, list, show and alias versions (a thin layer over trilho.registry)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from trilho.cli._common import JsonFlag, emit, handles_errors, open_store, settings
from trilho.errors import InputError

app = typer.Typer(help="Register, list, show and alias model versions.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="model")


def registry(ctx: typer.Context):
    """The registry on the store and artifact folder that the global options point at."""
    from trilho.registry import Registry

    return Registry(open_store(ctx), settings(ctx).artifacts_url)


def parse_pairs(pairs: list[str] | None, what: str, numeric: bool = False) -> dict[str, Any]:
    """``["k=v", ...]`` → dict; values are JSON when they parse (numbers for ``--metric``)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InputError(
                f"--{what} {pair!r} is not KEY=VALUE", fix=f"write e.g. --{what} lr=0.1", field=what
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if numeric and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise InputError(f"--{what} {pair!r}: the value must be a number", field=what, value=raw)
        out[key] = value
    return out


@app.command("register")
@handles_errors
def register_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    artifact: Annotated[str, typer.Option("--artifact", help="Model file or folder.")],
    flavor: Annotated[str, typer.Option("--flavor", help="python | sklearn | torch | onnx | llm.")],
    contract: Annotated[str, typer.Option("--contract", help="Contract YAML with input and output roles.")],
    entry: Annotated[
        str | None,
        typer.Option("--entry", help="module:object (python, torch state dict) or sklearn method."),
    ] = None,
    examples: Annotated[str | None, typer.Option("--examples", help="JSONL file of example inputs.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="Training parameter KEY=VALUE.")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", help="Offline metric KEY=NUMBER.")] = None,
    data: Annotated[list[str] | None, typer.Option("--data", help="Training data file (hashed).")] = None,
    allow_breaking: Annotated[
        str | None,
        typer.Option("--allow-breaking", help="Register despite a breaking contract; give the reason."),
    ] = None,
    trust: Annotated[list[str] | None, typer.Option("--trust", help="A skops type you trust.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Register a new immutable version (fails closed on contract, examples or breaking changes)."""
    mv = registry(ctx).register(
        name,
        artifact,
        flavor,
        contract,
        entry=entry,
        examples=examples,
        params=parse_pairs(param, "param"),
        metrics=parse_pairs(metric, "metric", numeric=True),
        data_paths=list(data or []),
        allow_breaking=allow_breaking,
        trusted_types=list(trust or []),
    )

    def render(c: Console) -> None:
        c.print(
            f"[green]registered[/] [bold]{mv.ref}[/] ({mv.flavor}, artifact sha256:{mv.artifact_sha256[:12]})"
        )
        if mv.breaking_reason:
            c.print(f"[yellow]breaking change allowed:[/] {mv.breaking_reason}")

    emit({"ok": True, **mv.to_dict()}, json_out, render)


@app.command("list")
@handles_errors
def list_cmd(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """List registered models with their latest version and aliases."""
    rows = registry(ctx).list_models()

    def render(c: Console) -> None:
        table = Table("model", "versions", "latest", "aliases")
        for r in rows:
            aliases = ", ".join(f"{a}→{v}" for a, v in sorted(r["aliases"].items()))
            table.add_row(r["name"], str(r["versions"]), str(r["latest"]), aliases)
        c.print(table if rows else "no models registered yet")

    emit({"models": rows}, json_out, render)


@app.command("show")
@handles_errors
def show_cmd(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME, NAME@3, NAME@latest or NAME@champion.")],
    json_out: JsonFlag = False,
) -> None:
    """Show one version: artifact, contract, lineage, metrics and gate records."""
    from trilho.registry import existing_signing_key, verify_gate

    reg = registry(ctx)
    mv = reg.get(ref)
    gates = reg.gate_records(mv.ref)
    key = existing_signing_key(settings(ctx).home)
    verified = {g.id: (verify_gate(g, key) if key is not None and g.signature else None) for g in gates}
    data = {**mv.to_dict(), "gates": [{**g.to_dict(), "verified": verified[g.id]} for g in gates]}

    def render(c: Console) -> None:
        table = Table(show_header=False, title=f"{mv.ref}")
        git = (mv.lineage.get("git") or {}) if isinstance(mv.lineage, dict) else {}
        rows = [
            ("aliases", ", ".join(mv.aliases) or "-"),
            ("flavor", mv.flavor + (f" ({mv.entry})" if mv.entry else "")),
            ("artifact", f"{mv.artifact_kind} {mv.artifact_name} sha256:{mv.artifact_sha256}"),
            ("contract", f"{mv.contract_name} v{mv.contract_version} ({mv.contract_hash})"),
            ("git", f"{git.get('commit', '-')}{' (dirty)' if git.get('dirty') else ''}" if git else "-"),
            ("data", ", ".join(f"{k} {v}" for k, v in mv.lineage.get("data", {}).items()) or "-"),
            ("params", json.dumps(mv.params) if mv.params else "-"),
            ("metrics", json.dumps(mv.metrics) if mv.metrics else "-"),
            ("created", mv.created_at.isoformat()),
        ]
        if mv.breaking_reason:
            rows.append(("breaking allowed", mv.breaking_reason))
        for g in gates:
            state = {True: "signature verified", False: "SIGNATURE INVALID", None: "unverified"}[
                verified[g.id]
            ]
            rows.append((f"gate {g.kind} #{g.id}", f"{g.decision} ({state})"))
        for k, v in rows:
            table.add_row(k, v)
        c.print(table)

    emit(data, json_out, render)


@app.command("alias")
@handles_errors
def alias_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias, e.g. champion or challenger.")],
    version: Annotated[str, typer.Argument(help="Version number (or latest / another alias).")],
    json_out: JsonFlag = False,
) -> None:
    """Point NAME@ALIAS at a version."""
    target: int | str = int(version) if version.isdigit() else version
    mv = registry(ctx).set_alias(name, alias, target)
    emit(
        {"ok": True, "model": name, "alias": alias, "version": mv.version},
        json_out,
        lambda c: c.print(f"[green]{name}@{alias}[/] → {mv.ref}"),
    )
