"""Breaking-change detection between two versions of a contract (pure: no I/O).

Every field's accepted values are a *domain* built from independent parts: type, nullability, range, length,
pattern, format, enum, shape, plus dataset rules (unique, null/duplicate limits) and the object's extra-field
policy. Each part of NEW is compared with the same part of OLD as ``same``, ``wider``, ``narrower`` or
``incomparable``. Direction decides what breaks consumers:

* inputs (what callers send) may only widen: every record valid under OLD must stay valid under NEW;
* outputs (what the model returns) may only narrow: every output valid under NEW must be valid under OLD.

A declared default changes no domain but what a record *means*: a record that omits the field is filled in
before the model sees it, so changing or removing a default changes the results of callers that rely on it
(an error: the same request, another answer), and adding one changes what they get where they sent nothing
(a warning: the model saw null before).

Because a domain is the intersection of its parts, "every part compatible" implies "domain compatible"
(a property test checks it). A breaking change without a MAJOR version bump is its own error, ``TC190``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from trilho.contracts.model import DatasetCheck, Field, SchemaObject

Severity = Literal["error", "warning", "info"]
Relation = Literal["same", "wider", "narrower", "incomparable"]

#: Every rule id with its one-line meaning (stable: tools key on these ids).
RULES: dict[str, str] = {
    "TC100-object-removed": "a schema object (input, output or table) was removed",
    "TC101-field-removed": "a field was removed",
    "TC102-field-added": "a field was added",
    "TC103-object-added": "a schema object was added",
    "TC110-type-changed": "a field's type changed to an unrelated type",
    "TC111-type-widened": "a field's type now accepts more values (e.g. int32 -> int64)",
    "TC112-type-narrowed": "a field's type now accepts fewer values (e.g. int64 -> int32)",
    "TC113-shape-changed": "a vector/tensor field's shape changed",
    "TC120-required-added": "an optional field became required",
    "TC121-required-removed": "a required field became optional (nullable)",
    "TC130-range-narrowed": "a numeric minimum/maximum became stricter",
    "TC131-range-widened": "a numeric minimum/maximum became looser",
    "TC132-length-narrowed": "a string minLength/maxLength became stricter",
    "TC133-length-widened": "a string minLength/maxLength became looser",
    "TC134-pattern-changed": "a string pattern was added, removed or changed",
    "TC135-format-changed": "a string format was added, removed or changed",
    "TC140-enum-narrowed": "valid values were removed (or a value list was introduced)",
    "TC141-enum-widened": "valid values were added (or the value list was dropped)",
    "TC142-enum-changed": "valid values were both added and removed",
    "TC150-unique-added": "a field must now be unique",
    "TC151-unique-removed": "a field no longer has to be unique",
    "TC152-dataset-rule-tightened": "a dataset rule (null values, duplicates, rows) became stricter or new",
    "TC153-dataset-rule-loosened": "a dataset rule became looser or was removed",
    "TC154-dataset-rule-changed": "a dataset rule changed in a way that is neither looser nor stricter",
    "TC160-extra-fields-forbidden": "unknown fields are now rejected",
    "TC161-extra-fields-ignored": "unknown fields are now ignored",
    "TC170-tolerance-tightened": "an output tolerance became stricter",
    "TC171-tolerance-loosened": "an output tolerance became looser",
    "TC180-default-added": "an optional field got a default: records that omit it now carry the default",
    "TC181-default-changed": "a field's default changed: the same record now means something else",
    "TC182-default-removed": "a field's default was removed: records that omit it now carry null",
    "TC190-major-version-required": "a breaking change without a MAJOR version bump",
    "TC191-version-not-increased": "the contract changed but its version did not increase",
}


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two contracts, with a stable rule id and a severity."""

    rule_id: str
    severity: Severity
    path: str
    old: Any
    new: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "path": self.path,
            "old": _plain(self.old),
            "new": _plain(self.new),
            "message": self.message,
        }


def _plain(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return str(v)


@dataclass
class DiffReport:
    """The changes from OLD to NEW, and whether any of them breaks consumers."""

    old_id: str
    old_version: str
    new_version: str
    changes: list[Change] = field(default_factory=list)
    old_hash: str = ""
    new_hash: str = ""

    @property
    def has_errors(self) -> bool:
        """True when any change is error-level (breaking, or breaking without a MAJOR bump)."""
        return any(c.severity == "error" for c in self.changes)

    @property
    def compatible(self) -> bool:
        """True when no change breaks consumers (the version rule aside)."""
        return not any(c.severity == "error" and not c.rule_id.startswith("TC19") for c in self.changes)

    @property
    def breaking(self) -> list[Change]:
        """The error-level changes."""
        return [c for c in self.changes if c.severity == "error"]

    def counts(self) -> dict[str, int]:
        """How many changes of each severity."""
        return {s: sum(c.severity == s for c in self.changes) for s in ("error", "warning", "info")}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "contract": self.old_id,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "old_hash": self.old_hash,
            "new_hash": self.new_hash,
            "has_errors": self.has_errors,
            "counts": self.counts(),
            "changes": [c.to_dict() for c in self.changes],
        }

    def to_text(self) -> str:
        """Plain text, one change per line."""
        lines = [
            f"{self.old_id}: {self.old_version} -> {self.new_version}: "
            + ", ".join(f"{n} {s}(s)" for s, n in self.counts().items())
        ]
        lines += [f"{c.severity.upper():7} {c.rule_id:32} {c.path}: {c.message}" for c in self.changes]
        return "\n".join(lines)

    def to_github(self, file: str = "") -> str:
        """GitHub Actions workflow commands (``::error file=...,title=...::message``), one per change."""
        level = {"error": "error", "warning": "warning", "info": "notice"}
        out = []
        for c in self.changes:
            props = ",".join(
                p for p in (f"file={_gh(file, True)}" if file else "", f"title={_gh(c.rule_id, True)}") if p
            )
            out.append(f"::{level[c.severity]} {props}::{_gh(f'{c.path}: {c.message}', False)}")
        return "\n".join(out)


def _gh(text: str, prop: bool) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


# --- relations --------------------------------------------------------------------------------
def _rel(wider: bool, narrower: bool) -> Relation:
    """Relation of NEW to OLD given "NEW ⊇ OLD" (wider) and "NEW ⊆ OLD" (narrower)."""
    if wider and narrower:
        return "same"
    if wider:
        return "wider"
    if narrower:
        return "narrower"
    return "incomparable"


def _bound_rel(old: Any, old_x: bool, new: Any, new_x: bool, lower: bool) -> Relation:
    """Relation of a NEW lower/upper bound to the OLD one (``None`` = unbounded)."""
    if old == new and old_x == new_x:
        return "same"
    if new is None:
        return "wider"
    if old is None:
        return "narrower"
    if new == old:
        return "narrower" if new_x else "wider"
    looser = new < old if lower else new > old
    return "wider" if looser else "narrower"


def _worst(*rels: Relation) -> Relation:
    rels_ = [r for r in rels if r != "same"]
    if not rels_:
        return "same"
    if "incomparable" in rels_ or ("wider" in rels_ and "narrower" in rels_):
        return "incomparable"
    return rels_[0]


class _Differ:
    def __init__(self) -> None:
        self.changes: list[Change] = []

    def add(self, rule: str, severity: Severity, path: str, old: Any, new: Any, message: str) -> None:
        self.changes.append(Change(rule, severity, path, old, new, message))

    def rel(
        self,
        relation: Relation,
        direction: str,
        path: str,
        rules: tuple[str, str],
        old: Any,
        new: Any,
        what: str,
        incomparable_rule: str | None = None,
    ) -> None:
        """Record a relation: ``rules`` = (rule when NEW is narrower, rule when NEW is wider)."""
        if relation == "same":
            return
        if relation == "incomparable":
            rule = incomparable_rule or rules[0]
            self.add(
                rule,
                "error",
                path,
                old,
                new,
                f"{what} changed from {old!r} to {new!r}: "
                "neither looser nor stricter, so it breaks consumers",
            )
            return
        narrower = relation == "narrower"
        rule = rules[0] if narrower else rules[1]
        ok = (direction == "output") == narrower
        verb = "stricter" if narrower else "looser"
        who = "outputs may narrow" if direction == "output" else "inputs may widen"
        if ok:
            self.add(rule, "info", path, old, new, f"{what} became {verb} ({old!r} -> {new!r}); {who}")
        else:
            why = (
                "callers' existing requests may now be rejected"
                if direction == "input"
                else "consumers may now receive values they do not accept"
            )
            self.add(rule, "error", path, old, new, f"{what} became {verb} ({old!r} -> {new!r}): {why}")

    # --- fields --------------------------------------------------------------------------------------------
    def field(self, old: Field, new: Field, direction: str, path: str) -> None:
        self.field_type(old, new, direction, path)
        if old.required != new.required:
            self.rel(
                "narrower" if new.required else "wider",
                direction,
                path,
                ("TC120-required-added", "TC121-required-removed"),
                old.required,
                new.required,
                "required",
            )
        self.values(old, new, direction, path)
        self.dataset(old, new, direction, path)
        if old.default != new.default:
            self.default(old.default, new.default, direction, f"{path}.default")
        if old.tolerance != new.tolerance:
            o, n = old.tolerance, new.tolerance
            o_abs, o_rel = (o.abs, o.rel) if o else (0.0, 0.0)
            n_abs, n_rel = (n.abs, n.rel) if n else (0.0, 0.0)
            looser = n_abs >= o_abs and n_rel >= o_rel
            rule, sev = (
                ("TC171-tolerance-loosened", "warning") if looser else ("TC170-tolerance-tightened", "info")
            )
            self.add(
                rule,
                sev,
                f"{path}.tolerance",
                _tol(o),
                _tol(n),
                f"tolerance changed from {_tol(o)} to {_tol(n)}"
                + (": output comparisons will accept larger drift" if looser else ""),
            )

    def default(self, old: Any, new: Any, direction: str, path: str) -> None:
        """A default added, changed or removed (see the module docstring for the severities)."""
        rule, sev = "TC181-default-changed", "error"
        if old is None:
            rule, sev = "TC180-default-added", "warning"
        elif new is None:
            rule = "TC182-default-removed"
        shown = ["null" if v is None else repr(v) for v in (old, new)]
        who = "callers' results change" if direction == "input" else "consumers see other values"
        self.add(
            rule, sev, path, old, new,
            f"default changed from {shown[0]} to {shown[1]}: records that omit the field now carry "
            f"{shown[1]} instead of {shown[0]}, so {who}",
        )  # fmt: skip

    def field_type(self, old: Field, new: Field, direction: str, path: str) -> None:
        if old.kind == "array" or new.kind == "array":
            if old.kind != new.kind:
                self.add(
                    "TC110-type-changed",
                    "error",
                    f"{path}.physicalType",
                    old.type.name,
                    new.type.name,
                    f"type changed from {old.type.name} to {new.type.name}",
                )
                return
            if old.shape != new.shape:
                self.add(
                    "TC113-shape-changed",
                    "error",
                    f"{path}.shape",
                    old.shape,
                    new.shape,
                    f"shape changed from {old.shape} to {new.shape}: every producer and consumer must change",
                )
            assert old.items is not None and new.items is not None
            self.field_type(old.items, new.items, direction, f"{path}.items")
            self.values(old.items, new.items, direction, f"{path}.items")
            return
        ot, nt = old.type, new.type
        if ot.name == nt.name:
            return
        relation = _rel(nt.contains(ot), ot.contains(nt))
        if relation == "incomparable":
            self.add(
                "TC110-type-changed",
                "error",
                f"{path}.physicalType",
                ot.name,
                nt.name,
                f"type changed from {ot.name} to {nt.name}, an unrelated type: this breaks consumers",
            )
            return
        self.rel(
            relation,
            direction,
            f"{path}.physicalType",
            ("TC112-type-narrowed", "TC111-type-widened"),
            ot.name,
            nt.name,
            "type",
        )

    def values(self, old: Field, new: Field, direction: str, path: str) -> None:
        lo = _bound_rel(old.minimum, old.exclusive_minimum, new.minimum, new.exclusive_minimum, lower=True)
        hi = _bound_rel(old.maximum, old.exclusive_maximum, new.maximum, new.exclusive_maximum, lower=False)
        for rel_, side, o, n in (
            ("min", "minimum", old.minimum, new.minimum),
            ("max", "maximum", old.maximum, new.maximum),
        ):
            relation = lo if rel_ == "min" else hi
            ox = old.exclusive_minimum if rel_ == "min" else old.exclusive_maximum
            nx = new.exclusive_minimum if rel_ == "min" else new.exclusive_maximum
            self.rel(
                relation,
                direction,
                f"{path}.{side}",
                ("TC130-range-narrowed", "TC131-range-widened"),
                _bound(o, ox),
                _bound(n, nx),
                side,
            )
        mn = _bound_rel(old.min_length, False, new.min_length, False, lower=True)
        mx = _bound_rel(old.max_length, False, new.max_length, False, lower=False)
        self.rel(
            mn,
            direction,
            f"{path}.minLength",
            ("TC132-length-narrowed", "TC133-length-widened"),
            old.min_length,
            new.min_length,
            "minLength",
        )
        self.rel(
            mx,
            direction,
            f"{path}.maxLength",
            ("TC132-length-narrowed", "TC133-length-widened"),
            old.max_length,
            new.max_length,
            "maxLength",
        )
        for attr, rule in (("pattern", "TC134-pattern-changed"), ("format", "TC135-format-changed")):
            o, n = getattr(old, attr), getattr(new, attr)
            if o != n:
                relation: Relation = "narrower" if o is None else "wider" if n is None else "incomparable"
                self.rel(
                    relation, direction, f"{path}.{attr}", (rule, rule), o, n, attr, incomparable_rule=rule
                )
        if old.enum != new.enum:
            if old.enum is None:
                relation = "narrower"
            elif new.enum is None:
                relation = "wider"
            else:
                o_set, n_set = set(old.enum), set(new.enum)
                relation = _rel(n_set >= o_set, n_set <= o_set)
            self.rel(
                relation,
                direction,
                f"{path}.validValues",
                ("TC140-enum-narrowed", "TC141-enum-widened"),
                _enum(old.enum),
                _enum(new.enum),
                "valid values",
                incomparable_rule="TC142-enum-changed",
            )

    def dataset(self, old: Field, new: Field, direction: str, path: str) -> None:
        if old.unique != new.unique:
            self.rel(
                "narrower" if new.unique else "wider",
                direction,
                f"{path}.unique",
                ("TC150-unique-added", "TC151-unique-removed"),
                old.unique,
                new.unique,
                "unique",
            )
        self.checks(old.checks, new.checks, direction, path)

    def checks(
        self, old: tuple[DatasetCheck, ...], new: tuple[DatasetCheck, ...], direction: str, path: str
    ) -> None:
        rules = ("TC152-dataset-rule-tightened", "TC153-dataset-rule-loosened")
        by_metric_old = {c.metric: c for c in old}
        by_metric_new = {c.metric: c for c in new}
        for metric in sorted(set(by_metric_old) | set(by_metric_new)):
            o, n = by_metric_old.get(metric), by_metric_new.get(metric)
            if o == n:
                continue
            where = f"{path}.quality.{metric}"
            if o is None or n is None:
                relation: Relation = "narrower" if o is None else "wider"
            else:
                relation = _check_rel(o, n)
            self.rel(
                relation,
                direction,
                where,
                rules,
                o.describe() if o else None,
                n.describe() if n else None,
                f"{metric} rule",
                incomparable_rule="TC154-dataset-rule-changed",
            )

    # --- objects -------------------------------------------------------------------------------------------
    def object(self, old: SchemaObject, new: SchemaObject, direction: str, path: str) -> None:
        old_names, new_names = set(old.names), set(new.names)
        for f in old.fields:
            fpath = f"{path}.{f.name}"
            if f.name not in new_names:
                if direction == "input":
                    sev: Severity = "error" if new.extra_policy == "forbid" else "warning"
                    why = (
                        "requests that still send it will be rejected"
                        if sev == "error"
                        else "it is now ignored"
                    )
                else:
                    sev = "error" if f.required else "warning"
                    why = "consumers rely on it" if f.required else "consumers lose an optional value"
                self.add(
                    "TC101-field-removed", sev, fpath, f.name, None, f"field '{f.name}' was removed: {why}"
                )
            else:
                self.field(f, new.field(f.name), direction, fpath)
        for f in new.fields:
            if f.name in old_names:
                continue
            fpath = f"{path}.{f.name}"
            if direction == "input":
                if f.required:
                    sev, why = "error", "existing callers do not send it"
                elif old.extra_policy == "forbid":
                    sev, why = "info", "optional, and old callers could not have sent it"
                else:
                    sev, why = "warning", "old callers may have sent it (it was ignored); it is now validated"
            else:
                sev, why = (
                    ("error", "old consumers reject unknown fields")
                    if old.extra_policy == "forbid"
                    else ("info", "old consumers ignore unknown fields")
                )
            self.add("TC102-field-added", sev, fpath, None, f.name, f"field '{f.name}' was added: {why}")
        if old.extra_policy != new.extra_policy:
            relation: Relation = "narrower" if new.extra_policy == "forbid" else "wider"
            self.rel(
                relation,
                direction,
                f"{path}.extra",
                ("TC160-extra-fields-forbidden", "TC161-extra-fields-ignored"),
                old.extra_policy,
                new.extra_policy,
                "unknown-field policy",
            )
        self.checks(old.checks, new.checks, direction, path)


def _check_rel(o: DatasetCheck, n: DatasetCheck) -> Relation:
    """Compare two rules on the same metric: limits of the same kind and unit can be ordered."""
    if o.unit != n.unit:
        return "incomparable"
    upper = ("mustBeLessThan", "mustBeLessOrEqualTo")
    lower = ("mustBeGreaterThan", "mustBeGreaterOrEqualTo")
    if o.op in upper and n.op in upper:
        return _bound_rel(
            o.threshold, o.op == "mustBeLessThan", n.threshold, n.op == "mustBeLessThan", lower=False
        )
    if o.op in lower and n.op in lower:
        return _bound_rel(
            o.threshold, o.op == "mustBeGreaterThan", n.threshold, n.op == "mustBeGreaterThan", lower=True
        )
    return "incomparable"


def _bound(value: Any, exclusive: bool) -> Any:
    return None if value is None else (f"> {value}" if exclusive else value)


def _enum(values: tuple[Any, ...] | None) -> Any:
    return None if values is None else list(values)


def _tol(t: Any) -> Any:
    return None if t is None else {"abs": t.abs, "rel": t.rel}


def _keyed(contract: Any) -> dict[str, tuple[SchemaObject, str]]:
    """Objects keyed for pairing: by role when annotated, else by name; with their direction."""
    out: dict[str, tuple[SchemaObject, str]] = {}
    unroled = all(o.role is None for o in contract.objects)
    for i, o in enumerate(contract.objects):
        if o.role is not None:
            out[o.role] = (o, o.role)
        elif unroled and i == 0:
            out["input"] = (o, "input")
        else:
            out[f"object:{o.name}"] = (o, "input")
    return out


def _version_tuple(v: str) -> tuple[int, int, int]:
    core = v.split("+", 1)[0].split("-", 1)[0]
    major, minor, patch = (int(x) for x in core.split("."))
    return major, minor, patch


def diff_contracts(old: Any, new: Any) -> DiffReport:
    """Compare two contracts (anything ``load_contract`` accepts) and judge each change by direction."""
    from trilho.contracts.loader import load_contract

    old_c, new_c = load_contract(old), load_contract(new)
    d = _Differ()
    old_objs, new_objs = _keyed(old_c), _keyed(new_c)
    for key, (obj, direction) in old_objs.items():
        label = key.split(":", 1)[-1]
        if key not in new_objs:
            d.add(
                "TC100-object-removed",
                "error",
                label,
                obj.name,
                None,
                f"schema object '{obj.name}' ({label}) was removed: every consumer of it breaks",
            )
            continue
        new_obj = new_objs[key][0]
        d.object(obj, new_obj, direction, label)
    for key, (obj, _) in new_objs.items():
        if key not in old_objs:
            d.add(
                "TC103-object-added",
                "info",
                key.split(":", 1)[-1],
                None,
                obj.name,
                f"schema object '{obj.name}' was added",
            )
    report = DiffReport(
        old_id=old_c.id,
        old_version=old_c.version,
        new_version=new_c.version,
        changes=d.changes,
        old_hash=old_c.content_hash,
        new_hash=new_c.content_hash,
    )
    breaking = [c for c in d.changes if c.severity == "error"]
    o_v, n_v = _version_tuple(old_c.version), _version_tuple(new_c.version)
    if breaking and n_v[0] <= o_v[0]:
        first = breaking[0]
        report.changes.append(
            Change(
                "TC190-major-version-required",
                "error",
                "version",
                old_c.version,
                new_c.version,
                f"{len(breaking)} breaking change(s) (first: {first.rule_id} at {first.path}) "
                "need a MAJOR version "
                f"bump: {old_c.version} -> {o_v[0] + 1}.0.0",
            )
        )
    elif old_c.content_hash != new_c.content_hash and n_v <= o_v:
        report.changes.append(
            Change(
                "TC191-version-not-increased",
                "warning",
                "version",
                old_c.version,
                new_c.version,
                f"the contract changed but its version did not increase ({old_c.version} -> {new_c.version})",
            )
        )
    return report
