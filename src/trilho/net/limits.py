"""The request limits every trilho HTTP server enforces, with their defaults and environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from trilho.errors import ConfigError

ENV_PREFIX = "TRILHO_HTTP_"


@dataclass(frozen=True)
class HttpLimits:
    """Limits on what one request may cost a server (``TRILHO_HTTP_<FIELD>`` overrides each default)."""

    max_body_bytes: int = 1_048_576  # a larger body: 413 before (or as soon as) it is read
    max_json_depth: int = 64  # deeper nesting of arrays/objects: 400 before the body is parsed
    header_timeout_s: float = 10.0  # a connection must finish a request's headers this long after it opened
    body_timeout_s: float = 30.0  # the whole body must arrive within this long of the handler asking for it
    keep_alive_s: float = 5.0  # an idle keep-alive connection is closed after this long
    max_header_bytes: int = 16_384  # headers larger than this are refused by the HTTP parser

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value > 0:
                raise ConfigError(
                    f"HTTP limit {f.name} = {value!r} must be > 0",
                    fix=f"set {ENV_PREFIX}{f.name.upper()} to a positive number",
                    field=f.name,
                    value=value,
                )

    @classmethod
    def from_env(cls, **overrides: float) -> HttpLimits:
        """The defaults, then ``TRILHO_HTTP_*`` variables, then ``overrides`` (e.g. a CLI flag)."""
        values: dict[str, float] = {}
        for f in fields(cls):
            raw = os.environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            kind = int if f.type in (int, "int") else float
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ConfigError(
                    f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a number",
                    fix=f"set it to a positive {kind.__name__}",
                    field=f.name,
                    value=raw,
                ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
