"""The project file (``trilho.yaml``): what each pipeline stage reads, resolved against the project folder.

name: churn
model: {name: churn, flavor: sklearn, contract: contracts/model.yaml, artifact: build/model.skops}
data: {train: data/train.csv, contract: contracts/data.yaml}
train: {command: [python, train.py], inputs: [train.py, params.yaml], params: params.yaml}
evaluate: {command: [python, evaluate.py], metrics: build/metrics.json, thresholds: {accuracy: {min: 0.7}}}
golden: {suite: golden/suite.yaml}
eval: {suite: evals/suite.yaml}          # optional (the llm template)
rollout: {plan: rollout/plan.yaml, deployment: rollout/deployment.yaml}   # the deployment file: optional
ct: {reference: data/train.csv, features: [...], consecutive: 3, cooldown: 1h}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trilho.errors import InputError

PROJECT_FILE = "trilho.yaml"


class NotAProject(InputError):
    """The folder is not a trilho project (no trilho.yaml up the tree)."""


@dataclass(frozen=True)
class Project:
    """A loaded project file; every path is absolute."""

    root: Path
    name: str
    model: dict[str, Any]
    data: dict[str, Any]
    train: dict[str, Any]
    evaluate: dict[str, Any] = field(default_factory=dict)
    golden: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    rollout: dict[str, Any] = field(default_factory=dict)
    ct: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        """The project's own ``.trilho`` folder (pipeline state)."""
        return self.root / ".trilho"

    def path(self, rel: str | Path) -> Path:
        """A project-relative path made absolute."""
        p = Path(rel)
        return p if p.is_absolute() else self.root / p


def find_project(start: str | Path | None = None) -> Path:
    """The folder holding ``trilho.yaml``: ``start`` or one of its parents."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise NotAProject(
        f"{str(here)!r} is not inside a trilho project (no {PROJECT_FILE} here or above)",
        fix="run it in a project made by `trilho init NAME --template tabular`, or pass --project DIR",
        field="project",
        value=str(here),
    )


def _need(section: dict[str, Any], key: str, where: str) -> Any:
    if not isinstance(section, dict) or section.get(key) in (None, ""):
        raise InputError(
            f"{PROJECT_FILE}: '{where}.{key}' is required",
            fix=f"add {where}.{key} to {PROJECT_FILE}",
            field=f"{where}.{key}",
        )
    return section[key]


def load_project(start: str | Path | None = None, *, check_paths: bool = True) -> Project:
    """Load and check ``trilho.yaml`` (missing sections, missing data paths → ``InputError``, exit 2)."""
    root = find_project(start)
    try:
        raw = yaml.safe_load((root / PROJECT_FILE).read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(
            f"{PROJECT_FILE} is not valid YAML: {exc}", fix="fix the YAML syntax", field="project"
        ) from None
    if not isinstance(raw, dict):
        raise InputError(f"{PROJECT_FILE} must be a mapping", field="project")
    model, data, train = raw.get("model") or {}, raw.get("data") or {}, raw.get("train") or {}
    for key in ("name", "flavor", "contract", "artifact"):
        _need(model, key, "model")
    for key in ("train", "contract"):
        _need(data, key, "data")
    if not train.get("command") and not train.get("entry"):
        _need(train, "entry", "train")
    project = Project(
        root=root,
        name=str(raw.get("name") or model["name"]),
        model=dict(model),
        data=dict(data),
        train=dict(train),
        evaluate=dict(raw.get("evaluate") or {}),
        golden=dict(raw.get("golden") or {}),
        eval=dict(raw.get("eval") or {}),
        rollout=dict(raw.get("rollout") or {}),
        ct=dict(raw.get("ct") or {}),
        raw=raw,
    )
    _check_comparators(project.rollout.get("comparators"))
    if check_paths:
        wanted = [
            ("data.train", data["train"]),
            ("data.contract", data["contract"]),
            ("model.contract", model["contract"]),
        ]
        wanted += [(f"train.inputs[{i}]", p) for i, p in enumerate(train.get("inputs") or [])]
        if project.golden.get("suite"):
            wanted.append(("golden.suite", project.golden["suite"]))
        if project.eval.get("suite"):
            wanted.append(("eval.suite", project.eval["suite"]))
        if project.rollout.get("plan"):
            wanted.append(("rollout.plan", project.rollout["plan"]))
        if project.rollout.get("deployment"):
            wanted.append(("rollout.deployment", project.rollout["deployment"]))
        for key, rel in wanted:
            if not project.path(rel).exists():
                raise InputError(
                    f"{key} points at {str(rel)!r}, which does not exist in {root}",
                    fix=f"create it or fix {key} in {PROJECT_FILE}",
                    field=key,
                    value=str(rel),
                )
    return project


def _check_comparators(specs: Any) -> None:
    """``rollout.comparators`` parse as shadow comparators (the grammar the gateway and deploy files use)."""
    from trilho.contracts.comparator_specs import parse_comparator_spec

    if specs is None:
        return
    if not isinstance(specs, list):
        raise InputError(
            f"rollout.comparators must be a list of comparator specs, got {type(specs).__name__}",
            fix=f'write e.g. comparators: ["label:churn"] in {PROJECT_FILE}',
            field="rollout.comparators",
            value=specs,
        )
    for i, spec in enumerate(specs):
        parse_comparator_spec(spec, field=f"rollout.comparators[{i}]")
