"""Format checks: JSON validity, JSON Schema (a schema inline, from a file, or from a trilho contract), length
bounds and required citations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from trilho.errors import EvalError
from trilho.evals.checks.base import Check, CheckContext, CheckResult, Finding, register

_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)\n```", re.DOTALL)


def parse_json_text(text: str, *, fenced: bool = True) -> Any:
    """Parse ``text`` as JSON (or the first ```json fenced block when ``fenced``); raises ``ValueError``."""
    s = text.strip()
    if fenced and not s.startswith(("{", "[")):
        m = _FENCE.search(s)
        if m:
            s = m.group(1)
    return json.loads(s)


@register
class JsonValidCheck(Check):
    """The response is valid JSON. Options: ``fenced`` (accept a ```json block, default True)."""

    name = "json_valid"

    def __init__(self, fenced: bool = True) -> None:
        super().__init__(fenced=fenced)
        self._fenced = fenced

    def run(self, text: str, ctx: CheckContext) -> CheckResult:
        """Parse the text as JSON."""
        try:
            parse_json_text(text, fenced=self._fenced)
        except ValueError as exc:
            return self.result([Finding("invalid_json", score=1.0, text=str(exc)[:200])])
        return self.result([])


def _load_schema(schema: dict | None, schema_file: str | None, contract: str | None, role: str) -> dict:
    if schema is not None:
        return schema
    if schema_file is not None:
        try:
            return json.loads(Path(schema_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EvalError(
                f"cannot read JSON Schema {schema_file!r}: {exc}", field="schema_file", value=schema_file
            ) from exc
    if contract is not None:
        try:
            from trilho.contracts import load_contract  # type: ignore[attr-defined]
        except ImportError as exc:
            raise EvalError(
                "trilho.contracts is not available to load a contract",
                field="contract",
                fix="pass the JSON Schema with 'schema' or 'schema_file' instead",
            ) from exc
        return load_contract(contract).json_schema(role)
    raise EvalError("json_schema needs one of 'schema', 'schema_file' or 'contract'", field="options")


@register
class JsonSchemaCheck(Check):
    """The response is JSON that satisfies a JSON Schema. Options: ``schema`` (inline), ``schema_file``, or
    ``contract`` (a trilho contract file) with ``role`` (default ``"output"``); ``fenced`` (default True)."""

    name = "json_schema"

    def __init__(
        self,
        schema: dict | None = None,
        schema_file: str | None = None,
        contract: str | None = None,
        role: str = "output",
        fenced: bool = True,
    ) -> None:
        super().__init__(schema=schema, schema_file=schema_file, contract=contract, role=role, fenced=fenced)
        import jsonschema

        resolved = _load_schema(schema, schema_file, contract, role)
        try:
            cls = jsonschema.validators.validator_for(resolved)
            cls.check_schema(resolved)
        except jsonschema.SchemaError as exc:
            raise EvalError(f"invalid JSON Schema: {exc.message}", field="schema") from exc
        self._validator = cls(resolved, format_checker=cls.FORMAT_CHECKER)
        self._fenced = fenced

    def run(self, text: str, ctx: CheckContext) -> CheckResult:
        """Validate the JSON in ``text`` against the schema."""
        try:
            doc = parse_json_text(text, fenced=self._fenced)
        except ValueError as exc:
            return self.result([Finding("invalid_json", text=str(exc)[:200])])
        errors = sorted(self._validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        return self.result(
            [
                Finding("schema:" + ("/".join(map(str, e.absolute_path)) or "$"), text=e.message[:200])
                for e in errors[:20]
            ]
        )


@register
class LengthCheck(Check):
    """Length bounds. Options: ``min_chars``, ``max_chars``, ``min_words``, ``max_words`` (any subset)."""

    name = "length"

    def __init__(
        self,
        min_chars: int | None = None,
        max_chars: int | None = None,
        min_words: int | None = None,
        max_words: int | None = None,
    ) -> None:
        super().__init__(min_chars=min_chars, max_chars=max_chars, min_words=min_words, max_words=max_words)
        if all(v is None for v in (min_chars, max_chars, min_words, max_words)):
            raise EvalError(
                "length needs at least one of min_chars, max_chars, min_words, max_words", field="options"
            )
        self._b = (min_chars, max_chars, min_words, max_words)

    def run(self, text: str, ctx: CheckContext) -> CheckResult:
        """Compare the length with the bounds."""
        min_c, max_c, min_w, max_w = self._b
        n_chars = len(text)
        n_words = len(text.split()) if (min_w is not None or max_w is not None) else 0
        found = []
        if min_c is not None and n_chars < min_c:
            found.append(Finding("too_short_chars", score=float(n_chars)))
        if max_c is not None and n_chars > max_c:
            found.append(Finding("too_long_chars", score=float(n_chars)))
        if min_w is not None and n_words < min_w:
            found.append(Finding("too_short_words", score=float(n_words)))
        if max_w is not None and n_words > max_w:
            found.append(Finding("too_long_words", score=float(n_words)))
        return self.result(found, score=float(n_chars))


@register
class CitationsCheck(Check):
    """Required citations. Options: ``pattern`` (regex of one citation, default ``[n]`` or a URL),
    ``min_count`` (default 1); if the request metadata has ``sources`` (a list), numeric citations must
    point inside it."""

    name = "citations"

    def __init__(self, pattern: str = r"\[(\d+)\]|https?://\S+", min_count: int = 1) -> None:
        super().__init__(pattern=pattern, min_count=min_count)
        try:
            self._re = re.compile(pattern)
        except re.error as exc:
            raise EvalError(
                f"citation pattern is not a valid regex: {exc}", field="pattern", value=pattern
            ) from exc
        self._min = min_count

    def run(self, text: str, ctx: CheckContext) -> CheckResult:
        """Count citations and check they point at known sources."""
        matches = list(self._re.finditer(text))
        found = []
        if len(matches) < self._min:
            found.append(Finding("missing_citation", score=float(len(matches))))
        sources = ctx.metadata.get("sources")
        if sources is not None:
            for m in matches:
                num = next((g for g in m.groups() if g and g.isdigit()), None) if m.groups() else None
                if num is not None and not 1 <= int(num) <= len(sources):
                    found.append(Finding("unknown_source", m.start(), m.end(), m.group()))
        return self.result(found, score=float(len(matches)))
