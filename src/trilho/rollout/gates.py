"""Gates a candidate passes before it gets any traffic: contract compatibility, golden suite, eval gate.

:func:`evaluate` is the pure rule over what the registry knows; :func:`registry_gates` gathers those facts
from the registry (fail closed: anything that cannot be checked is a failed gate, with the reason as
evidence)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

GateStatus = Literal["pass", "fail", "skipped"]


@dataclass(frozen=True)
class Gate:
    """One gate's outcome and the evidence behind it."""

    name: str
    status: GateStatus
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"name": self.name, "status": self.status, "message": self.message, "evidence": self.evidence}


@dataclass(frozen=True)
class GateReport:
    """Every gate of one candidate; it passes when no gate failed."""

    gates: tuple[Gate, ...]

    @property
    def passed(self) -> bool:
        return all(g.status != "fail" for g in self.gates)

    @property
    def summary(self) -> str:
        """One line: each gate and its status."""
        return "; ".join(f"{g.name}: {g.status} ({g.message})" for g in self.gates) or "no gates"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the audit evidence)."""
        return {"passed": self.passed, "gates": [g.to_dict() for g in self.gates]}


GateRunner = Callable[[str, str, str], GateReport]


def _latest(records: Sequence[Any]) -> Any | None:
    return records[-1] if records else None


def evaluate(
    *,
    contract_breaking: bool | None,
    contract_detail: Any = None,
    golden: Sequence[Any] = (),
    evals: Sequence[Any] = (),
    has_eval_suite: bool = False,
    verify: Any = None,
    eval_required: str | None = None,
) -> GateReport:
    """Apply the gate rules: compatible contract, latest golden record passed, eval passed if required.

    ``golden`` / ``evals`` are gate records with ``decision`` and ``evidence`` (oldest first);
    ``contract_breaking`` None means the contracts could not be compared (a failure). ``verify`` (a
    callable taking a record) checks each record's signature; a record that fails it counts as a failed gate.
    ``eval_required`` (why: e.g. the deployment's ``evals.gate: required``) requires an eval record even for
    a model none of whose versions has one yet.
    """
    gates = []
    if contract_breaking is None:
        gates.append(Gate("contract", "fail", f"contracts could not be compared: {contract_detail}"))
    elif contract_breaking:
        gates.append(
            Gate(
                "contract",
                "fail",
                "breaking change against the stable version's contract",
                {"diff": contract_detail},
            )
        )
    else:
        gates.append(Gate("contract", "pass", "compatible with the stable version's contract"))
    rec = _latest(golden)
    if rec is None:
        gates.append(Gate("golden", "fail", "no golden suite result is recorded for the candidate"))
    elif verify is not None and not verify(rec):
        gates.append(_forged("golden", rec))
    else:
        status: GateStatus = "pass" if rec.decision == "pass" else "fail"
        gates.append(
            Gate(
                "golden",
                status,
                f"latest golden record says {rec.decision}",
                {"record_id": getattr(rec, "id", None), "evidence": rec.evidence},
            )
        )
    if has_eval_suite or eval_required:
        rec = _latest(evals)
        if rec is None:
            why = eval_required or "the model has an eval suite"
            gates.append(Gate("eval", "fail", f"{why} but the candidate has no eval result"))
        elif verify is not None and not verify(rec):
            gates.append(_forged("eval", rec))
        else:
            status = "pass" if rec.decision == "pass" else "fail"
            # a judge not calibrated for this version (evals' per-target check) is named in the message
            judges = [j for j in (rec.evidence or {}).get("judge_gates", []) if not j.get("use_judge", True)]
            gates.append(
                Gate(
                    "eval",
                    status,
                    f"latest eval record says {rec.decision}"
                    + "".join(f"; {j.get('reason', '')}" for j in judges),
                    {"record_id": getattr(rec, "id", None), "evidence": rec.evidence},
                )
            )
    else:
        gates.append(Gate("eval", "skipped", "the model has no eval suite"))
    return GateReport(tuple(gates))


def _forged(kind: str, rec: Any) -> Gate:
    return Gate(
        kind,
        "fail",
        f"the latest {kind} record's signature does not verify: it was altered or signed with another key",
        {"record_id": getattr(rec, "id", None)},
    )


def registry_gates(store, artifacts_root: Any = None, *, key: Any = None) -> GateRunner:
    """A gate runner reading the registry on ``store`` (contract diff, golden and eval gate records).

    With a signing ``key`` (``trilho.registry.SigningKey``), a gate record whose signature fails is a failure.
    """

    def run(model: str, candidate: str, baseline: str) -> GateReport:
        try:
            from trilho.registry import Registry, verify_gate
            from trilho.registry import contract_bridge as cb
        except ImportError as exc:  # pragma: no cover - the registry ships with trilho
            return GateReport((Gate("registry", "fail", f"registry unavailable: {exc}"),))
        reg = Registry(store, artifacts_root)
        cand_ref, base_ref = f"{model}@{candidate}", f"{model}@{baseline}"
        try:
            reg.get(cand_ref)
        except Exception as exc:
            return GateReport((Gate("registry", "fail", f"{cand_ref} is not registered: {exc}"),))
        breaking: bool | None
        try:
            report = cb.diff(reg.contract(base_ref), reg.contract(cand_ref))
            breaking = bool(report.has_errors)
            detail: Any = report.to_dict() if hasattr(report, "to_dict") else str(report)
        except Exception as exc:
            breaking, detail = None, f"{type(exc).__name__}: {exc}"
        golden = reg.gate_records(cand_ref, kind="golden")
        evals = reg.gate_records(cand_ref, kind="eval")
        has_suite = bool(evals) or any(
            reg.gate_records(f"{model}@{v.version}", kind="eval") for v in reg.versions(model)
        )
        required = _eval_required(store, model)
        return evaluate(
            contract_breaking=breaking,
            contract_detail=detail,
            golden=golden,
            evals=evals,
            has_eval_suite=has_suite,
            verify=(lambda rec: verify_gate(rec, key)) if key is not None else None,
            eval_required=required,
        )

    return run


def _eval_required(store, model: str) -> str | None:
    """Why the model's deployment requires an eval record of every candidate (``evals.gate: required``)."""
    from trilho.store.routing import get_deployment

    try:
        dep = get_deployment(store, model)
    except Exception:  # no deployment: the rollout refuses to start anyway
        return None
    if dep is not None and (dep.evals or {}).get("gate") == "required":
        return "the deployment requires an eval result (evals.gate: required)"
    return None


def skip_gates(actor: str, reason: str) -> GateRunner:
    """A runner that records that ``actor`` skipped the gates (explicit, audited; never the default)."""

    def run(model: str, candidate: str, baseline: str) -> GateReport:
        return GateReport((Gate("gates", "skipped", f"skipped by {actor}: {reason}"),))

    return run
