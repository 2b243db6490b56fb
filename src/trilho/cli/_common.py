"""What every command shares: settings from the global options, ``--json`` output, errors → exit codes.

Exit codes: 0 ok, 1 a check failed (breaking change, failed gate, invalid data), 2 usage or input error.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from trilho.config import Settings, resolve_settings
from trilho.errors import TrilhoError

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]

console = Console()
PIPE_WIDTH = 10_000  # columns a table may use when stdout is not a terminal
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def settings(ctx: typer.Context) -> Settings:
    """The settings resolved from ``--home`` / ``--database-url`` / ``--artifacts-url`` on the root command
    (or the environment)."""
    root = ctx.find_root()
    obj = root.obj or {}
    return resolve_settings(obj.get("home"), obj.get("database_url"), obj.get("artifacts_url"))


def open_store(ctx: typer.Context):
    """Open and migrate the store the global options point at."""
    from trilho.store import open_store as _open

    return _open(settings(ctx))


def dump_json(data: Any) -> str:
    """Stable JSON for machines: sorted keys, ISO dates, no NaN."""
    return json.dumps(data, indent=2, sort_keys=True, default=_json_default, allow_nan=False)


def _json_default(value: Any) -> Any:
    import datetime
    import pathlib

    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, pathlib.Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def emit(data: Any, json_mode: bool, render: Callable[[Console], None] | None = None) -> None:
    """Print ``data`` as JSON (``--json``) or let ``render`` draw it for people."""
    if json_mode:
        sys.stdout.write(dump_json(data) + "\n")
        return
    # a pipe or a file is no screen: tables keep their full width instead of being cut to 80 columns
    out = console if console.is_terminal else Console(width=PIPE_WIDTH, soft_wrap=True)
    if render is not None:
        render(out)
    else:
        out.print(data)


def use_logs(ctx: typer.Context, *, server: bool = False) -> None:
    """Configure logs for this run: warnings and errors only for people, unless ``-v`` (info) or ``-vv``
    (debug) on the root command or ``TRILHO_LOG_LEVEL``; servers log info (JSON lines) by default. The
    previous configuration comes back when the command ends (in-process runs)."""
    import os

    from trilho.obs.logging import configure_logging, log_level, snapshot

    root = ctx.find_root()
    verbose = int((root.obj or {}).get("verbose", 0))
    root.call_on_close(snapshot())
    configure_logging(level=log_level(verbose, server=server, env=os.environ.get("TRILHO_LOG_LEVEL")))


def server_logs(func: F) -> F:
    """Mark a command that serves or watches until stopped: it logs info (JSON lines) unless told so."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # the command's context (typer may hand a plain click Context): whatever has find_root()
        ctx = next(a for a in (*args, *kwargs.values()) if hasattr(a, "find_root"))
        use_logs(ctx, server=True)
        return func(*args, **kwargs)

    wrapper.runs_until_stopped = True  # type: ignore[attr-defined]  # read by runs_until_stopped()
    return wrapper  # type: ignore[return-value]


def runs_until_stopped(callback: Any) -> bool:
    """Whether a command's callback (through any wrappers) was marked with :func:`server_logs`."""
    while callback is not None:
        if getattr(callback, "runs_until_stopped", False):
            return True
        callback = getattr(callback, "__wrapped__", None)
    return False


def handles_errors(func: F) -> F:
    """Turn a ``TrilhoError`` — or a library exception that means bad input (see ``_input_errors``) — into
    one line on stderr (a JSON body with ``--json``) and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TrilhoError as exc:
            _fail(exc, kwargs)
        except Exception as exc:
            from trilho.cli._input_errors import as_input_error

            mapped = as_input_error(exc)
            if mapped is None:
                raise
            _fail(mapped, kwargs)

    return wrapper  # type: ignore[return-value]


def _fail(exc: TrilhoError, kwargs: dict[str, Any]) -> None:
    if kwargs.get("json_out") or kwargs.get("json_mode"):
        sys.stdout.write(dump_json({"ok": False, **exc.to_dict()}) + "\n")
    err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code) from None
