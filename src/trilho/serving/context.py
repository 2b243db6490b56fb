"""Per-call context a model can read: ``is_shadow_call()`` is True while the gateway runs a shadow copy, so
models with side effects can refuse or skip them."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

_SHADOW: ContextVar[bool] = ContextVar("trilho_shadow_call", default=False)


def is_shadow_call() -> bool:
    """True inside a model call made for a shadow copy of a request."""
    return _SHADOW.get()


def as_shadow(call: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
    """Wrap a batch call so it runs with the shadow flag set (in whatever thread runs it)."""

    def shadow_call(records: list[Any]) -> Any:
        token = _SHADOW.set(True)
        try:
            return call(records)
        finally:
            _SHADOW.reset(token)

    return shadow_call
