"""The pipeline's stages, each a function ``(ctx) -> (input_hash, run)``: validate → train → evaluate →
golden → eval → register → rollout. Nothing is written to the registry before every gate has passed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from trilho.errors import CheckFailed, GateFailed, InputError, SchemaViolation, TrilhoError
from trilho.pipeline.project import Project
from trilho.pipeline.state import hash_inputs

STAGES = ("validate", "train", "evaluate", "golden", "eval", "register", "rollout")
CI_STAGES = ("validate", "train", "evaluate", "golden", "eval")
DEPLOY_STAGES = ("register", "rollout")


class StageFailed(CheckFailed):
    """A stage ran and failed (a training command that exited non-zero, a missed metric threshold)."""


@dataclass
class Context:
    """What the stages share: the project, the registry, the store, the signing key and earlier outputs."""

    project: Project
    registry: Any
    store: Any
    settings: Any
    key: Any
    clock: Any = None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    actor: str = "pipeline"

    @property
    def model_name(self) -> str:
        return str(self.project.model["name"])

    @property
    def artifact(self) -> Path:
        return self.project.path(self.project.model["artifact"])

    def champion(self) -> Any | None:
        """The version new candidates are compared with: the champion alias, else the latest version."""
        from trilho.errors import RegistryError

        for ref in (f"{self.model_name}@champion", self.model_name):
            try:
                return self.registry.get(ref)
            except RegistryError:
                continue
        return None


Plan = tuple[str, Callable[[], dict[str, Any]]]


def _files(project: Project, rels: list[str] | None) -> list[Path]:
    return [project.path(r) for r in rels or []]


def _python_env(project: Project) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(project.root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _run_entry(stage: str, project: Project, entry: str) -> None:
    """Run ``file.py:function`` in-process, in the project folder (no interpreter start-up per stage)."""
    import importlib.util

    file, _, func = entry.partition(":")
    path = project.path(file)
    if not path.is_file() or not func:
        raise InputError(
            f"{stage}.entry {entry!r} must be 'file.py:function' of an existing file",
            fix=f"fix {stage}.entry in trilho.yaml",
            field=f"{stage}.entry",
            value=entry,
        )
    spec = importlib.util.spec_from_file_location(f"_trilho_{stage}_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    cwd, root = Path.cwd(), str(project.root)
    sys.path.insert(0, root)
    try:
        os.chdir(project.root)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        getattr(module, func)()
    except TrilhoError:
        raise
    except Exception as exc:
        raise StageFailed(
            f"{entry} raised {type(exc).__name__}: {exc}",
            fix="run it in the project folder and fix it",
            stage=stage,
        ) from exc
    finally:
        os.chdir(cwd)
        if root in sys.path:
            sys.path.remove(root)


def _run_step(stage: str, project: Project, section: dict[str, Any]) -> None:
    if section.get("entry"):
        _run_entry(stage, project, str(section["entry"]))
    elif section.get("command"):
        _run_command(stage, project, section["command"])


def _run_command(stage: str, project: Project, command: list[str] | str) -> str:
    cmd = command.split() if isinstance(command, str) else [str(c) for c in command]
    cmd = [sys.executable if c in ("python", "{python}") else c for c in cmd]
    done = subprocess.run(
        cmd, cwd=project.root, env=_python_env(project), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise StageFailed(
            f"{' '.join(cmd[1:] if cmd[0] == sys.executable else cmd)} exited with {done.returncode}: "
            + " | ".join(tail),
            fix="run the command in the project folder and fix it",
            stage=stage,
        )
    return done.stdout


# --- validate -----------------------------------------------------------------------------------------------
def validate(ctx: Context) -> Plan:
    """Training data against its contract; the model contract against the champion's (no breaking change)."""
    p = ctx.project
    champ = ctx.champion()
    digest = hash_inputs(
        [p.path(p.data["train"]), p.path(p.data["contract"]), p.path(p.model["contract"])],
        {"champion_contract": champ.contract_hash if champ else None},
    )

    def run() -> dict[str, Any]:
        from trilho.contracts import load_contract
        from trilho.frames import read_frame
        from trilho.registry import contract_bridge as cb

        contract = load_contract(p.path(p.data["contract"]))
        frame = read_frame(p.path(p.data["train"]), "data.train")
        report = contract.validate_frame(frame)
        if not report.ok:
            first = report.failures[0]
            raise SchemaViolation(
                f"{p.data['train']} breaks its contract: {len(report.failures)} failure(s), first: {first}",
                fix="fix the data (or the contract, with a version bump)",
                field="data.train",
            )
        breaking = None
        if champ is not None:
            new = cb.load(p.path(p.model["contract"]))
            diff = cb.diff(cb.load_text(champ.contract_text, champ.contract_name), new)
            if diff.has_errors:
                from trilho.errors import BreakingChange

                errors = [
                    c for c in diff.changes if str(getattr(c, "severity", "")).lower().endswith("error")
                ]
                c = (errors or list(diff.changes))[0]
                raise BreakingChange(
                    f"model contract {p.model['contract']} breaks {champ.ref}: "
                    f"[{c.rule_id}] {c.path}: {c.message}",
                    fix="keep the change compatible (inputs may widen, outputs may narrow), or register "
                    "it by hand with `trilho model register --allow-breaking REASON`",
                    rule=c.rule_id,
                    path=c.path,
                    against=champ.ref,
                )
            breaking = False
        return {"rows": report.rows, "against": champ.ref if champ else None, "breaking": breaking}

    return digest, run


# --- train --------------------------------------------------------------------------------------------------
def train(ctx: Context) -> Plan:
    """Run the project's training command; it must write ``model.artifact``."""
    p = ctx.project
    params = p.train.get("params")
    files = [p.path(p.data["train"]), *_files(p, p.train.get("inputs"))]
    if params:
        files.append(p.path(params))
    digest = hash_inputs(files, {"command": p.train.get("command"), "entry": p.train.get("entry")})

    def run() -> dict[str, Any]:
        _run_step("train", p, p.train)
        if not ctx.artifact.exists():
            raise StageFailed(
                f"training finished but did not write {p.model['artifact']}",
                fix="make the training command save the model there",
                stage="train",
            )
        return {"artifact": str(ctx.artifact)}

    return digest, run


# --- evaluate -----------------------------------------------------------------------------------------------
def _load_metrics(p: Project) -> dict[str, float]:
    rel = p.evaluate.get("metrics")
    if not rel or not p.path(rel).is_file():
        return {}
    data = json.loads(p.path(rel).read_text())
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def evaluate(ctx: Context) -> Plan:
    """Run the evaluation command (if any) and hold the metrics to their thresholds."""
    p = ctx.project
    digest = hash_inputs(
        [ctx.artifact, *_files(p, p.evaluate.get("inputs"))],
        {
            "command": p.evaluate.get("command"),
            "entry": p.evaluate.get("entry"),
            "thresholds": p.evaluate.get("thresholds"),
        },
    )

    def run() -> dict[str, Any]:
        _run_step("evaluate", p, p.evaluate)
        metrics = _load_metrics(p)
        missed = []
        for name, rule in (p.evaluate.get("thresholds") or {}).items():
            value = metrics.get(name)
            if value is None:
                missed.append(f"{name} was not reported")
            elif "min" in rule and value < float(rule["min"]):
                missed.append(f"{name}={value:.4f} < min {rule['min']}")
            elif "max" in rule and value > float(rule["max"]):
                missed.append(f"{name}={value:.4f} > max {rule['max']}")
        if missed:
            raise GateFailed(
                f"offline metrics missed their thresholds: {'; '.join(missed)}",
                fix="improve the model or revisit evaluate.thresholds",
                stage="evaluate",
            )
        return {"metrics": metrics}

    return digest, run


# --- golden -------------------------------------------------------------------------------------------------
def candidate_predictor(ctx: Context) -> Any:
    """The freshly trained artifact loaded as a ``Predictor`` without registering it."""
    from trilho.registry import Predictor
    from trilho.registry import contract_bridge as cb
    from trilho.registry.flavors import LoadSpec, load_flavor

    p = ctx.project
    contract = cb.load(p.path(p.model["contract"]))
    spec = LoadSpec(
        path=ctx.artifact,
        entry=p.model.get("entry"),
        inputs=cb.fields(contract, "input"),
        outputs=cb.fields(contract, "output"),
        options={"trusted_types": list(p.model.get("trusted_types") or [])},
    )
    fn = load_flavor(p.model["flavor"], spec)
    mv = SimpleNamespace(
        name=ctx.model_name,
        version="candidate",
        ref=f"{ctx.model_name}@candidate",
        flavor=p.model["flavor"],
        contract_hash=str(contract.content_hash),
    )
    return Predictor(fn, mv, contract)


def golden(ctx: Context) -> Plan:
    """The golden suite on the candidate vs. the champion (first model: every case must pass)."""
    p = ctx.project
    suite_path = p.golden.get("suite")
    champ = ctx.champion()
    digest = hash_inputs(
        [ctx.artifact] + ([p.path(suite_path)] if suite_path else []),
        {"champion": champ.ref if champ else None},
    )

    def run() -> dict[str, Any]:
        if not suite_path:
            return {"decision": "skipped", "evidence": {}}
        from trilho.golden.compare import compare_runs
        from trilho.golden.runner import run_suite
        from trilho.golden.suite import load_suite

        suite = load_suite(p.path(suite_path))
        cand = run_suite(suite, candidate_predictor(ctx))
        if champ is None:
            evidence = {
                "mode": "run",
                "suite": cand.suite,
                "suite_hash": cand.suite_hash,
                "metrics": cand.metrics(),
                "thresholds": {"every_case_passes": True},
                "failures": [r.case_id for r in cand.failed],
            }
            if not cand.passed:
                raise GateFailed(
                    f"golden suite {cand.suite!r}: {len(cand.failed)} case(s) failed: "
                    f"{', '.join(r.case_id for r in cand.failed[:5])}",
                    fix="fix the model or the suite's expectations",
                    stage="golden",
                )
            return {"decision": "pass", "evidence": evidence, "against": None}
        base = run_suite(suite, ctx.registry.load_predictor(champ.ref))
        comparison = compare_runs(cand, base, suite.gate)
        evidence = comparison.evidence()
        if comparison.decision != "pass":
            regressed = [c["id"] for c in evidence.get("cases", []) if c.get("change") == "regressed"][:5]
            raise GateFailed(
                f"golden regression against {champ.ref}: decision {comparison.decision}"
                + (f"; regressed cases: {', '.join(regressed)}" if regressed else ""),
                fix="fix the candidate; nothing was registered",
                stage="golden",
                against=champ.ref,
            )
        return {"decision": "pass", "evidence": evidence, "against": champ.ref}

    return digest, run


# --- eval (LLM) ---------------------------------------------------------------------------------------------
def eval_gate(ctx: Context) -> Plan:
    """The eval suite with its gate (``trilho.evals``), for projects that declare ``eval.suite``."""
    p = ctx.project
    suite_path = p.eval.get("suite")
    extra = _files(p, p.eval.get("inputs"))
    digest = hash_inputs([ctx.artifact, *extra] + ([p.path(suite_path)] if suite_path else []), {})

    def run() -> dict[str, Any]:
        if not suite_path:
            return {"decision": "skipped"}
        from trilho.evals.service import evaluate_suite

        root = str(p.root)
        added = root not in sys.path
        if added:
            sys.path.insert(0, root)
        cwd = Path.cwd()
        try:
            os.chdir(p.root)
            outcome = evaluate_suite(
                p.path(suite_path),
                store=ctx.store,
                reports_dir=ctx.settings.reports_dir,
                artifacts_dir=ctx.settings.artifacts_url,
                gate=True,
            )
        finally:
            os.chdir(cwd)
            if added:
                sys.path.remove(root)
        decision = outcome.run.gate
        evidence = {
            "suite": outcome.run.suite,
            "run_id": outcome.run.run_id,
            "metrics": outcome.run.metrics,
            "report": str(outcome.html_report),
        }
        if decision is not None and not decision.passed:
            raise GateFailed(
                f"eval gate failed: {'; '.join(decision.reasons) or decision.decision}",
                fix="fix the feature; the report is at " + str(outcome.html_report),
                stage="eval",
            )
        return {"decision": "pass", "evidence": evidence}

    return digest, run


# --- register -----------------------------------------------------------------------------------------------
def _lineage_params(ctx: Context) -> dict[str, Any]:
    import yaml

    from trilho.registry.lineage import git_state

    p = ctx.project
    params: dict[str, Any] = {}
    if p.train.get("params") and p.path(p.train["params"]).is_file():
        params = yaml.safe_load(p.path(p.train["params"]).read_text()) or {}
    git = git_state(p.root)
    return {
        **(params if isinstance(params, dict) else {"params": params}),
        "pipeline": {
            "project": p.name,
            "code_commit": git["commit"] if git else None,
            "code_dirty": git["dirty"] if git else None,
            "stage_hashes": {k: v.get("hash") for k, v in ctx.outputs.items() if isinstance(v, dict)},
        },
    }


def register(ctx: Context) -> Plan:
    """Register the candidate (data hashes, code commit, params, metrics) and its signed gate records."""
    p = ctx.project
    gates = {k: ctx.outputs.get(k, {}).get("decision") for k in ("golden", "eval")}
    digest = hash_inputs(
        [ctx.artifact, p.path(p.model["contract"]), p.path(p.data["train"])],
        {"metrics": ctx.outputs.get("evaluate", {}).get("metrics"), "gates": gates},
    )

    def run() -> dict[str, Any]:
        metrics = ctx.outputs.get("evaluate", {}).get("metrics") or {}
        mv = ctx.registry.register(
            ctx.model_name,
            ctx.artifact,
            p.model["flavor"],
            p.path(p.model["contract"]),
            entry=p.model.get("entry"),
            metrics=metrics,
            params=_lineage_params(ctx),
            data_paths=[p.path(p.data["train"])],
            trusted_types=p.model.get("trusted_types") or None,
        )
        for kind in ("golden", "eval"):
            out = ctx.outputs.get(kind) or {}
            if out.get("decision") == "pass":
                ctx.registry.record_gate(mv.ref, kind, "pass", out.get("evidence") or {}, key=ctx.key)
        return {"version": mv.version, "ref": mv.ref}

    return digest, run


# --- rollout ------------------------------------------------------------------------------------------------
def rollout(ctx: Context) -> Plan:
    """First version: champion, and deployed through the project's deployment file (``rollout.deployment``;
    the same code path as ``trilho deploy apply``). Later ones: start the project's rollout plan."""
    p = ctx.project
    version = (ctx.outputs.get("register") or {}).get("version")
    files = [p.path(p.rollout[k]) for k in ("plan", "deployment") if p.rollout.get(k)]
    digest = hash_inputs(files, {"version": version})

    def run() -> dict[str, Any]:
        from trilho.rollout import RolloutService
        from trilho.rollout.deployfile import apply_deployment, registry_resolver
        from trilho.rollout.gates import registry_gates
        from trilho.store.routing import get_deployment

        if version is None:
            raise InputError(
                "nothing to roll out: the register stage has not produced a version",
                fix="run the register stage first",
                stage="rollout",
            )
        if get_deployment(ctx.store, ctx.model_name) is None:
            spec = _deployment_file(p, ctx.model_name, version)  # checked before the alias moves
            ctx.registry.set_alias(ctx.model_name, "champion", version)
            applied = apply_deployment(
                ctx.store,
                spec,
                registry_resolver(ctx.registry),
                actor=ctx.actor,
                source=p.rollout.get("deployment"),
                clock=ctx.clock,
            )
            return {
                "action": "deployed",
                "version": version,
                "rollout": None,
                "generation": applied.generation,
            }
        service = RolloutService(
            ctx.store,
            clock=ctx.clock,
            gates=registry_gates(ctx.store, ctx.settings.artifacts_url, key=ctx.key),
        )
        plan = p.path(p.rollout["plan"]) if p.rollout.get("plan") else None
        from trilho.rollout import DEFAULT_PLAN_YAML

        ro = service.start(ctx.model_name, str(version), plan or DEFAULT_PLAN_YAML, actor=ctx.actor)
        return {
            "action": "rollout_started",
            "version": version,
            "rollout": ro.id,
            "phase": ro.state.phase.value,
            "step_kind": ro.to_dict()["step_kind"],
        }

    return digest, run


def _deployment_file(p: Project, model: str, version: int):
    """The project's deployment file (its routes may name ``champion``), else one stable route to ``version``
    with the project's ``rollout.comparators``."""
    from trilho.rollout.deployfile import DeploymentFile, RouteSpec, load_deployment_file

    if p.rollout.get("deployment"):
        spec = load_deployment_file(p.path(p.rollout["deployment"]))
        if spec.model != model:
            raise InputError(
                f"rollout.deployment declares model {spec.model!r}, the project registers {model!r}",
                fix="make the deployment file's model the project's model.name",
                field="rollout.deployment",
                value=spec.model,
            )
        return spec
    comparators = list(p.rollout.get("comparators") or ["exact"])  # how shadow outputs are compared
    return DeploymentFile(model=model, routes=[RouteSpec(version=str(version))], comparators=comparators)


STAGE_FUNCS: dict[str, Callable[[Context], Plan]] = {
    "validate": validate,
    "train": train,
    "evaluate": evaluate,
    "golden": golden,
    "eval": eval_gate,
    "register": register,
    "rollout": rollout,
}
