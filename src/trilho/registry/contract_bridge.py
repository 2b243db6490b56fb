"""The registry's one door to ``trilho.contracts``: load, field order, validation, examples, diff."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from trilho.errors import ContractError, SchemaViolation


def load(path: str | os.PathLike[str]) -> Any:
    """Load a contract document from a file."""
    from trilho.contracts import load_contract

    p = Path(path)
    if not p.is_file():
        raise ContractError(
            f"contract {str(p)!r} does not exist",
            fix="pass --contract with the path of a contract YAML file",
            field="contract",
            value=str(p),
        )
    return load_contract(p)


def load_text(text: str, name: str = "contract") -> Any:
    """Load a contract from its stored YAML text (the registry keeps the text; ``name`` is informational)."""
    with tempfile.TemporaryDirectory(prefix="trilho-contract-") as tmp:
        path = Path(tmp) / "contract.yaml"  # a fixed name: contract names may hold any character
        path.write_text(text)
        return load(path)


def fields(contract: Any, role: str) -> list[str]:
    """The contract's field names for ``role`` (``input`` / ``output``) in declared order."""
    return list(contract.object(role).names)


def validate(contract: Any, role: str, records: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    """Validate each record against ``role``; raise ``SchemaViolation`` naming the first bad record."""
    validator = contract.request_validator(role)
    out = []
    for i, record in enumerate(records):
        try:
            validated = validator.validate(record)
        except SchemaViolation as exc:
            raise SchemaViolation(
                f"{what} {i} does not satisfy the {role} contract of {contract.name!r}: {exc.message}",
                fix=exc.fix or f"make the {what}s match the contract's {role} role, or fix the contract",
                role=role,
                row=i,
                **{k: v for k, v in exc.fields.items() if k not in ("role", "row")},
            ) from exc
        out.append(validated if isinstance(validated, dict) else record)
    return out


def examples(contract: Any, role: str = "input") -> list[dict[str, Any]]:
    """Example records declared in the contract for ``role`` (empty if it declares none)."""
    try:
        return [dict(r) for r in contract.examples(role)]
    except ContractError:
        return []


def diff(old: Any, new: Any) -> Any:
    """The breaking-change report of ``new`` against ``old``."""
    from trilho.contracts import diff_contracts

    return diff_contracts(old, new)
