"""`trilho contract`: validate data, diff two versions, infer a contract, export to ODCS or JSON Schema.

A thin layer over :mod:`trilho.contracts`; exit codes 0 ok, 1 invalid data or a breaking change, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trilho.cli._common import JsonFlag, console, dump_json, emit, err_console, handles_errors
from trilho.errors import InputError

app = typer.Typer(help="Data contracts: validate, diff, infer, export.", no_args_is_help=True)


class DiffFormat(StrEnum):
    """Output formats of ``trilho contract diff``."""

    text = "text"
    json = "json"
    github = "github"


class ExportFormat(StrEnum):
    """Targets of ``trilho contract export``."""

    odcs = "odcs"
    jsonschema = "jsonschema"


_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


@app.command()
@handles_errors
def validate(
    contract: Annotated[str, typer.Argument(help="Contract YAML file.")],
    data: Annotated[str, typer.Argument(help="Data file: .csv, .tsv, .parquet or .jsonl.")],
    role: Annotated[str | None, typer.Option("--role", help="input, output or a schema object name.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Failures to list (all are counted).")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """Validate a data file against a contract; exit 1 with a table of failures when invalid."""
    from trilho.contracts import load_contract
    from trilho.contracts.io import read_data

    c = load_contract(contract)
    obj = c.object(role)
    text_cols = tuple(f.name for f in obj.fields if f.kind in ("string", "date", "timestamp"))
    df = read_data(data, string_columns=text_cols)
    report = c.validate_frame(df, role=role)
    body = {
        "contract": c.id,
        "version": c.version,
        "data": data,
        "warnings": list(c.warnings),
        **report.to_dict(limit=limit),
    }

    def render(con) -> None:
        for warning in c.warnings:
            err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
        if report.ok:
            con.print(
                f"[green]valid[/]: {report.rows} row(s) of {data} satisfy {c.id} {c.version} ({obj.name})"
            )
            return
        con.print(
            f"[bold red]invalid[/]: {report.failure_count} failure(s) in {len(report.failed_rows)} row(s) "
            f"of {report.rows} — {data} vs {c.id} {c.version} ({obj.name})"
        )
        table = Table("row", "column", "rule", "value", "message")
        for i, f in enumerate(report.iter_failures()):
            if i >= limit:
                break
            table.add_row("-" if f.row is None else str(f.row), f.column, f.rule, repr(f.value), f.message)
        con.print(table)
        if report.failure_count > limit:
            con.print(f"… {report.failure_count - limit} more (raise --limit or use --json)")

    emit(body, json_out, render)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@handles_errors
def diff(
    old: Annotated[str, typer.Argument(help="The current contract.")],
    new: Annotated[str, typer.Argument(help="The proposed contract.")],
    fmt: Annotated[
        DiffFormat, typer.Option("--format", help="text, json or github annotations.")
    ] = DiffFormat.text,
    json_out: JsonFlag = False,
) -> None:
    """Compare two contract versions; exit 1 on any error-level (breaking) change."""
    from trilho.contracts import diff_contracts

    report = diff_contracts(old, new)
    if json_out or fmt is DiffFormat.json:
        sys.stdout.write(dump_json(report.to_dict()) + "\n")
    elif fmt is DiffFormat.github:
        out = report.to_github(file=new)
        if out:
            sys.stdout.write(out + "\n")
    else:
        counts = report.counts()
        console.print(
            f"{report.old_id}: {report.old_version} → {report.new_version}  "
            f"[bold red]{counts['error']} error(s)[/], [yellow]{counts['warning']} warning(s)[/], "
            f"{counts['info']} info"
        )
        if report.changes:
            table = Table("severity", "rule", "path", "message")
            table.columns[1].no_wrap = True
            for ch in report.changes:
                style = _SEVERITY_STYLE[ch.severity]
                table.add_row(f"[{style}]{ch.severity}[/]", ch.rule_id, ch.path, ch.message)
            console.print(table)
        else:
            console.print("no changes")
    if report.has_errors:
        raise typer.Exit(1)


@app.command()
@handles_errors
def infer(
    data: Annotated[str, typer.Argument(help="Data file: .csv, .tsv, .parquet or .jsonl.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Contract and object name (default: file stem).")
    ] = None,
    role: Annotated[str | None, typer.Option("--role", help="Mark the object as input or output.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the YAML here.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Infer a contract from data; fails (exit 2) on any column it cannot type precisely."""
    from trilho.contracts import infer_contract
    from trilho.contracts.io import read_data

    df = read_data(data, parse_dates=True)
    c = infer_contract(df, name or Path(data).stem, role=role)
    text = c.to_yaml()
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {output}: {exc}", field="output", value=str(output)) from None
    body = {
        "contract": c.id,
        "version": c.version,
        "content_hash": c.content_hash,
        "fields": [{"name": f.name, "type": f.type.name, "required": f.required} for f in c.fields()],
        "output": str(output) if output else None,
    }
    if json_out:
        body["odcs"] = c.to_odcs()

    def render(con) -> None:
        if output is None:
            sys.stdout.write(text)
        else:
            err_console.print(f"wrote {output} ({len(c.fields())} fields)")

    emit(body, json_out, render)


@app.command()
@handles_errors
def export(
    contract: Annotated[str, typer.Argument(help="Contract YAML file.")],
    to: Annotated[ExportFormat, typer.Option("--to", help="odcs or jsonschema.")] = ExportFormat.odcs,
    role: Annotated[
        str, typer.Option("--role", help="For jsonschema: input, output or an object name.")
    ] = "input",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export a contract as strict ODCS v3 YAML or as JSON Schema (draft 2020-12)."""
    from trilho.contracts import load_contract

    c = load_contract(contract)
    text = c.to_yaml() if to is ExportFormat.odcs else json.dumps(c.json_schema(role), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {output}: {exc}", field="output", value=str(output)) from None


def register(root: typer.Typer) -> None:
    """Attach the ``contract`` group to the root command."""
    root.add_typer(app, name="contract")
