"""The model registry: immutable, content-addressed versions on the store, aliases, loading and gate records.

Registration fails closed and is one transaction: the example inputs are validated, the contract is diffed
against the current champion, the artifact is stored (content-addressed, verified), loaded and run on the
examples, its outputs validated; only then is the version row inserted. A failure leaves the store as it was.
"""

from __future__ import annotations

import json
import math
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from trilho.clock import Clock, SystemClock
from trilho.config import resolve_settings
from trilho.errors import BreakingChange, RegistryError
from trilho.obs import counter, get_logger, get_tracer
from trilho.registry import contract_bridge as cb
from trilho.registry.artifacts import ArtifactInfo, ArtifactStore
from trilho.registry.flavors import LoadSpec, check_flavor, load_flavor
from trilho.registry.lineage import build_lineage
from trilho.registry.predictor import Predictor
from trilho.registry.records import GateRecord, ModelVersion
from trilho.registry.refs import ModelRef, check_alias, check_name, parse_ref
from trilho.registry.signing import SigningKey, sign
from trilho.store import Store
from trilho.store.tables.registry import aliases, gate_records, model_versions, models

log = get_logger("trilho.registry")
tracer = get_tracer("trilho.registry")
_registrations = counter(
    "trilho_registry_registrations_total", "Model registrations by outcome.", ["model", "outcome"]
)

CHAMPION = "champion"


def read_examples(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Example inputs from a JSONL file: one record per line, or ``{"input": {...}}`` lines."""
    p = Path(path)
    if not p.is_file():
        raise RegistryError(
            f"examples file {str(p)!r} does not exist",
            fix="pass --examples with a JSONL file of example input records",
            field="examples",
            value=str(p),
        )
    out = []
    for lineno, line in enumerate(p.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RegistryError(
                f"{p}:{lineno}:{exc.colno}: not valid JSON: {exc.msg}",
                fix="write one JSON object per line",
                field="examples",
                line=lineno,
            ) from exc
        if isinstance(obj, dict) and isinstance(obj.get("input"), dict):
            obj = obj["input"]
        if not isinstance(obj, dict):
            raise RegistryError(
                f"{p}:{lineno}: each line must be a JSON object (an input record)",
                field="examples",
                line=lineno,
            )
        out.append(obj)
    return out


class Registry:
    """Model versions on a store plus their artifacts under ``artifacts_root`` (a folder or fsspec URL)."""

    def __init__(
        self,
        store: Store,
        artifacts_root: str | os.PathLike[str] | None = None,
        *,
        clock: Clock | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.store = store
        root = artifacts_root if artifacts_root is not None else resolve_settings().artifacts_url
        self.artifacts = ArtifactStore(root, cache_dir=cache_dir)
        self.clock = clock or SystemClock()

    # --- registration ---------------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        artifact: str | os.PathLike[str],
        flavor: str,
        contract: str | os.PathLike[str],
        *,
        entry: str | None = None,
        examples: str | os.PathLike[str] | list[dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        data_paths: list[str | os.PathLike[str]] | None = None,
        allow_breaking: str | None = None,
        trusted_types: list[str] | None = None,
    ) -> ModelVersion:
        """Register a new immutable version of ``name``; fails closed (see the module docstring)."""
        with tracer.start_as_current_span("registry.register") as span:
            span.set_attribute("model", name)
            try:
                mv = self._register(
                    name,
                    artifact,
                    flavor,
                    contract,
                    entry=entry,
                    examples=examples,
                    params=params,
                    metrics=metrics,
                    data_paths=data_paths,
                    allow_breaking=allow_breaking,
                    trusted_types=trusted_types,
                )
            except Exception as exc:
                _registrations.labels(model=name, outcome=type(exc).__name__).inc()
                raise
            _registrations.labels(model=name, outcome="ok").inc()
            log.info("model registered", model=name, version=mv.version, artifact=mv.artifact_sha256[:12])
            return mv

    def _register(
        self,
        name: str,
        artifact: str | os.PathLike[str],
        flavor: str,
        contract_path: str | os.PathLike[str],
        *,
        entry: str | None,
        examples: str | os.PathLike[str] | list[dict[str, Any]] | None,
        params: dict[str, Any] | None,
        metrics: dict[str, float] | None,
        data_paths: list[str | os.PathLike[str]] | None,
        allow_breaking: str | None,
        trusted_types: list[str] | None,
    ) -> ModelVersion:
        check_name(name)
        check_flavor(flavor)
        if allow_breaking is not None and not allow_breaking.strip():
            raise RegistryError(
                "--allow-breaking needs a reason",
                fix='say why, e.g. --allow-breaking "all consumers migrated to v2 (TICKET-12)"',
                field="allow_breaking",
            )
        src = Path(artifact)
        if not src.exists():
            raise RegistryError(
                f"artifact {str(src)!r} does not exist",
                fix="pass --artifact with the path of a model file or folder",
                field="artifact",
                value=str(src),
            )
        contract = cb.load(contract_path)  # raises ContractError (naming file, line, column) when unusable
        contract_text = Path(contract_path).read_text()
        if isinstance(examples, list):
            inputs = [dict(r) for r in examples]
        elif examples is not None:
            inputs = read_examples(examples)
        else:
            inputs = cb.examples(contract, "input")
        if not inputs:
            raise RegistryError(
                f"no example inputs to check model {name!r} against its contract",
                fix="add examples to the contract's input role or pass --examples FILE.jsonl",
                field="examples",
            )
        inputs = cb.validate(contract, "input", inputs, "example input")
        for key, value in (metrics or {}).items():
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise RegistryError(
                    f"metric {key!r} = {value!r} is not a finite number",
                    fix="record offline metrics as finite numbers, e.g. --metric auc=0.91",
                    field="metrics",
                    value=str(value),
                )
        options: dict[str, Any] = {}
        if trusted_types:
            options["trusted_types"] = sorted(set(trusted_types))
        lineage = build_lineage(src, data_paths)
        breaking = self._check_breaking(name, contract, allow_breaking)
        if breaking is not None:
            lineage["breaking"] = breaking

        info = self.artifacts.put(src)
        fn = self._load_fn(flavor, info, entry, contract, options)
        try:
            outputs = fn(inputs)
        except Exception as exc:
            raise RegistryError(
                f"model {name!r} failed on its own example inputs: {type(exc).__name__}: {exc}",
                fix="run the model on the examples locally and fix it before registering",
                field="examples",
            ) from exc
        if not isinstance(outputs, list) or len(outputs) != len(inputs):
            raise RegistryError(
                f"model {name!r} returned {type(outputs).__name__} for {len(inputs)} example inputs",
                fix="predict must return a list with one record per input record",
                field="artifact",
            )
        outputs = cb.validate(contract, "output", outputs, "example output")

        row = {
            "model": name,
            "flavor": flavor,
            "artifact_sha256": info.sha256,
            "artifact_kind": info.kind,
            "artifact_name": info.name,
            "entry": entry,
            "contract_name": str(contract.name),
            "contract_version": str(contract.version),
            "contract_hash": str(contract.content_hash),
            "contract_text": contract_text,
            "examples": {"inputs": _jsonable(inputs), "outputs": _jsonable(outputs)},
            "params": _jsonable(dict(params or {})),
            "metrics": _jsonable(dict(metrics or {})),
            "lineage": _jsonable(lineage),
            "options": options,
            "breaking_reason": allow_breaking if breaking is not None else None,
        }
        version = self._insert_version(row)
        return self.get(ModelRef(name, version=version))

    def _check_breaking(self, name: str, contract: Any, allow_breaking: str | None) -> dict[str, Any] | None:
        """Diff against the champion (else the latest version); raise ``BreakingChange`` unless allowed."""
        baseline = self._baseline(name)
        if baseline is None or baseline.contract_hash == str(contract.content_hash):
            return None
        old = cb.load_text(baseline.contract_text, baseline.contract_name)
        report = cb.diff(old, contract)
        if not report.has_errors:
            return None
        errors = [c for c in report.changes if str(getattr(c, "severity", "")).lower().endswith("error")]
        first = errors[0] if errors else report.changes[0]
        against = f"{baseline.ref}" + (f" ({CHAMPION})" if CHAMPION in baseline.aliases else " (latest)")
        if allow_breaking is None:
            raise BreakingChange(
                f"contract {contract.name!r} v{contract.version} breaks {against}: "
                f"[{first.rule_id}] {first.path}: {first.message}",
                fix="keep the change compatible (inputs may widen, outputs may narrow) or pass "
                "--allow-breaking REASON",
                rule=first.rule_id,
                path=first.path,
                against=baseline.ref,
                changes=[_change_dict(c) for c in errors],
            )
        return {"reason": allow_breaking, "against": baseline.ref, "report": _jsonable(report.to_dict())}

    def _baseline(self, name: str) -> ModelVersion | None:
        try:
            return self.get(ModelRef(name, alias=CHAMPION))
        except RegistryError:
            pass
        try:
            return self.get(ModelRef(name))
        except RegistryError:
            return None

    def _insert_version(self, row: dict[str, Any]) -> int:
        now = self.clock.now()
        for attempt in range(5):
            try:
                with self.store.transaction() as conn:
                    name = row["model"]
                    if conn.execute(select(models.c.name).where(models.c.name == name)).first() is None:
                        conn.execute(insert(models).values(name=name, created_at=now))
                    current = conn.execute(
                        select(func.max(model_versions.c.version)).where(model_versions.c.model == name)
                    ).scalar()
                    version = int(current or 0) + 1
                    conn.execute(insert(model_versions).values(**row, version=version, created_at=now))
                return version
            except IntegrityError:  # a concurrent registration took the number: try the next one
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    # --- reading --------------------------------------------------------------------------------------------
    def get(self, ref: str | ModelRef) -> ModelVersion:
        """Resolve ``NAME``, ``NAME@latest``, ``NAME@3`` or ``NAME@alias`` to a version."""
        r = parse_ref(ref)
        mv = model_versions.c
        with self.store.connect() as conn:
            query = select(model_versions).where(mv.model == r.name)
            if r.version is not None:
                query = query.where(mv.version == r.version)
            elif r.is_latest:
                query = query.order_by(mv.version.desc()).limit(1)
            else:
                query = query.join(
                    aliases, and_(aliases.c.model == mv.model, aliases.c.version == mv.version)
                ).where(aliases.c.alias == r.alias)
            row = conn.execute(query).mappings().first()
            if row is None:
                raise self._not_found(conn, r)
            names = conn.execute(
                select(aliases.c.alias).where(aliases.c.model == r.name, aliases.c.version == row["version"])
            ).scalars()
            return _to_version(row, tuple(sorted(names)))

    def _not_found(self, conn: Any, r: ModelRef) -> RegistryError:
        known = conn.execute(select(models.c.name).order_by(models.c.name).limit(20)).scalars().all()
        if (
            r.name not in known
            and conn.execute(select(models.c.name).where(models.c.name == r.name)).first() is None
        ):
            return RegistryError(
                f"no model named {r.name!r}",
                fix=f"register it first; known models: {', '.join(known) or 'none'}",
                field="ref",
                value=str(r),
            )
        if r.version is not None:
            top = conn.execute(
                select(func.max(model_versions.c.version)).where(model_versions.c.model == r.name)
            ).scalar()
            return RegistryError(
                f"model {r.name!r} has no version {r.version}",
                fix=f"use a version from 1 to {top}" if top else "register a version first",
                field="ref",
                value=str(r),
            )
        names = conn.execute(select(aliases.c.alias).where(aliases.c.model == r.name)).scalars().all()
        if r.is_latest:
            return RegistryError(f"model {r.name!r} has no versions", field="ref", value=str(r))
        return RegistryError(
            f"model {r.name!r} has no alias {r.alias!r}",
            fix=f"set it with `trilho model alias {r.name} {r.alias} VERSION`; "
            f"aliases: {', '.join(names) or 'none'}",
            field="ref",
            value=str(r),
        )

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        check_name(name)
        with self.store.connect() as conn:
            rows = (
                conn.execute(
                    select(model_versions)
                    .where(model_versions.c.model == name)
                    .order_by(model_versions.c.version)
                )
                .mappings()
                .all()
            )
            alias_rows = conn.execute(select(aliases).where(aliases.c.model == name)).mappings().all()
        by_version: dict[int, list[str]] = {}
        for a in alias_rows:
            by_version.setdefault(a["version"], []).append(a["alias"])
        return [_to_version(r, tuple(sorted(by_version.get(r["version"], [])))) for r in rows]

    def list_models(self) -> list[dict[str, Any]]:
        """One summary per model: name, number of versions, latest version, aliases."""
        with self.store.connect() as conn:
            stats = conn.execute(
                select(
                    model_versions.c.model,
                    func.count().label("versions"),
                    func.max(model_versions.c.version).label("latest"),
                ).group_by(model_versions.c.model)
            ).all()
            alias_rows = conn.execute(select(aliases)).mappings().all()
        by_model: dict[str, dict[str, int]] = {}
        for a in alias_rows:
            by_model.setdefault(a["model"], {})[a["alias"]] = a["version"]
        return [
            {"name": m, "versions": int(n), "latest": int(latest), "aliases": by_model.get(m, {})}
            for m, n, latest in sorted(stats)
        ]

    def aliases(self, name: str) -> dict[str, int]:
        """``{alias: version}`` for ``name``."""
        check_name(name)
        with self.store.connect() as conn:
            rows = conn.execute(
                select(aliases.c.alias, aliases.c.version).where(aliases.c.model == name)
            ).all()
        return {a: int(v) for a, v in rows}

    def set_alias(self, name: str, alias: str, version: int | str) -> ModelVersion:
        """Point ``NAME@alias`` at ``version`` (a number or another reference such as ``latest``)."""
        check_alias(alias)
        target = (
            self.get(f"{name}@{version}")
            if not isinstance(version, int)
            else self.get(ModelRef(name, version=version))
        )
        with self.store.transaction() as conn:
            conn.execute(delete(aliases).where(aliases.c.model == name, aliases.c.alias == alias))
            conn.execute(
                insert(aliases).values(
                    model=name, alias=alias, version=target.version, updated_at=self.clock.now()
                )
            )
        log.info("alias set", model=name, alias=alias, version=target.version)
        return self.get(ModelRef(name, version=target.version))

    def remove_alias(self, name: str, alias: str) -> None:
        """Remove ``NAME@alias`` (no error if it was not set)."""
        check_alias(alias)
        with self.store.transaction() as conn:
            conn.execute(delete(aliases).where(aliases.c.model == name, aliases.c.alias == alias))

    def contract(self, ref: str | ModelRef) -> Any:
        """The loaded contract a version was registered with."""
        mv = self.get(ref)
        return cb.load_text(mv.contract_text, mv.contract_name)

    # --- loading --------------------------------------------------------------------------------------------
    def _load_fn(
        self, flavor: str, info: ArtifactInfo, entry: str | None, contract: Any, options: dict
    ) -> Any:
        local = self.artifacts.materialize(info)
        spec = LoadSpec(
            path=local,
            entry=entry,
            inputs=cb.fields(contract, "input"),
            outputs=cb.fields(contract, "output"),
            options=options,
        )
        return load_flavor(flavor, spec)

    def load_predictor(self, ref: str | ModelRef) -> Predictor:
        """Load a version (verifying its artifact's hash) into a batch-first ``Predictor``."""
        mv = self.get(ref)
        with tracer.start_as_current_span("registry.load") as span:
            span.set_attribute("model", mv.name)
            span.set_attribute("version", mv.version)
            contract = cb.load_text(mv.contract_text, mv.contract_name)
            info = ArtifactInfo(mv.artifact_sha256, mv.artifact_kind, mv.artifact_name, 0)
            fn = self._load_fn(mv.flavor, info, mv.entry, contract, dict(mv.options))
        return Predictor(fn, mv, contract)

    # --- gate records ---------------------------------------------------------------------------------------
    def record_gate(
        self,
        ref: str | ModelRef,
        kind: str,
        decision: str,
        evidence: dict[str, Any],
        *,
        key: SigningKey | None = None,
    ) -> GateRecord:
        """Store a gate result against a version; signed with ``key`` (HMAC-SHA256) when one is given."""
        mv = self.get(ref)
        if not kind or not decision:
            raise RegistryError("a gate record needs a kind and a decision", field="kind")
        evidence = _jsonable(evidence)
        payload = {
            "model": mv.name,
            "version": mv.version,
            "kind": kind,
            "decision": decision,
            "evidence": evidence,
        }
        signature = sign(payload, key) if key is not None else None
        now = self.clock.now()
        with self.store.transaction() as conn:
            result = conn.execute(
                insert(gate_records).values(
                    model=mv.name,
                    version=mv.version,
                    kind=kind,
                    decision=decision,
                    evidence=evidence,
                    signature=signature,
                    key_id=key.key_id if key is not None else None,
                    created_at=now,
                )
            )
            record_id = int(result.inserted_primary_key[0])
        return GateRecord(
            record_id,
            mv.name,
            mv.version,
            kind,
            decision,
            evidence,
            signature,
            key.key_id if key else None,
            now,
        )

    def gate_records(self, ref: str | ModelRef, kind: str | None = None) -> list[GateRecord]:
        """Gate records for a version (oldest first), optionally only of one ``kind``."""
        mv = self.get(ref)
        query = select(gate_records).where(
            gate_records.c.model == mv.name, gate_records.c.version == mv.version
        )
        if kind is not None:
            query = query.where(gate_records.c.kind == kind)
        with self.store.connect() as conn:
            rows = conn.execute(query.order_by(gate_records.c.id)).mappings().all()
        return [
            GateRecord(
                r["id"],
                r["model"],
                r["version"],
                r["kind"],
                r["decision"],
                r["evidence"],
                r["signature"],
                r["key_id"],
                _utc(r["created_at"]),
            )
            for r in rows
        ]


def _to_version(row: Any, alias_names: tuple[str, ...]) -> ModelVersion:
    return ModelVersion(
        name=row["model"],
        version=int(row["version"]),
        flavor=row["flavor"],
        artifact_sha256=row["artifact_sha256"],
        artifact_kind=row["artifact_kind"],
        artifact_name=row["artifact_name"],
        entry=row["entry"],
        contract_name=row["contract_name"],
        contract_version=row["contract_version"],
        contract_hash=row["contract_hash"],
        contract_text=row["contract_text"],
        examples=row["examples"],
        params=row["params"],
        metrics=row["metrics"],
        lineage=row["lineage"],
        options=row["options"],
        breaking_reason=row["breaking_reason"],
        created_at=_utc(row["created_at"]),
        aliases=alias_names,
    )


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything trilho stores is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _change_dict(change: Any) -> dict[str, Any]:
    if hasattr(change, "to_dict"):
        return _jsonable(change.to_dict())
    return {k: str(getattr(change, k, "")) for k in ("rule_id", "severity", "path", "message")}


def _jsonable(value: Any) -> Any:
    """A JSON round trip (numpy values, tuples, paths, non-finite floats become plain JSON)."""
    from trilho.registry.io import to_python

    text = json.dumps(value, default=lambda v: str(v) if not hasattr(v, "item") else to_python(v))
    return json.loads(text, parse_constant=str)  # NaN / Infinity become strings: valid JSON everywhere
