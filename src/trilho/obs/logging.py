"""Structured JSON logs through structlog, configured once per process."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

import structlog

_configured = False


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is *now* (runners swap it, and a bound stream may be closed)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str | None = None, *, json: bool | None = None, stream=None) -> None:
    """Set up structlog: JSON lines by default (``TRILHO_LOG_FORMAT=console`` for people), ISO timestamps."""
    global _configured
    level_name = (level or os.environ.get("TRILHO_LOG_LEVEL") or "INFO").upper()
    as_json = json if json is not None else os.environ.get("TRILHO_LOG_FORMAT", "json") != "console"
    renderer = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level_name, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=stream or _CurrentStderr()),
        cache_logger_on_first_use=False,
    )
    _configured = True


def log_level(verbose: int = 0, *, server: bool = False, env: str | None = None) -> str:
    """The level a command logs at: ``TRILHO_LOG_LEVEL`` (``env``) wins; else ``-vv`` debug, ``-v`` info;
    else info for servers (JSON logs are their output) and warning for commands people run."""
    if env:
        return env.upper()
    if verbose >= 2:
        return "DEBUG"
    return "INFO" if verbose >= 1 or server else "WARNING"


def snapshot() -> Callable[[], None]:
    """A function that puts the logging configuration back as it is now (for in-process command runs)."""
    configured, config = _configured, structlog.get_config()

    def restore() -> None:
        global _configured
        structlog.configure(**config)
        _configured = configured

    return restore


def get_logger(name: str, **bound: object) -> structlog.stdlib.BoundLogger:
    """A logger bound to a component name (and any fixed fields)."""
    if not _configured:
        configure_logging()
    return structlog.get_logger(component=name, **bound)
