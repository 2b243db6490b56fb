"""The content-addressed judge cache in the store: a verdict is keyed by the judge model, the template hash,
the rubric version, the call parameters and the hashes of the judged input/output. Only successfully parsed
verdicts are written; errors are never cached."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from trilho.clock import Clock, SystemClock
from trilho.store.tables import evals as t


def _h(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def cache_key(
    *,
    model: str,
    template_hash: str,
    rubric_version: str,
    params: Mapping[str, Any],
    item: Mapping[str, Any],
    swap: bool = False,
    repeat: int = 0,
) -> str:
    """The content address of one judge call."""
    parts = {
        "model": model,
        "template": template_hash,
        "rubric_version": rubric_version,
        "params": dict(params),
        "input": _h(item.get("input")),
        "output": _h(item.get("output")),
        "reference": _h(item.get("reference")),
        "output_b": _h(item.get("output_b")),
        "swap": swap,
        "repeat": repeat,
    }
    return _h(parts)


class JudgeCache:
    """Verdict cache on ``evals_judge_cache``."""

    def __init__(self, store, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached verdict (``{"content", "prompt_tokens", "completion_tokens"}``) or None."""
        with self.store.connect() as conn:
            row = conn.execute(select(t.judge_cache).where(t.judge_cache.c.key == key)).mappings().first()
        if row is None:
            return None
        return {
            "content": json.loads(row["verdict_json"])["content"],
            "prompt_tokens": row["prompt_tokens"],
            "completion_tokens": row["completion_tokens"],
        }

    def put(
        self,
        key: str,
        *,
        model: str,
        template_hash: str,
        rubric_version: str,
        content: str,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> None:
        """Store a parsed verdict's raw content (idempotent under races)."""
        try:
            with self.store.transaction() as conn:
                conn.execute(
                    insert(t.judge_cache).values(
                        key=key,
                        judge_model=model,
                        template_hash=template_hash,
                        rubric_version=rubric_version,
                        verdict_json=json.dumps({"content": content}),
                        prompt_tokens=prompt_tokens,
                        completion_tokens=completion_tokens,
                        created_at=self.clock.now(),
                    )
                )
        except IntegrityError:
            pass  # another worker cached the same call first

    def count(self) -> int:
        """Number of cached verdicts."""
        from sqlalchemy import func

        with self.store.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.judge_cache)).scalar_one())
