"""KServe V1 (``instances`` → ``predictions``), pure, the request error every protocol codec raises, and
error bodies in each protocol's shape. The Open Inference Protocol V2 lives in ``trilho.serving.oip_v2``."""

from __future__ import annotations

from typing import Any

from trilho.errors import InputError


class BadRequest(InputError):
    """A request body that is not the protocol's shape (400, or 422 when it names a field)."""


def nonempty_list(body: Any, key: str, items: str, example: str) -> list[Any]:
    """``body[key]`` when ``body`` is an object and that is a non-empty list; else a BadRequest naming it."""
    if not isinstance(body, dict):
        raise BadRequest(
            f"the body must be a JSON object with an {key!r} list",
            fix=f"send {example}",
            field="body",
            value=type(body).__name__,
            rule="type:object",
        )
    value = body.get(key)
    if not isinstance(value, list) or not value:
        raise BadRequest(
            f"{key!r} must be a non-empty list of {items}",
            fix=f"send {example}",
            field=key,
            value=short(value),
            rule="minItems:1",
        )
    return value


def parse_v1(body: Any, max_instances: int, fields: list[str] | None = None) -> list[dict[str, Any]]:
    """``{"instances": [{...}, ...]}`` → records. With the contract's input ``fields``, an instance may also
    be a list of values in that order (KServe V1's tensor-style rows, e.g. ``[[5.1, 3.5, 1.4, 0.2]]``)."""
    instances = nonempty_list(body, "instances", "objects", '{"instances": [{...}]}')
    if len(instances) > max_instances:
        raise BadRequest(
            f"{len(instances)} instances exceed the limit of {max_instances}",
            fix="split the request",
            field="instances",
            value=len(instances),
            rule=f"maxItems:{max_instances}",
        )
    records = instances
    for i, record in enumerate(instances):
        if isinstance(record, dict):
            continue
        if fields and isinstance(record, list) and len(record) == len(fields):
            if records is instances:
                records = list(instances)
            records[i] = dict(zip(fields, record, strict=True))
            continue
        positional = f", or a list of {len(fields)} values ({', '.join(fields)})" if fields else ""
        raise BadRequest(
            f"instance {i} is not an object{positional}",
            fix=f"send each instance as a JSON object{positional}",
            field=f"instances[{i}]",
            value=short(record),
            rule="type:object",
        )
    return records


def deadline_ms(raw: str, field: str) -> float:
    """A latency budget as sent in a header or gRPC metadata (milliseconds, 1 to 600,000)."""
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (1 <= value <= 600_000):
        raise BadRequest(
            f"{field} {raw[:40]!r} is not a number in [1, 600000]",
            fix="send the budget in milliseconds, e.g. 50",
            field=field,
            value=raw[:40],
            rule="range:[1,600000]",
        )
    return value


def short(value: Any) -> Any:
    """A value short enough for an error message (its repr cut at 80 characters)."""
    text = repr(value)
    return (
        value if len(text) <= 80 and isinstance(value, str | int | float | bool | type(None)) else text[:80]
    )


_DETAIL = ("field", "value", "rule")


def error_line(error: str, message: str, fields: dict[str, Any], fix: str | None = None) -> str:
    """An error as the one line a protocol client shows: type, message, field/value/rule and the fix
    (``BadRequest: ... [field='inputs[0].shape' rule='shape'] (fix: ...)``); OIP V2's HTTP ``error`` string
    and the gRPC status message are both this line."""
    detail = " ".join(f"{k}={fields[k]!r}" for k in _DETAIL if fields.get(k) is not None)
    return f"{error}: {message}{' [' + detail + ']' if detail else ''}{f' (fix: {fix})' if fix else ''}"


def v2_error(body: dict[str, Any]) -> dict[str, Any]:
    """A trilho error body (``{"error": <Type>, "message": ..., "fix", "field", ...}``) in the Open Inference
    Protocol V2 shape: ``{"error": "<message>"}`` as the spec (and Triton's and KServe's clients) read it,
    with the type and the machine-readable fields kept beside it."""
    rest = dict(body)
    kind, message = str(rest.pop("error", "Error")), str(rest.pop("message", ""))
    return {"error": error_line(kind, message, rest, rest.get("fix")), "type": kind, **rest}
