"""The routing-table repository: deployments per model, written by the rollout control plane (or an operator)
and read by every gateway. Neutral ground: it imports nothing of ``trilho.serving`` or ``trilho.rollout``.

Every write is one transaction that first bumps the single ``routing_state.generation`` row, which both
serialises writers (the row lock) and lets a gateway notice any change by polling one integer.

    from trilho.store.routing import Deployment, Route, set_deployment, set_weights, set_kill
    set_deployment(store, Deployment("iris", routes=(Route("1"),)))
    set_weights(store, "iris", {"1": 0.9, "2": 0.1})      # "2" joins as a canary
    set_kill(store, "iris", "candidates")                 # every request to stable, no shadow
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from trilho.errors import InputError
from trilho.names import NAME_FIX, is_name
from trilho.store.tables.routing import (
    routing_deployments,
    routing_history,
    routing_state,
    serving_shadow_windows,
    serving_windows,
)

ROLES = ("stable", "canary", "shadow")
KILL_MODES = ("off", "candidates", "all")  # candidates: all traffic to stable; all: static fallback only


@dataclass(frozen=True)
class Route:
    """One version in a deployment: its role and, for stable/canary, its share of live traffic (0..1)."""

    version: str
    role: str = "stable"
    weight: float = 1.0


@dataclass(frozen=True)
class BatchingConfig:
    """Micro-batching per version: flush at ``max_batch_size`` or ``max_wait_ms`` after the first request."""

    enabled: bool = True
    max_batch_size: int = 32
    max_wait_ms: float = 2.0
    max_queue: int = 2048  # requests waiting beyond this are shed with 503
    # batches of one version in flight at once (the timer matters while one runs); None: the gateway picks —
    # 2 with ≥ 3 cores, 1 on smaller machines, where a second model thread competes with the event loop
    max_concurrency: int | None = None


@dataclass(frozen=True)
class CacheConfig:
    """Opt-in response cache: LRU with a time to live."""

    enabled: bool = False
    max_entries: int = 10_000
    ttl_s: float = 60.0


@dataclass(frozen=True)
class BreakerConfig:
    """Circuit breaker per version: ``failures`` in a row open it for ``reset_after_s``."""

    failures: int = 5
    reset_after_s: float = 5.0


@dataclass(frozen=True)
class SLOConfig:
    """A latency SLO: ``target`` of requests answered (no 5xx, not shed) within ``latency_ms``. Each alert
    ``(severity, long_s, short_s, burn_rate)`` fires while both windows burn the error budget faster than
    ``burn_rate`` (default: the SRE workbook's 1 h/5 m at 14.4 and 6 h/30 m at 6)."""

    latency_ms: float
    target: float = 0.99
    alerts: tuple[tuple[str, float, float, float], ...] = (
        ("page", 3600, 300, 14.4),
        ("page", 21600, 1800, 6.0),
    )

    def __post_init__(self) -> None:
        try:
            alerts = tuple((str(a[0]), float(a[1]), float(a[2]), float(a[3])) for a in self.alerts)
            if any(len(a) != 4 for a in self.alerts):
                raise ValueError
        except (TypeError, ValueError, IndexError):
            raise _bad(
                f"slo.alerts must be a list of [severity, long_s, short_s, burn_rate], got {self.alerts!r}",
                'write e.g. alerts: [["page", 3600, 300, 14.4]]',
                "slo.alerts",
                self.alerts,
            ) from None
        object.__setattr__(self, "alerts", alerts)
        for name in ("latency_ms", "target"):
            try:
                object.__setattr__(self, name, float(getattr(self, name)))
            except (TypeError, ValueError):
                raise _bad(f"slo.{name} must be a number", "e.g. 50 or 0.99", f"slo.{name}", None) from None
        if not self.latency_ms > 0:
            raise _bad(
                f"slo.latency_ms {self.latency_ms} must be positive",
                "use e.g. 50",
                "slo.latency_ms",
                self.latency_ms,
            )
        if not 0.0 < self.target < 1.0:
            raise _bad(
                f"slo.target {self.target} must be in (0, 1)", "use e.g. 0.99", "slo.target", self.target
            )
        for sev, long_s, short_s, rate in alerts:
            if not (0 < short_s < long_s) or not rate > 0 or not sev:
                raise _bad(
                    f"slo alert {[sev, long_s, short_s, rate]} needs a severity, 0 < short_s < long_s and "
                    "burn_rate > 0",
                    "e.g. ['page', 3600, 300, 14.4]",
                    "slo.alerts",
                    [sev, long_s, short_s, rate],
                )


@dataclass(frozen=True)
class Deployment:
    """What a gateway serves for one model: routes, shadow fraction, budgets, batching, cache, breaker."""

    model: str
    routes: tuple[Route, ...]
    shadow_fraction: float = 0.0
    unit_field: str | None = None
    deadline_ms: float = 1000.0
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    fallback_response: dict[str, Any] | None = None
    comparators: tuple[str, ...] = ("exact",)
    kill: str = "off"
    generation: int = 0
    slo: SLOConfig | None = None  # a declared latency SLO: the gateway exports its burn rates and alerts
    evals: dict[str, Any] | None = None  # {"online": …, "gate": …}: see trilho.rollout.deployfile.EvalsSpec

    def __post_init__(self) -> None:
        object.__setattr__(self, "routes", tuple(self.routes))
        object.__setattr__(self, "comparators", tuple(self.comparators))
        validate_deployment(self)

    @property
    def stable(self) -> Route:
        """The stable route (exactly one per deployment)."""
        return next(r for r in self.routes if r.role == "stable")

    @property
    def canaries(self) -> tuple[Route, ...]:
        """Canary routes in table order (their bucket ranges are laid out in this order)."""
        return tuple(r for r in self.routes if r.role == "canary")

    @property
    def shadows(self) -> tuple[Route, ...]:
        """Shadow routes: mirrored after the primary answer, never answering users."""
        return tuple(r for r in self.routes if r.role == "shadow")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready document (what the store keeps)."""
        out = asdict(self)
        out["routes"] = [asdict(r) for r in self.routes]
        out["comparators"] = list(self.comparators)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Deployment:
        """Build (and validate) a deployment from its document; unknown keys are ignored."""
        try:
            return cls(
                model=str(data["model"]),
                routes=tuple(
                    Route(str(r["version"]), r.get("role", "stable"), float(r.get("weight", 1.0)))
                    for r in data["routes"]
                ),
                shadow_fraction=float(data.get("shadow_fraction", 0.0)),
                unit_field=data.get("unit_field"),
                deadline_ms=float(data.get("deadline_ms", 1000.0)),
                batching=BatchingConfig(**data.get("batching") or {}),
                cache=CacheConfig(**data.get("cache") or {}),
                breaker=BreakerConfig(**data.get("breaker") or {}),
                fallback_response=data.get("fallback_response"),
                comparators=tuple(data.get("comparators") or ("exact",)),
                kill=str(data.get("kill", "off")),
                generation=int(data.get("generation", 0)),
                slo=SLOConfig(**data["slo"]) if data.get("slo") else None,
                evals=dict(data["evals"]) if data.get("evals") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"deployment document is not valid: {exc}",
                fix="give model and routes [{version, role, weight}]; other keys are optional",
                field="deployment",
            ) from exc


def _bad(message: str, fix: str, field_name: str, value: Any) -> InputError:
    return InputError(message, fix=fix, field=field_name, value=value, rule="routing")


def validate_deployment(d: Deployment) -> None:
    """Raise ``InputError`` naming the field when a deployment cannot be served as written."""
    if not is_name(d.model):
        raise _bad(
            f"model name {d.model!r} is not valid",
            "use the registry name without @version: " + NAME_FIX,
            "model",
            d.model,
        )
    if not d.routes:
        raise _bad(f"deployment {d.model!r} has no routes", "add one stable route", "routes", [])
    versions = [r.version for r in d.routes]
    if len(set(versions)) != len(versions):
        raise _bad(
            f"deployment {d.model!r} lists a version twice: {versions}",
            "list each version once",
            "routes",
            versions,
        )
    for r in d.routes:
        if r.role not in ROLES:
            raise _bad(
                f"route role {r.role!r} is not one of {ROLES}", "use stable, canary or shadow", "role", r.role
            )
        if not (0.0 <= r.weight <= 1.0) or math.isnan(r.weight):
            raise _bad(
                f"weight {r.weight} of version {r.version} is outside 0..1",
                "use a share between 0 and 1",
                "weight",
                r.weight,
            )
    stables = [r for r in d.routes if r.role == "stable"]
    if len(stables) != 1:
        raise _bad(
            f"deployment {d.model!r} needs exactly one stable route, has {len(stables)}",
            "mark one version role=stable",
            "routes",
            versions,
        )
    live = sum(r.weight for r in d.routes if r.role in ("stable", "canary"))
    if abs(live - 1.0) > 1e-6:
        raise _bad(
            f"stable + canary weights of {d.model!r} sum to {live:.6f}, not 1",
            "make the live weights add up to 1 (e.g. 0.9 and 0.1)",
            "weight",
            live,
        )
    if not (0.0 <= d.shadow_fraction <= 1.0):
        raise _bad(
            f"shadow_fraction {d.shadow_fraction} is outside 0..1",
            "use a fraction between 0 and 1",
            "shadow_fraction",
            d.shadow_fraction,
        )
    if d.deadline_ms <= 0:
        raise _bad(
            f"deadline_ms {d.deadline_ms} must be positive", "use e.g. 100", "deadline_ms", d.deadline_ms
        )
    if d.kill not in KILL_MODES:
        raise _bad(
            f"kill mode {d.kill!r} is not one of {KILL_MODES}", "use off, candidates or all", "kill", d.kill
        )
    b = d.batching
    if (
        b.max_batch_size < 1
        or b.max_wait_ms < 0
        or b.max_queue < 1
        or (b.max_concurrency is not None and b.max_concurrency < 1)
    ):
        raise _bad(
            "batching needs max_batch_size ≥ 1, max_wait_ms ≥ 0, max_queue ≥ 1, max_concurrency ≥ 1 "
            "(or null: chosen by the gateway)",
            "fix the batching block",
            "batching",
            asdict(d.batching),
        )
    if d.breaker.failures < 1 or d.breaker.reset_after_s <= 0:
        raise _bad(
            "breaker needs failures ≥ 1 and reset_after_s > 0",
            "fix the breaker block",
            "breaker",
            asdict(d.breaker),
        )
    if d.cache.max_entries < 1 or d.cache.ttl_s <= 0:
        raise _bad(
            "cache needs max_entries ≥ 1 and ttl_s > 0", "fix the cache block", "cache", asdict(d.cache)
        )


@dataclass(frozen=True)
class RoutingTable:
    """A snapshot of every deployment at one generation."""

    generation: int
    deployments: dict[str, Deployment]


# --- writes ------------------------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def _bump(conn) -> int:
    """Take the writer lock (the state row) and return the next generation."""
    res = conn.execute(
        update(routing_state)
        .where(routing_state.c.id == 1)
        .values(generation=routing_state.c.generation + 1, updated_at=_now())
    )
    if res.rowcount == 0:
        conn.execute(insert(routing_state).values(id=1, generation=1, updated_at=_now()))
    return int(conn.execute(select(routing_state.c.generation).where(routing_state.c.id == 1)).scalar_one())


def _write(conn, deployment: Deployment, generation: int, actor: str, exists: bool) -> Deployment:
    stored = replace(deployment, generation=generation)
    values = {
        "spec": stored.to_dict(),
        "kill": stored.kill,
        "generation": generation,
        "updated_at": _now(),
        "updated_by": actor,
    }
    if exists:
        conn.execute(
            update(routing_deployments)
            .where(routing_deployments.c.model == deployment.model)
            .values(**values)
        )
    else:
        conn.execute(insert(routing_deployments).values(model=deployment.model, **values))
    h = routing_history
    conn.execute(delete(h).where(h.c.model == deployment.model, h.c.generation == generation))
    conn.execute(
        insert(routing_history).values(
            model=deployment.model,
            generation=generation,
            spec=values["spec"],
            kill=stored.kill,
            at=values["updated_at"],
        )
    )
    return stored


def _read(conn, model: str) -> Deployment | None:
    row = (
        conn.execute(select(routing_deployments).where(routing_deployments.c.model == model))
        .mappings()
        .first()
    )
    return None if row is None else _from_row(row)


def _from_row(row: Mapping[str, Any]) -> Deployment:
    spec = dict(row["spec"])
    spec["kill"] = row["kill"]
    spec["generation"] = row["generation"]
    return Deployment.from_dict(spec)


def _require(conn, model: str) -> Deployment:
    current = _read(conn, model)
    if current is None:
        raise InputError(
            f"model {model!r} has no deployment",
            fix="create it with set_deployment first",
            field="model",
            value=model,
        )
    return current


# --- inside a caller's transaction (the rollout control plane writes its own rows in the same one) ---------
def bump_generation(conn) -> int:
    """In ``conn``'s transaction: take the routing writer lock and return the next generation."""
    return _bump(conn)


def read_deployment(conn, model: str) -> Deployment | None:
    """In ``conn``'s transaction: one model's deployment, or None."""
    return _read(conn, model)


def write_deployment(conn, deployment: Deployment, generation: int, actor: str = "unknown") -> Deployment:
    """In ``conn``'s transaction: store ``deployment`` at ``generation`` (from ``bump_generation``)."""
    exists = _read(conn, deployment.model) is not None
    return _write(conn, deployment, generation, actor, exists)


def remove_deployment(conn, model: str) -> None:
    """In ``conn``'s transaction (after ``bump_generation``): delete ``model``'s deployment row."""
    conn.execute(delete(routing_deployments).where(routing_deployments.c.model == model))


def set_deployment(store, deployment: Deployment, *, actor: str = "unknown") -> Deployment:
    """Create or replace a model's deployment in one transaction; returns it with its new generation."""
    validate_deployment(deployment)
    with store.transaction() as conn:
        gen = _bump(conn)
        exists = _read(conn, deployment.model) is not None
        return _write(conn, deployment, gen, actor, exists)


def set_routes(
    store,
    model: str,
    routes: Sequence[Route],
    *,
    shadow_fraction: float | None = None,
    actor: str = "unknown",
) -> Deployment:
    """Replace a deployment's routes (and optionally its shadow fraction) atomically."""
    with store.transaction() as conn:
        gen = _bump(conn)
        current = _require(conn, model)
        changes: dict[str, Any] = {"routes": tuple(routes)}
        if shadow_fraction is not None:
            changes["shadow_fraction"] = shadow_fraction
        return _write(conn, replace(current, **changes), gen, actor, True)


def set_weights(store, model: str, weights: Mapping[str, float], *, actor: str = "unknown") -> Deployment:
    """Set live weights atomically: versions named keep their role (new ones join as canary); stable and
    canary versions not named get weight 0. Weights must add up to 1."""
    with store.transaction() as conn:
        gen = _bump(conn)
        current = _require(conn, model)
        routes: list[Route] = []
        seen = set()
        for r in current.routes:
            if r.role == "shadow" and r.version not in weights:
                routes.append(r)
                continue
            role = "canary" if r.role == "shadow" else r.role
            routes.append(Route(r.version, role, float(weights.get(r.version, 0.0))))
            seen.add(r.version)
        routes += [Route(str(v), "canary", float(w)) for v, w in weights.items() if v not in seen]
        return _write(conn, replace(current, routes=tuple(routes)), gen, actor, True)


def set_kill(store, model: str, mode: str = "candidates", *, actor: str = "unknown") -> Deployment:
    """Flip a model's kill switch: ``candidates`` sends everything to stable (no shadow), ``all`` answers the
    static fallback, ``off`` restores the routes. One transaction; the routes themselves are kept."""
    if mode not in KILL_MODES:
        raise InputError(
            f"kill mode {mode!r} is not one of {KILL_MODES}",
            fix="use off, candidates or all",
            field="kill",
            value=mode,
        )
    with store.transaction() as conn:
        gen = _bump(conn)
        current = _require(conn, model)
        return _write(conn, replace(current, kill=mode), gen, actor, True)


def delete_deployment(store, model: str, *, actor: str = "unknown") -> int:
    """Stop serving a model; returns the new generation."""
    with store.transaction() as conn:
        gen = _bump(conn)
        _require(conn, model)
        remove_deployment(conn, model)
        return gen


# --- reads -------------------------------------------------------------------------------------------------
def get_deployment(store, model: str) -> Deployment | None:
    """One model's deployment, or None."""
    with store.connect() as conn:
        return _read(conn, model)


def list_deployments(store) -> list[Deployment]:
    """Every deployment, ordered by model."""
    return sorted(load_table(store).deployments.values(), key=lambda d: d.model)


def live_shares(deployment: Deployment) -> dict[str, float]:
    """Version → share of live requests it is routed (the kill switch applied; shadows get none)."""
    if deployment.kill != "off":
        return {deployment.stable.version: 1.0}
    return {r.version: r.weight for r in deployment.routes if r.role in ("stable", "canary")}


def shares_by_generation(store, model: str) -> dict[int, dict[str, float]]:
    """Routing generation → the live shares ``model`` had under it (:func:`live_shares`), for every
    generation that wrote its deployment since the history table exists."""
    q = select(routing_history).where(routing_history.c.model == model)
    with store.connect() as conn:
        rows = conn.execute(q.order_by(routing_history.c.generation)).mappings().all()
    return {int(r["generation"]): live_shares(_from_row(r)) for r in rows}


def current_generation(store) -> int:
    """The routing table's generation (0 before the first write): the cheap thing gateways poll."""
    with store.connect() as conn:
        value = conn.execute(select(routing_state.c.generation).where(routing_state.c.id == 1)).scalar()
    return int(value or 0)


def load_table(store) -> RoutingTable:
    """A consistent snapshot: generation and every deployment read in one transaction."""
    with store.transaction() as conn:
        gen = conn.execute(select(routing_state.c.generation).where(routing_state.c.id == 1)).scalar()
        rows = conn.execute(select(routing_deployments)).mappings().all()
    return RoutingTable(int(gen or 0), {r["model"]: _from_row(r) for r in rows})


# --- serving windows ---------------------------------------------------------------------------------------
def write_windows(
    store, windows: Iterable[Mapping[str, Any]], shadow_windows: Iterable[Mapping[str, Any]] = ()
) -> None:
    """Append per-version (and per shadow pair) aggregates in one transaction."""
    windows, shadow_windows = list(windows), list(shadow_windows)
    if not windows and not shadow_windows:
        return
    with store.transaction() as conn:
        if windows:
            conn.execute(insert(serving_windows), windows)
        if shadow_windows:
            conn.execute(insert(serving_shadow_windows), shadow_windows)


def read_windows(store, model: str, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """Per-version windows of a model (oldest first), optionally those ending after ``since``."""
    q = select(serving_windows).where(serving_windows.c.model == model)
    if since is not None:
        q = q.where(serving_windows.c.window_end > since)
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(q.order_by(serving_windows.c.window_end)).mappings()]


def read_shadow_windows(store, model: str, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """Shadow comparison windows of a model (oldest first)."""
    t = serving_shadow_windows
    q = select(t).where(t.c.model == model)
    if since is not None:
        q = q.where(t.c.window_end > since)
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(q.order_by(t.c.window_end)).mappings()]


__all__ = [
    "KILL_MODES",
    "ROLES",
    "BatchingConfig",
    "BreakerConfig",
    "CacheConfig",
    "Deployment",
    "Route",
    "RoutingTable",
    "bump_generation",
    "current_generation",
    "delete_deployment",
    "get_deployment",
    "list_deployments",
    "load_table",
    "read_deployment",
    "read_shadow_windows",
    "read_windows",
    "remove_deployment",
    "set_deployment",
    "set_kill",
    "set_routes",
    "set_weights",
    "validate_deployment",
    "write_deployment",
    "write_windows",
]
