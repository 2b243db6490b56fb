"""Rubric templates for LLM-as-judge and strict verdict parsing (pure, no I/O).

Five kinds: ``scale`` (pointwise 1..N), ``pass_fail``, ``reference`` (pass/fail against a reference answer),
``label`` (one of fixed categories) and ``pairwise`` (A / B / tie). Each rubric renders chat messages,
a JSON-Schema ``response_format`` for servers with structured outputs, and parses the verdict strictly:
anything that is not exactly the verdict object is a :class:`VerdictError` — never a score of 0.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trilho.errors import EvalError

KINDS = ("scale", "pass_fail", "reference", "label", "pairwise")


class VerdictError(EvalError):
    """A judge answered with something that is not a valid verdict."""


@dataclass(frozen=True)
class Verdict:
    """One parsed verdict: ``value`` is the number aggregated (score, 1/0 pass, 1/0.5/0 for A/tie/B) or a
    label."""

    kind: str
    value: float | str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"kind": self.kind, "value": self.value, "reason": self.reason}


SYSTEM = (
    "You are a strict, impartial evaluator. Judge only by the rubric. Reply with a single JSON object and "
    "nothing else."
)

_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n```$", re.DOTALL)


@dataclass(frozen=True)
class Rubric:
    """A judging rubric: what to judge, how, and the exact verdict shape expected back."""

    name: str
    kind: str
    criteria: str
    version: str = "1"
    scale: tuple[int, int] = (1, 5)
    labels: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise EvalError(
                f"unknown rubric kind {self.kind!r}",
                fix=f"use one of: {', '.join(KINDS)}",
                field="kind",
                value=self.kind,
            )
        if self.kind == "label" and len(self.labels) < 2:
            raise EvalError("a 'label' rubric needs at least two labels", field="labels")
        if self.kind == "scale" and not self.scale[0] < self.scale[1]:
            raise EvalError(f"bad scale {self.scale}", fix="use e.g. [1, 5]", field="scale")
        if not self.criteria.strip():
            raise EvalError("a rubric needs criteria text", field="criteria")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rubric:
        """Build from a suite's YAML mapping."""
        known = {"name", "kind", "criteria", "version", "scale", "labels"}
        unknown = set(d) - known
        if unknown:
            raise EvalError(
                f"rubric has unknown key(s) {sorted(unknown)}", field="rubric", value=sorted(unknown)
            )
        if "kind" not in d or "criteria" not in d:
            raise EvalError("a rubric needs 'kind' and 'criteria'", field="rubric")
        return cls(
            str(d.get("name", d["kind"])),
            str(d["kind"]),
            str(d["criteria"]),
            str(d.get("version", "1")),
            tuple(d.get("scale", (1, 5))),
            tuple(d.get("labels", ())),
        )

    # --- rendering -----------------------------------------------------------------------------------------
    @property
    def template_hash(self) -> str:
        """Content hash of everything that shapes the prompt (kind, criteria, scale, labels, system text)."""
        blob = json.dumps(
            [SYSTEM, self.kind, self.criteria, list(self.scale), list(self.labels)], sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def verdict_schema(self) -> dict[str, Any]:
        """The JSON Schema of the verdict object."""
        if self.kind == "scale":
            value = {"score": {"type": "integer", "minimum": self.scale[0], "maximum": self.scale[1]}}
        elif self.kind in ("pass_fail", "reference"):
            value = {"verdict": {"type": "string", "enum": ["pass", "fail"]}}
        elif self.kind == "label":
            value = {"label": {"type": "string", "enum": list(self.labels)}}
        else:
            value = {"winner": {"type": "string", "enum": ["A", "B", "tie"]}}
        key = next(iter(value))
        return {
            "type": "object",
            "properties": {"reason": {"type": "string"}, **value},
            "required": ["reason", key],
            "additionalProperties": False,
        }

    def response_format(self) -> dict[str, Any]:
        """``response_format`` for OpenAI-compatible servers that support structured outputs."""
        return {
            "type": "json_schema",
            "json_schema": {"name": f"{self.kind}_verdict", "strict": True, "schema": self.verdict_schema()},
        }

    def messages(self, item: Mapping[str, Any], *, swap: bool = False) -> list[dict[str, str]]:
        """Chat messages judging ``item`` (keys: ``input``, ``output``, and ``reference`` / ``output_b``)."""
        q = str(item.get("input", ""))
        parts = [f"Rubric ({self.kind}): {self.criteria.strip()}", f"<question>\n{q}\n</question>"]
        if self.kind == "pairwise":
            a, b = str(item["output"]), str(item["output_b"])
            if swap:
                a, b = b, a
            parts += [
                f"<response_a>\n{a}\n</response_a>",
                f"<response_b>\n{b}\n</response_b>",
                'Which response is better by the rubric? Reply {"reason": "...", "winner": "A" | "B" | "tie"}.',  # noqa: E501
            ]
        else:
            if self.kind == "reference":
                parts.append(f"<reference>\n{item.get('reference', '')}\n</reference>")
            parts.append(f"<response>\n{item.get('output', '')}\n</response>")
            parts.append(
                {
                    "scale": f'Reply {{"reason": "...", "score": <integer {self.scale[0]}-{self.scale[1]}>}}.',  # noqa: E501
                    "pass_fail": 'Reply {"reason": "...", "verdict": "pass" | "fail"}.',
                    "reference": 'Does the response agree with the reference? Reply {"reason": "...", "verdict": '  # noqa: E501
                    '"pass" | "fail"}.',
                    "label": f'Reply {{"reason": "...", "label": one of {json.dumps(list(self.labels))}}}.',
                }[self.kind]
            )
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]

    # --- parsing -------------------------------------------------------------------------------------------
    def parse(self, content: str | None) -> Verdict:
        """Parse a judge's reply strictly; raise :class:`VerdictError` for anything but a valid verdict."""
        if content is None or not content.strip():
            raise VerdictError("the judge returned an empty verdict", field="verdict", value=content)
        text = content.strip()
        m = _FENCE.match(text)
        if m:
            text = m.group(1).strip()
        try:
            obj = json.loads(text)
        except ValueError:
            raise VerdictError(
                f"the judge's verdict is not JSON: {content[:120]!r}",
                field="verdict",
                fix="use a judge model that follows the JSON instruction (or response_format)",
                value=content[:200],
            ) from None
        if not isinstance(obj, dict):
            raise VerdictError(
                f"the judge's verdict is a JSON {type(obj).__name__}, not an object",
                field="verdict",
                value=content[:200],
            )
        schema = self.verdict_schema()
        key = next(k for k in schema["required"] if k != "reason")
        extra = set(obj) - set(schema["properties"])
        if key not in obj or extra:
            raise VerdictError(
                f"the judge's verdict needs key {key!r} (and only 'reason' besides), got {sorted(obj)}",
                field="verdict",
                value=content[:200],
            )
        reason = obj.get("reason", "")
        if not isinstance(reason, str):
            raise VerdictError(
                "the verdict's 'reason' must be a string", field="verdict", value=content[:200]
            )
        raw = obj[key]
        if self.kind == "scale":
            if isinstance(raw, bool) or not isinstance(raw, int) or not self.scale[0] <= raw <= self.scale[1]:
                raise VerdictError(
                    f"score {raw!r} is not an integer in {self.scale}", field="score", value=raw
                )
            return Verdict(self.kind, float(raw), reason)
        if self.kind in ("pass_fail", "reference"):
            if raw not in ("pass", "fail"):
                raise VerdictError(f"verdict {raw!r} is not 'pass' or 'fail'", field="verdict", value=raw)
            return Verdict(self.kind, 1.0 if raw == "pass" else 0.0, reason)
        if self.kind == "label":
            if raw not in self.labels:
                raise VerdictError(
                    f"label {raw!r} is not one of {list(self.labels)}", field="label", value=raw
                )
            return Verdict(self.kind, str(raw), reason)
        if raw not in ("A", "B", "tie"):
            raise VerdictError(f"winner {raw!r} is not 'A', 'B' or 'tie'", field="winner", value=raw)
        return Verdict(self.kind, {"A": 1.0, "B": 0.0, "tie": 0.5}[raw], reason)


def combine_pairwise(first: Verdict, swapped: Verdict) -> tuple[float, bool]:
    """Combine verdicts from both orders into (value for A: 1 / 0.5 / 0, consistent?); an inconsistent pair
    (the same position wins both times, or one order says tie) counts as a tie."""
    a1 = float(first.value)
    a2 = 1.0 - float(swapped.value)  # in the swapped call, "A" was the original B
    if a1 == a2:
        return a1, True
    return 0.5, False


def length_baseline(output_a: str, output_b: str) -> float:
    """The "pick the longer answer" baseline: 1 when A is longer, 0 when B is, 0.5 when equal."""
    return 1.0 if len(output_a) > len(output_b) else 0.0 if len(output_b) > len(output_a) else 0.5
