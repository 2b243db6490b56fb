"""Deployment files: the declarative front of the routing table (``trilho deploy apply deployment.yaml``).

A deployment file says what one model serves — routes (weights in % of live traffic), shadow traffic and
comparators, the latency budget, batching, cache, breaker, fallback and SLO — in the store's own terms
(``trilho.store.routing.Deployment``). Loading and diffing are pure; :func:`apply_deployment` and
:func:`delete_deployment_audited` write the routing table and one audit entry in ONE transaction, and write
nothing when the file already matches what is live (so applying twice changes nothing). The pipelines of the
templates create deployments through :func:`apply_deployment` too::

    model: churn
    routes:
      - {version: 3, role: stable, weight: 90}
      - {version: 4, role: canary, weight: 10}
      - {version: champion, role: shadow}      # aliases are resolved when the file is applied
    shadow_percent: 20
    comparators: ["label:churn"]

The kill switch and the generation are live state, not declarations: applying keeps them as they are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trilho.clock import Clock, SystemClock
from trilho.contracts.comparator_specs import ALLOWED
from trilho.errors import InputError, RolloutError, TrilhoError
from trilho.rollout import audit
from trilho.rollout.machine import TERMINAL
from trilho.rollout.plan import ComparatorName, read_yaml_mapping, validation_error
from trilho.store.routing import (
    BatchingConfig,
    BreakerConfig,
    CacheConfig,
    Deployment,
    Route,
    SLOConfig,
    bump_generation,
    read_deployment,
    remove_deployment,
    write_deployment,
)
from trilho.store.tables.rollout import rollouts

API_VERSION = "trilho/v1"
KIND = "Deployment"
_BATCHING, _CACHE, _BREAKER = BatchingConfig(), CacheConfig(), BreakerConfig()


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouteSpec(_Spec):
    """One version and its role; stable and canary routes carry a share of live traffic in %."""

    version: int | str = Field(
        description="a version number, or an alias (e.g. champion) resolved when applied"
    )
    role: Literal["stable", "canary", "shadow"] = "stable"
    weight: float | None = Field(
        None,
        ge=0,
        le=100,
        description="% of live traffic (stable + canary add up to 100; a lone stable route may omit it); "
        "shadow routes take no weight",
    )

    @field_validator("version", mode="after")
    @classmethod
    def _version_text(cls, value: int | str) -> str:
        return str(value)


class BatchingSpec(_Spec):
    """Micro-batching per version (``trilho.store.routing.BatchingConfig``)."""

    enabled: bool = _BATCHING.enabled
    max_batch_size: int = Field(_BATCHING.max_batch_size, ge=1)
    max_wait_ms: float = Field(_BATCHING.max_wait_ms, ge=0)
    max_queue: int = Field(_BATCHING.max_queue, ge=1, description="requests waiting beyond this are shed")
    max_concurrency: int | None = Field(
        _BATCHING.max_concurrency, ge=1, description="batches in flight per version; null: the gateway picks"
    )


class CacheSpec(_Spec):
    """Opt-in response cache (LRU with a time to live)."""

    enabled: bool = _CACHE.enabled
    max_entries: int = Field(_CACHE.max_entries, ge=1)
    ttl_s: float = Field(_CACHE.ttl_s, gt=0)


class BreakerSpec(_Spec):
    """Circuit breaker per version: ``failures`` in a row open it for ``reset_after_s``."""

    failures: int = Field(_BREAKER.failures, ge=1)
    reset_after_s: float = Field(_BREAKER.reset_after_s, gt=0)


class SLOSpec(_Spec):
    """A latency SLO and its burn-rate alerts ``[severity, long_s, short_s, burn_rate]``."""

    latency_ms: float = Field(gt=0)
    target: float = Field(0.99, gt=0, lt=1)
    alerts: list[tuple[str, float, float, float]] = Field(
        default_factory=lambda: list(SLOConfig(latency_ms=1.0).alerts),
        description="burn-rate alerts; default: 1 h/5 m at 14.4 and 6 h/30 m at 6 (the SRE workbook's)",
    )


class OnlineEvalsSpec(_Spec):
    """Online evaluation of the model's answers by every gateway (the keys of one model of ``trilho serve
    --evals``, ``trilho.evals.online_gateway``): the policy's checks on every answer, enforced; a judged
    sample; per-version windows the rollout's ``online_eval`` check reads."""

    policy: str | dict[str, Any] = Field(
        "default",
        description="a policy YAML file (relative to the deployment file; its content is what is applied), "
        "a policy mapping, or 'default'",
    )
    input_field: str | None = Field(None, description="record field holding the user's text")
    output_field: str | None = Field(None, description="output field holding the model's text")
    inputs: bool = Field(True, description="also run the policy's input checks on the request")
    fail: Literal["open", "closed"] = Field(
        "open", description="the checks failed: send as is, or the fallback"
    )
    judge: dict[str, Any] | None = Field(
        None,
        description="LLM-as-judge on a sample, off the request path (base_url, model, rubric, …)",
    )


class EvalsSpec(_Spec):
    """What evaluates the deployment: online checks of its served answers, the eval gate of its rollouts."""

    online: OnlineEvalsSpec | None = None
    gate: Literal["auto", "required"] = Field(
        "auto",
        description="required: a candidate needs a passing eval record before any traffic; auto: only once a "
        "version of the model has one",
    )


class DeploymentFile(_Spec):
    """A deployment file: what one model serves, as kept in git and applied with ``trilho deploy apply``."""

    apiVersion: Literal["trilho/v1"] = API_VERSION  # noqa: N815 - the file's own spelling
    kind: Literal["Deployment"] = KIND
    model: str = Field(description="the registry name of the model")
    routes: list[RouteSpec] = Field(min_length=1, description="exactly one stable route")
    shadow_percent: float = Field(0.0, ge=0, le=100, description="% of requests mirrored to shadow routes")
    comparators: list[ComparatorName] = Field(
        default_factory=lambda: ["exact"],
        min_length=1,
        description=f"how shadow outputs are compared with stable's: {ALLOWED}",
    )
    unit_field: str | None = Field(None, description="a contract field used as the sticky assignment unit")
    deadline_ms: float = Field(1000.0, gt=0, description="the latency budget before the fallback chain")
    batching: BatchingSpec = Field(default_factory=BatchingSpec)
    cache: CacheSpec = Field(default_factory=CacheSpec)
    breaker: BreakerSpec = Field(default_factory=BreakerSpec)
    fallback_response: dict[str, Any] | None = Field(None, description="the static answer of last resort")
    slo: SLOSpec | None = None
    evals: EvalsSpec | None = Field(None, description="online evaluation of the answers and the eval gate")

    @model_validator(mode="after")
    def _lone_live_route_takes_everything(self) -> DeploymentFile:
        """A lone stable route may omit its weight: it is 100 % (so the file equals what the store keeps)."""
        live = [r for r in self.routes if r.role != "shadow"]
        if len(live) == 1 and live[0].weight is None:
            routes = [r.model_copy(update={"weight": 100.0}) if r is live[0] else r for r in self.routes]
            object.__setattr__(self, "routes", routes)
        return self

    @model_validator(mode="after")
    def _no_evals_is_none(self) -> DeploymentFile:
        """``evals: {}`` declares nothing: it equals no evals section (so diffs do not flap)."""
        if self.evals == EvalsSpec():
            object.__setattr__(self, "evals", None)
        return self

    def to_yaml(self) -> str:
        """The file as YAML (what ``trilho deploy show`` prints)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a deployment file (for editors: ``# yaml-language-server: $schema=…``)."""
    schema = DeploymentFile.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://trilho.dev/schemas/deployment.schema.json",
        **schema,
    }


# --- loading (pure) -----------------------------------------------------------------------------------------
def load_deployment_file(source: str | Path | Mapping[str, Any]) -> DeploymentFile:
    """Parse and validate a deployment file (a path, YAML text or a mapping); errors name the field."""
    where, data = read_yaml_mapping(
        source,
        what="deployment",
        error=InputError,
        shape="'model' and 'routes'",
        fix_missing="pass the path of a deployment YAML (see docs/deployment.md)",
        fix_shape="start from `trilho deploy show MODEL` or docs/deployment.md",
    )
    try:
        spec = DeploymentFile.model_validate(data)
    except ValidationError as exc:
        hint = "; the JSON Schema is `trilho deploy schema`"
        raise validation_error(exc, where, default="deployment", error=InputError, hint=hint) from None
    _check_weights(spec, where)
    return _with_online_evals(spec, where, _base_dir(source))


def _base_dir(source: str | Path | Mapping[str, Any]) -> Path:
    """Where relative paths in the file point: its folder (the working directory for text or a mapping)."""
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and Path(source).is_file()
    ):
        return Path(source).resolve().parent
    return Path.cwd()


def _with_online_evals(spec: DeploymentFile, where: str, base: Path) -> DeploymentFile:
    """The file with ``evals.online.policy`` inlined (a path becomes the policy's content: every gateway
    host applies the same policy) and the online settings checked as a gateway would build them."""
    online = spec.evals.online if spec.evals is not None else None
    if online is None:
        return spec
    policy = online.policy
    if isinstance(policy, str) and policy != "default":
        path = Path(policy) if Path(policy).is_absolute() else base / policy
        try:
            policy = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(
                f"{where}: evals.online.policy: {str(path)!r} cannot be read: {exc}",
                fix="give a policy YAML file (relative to the deployment file), a mapping, or 'default'",
                field="evals.online.policy",
                value=online.policy,
            ) from None
        if not isinstance(policy, dict):
            raise InputError(
                f"{where}: evals.online.policy: {str(path)!r} is not a policy mapping",
                fix="a policy file holds name, checks, fallback, … (docs/deployment.md)",
                field="evals.online.policy",
                value=online.policy,
            )
        online = online.model_copy(update={"policy": policy})
    from trilho.errors import EvalError
    from trilho.evals.online_gateway import check_model_spec

    try:
        check_model_spec(spec.model, online.model_dump(mode="json"))
    except EvalError as exc:
        name = str(exc.fields.get("field") or "")
        prefix = f"models.{spec.model}."
        if name.startswith(prefix):  # the model's settings
            field = "evals.online." + name[len(prefix) :]
        else:  # the policy's own fields
            field = "evals.online.policy" + ("" if name in ("", "policy") else f".{name}")
        raise InputError(
            f"{where}: {field}: {exc.message}",
            fix=exc.fix or "correct the online evaluation settings (docs/deployment.md)",
            field=field,
            value=exc.fields.get("value"),
        ) from None
    return spec.model_copy(update={"evals": spec.evals.model_copy(update={"online": online})})


def _check_weights(spec: DeploymentFile, where: str) -> None:
    live = [(i, r) for i, r in enumerate(spec.routes) if r.role != "shadow"]
    for i, r in enumerate(spec.routes):
        if r.role == "shadow" and r.weight not in (None, 0):
            raise InputError(
                f"{where}: routes[{i}].weight: a shadow route answers no user, so it takes no weight",
                fix="remove the weight (shadow traffic is shadow_percent)",
                field=f"routes[{i}].weight",
                value=r.weight,
            )
        if len(live) > 1 and r.role != "shadow" and r.weight is None:
            raise InputError(
                f"{where}: routes[{i}].weight is missing: with canaries every live route needs its %",
                fix="give stable and canary weights that add up to 100",
                field=f"routes[{i}].weight",
            )
    total = sum(100.0 if r.weight is None else r.weight for _, r in live)
    if live and abs(total - 100.0) > 1e-6:
        raise InputError(
            f"{where}: routes: stable + canary weights add up to {total:g} %, not 100",
            fix="make the live weights add up to 100 (e.g. 90 and 10)",
            field="routes[].weight",
            value=total,
        )


# --- between the file and the store (pure) ------------------------------------------------------------------
def to_deployment(spec: DeploymentFile, *, kill: str = "off") -> Deployment:
    """The store's deployment for a file whose versions are resolved (``kill``: the live switch, kept)."""
    routes = tuple(
        Route(r.version, r.role, 0.0 if r.role == "shadow" else (1.0 if r.weight is None else r.weight / 100))
        for r in spec.routes
    )
    try:
        return Deployment(
            spec.model,
            routes,
            shadow_fraction=spec.shadow_percent / 100,
            unit_field=spec.unit_field,
            deadline_ms=spec.deadline_ms,
            batching=BatchingConfig(**spec.batching.model_dump()),
            cache=CacheConfig(**spec.cache.model_dump()),
            breaker=BreakerConfig(**spec.breaker.model_dump()),
            fallback_response=spec.fallback_response,
            comparators=tuple(spec.comparators),
            kill=kill,
            slo=SLOConfig(**spec.slo.model_dump()) if spec.slo else None,
            evals=spec.evals.model_dump(mode="json") if spec.evals else None,
        )
    except InputError as exc:  # the store's own rules (one stable route, each version once, …)
        raise InputError(f"deployment file: {exc.message}", fix=exc.fix, **exc.fields) from None


def from_deployment(dep: Deployment) -> DeploymentFile:
    """The deployment file that declares ``dep`` (weights back in %)."""
    routes = [
        RouteSpec(version=r.version, role=r.role, weight=None if r.role == "shadow" else _pct(r.weight))  # type: ignore[arg-type]
        for r in dep.routes
    ]
    return DeploymentFile(
        model=dep.model,
        routes=routes,
        shadow_percent=_pct(dep.shadow_fraction),
        comparators=list(dep.comparators),
        unit_field=dep.unit_field,
        deadline_ms=dep.deadline_ms,
        batching=BatchingSpec(**_fields(dep.batching)),
        cache=CacheSpec(**_fields(dep.cache)),
        breaker=BreakerSpec(**_fields(dep.breaker)),
        fallback_response=dep.fallback_response,
        slo=SLOSpec(**_fields(dep.slo)) if dep.slo else None,
        evals=EvalsSpec.model_validate(dep.evals) if dep.evals else None,
    )


def _pct(share: float) -> float:
    return round(share * 100, 6)


def _fields(obj: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(obj)


@dataclass(frozen=True)
class Change:
    """One field that differs between what is live and what the file declares (``None``: absent)."""

    field: str
    live: Any
    desired: Any

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"field": self.field, "live": self.live, "desired": self.desired}


def diff(live: DeploymentFile | None, desired: DeploymentFile) -> list[Change]:
    """Every field that differs, named as in the file (``routes[version=3].weight``); empty when equal."""
    before = _flat(live.model_dump(mode="json")) if live is not None else {}
    after = _flat(desired.model_dump(mode="json"))
    keys = list(after) + [k for k in before if k not in after]
    return [Change(k, before.get(k), after.get(k)) for k in keys if not _same(before.get(k), after.get(k))]


def _flat(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "routes":
            out["routes.order"] = [r["version"] for r in value]
            for r in value:
                out[f"routes[version={r['version']}].role"] = r["role"]
                out[f"routes[version={r['version']}].weight"] = r["weight"]
        elif isinstance(value, dict) and key != "fallback_response":
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-9
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# --- the store edge -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` did: ``created``, ``changed`` or ``unchanged``, the changes and the new generation."""

    model: str
    action: Literal["created", "changed", "unchanged"]
    changes: list[Change] = field(default_factory=list)
    generation: int | None = None
    deployment: Deployment | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "model": self.model,
            "action": self.action,
            "changes": [c.to_dict() for c in self.changes],
            "generation": self.generation,
        }


def resolve_versions(spec: DeploymentFile, resolve: Callable[[str], str]) -> DeploymentFile:
    """The file with each route's version resolved through ``resolve(ref)`` (``model@3`` or ``model@alias``
    to a version number); a version the registry does not know is an error naming the route."""
    routes = []
    for i, r in enumerate(spec.routes):
        try:
            version = resolve(f"{spec.model}@{r.version}")
        except TrilhoError as exc:
            raise InputError(
                f"deployment file: routes[{i}].version {r.version!r}: {exc.message}",
                fix=exc.fix or f"register the version first (trilho model list {spec.model})",
                field=f"routes[{i}].version",
                value=r.version,
            ) from None
        routes.append(r.model_copy(update={"version": str(version)}))
    return spec.model_copy(update={"routes": routes})


def registry_resolver(registry: Any) -> Callable[[str], str]:
    """``resolve`` for :func:`resolve_versions` backed by a ``trilho.registry.Registry``."""
    return lambda ref: str(registry.get(ref).version)


def diff_live(
    store, spec: DeploymentFile, resolve: Callable[[str], str]
) -> tuple[DeploymentFile, list[Change]]:
    """The resolved file and how the live deployment differs from it (nothing is written)."""
    resolved = resolve_versions(spec, resolve)
    to_deployment(resolved)  # the store's rules, checked before anything is compared
    with store.connect() as conn:
        live = read_deployment(conn, spec.model)
    return resolved, diff(from_deployment(live) if live else None, resolved)


def apply_deployment(
    store,
    spec: DeploymentFile,
    resolve: Callable[[str], str],
    *,
    actor: str,
    source: str | None = None,
    clock: Clock | None = None,
) -> ApplyResult:
    """Make the live deployment of ``spec.model`` match the file: one transaction with the routing write and
    its audit entry, or nothing at all when it already matches (``unchanged``) or the file is invalid."""
    resolved = resolve_versions(spec, resolve)
    to_deployment(resolved)  # validate fully before taking the routing lock
    now = (clock or SystemClock()).now()
    with store.transaction() as conn:
        live = read_deployment(conn, spec.model)
        changes = diff(from_deployment(live) if live else None, resolved)
        if live is not None and not changes:
            return ApplyResult(spec.model, "unchanged", [], live.generation, live)
        _refuse_during_rollout(conn, spec.model, "apply a deployment file to")
        gen = bump_generation(conn)
        stored = write_deployment(
            conn, to_deployment(resolved, kill=live.kill if live else "off"), gen, actor
        )
        action: Literal["created", "changed"] = "created" if live is None else "changed"
        audit.append(
            conn,
            at=now,
            actor=actor,
            action=f"deploy_{'create' if live is None else 'apply'}",
            model=spec.model,
            reason=f"deployment file {action} {spec.model}"
            + (f" ({len(changes)} field(s))" if live is not None else ""),
            evidence={
                "source": source,
                "file_sha256": _digest(resolved),
                "changes": [c.to_dict() for c in changes] if live is not None else [],
                "deployment": resolved.model_dump(mode="json"),
                "routing_generation": gen,
            },
        )
    return ApplyResult(spec.model, action, changes, gen, stored)


def delete_deployment_audited(store, model: str, *, actor: str, clock: Clock | None = None) -> int:
    """Stop serving ``model``: the routing row and its audit entry in one transaction; returns the
    generation."""
    now = (clock or SystemClock()).now()
    with store.transaction() as conn:
        live = read_deployment(conn, model)
        if live is None:
            raise InputError(
                f"model {model!r} has no deployment",
                fix="list deployments with `trilho deploy list`",
                field="model",
                value=model,
            )
        _refuse_during_rollout(conn, model, "delete the deployment of")
        gen = bump_generation(conn)
        remove_deployment(conn, model)
        audit.append(
            conn,
            at=now,
            actor=actor,
            action="deploy_delete",
            model=model,
            reason=f"deployment of {model} deleted: the gateways stop serving it",
            evidence={"deployment": from_deployment(live).model_dump(mode="json"), "routing_generation": gen},
        )
    return gen


def _refuse_during_rollout(conn, model: str, what: str) -> None:
    from sqlalchemy import select

    row = conn.execute(
        select(rollouts.c.id, rollouts.c.phase)
        .where(rollouts.c.model == model, rollouts.c.phase.notin_([p.value for p in TERMINAL]))
        .order_by(rollouts.c.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        raise RolloutError(
            f"cannot {what} {model!r}: rollout #{row[0]} is {row[1]} and owns its routes",
            fix=f"wait for it to finish or end it (trilho rollout promote|rollback {model}), then try again",
            field="model",
            value=model,
            rollout=row[0],
        )


def _digest(spec: DeploymentFile) -> str:
    return hashlib.sha256(json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


__all__ = [
    "ApplyResult",
    "Change",
    "DeploymentFile",
    "EvalsSpec",
    "OnlineEvalsSpec",
    "RouteSpec",
    "apply_deployment",
    "delete_deployment_audited",
    "diff",
    "diff_live",
    "from_deployment",
    "json_schema",
    "load_deployment_file",
    "registry_resolver",
    "resolve_versions",
    "to_deployment",
]
