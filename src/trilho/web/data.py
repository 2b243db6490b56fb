"""What each dashboard page shows, read from the store through the packages' public APIs (read-only).

Every function returns plain dictionaries and lists for the templates; an unknown id raises
:class:`NotFound`. Optional capabilities (evals, measurement reports) that have nothing stored yet give empty
sections, which the pages show as "no data yet".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import desc, func, select

from trilho.errors import InputError, TrilhoError
from trilho.rollout import RolloutService
from trilho.rollout.business import read_readings
from trilho.rollout.service import Rollout, waits_for
from trilho.store.routing import get_deployment, list_deployments, read_shadow_windows, read_windows
from trilho.web import series, slo

#: Audit actions that are not part of a rollout's story (API calls, token and plan admin).
NOT_TIMELINE = frozenset({"api", "token_create", "token_revoke", "plan_save"})


class NotFound(Exception):
    """An id in the URL names nothing in the store."""

    def __init__(self, what: str, value: str, fix: str = "") -> None:
        super().__init__(f"{what} {value!r} does not exist")
        self.what, self.value, self.fix = what, value, fix


def utc(value: datetime) -> datetime:
    """An aware UTC datetime (SQLite hands back naive ones)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- models ----------------------------------------------------------------------------------------------
def models_overview(registry) -> list[dict[str, Any]]:
    """One row per registered model."""
    return registry.list_models()


def model_detail(registry, store, name: str) -> dict[str, Any]:
    """Versions (newest first) with aliases, lineage, metrics, rendered contract and gate records."""
    try:
        versions = registry.versions(name)
    except InputError:
        versions = []
    if not versions:
        raise NotFound("model", name, "pick one of the models on the Models page")
    out = []
    shown: dict[str, str] = {}  # contract text → the newest version that shows it
    for mv in sorted(versions, key=lambda v: v.version, reverse=True):
        gates = [g.to_dict() for g in registry.gate_records(mv.ref)]
        gates += _eval_gates(store, mv.name, str(mv.version))
        same_as = shown.setdefault(mv.contract_text, mv.ref)
        out.append(
            {
                "mv": mv,
                "contract": render_contract(mv.contract_text) if same_as == mv.ref else None,
                "contract_same_as": None if same_as == mv.ref else same_as,
                "gates": gates,
                "lineage": lineage_rows(mv.lineage),
            }
        )
    return {"name": name, "versions": out, "aliases": registry.aliases(name)}


def lineage_rows(lineage: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A version's lineage as (dotted key, value) rows: nested mappings flattened, the rest as text."""
    if not isinstance(lineage, dict):
        return [(prefix or "lineage", _text(lineage))] if lineage not in (None, {}, []) else []
    rows: list[tuple[str, str]] = []
    for key in sorted(lineage, key=str):
        value, name = lineage[key], f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            rows += lineage_rows(value, name)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, item in enumerate(value):
                rows += lineage_rows(item, f"{name}[{i}]")
        else:
            rows.append((name, _text(value)))
    return rows


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str | int | float | bool):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def _eval_gates(store, model: str, version: str) -> list[dict[str, Any]]:
    try:
        from trilho.evals.records import gate_records
    except ImportError:  # evals not installed in this build
        return []
    try:
        return [{"kind": "eval", **g} for g in gate_records(store, model, version)]
    except TrilhoError:
        raise
    except Exception:  # a table of a capability that is not migrated yet: nothing to show
        return []


def render_contract(text: str) -> dict[str, Any]:
    """The contract's fields per role: name, type, required, constraints in words."""
    from trilho.contracts import load_contract

    try:
        contract = load_contract(text)
    except TrilhoError as exc:
        return {"error": exc.message, "roles": {}, "name": "", "version": ""}
    roles: dict[str, list[dict[str, Any]]] = {}
    for role in contract.roles:
        roles[role] = [
            {
                "name": f.name,
                "type": f.type.name if hasattr(f.type, "name") else str(f.type),
                "required": f.required,
                "constraints": _constraints(f),
                "description": f.description or "",
            }
            for f in contract.fields(role)
        ]
    return {"name": contract.name, "version": contract.version, "roles": roles, "error": None}


def _constraints(f: Any) -> list[str]:
    out = []
    lo, lo_x, hi, hi_x = f.minimum, f.exclusive_minimum, f.maximum, f.exclusive_maximum
    if lo is not None:
        out.append(f"{'>' if lo_x else '≥'} {lo}")
    if hi is not None:
        out.append(f"{'<' if hi_x else '≤'} {hi}")
    if f.min_length is not None:
        out.append(f"length ≥ {f.min_length}")
    if f.max_length is not None:
        out.append(f"length ≤ {f.max_length}")
    if f.pattern:
        out.append(f"matches {f.pattern}")
    if f.format:
        out.append(f"format {f.format}")
    if f.enum:
        out.append("one of " + ", ".join(map(str, f.enum)))
    if f.shape:
        out.append("shape " + "×".join(map(str, f.shape)))
    if f.unique:
        out.append("unique")
    if f.tolerance is not None:
        out.append(f"tolerance abs {f.tolerance.abs} rel {f.tolerance.rel}")
    return out


# --- rollouts --------------------------------------------------------------------------------------------
def rollouts_overview(service: RolloutService) -> dict[str, Any]:
    """Every rollout (active first), the deployments and the kill switches."""
    all_ = service.list()
    rows = sorted(all_, key=lambda r: (not r.active, -r.id))
    return {
        "rollouts": [r.to_dict() for r in rows],
        "deployments": [d.to_dict() for d in list_deployments(service.store)],
        "kills": service.kills(),
    }


def rollout_detail(service: RolloutService, model: str, *, since: timedelta = timedelta(hours=6)) -> dict:
    """The model's latest rollout, its timeline with decisions, the routing table, charts and audit log."""
    rollouts = service.list(model)
    deployment = get_deployment(service.store, model)
    if not rollouts and deployment is None:
        raise NotFound("rollout of model", model, "pick a model on the Rollouts page")
    latest = rollouts[0] if rollouts else None
    # the timeline reads the rollout's own events: API calls (refused ones included) cannot crowd them out
    timeline = [_timeline_entry(e) for e in service.history(model, limit=400, exclude_actions=NOT_TIMELINE)]
    audit = service.history(model, limit=40)[::-1]
    windows = read_windows(service.store, model)
    shadows = read_shadow_windows(service.store, model)
    if windows:
        cutoff = max(w["window_end"] for w in windows) - since
        windows = [w for w in windows if w["window_end"] >= cutoff]
        shadows = [s for s in shadows if s["window_end"] >= cutoff]
    vs = series.version_series(windows)
    ss = series.shadow_series(shadows)
    charts = []
    if vs:
        charts += [
            ("requests", series.line_figure(vs, "rps", "Request rate per variant", "requests/s")),
            ("errors", series.line_figure(vs, "error_rate", "Error rate", "errors", percent=True)),
            ("latency", series.latency_figure(vs)),
        ]
    if ss:
        charts.append(
            ("shadow", series.line_figure(ss, "agreement", "Shadow agreement", "agreed", percent=True))
        )
    bs = series.business_series(read_readings(service.store, latest.id)) if latest else {}
    if bs:
        charts.append(("business", series.business_figure(bs)))
    return {
        "model": model,
        "rollout": _rollout_view(latest) if latest else None,
        "rollout_obj": latest,
        "previous": [r.to_dict() for r in rollouts[1:10]],
        "deployment": deployment.to_dict() if deployment else None,
        "kill": service.kills().get(model),
        "timeline": timeline,
        "audit": audit,
        "charts": charts,
    }


def _rollout_view(ro: Rollout) -> dict[str, Any]:
    minimums = ro.minimums()
    return {
        **ro.to_dict(),
        "plan_label": ro.plan_label,
        "waits_for": waits_for(minimums) if minimums else None,
    }


def _timeline_entry(e: dict[str, Any]) -> dict[str, Any]:
    ev = e.get("evidence") or {}
    decision = ev.get("decision") if isinstance(ev, dict) else None
    checks = decision.get("checks", []) if isinstance(decision, dict) else []
    state = e.get("state") or {}
    return {
        "seq": e["seq"],
        "rollout_id": e.get("rollout_id"),
        "at": e["at"],
        "actor": e["actor"],
        "action": e["action"],
        "reason": e["reason"],
        "phase": state.get("phase") if isinstance(state, dict) else None,
        "step": state.get("step") if isinstance(state, dict) else None,
        "weights": ev.get("weights") or ev.get("routes") if isinstance(ev, dict) else None,
        "checks": checks,
        "evidence": {k: v for k, v in ev.items() if k != "decision"} if isinstance(ev, dict) else {},
    }


# --- SLOs ------------------------------------------------------------------------------------------------
def slos_overview(store, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per deployed model: its declared SLO's burn rates, budget left and alerts firing (the deployment's own
    rules); a model whose deployment declares no SLO is listed with ``declared: False``."""
    out = []
    for dep in list_deployments(store):
        if dep.slo is None:
            out.append({"model": dep.model, "declared": False, "statuses": [], "as_of": None})
            continue
        objective, rules = slo.declared(dep.slo)
        rows = [{**r, "window_end": utc(r["window_end"])} for r in read_windows(store, dep.model)]
        if not rows:
            out.append({"model": dep.model, "declared": True, "statuses": [], "as_of": None})
            continue
        as_of = now or max(r["window_end"] for r in rows)
        windows = sorted(set(slo.WINDOWS) | {w for r in rules for w in (r.long, r.short)})
        events = slo.events_from_windows(rows, objective)
        status = slo.evaluate(events, objective, as_of, windows=windows, rules=rules)
        out.append({"model": dep.model, "declared": True, "statuses": [status], "as_of": as_of})
    return out


# --- evals -----------------------------------------------------------------------------------------------
def evals_overview(store, limit: int = 30) -> dict[str, Any]:
    """Suite runs and gate verdicts, violations per check over time, judge calibrations, queues."""
    try:
        from trilho.store.tables import evals as t
    except ImportError:
        return {"available": False}
    try:
        with store.connect() as conn:
            runs = (
                conn.execute(select(t.runs).order_by(desc(t.runs.c.created_at)).limit(limit)).mappings().all()
            )
            cals = conn.execute(select(t.calibrations).order_by(desc(t.calibrations.c.id))).mappings().all()
            windows = (
                conn.execute(select(t.online_windows).order_by(t.online_windows.c.window_end))
                .mappings()
                .all()
            )
            queues = conn.execute(
                select(t.annotation_items.c.queue, t.annotation_items.c.status, func.count()).group_by(
                    t.annotation_items.c.queue, t.annotation_items.c.status
                )
            ).all()
    except TrilhoError:
        raise
    except Exception:  # the evals tables are not migrated in this store
        return {"available": False}
    run_rows = []
    for r in runs:
        summary = json.loads(r["summary_json"])
        gate = summary.get("gate") or {}
        run_rows.append(
            {
                "run_id": r["run_id"],
                "suite": r["suite"],
                "model": r["model"],
                "version": r["version"],
                "status": r["status"],
                "created_at": utc(r["created_at"]),
                "metrics": summary.get("metrics", {}),
                "reasons": gate.get("reasons", []),
                "kappas": summary.get("judge_kappas", {}),
            }
        )
    latest_cal: dict[str, Any] = {}
    for c in cals:
        if c["judge"] in latest_cal:
            continue
        report = json.loads(c["report_json"])
        pair = next(iter(report.get("judges", {}).values()), {})
        matrix = (pair.get("confusion") or {}).get("matrix") or []
        labels = pair.get("labels", [])
        latest_cal[c["judge"]] = {
            "judge": c["judge"],
            "n": c["n"],
            "kappa": c["kappa"],
            "low": c["kappa_low"],
            "high": c["kappa_high"],
            "created_at": utc(c["created_at"]),
            "source": c["source"],
            "figure": series.heatmap_figure(matrix, labels, f"{c['judge']}: judge vs human")
            if matrix
            else None,
        }
    violations: dict[str, dict[str, list[Any]]] = {}
    for w in windows:
        counts = json.loads(w["violations_json"])
        key = f"{w['model']}@{w['version']}"
        for check, n in counts.items():
            s = violations.setdefault(f"{key} {check}", {"t": [], "count": []})
            s["t"].append(utc(w["window_end"]).isoformat())
            s["count"].append(n)
    queue_stats: dict[str, dict[str, Any]] = {}
    for q, status, n in queues:
        queue_stats.setdefault(q, {"pending": 0, "review": 0, "done": 0})[status] = int(n)
    if queue_stats:
        from trilho.evals import AnnotationQueue

        for q, stats in queue_stats.items():
            stats["agreement"] = AnnotationQueue(store, q).agreement()
    charts = []
    if violations:
        charts.append(
            ("violations", series.line_figure(violations, "count", "Violations per check", "count"))
        )
    return {
        "available": True,
        "runs": run_rows,
        "calibrations": list(latest_cal.values()),
        "charts": charts,
        "queues": queue_stats,
    }


# --- experiments -----------------------------------------------------------------------------------------
def experiments(reports_dir: Path) -> list[dict[str, Any]]:
    """Every measurement report (``report.json``) under ``reports_dir``, newest first."""
    if not reports_dir.is_dir():
        return []
    out = []
    for path in reports_dir.rglob("report.json"):
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(report, dict) or "kind" not in report or "result" not in report:
            continue
        rel = path.parent.relative_to(reports_dir).as_posix() or "."
        out.append(
            {
                "id": rel,
                "kind": report["kind"],
                "findings": report.get("findings", []),
                "checks": report.get("trust_checks", []),
                "lifts": lifts(report),
                "mtime": path.stat().st_mtime,
                "has_html": (path.parent / "report.html").is_file(),
            }
        )
    return sorted(out, key=lambda e: -e["mtime"])


def lifts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Relative lifts with their intervals: one per A/B metric and arm, or the geo lift."""
    r = report.get("result") or {}
    if report.get("kind") == "ab":
        return [
            {
                "label": f"{e['metric']} ({e.get('treatment_arm', 'treatment')})",
                "estimate": e.get("relative"),
                "low": e.get("relative_ci_lower"),
                "high": e.get("relative_ci_upper"),
                "level": 1 - e.get("alpha", 0.05),
            }
            for e in r.get("effects", [])
            if e.get("relative") is not None
        ]
    if report.get("kind") == "geo" and r.get("lift") is not None:
        return [
            {
                "label": " + ".join(r.get("treated", [])) or "treated",
                "estimate": r["lift"],
                "low": r.get("lift_ci_lower"),
                "high": r.get("lift_ci_upper"),
                "level": None,
            }
        ]
    return []


def report_plots(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's own plots (the figures its HTML page draws) as plotly JSON, drawn on the page itself."""
    from trilho.measure.report import _figures  # the one place the report's plots are defined

    plots = []
    for title, fig in _figures(report):
        fig.update_layout(
            title={"text": title, "font": {"size": 14}},
            height=320,
            margin={"l": 20, "r": 20, "t": 40, "b": 30},
            paper_bgcolor="rgba(0,0,0,0)",
        )
        fig.update_xaxes(automargin=True)
        fig.update_yaxes(automargin=True)
        plots.append({"title": title, "figure": json.loads(fig.to_json())})
    return plots


def experiment(reports_dir: Path, exp_id: str) -> dict[str, Any]:
    """One report by its folder (relative to ``reports_dir``); never outside it."""
    for e in experiments(reports_dir):
        if e["id"] == exp_id:
            e["figure"] = series.interval_figure(e["lifts"], "Lift with interval") if e["lifts"] else None
            e["plots"] = report_plots(json.loads((reports_dir / exp_id / "report.json").read_text()))
            return e
    raise NotFound("experiment", exp_id, "pick one on the Experiments page")


def report_html_path(reports_dir: Path, exp_id: str) -> Path:
    """The ``report.html`` of a listed experiment (ids come from the listing, so no path escapes)."""
    e = experiment(reports_dir, exp_id)
    if not e["has_html"]:
        raise NotFound("report page of experiment", exp_id)
    return reports_dir / e["id"] / "report.html"
