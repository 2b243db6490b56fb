"""Load a contract document (YAML text, a file, or a mapping) into the normalised model.

Accepts plain ODCS v3 files and the trilho extension, written either as an ``x-trilho`` mapping or, in strict
ODCS form, as ``customProperties: [{property: trilho, value: {...}}]``. Every error is a ``ContractError``
naming the field path and, for YAML sources, the file, line and column.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from trilho.contracts._regex import FORMAT_PATTERNS, check_pattern
from trilho.contracts._yaml import Path, parse_yaml, render_path
from trilho.contracts.checks import Invalid, value_check
from trilho.contracts.model import (
    COMPARATOR_ALIASES,
    COMPARATORS,
    ROLES,
    DatasetCheck,
    Field,
    SchemaObject,
    Tolerance,
)
from trilho.contracts.types import LOGICAL_DEFAULTS, TYPES, resolve_type, valid_type_names
from trilho.errors import ContractError

if TYPE_CHECKING:
    from trilho.contracts.contract import Contract

_NUMBER = "(0|[1-9][0-9]*)"
SEMVER = re.compile(rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")  # fullmatch

TOP_KEYS = {
    "apiVersion",
    "kind",
    "id",
    "name",
    "version",
    "status",
    "tenant",
    "tags",
    "servers",
    "dataProduct",
    "description",
    "domain",
    "schema",
    "support",
    "price",
    "team",
    "roles",
    "slaDefaultElement",
    "slaProperties",
    "authoritativeDefinitions",
    "customProperties",
    "contractCreatedTs",
    "x-trilho",
}
OBJECT_KEYS = {
    "name",
    "physicalName",
    "physicalType",
    "description",
    "businessName",
    "dataGranularityDescription",
    "tags",
    "properties",
    "quality",
    "authoritativeDefinitions",
    "customProperties",
    "logicalType",
    "id",
    "relationships",
    "x-trilho",
}
PROPERTY_KEYS = {
    "name",
    "physicalName",
    "primaryKey",
    "primaryKeyPosition",
    "logicalType",
    "logicalTypeOptions",
    "physicalType",
    "required",
    "unique",
    "partitioned",
    "partitionKeyPosition",
    "classification",
    "encryptedName",
    "transformSourceObjects",
    "transformLogic",
    "transformDescription",
    "examples",
    "criticalDataElement",
    "quality",
    "businessName",
    "description",
    "tags",
    "customProperties",
    "authoritativeDefinitions",
    "items",
    "id",
    "relationships",
    "x-trilho",
}
OPTION_KEYS = {
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "multipleOf",
    "uniqueItems",
    "timezone",
    "defaultTimezone",
}
OBJECT_EXT_KEYS = {"role", "extra", "examples"}
FIELD_EXT_KEYS = {"shape", "tolerance", "default"}


class _Ctx:
    """Where the document came from, to turn a field path into ``file:line:col: path``."""

    def __init__(self, source: str, marks: dict[Path, tuple[int, int]]) -> None:
        self.source = source
        self.marks = marks
        self.warnings: list[str] = []

    def error(self, path: Path, message: str, fix: str | None = None, **fields: Any) -> ContractError:
        probe = path
        while probe and probe not in self.marks:
            probe = probe[:-1]
        line, col = self.marks.get(probe, (None, None))
        where = f"{self.source}:{line}:{col}" if line else self.source
        return ContractError(
            f"{where}: {render_path(path)}: {message}",
            fix=fix,
            field=render_path(path),
            file=self.source,
            line=line,
            column=col,
            **fields,
        )


def parse_source(source: Any) -> tuple[Any, str, dict[Path, tuple[int, int]]]:
    """Turn a path, YAML text or mapping into (data, source name, marks)."""
    if isinstance(source, Mapping):
        return dict(source), "<mapping>", {}
    if isinstance(source, bytes):
        source = source.decode()
    if isinstance(source, FsPath) or (
        isinstance(source, str) and "\n" not in source and _looks_like_path(source)
    ):
        path = FsPath(source)
        if not path.is_file():
            raise ContractError(
                f"contract file not found: {path}", fix="pass the path of a YAML contract", file=str(path)
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ContractError(f"cannot read contract {path}: {exc}", file=str(path)) from None
        data, marks = parse_yaml(text, str(path))
        return data, str(path), marks
    if isinstance(source, str):
        data, marks = parse_yaml(source, "<string>")
        return data, "<string>", marks
    raise ContractError(
        f"cannot load a contract from {type(source).__name__}",
        fix="pass a file path, YAML text, a mapping or a Contract",
    )


def _looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml", ".json")) or FsPath(text).is_file()


def build(data: Any, ctx: _Ctx) -> dict[str, Any]:
    """Validate the top-level document and build the parts a ``Contract`` is made of."""
    if not isinstance(data, Mapping):
        raise ctx.error(
            (),
            f"a contract must be a mapping, got {type(data).__name__}",
            fix="start the document with 'apiVersion: v3.0.2' and 'kind: DataContract'",
        )
    _check_keys(data, TOP_KEYS, (), ctx)
    kind = data.get("kind", "DataContract")
    if kind != "DataContract":
        raise ctx.error(("kind",), f"kind must be 'DataContract', got {kind!r}", fix="set kind: DataContract")
    api = str(data.get("apiVersion", "v3.0.2"))
    if not api.startswith("v3"):
        raise ctx.error(
            ("apiVersion",),
            f"unsupported apiVersion {api!r}",
            fix="use an Open Data Contract Standard v3 document (e.g. apiVersion: v3.0.2)",
        )
    cid = data.get("id")
    if not isinstance(cid, str) or not cid:
        raise ctx.error(("id",), "id is required (a non-empty string)", fix="add e.g. 'id: churn-model-io'")
    version = data.get("version")
    if not isinstance(version, str) or not SEMVER.fullmatch(version):
        raise ctx.error(
            ("version",),
            f"version must be a semantic version like '1.2.0', got {version!r}",
            fix="quote it in YAML: version: '1.0.0'",
            value=version,
        )
    name = data.get("name", cid)
    if not isinstance(name, str):
        raise ctx.error(("name",), "name must be a string")
    schema = data.get("schema")
    if not isinstance(schema, list) or not schema:
        raise ctx.error(
            ("schema",),
            "schema must be a non-empty list of objects",
            fix="add 'schema: [{name: ..., properties: [...]}]'",
        )
    objects = tuple(_object(o, ("schema", i), ctx) for i, o in enumerate(schema))
    seen: dict[str, int] = {}
    for i, obj in enumerate(objects):
        if obj.name in seen:
            raise ctx.error(("schema", i, "name"), f"duplicate schema object name {obj.name!r}")
        seen[obj.name] = i
        if obj.role is not None and sum(o.role == obj.role for o in objects) > 1:
            raise ctx.error(
                ("schema", i),
                f"more than one schema object has role {obj.role!r}",
                fix="give each role to exactly one object",
            )
    meta = {
        k: v
        for k, v in data.items()
        if k not in {"apiVersion", "kind", "id", "name", "version", "status", "schema"}
    }
    return {
        "api_version": api,
        "id": cid,
        "name": name,
        "version": version,
        "status": str(data.get("status", "active")),
        "objects": objects,
        "meta": meta,
        "warnings": tuple(ctx.warnings),
    }


def _check_keys(data: Mapping[str, Any], allowed: set[str], path: Path, ctx: _Ctx) -> None:
    for key in data:
        if not isinstance(key, str):
            raise ctx.error(path, f"keys must be strings, got {key!r}")
        if key not in allowed and not key.startswith("x-"):
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "remove it, or prefix custom keys with 'x-'"
            raise ctx.error((*path, key), f"unknown key '{key}'", fix=hint)


def _extension(
    data: Mapping[str, Any], path: Path, ctx: _Ctx, allowed: set[str]
) -> tuple[dict[str, Any], list]:
    """A node's trilho extension (``x-trilho`` or a ``customProperties`` entry) and its other custom props."""
    ext: dict[str, Any] = {}
    others: list[Any] = []
    raw = data.get("x-trilho")
    if raw is not None:
        if not isinstance(raw, Mapping):
            raise ctx.error((*path, "x-trilho"), "x-trilho must be a mapping")
        ext.update(raw)
    props = data.get("customProperties")
    if props is not None:
        if not isinstance(props, list):
            raise ctx.error(
                (*path, "customProperties"), "customProperties must be a list of {property, value}"
            )
        for i, item in enumerate(props):
            if isinstance(item, Mapping) and item.get("property") == "trilho":
                if not isinstance(item.get("value"), Mapping):
                    raise ctx.error(
                        (*path, "customProperties", i, "value"), "the trilho value must be a mapping"
                    )
                ext.update(item["value"])
            else:
                others.append(item)
    for key in ext:
        if key not in allowed:
            raise ctx.error(
                (*path, "x-trilho", key),
                f"unknown trilho extension key '{key}'",
                fix=f"use one of: {', '.join(sorted(allowed))}",
            )
    return ext, others


def _object(data: Any, path: Path, ctx: _Ctx) -> SchemaObject:
    if not isinstance(data, Mapping):
        raise ctx.error(path, "each schema entry must be a mapping with name and properties")
    _check_keys(data, OBJECT_KEYS, path, ctx)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ctx.error((*path, "name"), "schema object name is required")
    logical = data.get("logicalType", "object")
    if logical != "object":
        raise ctx.error(
            (*path, "logicalType"), f"a schema object's logicalType must be 'object', got {logical!r}"
        )
    ext, custom = _extension(data, path, ctx, OBJECT_EXT_KEYS)
    role = ext.get("role")
    if role is not None and role not in ROLES:
        raise ctx.error((*path, "x-trilho", "role"), f"unknown role {role!r}", fix="use 'input' or 'output'")
    extra = ext.get("extra", "ignore" if role == "output" else "forbid")
    if extra not in ("forbid", "ignore"):
        raise ctx.error((*path, "x-trilho", "extra"), f"extra must be 'forbid' or 'ignore', got {extra!r}")
    props = data.get("properties")
    if not isinstance(props, list) or not props:
        raise ctx.error((*path, "properties"), "properties must be a non-empty list")
    fields = tuple(_field(p, (*path, "properties", i), ctx) for i, p in enumerate(props))
    names = [f.name for f in fields]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise ctx.error((*path, "properties", i, "name"), f"duplicate property name {n!r}")
    checks, unenforced = _object_quality(data.get("quality"), (*path, "quality"), ctx)
    examples = ext.get("examples", ())
    if not isinstance(examples, list | tuple) or not all(isinstance(e, Mapping) for e in examples):
        raise ctx.error((*path, "x-trilho", "examples"), "examples must be a list of records (mappings)")
    keep = {
        k: v
        for k, v in data.items()
        if k
        not in {
            "name",
            "physicalName",
            "description",
            "properties",
            "quality",
            "logicalType",
            "customProperties",
            "x-trilho",
        }
    }
    if custom:
        keep["customProperties"] = custom
    return SchemaObject(
        name=name,
        fields=fields,
        role=role,
        extra_policy=extra,
        physical_name=data.get("physicalName"),
        description=data.get("description"),
        examples=tuple(dict(e) for e in examples),
        checks=checks,
        extra=keep,
        unenforced=unenforced,
    )


def _object_quality(raw: Any, path: Path, ctx: _Ctx) -> tuple[tuple[DatasetCheck, ...], tuple[dict, ...]]:
    if raw is None:
        return (), ()
    if not isinstance(raw, list):
        raise ctx.error(path, "quality must be a list of rules")
    checks: list[DatasetCheck] = []
    unenforced: list[dict] = []
    for i, q in enumerate(raw):
        if not isinstance(q, Mapping):
            raise ctx.error((*path, i), "each quality rule must be a mapping")
        metric = q.get("metric") or q.get("rule")
        if metric in ("rowCount",):
            checks.append(_dataset_check("rowCount", q, (*path, i), ctx))
        else:
            unenforced.append(dict(q))
            ctx.warnings.append(
                f"{render_path((*path, i))}: quality rule {metric or q.get('type')!r} is kept "
                f"but not enforced by trilho"
            )
    return tuple(checks), tuple(unenforced)


def _dataset_check(metric: str, q: Mapping[str, Any], path: Path, ctx: _Ctx) -> DatasetCheck:
    ops = [COMPARATOR_ALIASES.get(k, k) for k in q if COMPARATOR_ALIASES.get(k, k) in COMPARATORS]
    raw_ops = [k for k in q if COMPARATOR_ALIASES.get(k, k) in COMPARATORS]
    if len(ops) != 1:
        raise ctx.error(
            path, f"a {metric} rule needs exactly one comparison", fix=f"add one of: {', '.join(COMPARATORS)}"
        )
    threshold = q[raw_ops[0]]
    if ops[0] in ("mustBeBetween", "mustNotBeBetween"):
        ok = isinstance(threshold, list) and len(threshold) == 2 and all(_is_number(t) for t in threshold)
    else:
        ok = _is_number(threshold)
    if not ok:
        raise ctx.error(
            (*path, raw_ops[0]),
            f"invalid threshold {threshold!r} for {ops[0]}",
            fix="use a number (or [low, high] for mustBeBetween)",
        )
    unit = q.get("unit", "rows")
    if unit not in ("rows", "percent"):
        raise ctx.error((*path, "unit"), f"unit must be 'rows' or 'percent', got {unit!r}")
    if isinstance(threshold, list):
        threshold = tuple(threshold)
    return DatasetCheck(
        metric="nullValues" if metric == "missingValues" else metric,
        op=ops[0],
        threshold=threshold,
        unit=unit,
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _field(data: Any, path: Path, ctx: _Ctx, *, is_items: bool = False) -> Field:
    """One property: its type, then each option family (bounds, strings, quality rules, array items,
    tolerance), then the checks that need the whole field (an empty range, the default)."""
    if not isinstance(data, Mapping):
        raise ctx.error(path, "each property must be a mapping with at least a name")
    _check_keys(data, PROPERTY_KEYS, path, ctx)
    name = data.get("name", "items" if is_items else None)
    if not isinstance(name, str) or not name:
        raise ctx.error((*path, "name"), "property name is required (a non-empty string)")
    ptype, logical_raw, physical_raw = _resolve_field_type(data, path, ctx)
    ext, custom = _extension(data, path, ctx, FIELD_EXT_KEYS)
    opts = data.get("logicalTypeOptions") or {}
    if not isinstance(opts, Mapping):
        raise ctx.error((*path, "logicalTypeOptions"), "logicalTypeOptions must be a mapping")
    _check_keys(opts, OPTION_KEYS, (*path, "logicalTypeOptions"), ctx)
    opath = (*path, "logicalTypeOptions")
    kw = {**_number_options(opts, ptype, opath, ctx), **_string_options(opts, ptype, opath, ctx)}
    required = data.get("required", False)
    unique = data.get("unique", False)
    for key, value in (("required", required), ("unique", unique)):
        if not isinstance(value, bool):
            raise ctx.error((*path, key), f"{key} must be true or false, got {value!r}")
    checks, unenforced, enum, unique = _quality_rules(data.get("quality"), ptype, kw, unique, path, ctx)
    items, shape = _array_parts(data, ext, ptype, path, ctx)
    tolerance = _tolerance(ext, ptype, items, path, ctx)
    examples = data.get("examples", ())
    if not isinstance(examples, list | tuple):
        raise ctx.error((*path, "examples"), "examples must be a list")
    result = Field(
        name=name,
        type=ptype,
        required=required,
        unique=unique,
        description=data.get("description"),
        enum=enum,
        items=items,
        shape=shape,
        checks=tuple(checks),
        tolerance=tolerance,
        examples=tuple(examples),
        physical_type_raw=physical_raw,
        logical_type_raw=logical_raw,
        extra=_kept(data, custom, opts, ptype.kind),
        unenforced=tuple(unenforced),
        **kw,
    )
    if ptype.kind in ("int", "float") and _empty_range(result):
        lo, _, hi, _ = result.bounds()
        raise ctx.error(
            opath,
            f"no {ptype.name} value satisfies the range (effective bounds {lo} .. {hi})",
            fix=f"use bounds inside the {ptype.name} range [{ptype.lo}, {ptype.hi}]",
        )
    if "default" in ext:
        result = dataclasses.replace(result, default=_default(result, ext["default"], path, ctx))
    return result


def _number_options(opts: Mapping[str, Any], ptype: Any, opath: Path, ctx: _Ctx) -> dict[str, Any]:
    """minimum / maximum / exclusiveMinimum / exclusiveMaximum (ODCS flags or JSON Schema bounds)."""
    kw: dict[str, Any] = {}
    kind = ptype.kind
    for key, attr in (("minimum", "minimum"), ("maximum", "maximum")):
        if key in opts:
            if kind not in ("int", "float"):
                raise ctx.error((*opath, key), f"{key} applies to numbers, not {ptype.name}")
            if not _is_number(opts[key]):
                raise ctx.error((*opath, key), f"{key} must be a finite number, got {opts[key]!r}")
            kw[attr] = opts[key]
    for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if key in opts:
            value = opts[key]
            if kind not in ("int", "float"):
                raise ctx.error((*opath, key), f"{key} applies to numbers, not {ptype.name}")
            if isinstance(value, bool):  # ODCS style: a flag on minimum/maximum
                if value and bound not in kw:
                    raise ctx.error((*opath, key), f"{key}: true needs {bound}")
                kw[f"exclusive_{bound}"] = value
            elif _is_number(value):  # JSON Schema style: the bound itself
                if bound in kw:
                    raise ctx.error((*opath, key), f"give either {bound} or {key} as a number, not both")
                kw[bound] = value
                kw[f"exclusive_{bound}"] = True
            else:
                raise ctx.error((*opath, key), f"{key} must be a boolean or a number, got {value!r}")
    if "minimum" in kw and "maximum" in kw:
        lo, hi = kw["minimum"], kw["maximum"]
        if lo > hi or (lo == hi and (kw.get("exclusive_minimum") or kw.get("exclusive_maximum"))):
            raise ctx.error(opath, f"empty range: minimum {lo} is above maximum {hi}")
    return kw


def _string_options(opts: Mapping[str, Any], ptype: Any, opath: Path, ctx: _Ctx) -> dict[str, Any]:
    """minLength / maxLength / pattern / format; options trilho keeps but does not enforce are warned of."""
    kw: dict[str, Any] = {}
    kind = ptype.kind
    for key, attr in (("minLength", "min_length"), ("maxLength", "max_length")):
        if key in opts:
            if kind != "string":
                raise ctx.error((*opath, key), f"{key} applies to strings, not {ptype.name}")
            if not isinstance(opts[key], int) or isinstance(opts[key], bool) or opts[key] < 0:
                raise ctx.error((*opath, key), f"{key} must be a non-negative integer, got {opts[key]!r}")
            kw[attr] = opts[key]
    if (
        kw.get("min_length") is not None
        and kw.get("max_length") is not None
        and kw["min_length"] > kw["max_length"]
    ):
        raise ctx.error(opath, "minLength is above maxLength")
    if "pattern" in opts:
        kw["pattern"] = _pattern(opts["pattern"], (*opath, "pattern"), kind, ctx)
    if "format" in opts:
        fmt = opts["format"]
        if kind == "string":
            if fmt not in FORMAT_PATTERNS:
                raise ctx.error(
                    (*opath, "format"),
                    f"unknown format {fmt!r}",
                    fix=f"use one of: {', '.join(FORMAT_PATTERNS)}",
                )
            kw["format"] = fmt
        # on numbers/dates ODCS uses format for display (e.g. 'yyyy-MM-dd'): kept, not enforced
    unsupported = set(opts) & {"multipleOf", "uniqueItems", "minItems", "maxItems"}
    if unsupported:
        ctx.warnings.append(f"{render_path(opath)}: {', '.join(sorted(unsupported))} kept but not enforced")
    return kw


def _quality_rules(
    quality: Any, ptype: Any, kw: dict[str, Any], unique: bool, path: Path, ctx: _Ctx
) -> tuple[list[DatasetCheck], list[dict], tuple[Any, ...] | None, bool]:
    """A property's quality rules: allowed values (enum), a pattern rule (into ``kw``), null / missing /
    duplicate checks (a zero-duplicates rule is ``unique``), the rest kept but not enforced."""
    checks: list[DatasetCheck] = []
    unenforced: list[dict] = []
    enum: tuple[Any, ...] | None = None
    if quality is None:
        return checks, unenforced, enum, unique
    if not isinstance(quality, list):
        raise ctx.error((*path, "quality"), "quality must be a list of rules")
    for i, q in enumerate(quality):
        qpath = (*path, "quality", i)
        if not isinstance(q, Mapping):
            raise ctx.error(qpath, "each quality rule must be a mapping")
        metric = q.get("metric") or q.get("rule")
        args = q.get("arguments") or {}
        if metric in ("validValues", "invalidValues") and ("validValues" in q or "validValues" in args):
            values = q.get("validValues", args.get("validValues"))
            if not isinstance(values, list) or not values:
                raise ctx.error(qpath, "validValues must be a non-empty list")
            _check_rule_is_zero(q, qpath, ctx)
            enum = (
                _enum_values(values, ptype, qpath, ctx)
                if enum is None
                else tuple(v for v in enum if v in values)
            )
        elif metric == "invalidValues" and "pattern" in args:
            _check_rule_is_zero(q, qpath, ctx)
            if "pattern" in kw:
                raise ctx.error(
                    qpath,
                    "a property can carry only one pattern",
                    fix="combine both patterns into one regular expression",
                )
            kw["pattern"] = _pattern(args["pattern"], (*qpath, "arguments", "pattern"), ptype.kind, ctx)
        elif metric in ("nullValues", "missingValues"):
            checks.append(_dataset_check(metric, q, qpath, ctx))
        elif metric == "nullCheck":
            checks.append(DatasetCheck("nullValues", "mustBe", 0))
        elif metric in ("duplicateValues", "duplicateCount"):
            check = _dataset_check("duplicateValues", q, qpath, ctx)
            if check.op == "mustBe" and check.threshold == 0:
                unique = True
            else:
                checks.append(check)
        else:
            unenforced.append(dict(q))
            ctx.warnings.append(
                f"{render_path(qpath)}: quality rule {metric or q.get('type')!r} is kept but "
                "not enforced by trilho"
            )
    return checks, unenforced, enum, unique


def _array_parts(
    data: Mapping[str, Any], ext: Mapping[str, Any], ptype: Any, path: Path, ctx: _Ctx
) -> tuple[Field | None, tuple[int, ...] | None]:
    """An array's element type (``items``) and its ``x-trilho`` shape; both refused on other types."""
    if ptype.kind != "array":
        if "items" in data:
            raise ctx.error((*path, "items"), f"items applies to arrays, not {ptype.name}")
        if "shape" in ext:
            raise ctx.error((*path, "x-trilho", "shape"), f"shape applies to arrays, not {ptype.name}")
        return None, None
    raw_items = data.get("items")
    if not isinstance(raw_items, Mapping):
        raise ctx.error(
            (*path, "items"),
            "an array property needs 'items' with the element type",
            fix="add e.g. items: {logicalType: number, physicalType: float32}",
        )
    items = _field(raw_items, (*path, "items"), ctx, is_items=True)
    if items.kind == "array":
        raise ctx.error(
            (*path, "items"),
            "arrays of arrays are written as one array with a shape",
            fix="use x-trilho: {shape: [rows, cols]} and a scalar item type",
        )
    if "shape" not in ext:
        return items, None
    raw_shape = ext["shape"]
    if (
        not isinstance(raw_shape, list)
        or not raw_shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in raw_shape)
    ):
        raise ctx.error(
            (*path, "x-trilho", "shape"),
            f"shape must be a list of sizes, got {raw_shape!r}",
            fix="e.g. shape: [384]",
        )
    return items, tuple(raw_shape)


def _tolerance(
    ext: Mapping[str, Any], ptype: Any, items: Field | None, path: Path, ctx: _Ctx
) -> Tolerance | None:
    """The ``x-trilho`` output tolerance ``{abs, rel}`` of a number (or an array of numbers)."""
    if "tolerance" not in ext:
        return None
    tol = ext["tolerance"]
    if (
        not isinstance(tol, Mapping)
        or set(tol) - {"abs", "rel"}
        or not all(_is_number(v) and v >= 0 for v in tol.values())
    ):
        raise ctx.error((*path, "x-trilho", "tolerance"), f"tolerance must be {{abs, rel}} >= 0, got {tol!r}")
    if ptype.kind not in ("float", "int") and not (items is not None and items.kind in ("float", "int")):
        raise ctx.error((*path, "x-trilho", "tolerance"), f"tolerance applies to numbers, not {ptype.name}")
    return Tolerance(abs=float(tol.get("abs", 0.0)), rel=float(tol.get("rel", 0.0)))


_READ_KEYS = frozenset(
    {
        "name",
        "logicalType",
        "physicalType",
        "required",
        "unique",
        "description",
        "logicalTypeOptions",
        "quality",
        "items",
        "examples",
        "customProperties",
        "x-trilho",
    }
)


def _kept(data: Mapping[str, Any], custom: Any, opts: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """What trilho does not read but writes back as it was (ODCS keys, custom properties, display format)."""
    keep = {k: v for k, v in data.items() if k not in _READ_KEYS}
    if custom:
        keep["customProperties"] = custom
    if "format" in opts and kind != "string":
        keep["logicalTypeOptions"] = {"format": opts["format"]}
    return keep


DEFAULT_KINDS = ("int", "float", "bool", "string")


def _default(f: Field, value: Any, path: Path, ctx: _Ctx) -> Any:
    """A field's declared default, checked against the field (returned in its validated form)."""
    dpath = (*path, "x-trilho", "default")
    if f.kind not in DEFAULT_KINDS:
        raise ctx.error(
            dpath,
            f"a default applies to numbers, integers, booleans and strings, not {f.type.name}",
            fix="remove the default, and let the model handle a missing value",
        )
    if f.required:
        raise ctx.error(
            dpath,
            f"'{f.name}' is required, so its default would never apply",
            fix="make the field optional (required: false) or remove the default",
        )
    if value is None:
        raise ctx.error(dpath, "a default must not be null", fix="give a value, or remove the default")
    try:
        return value_check(f)(value)
    except Invalid as bad:
        raise ctx.error(
            dpath,
            f"default {value!r} is not a valid '{f.name}': {bad.message}",
            fix="give a default the field accepts, or remove it",
            value=value,
        ) from None


def _empty_range(f: Field) -> bool:
    lo, lo_x, hi, hi_x = f.bounds()
    if f.kind == "int":
        lo_i = math.floor(lo) + 1 if lo_x or lo != math.floor(lo) else int(lo)
        hi_i = math.ceil(hi) - 1 if hi_x or hi != math.ceil(hi) else int(hi)
        return lo_i > hi_i
    return lo > hi or (lo == hi and (lo_x or hi_x))


def _check_rule_is_zero(q: Mapping[str, Any], path: Path, ctx: _Ctx) -> None:
    for key in q:
        if COMPARATOR_ALIASES.get(key, key) in COMPARATORS and not (key == "mustBe" and q[key] == 0):
            raise ctx.error(
                (*path, key),
                "invalid-value rules are enforced per value: only 'mustBe: 0' is supported",
                fix="remove the comparison or set mustBe: 0",
            )


def _pattern(value: Any, path: Path, kind: str, ctx: _Ctx) -> str:
    if kind != "string":
        raise ctx.error(path, f"pattern applies to strings, not {kind}")
    if not isinstance(value, str):
        raise ctx.error(path, f"pattern must be a string, got {value!r}")
    problem = check_pattern(value)
    if problem:
        raise ctx.error(path, problem, fix="use a regular expression without look-around or back-references")
    return value


def _enum_values(values: list[Any], ptype: Any, path: Path, ctx: _Ctx) -> tuple[Any, ...]:
    kind = ptype.kind
    for v in values:
        ok = (
            (kind == "string" and isinstance(v, str))
            or (
                kind == "int" and isinstance(v, int) and not isinstance(v, bool) and ptype.lo <= v <= ptype.hi
            )
            or (kind == "float" and _is_number(v) and ptype.lo <= v <= ptype.hi)
            or (kind == "bool" and isinstance(v, bool))
        )
        if not ok:
            raise ctx.error(
                path,
                f"valid value {v!r} is not a {ptype.name}",
                value=v,
                fix=f"list only {ptype.name} values, or change the property's type",
            )
    if len(set(values)) != len(values):
        raise ctx.error(path, "validValues contains duplicates")
    return tuple(values)


def _resolve_field_type(data: Mapping[str, Any], path: Path, ctx: _Ctx) -> tuple[Any, str | None, str | None]:
    logical = data.get("logicalType")
    physical = data.get("physicalType")
    valid = ", ".join(valid_type_names())
    if logical is not None and (not isinstance(logical, str) or logical not in LOGICAL_DEFAULTS):
        if logical == "object":
            raise ctx.error(
                (*path, "logicalType"),
                "nested objects are not supported in trilho contracts",
                fix="flatten the object into top-level properties",
            )
        raise ctx.error(
            (*path, "logicalType"),
            f"unknown logicalType {logical!r}",
            fix=f"use one of: {', '.join(LOGICAL_DEFAULTS)}",
            value=logical,
        )
    if physical is None:
        if logical is None:
            raise ctx.error(
                path,
                "a property needs logicalType or physicalType",
                fix=f"add physicalType (one of: {valid})",
            )
        return TYPES[LOGICAL_DEFAULTS[logical]], logical, None
    if not isinstance(physical, str):
        raise ctx.error((*path, "physicalType"), f"physicalType must be a string, got {physical!r}")
    try:
        ptype, warning = resolve_type(physical)
    except KeyError:
        close = difflib.get_close_matches(physical.lower(), valid_type_names(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ctx.error(
            (*path, "physicalType"),
            f"unknown physicalType {physical!r}{hint}",
            fix=f"use one of: {valid}",
            value=physical,
            valid=valid_type_names(),
        ) from None
    if warning:
        ctx.warnings.append(f"{render_path((*path, 'physicalType'))}: {warning}")
    if logical is not None and logical != ptype.logical:
        compatible = logical == "number" and ptype.logical == "integer"
        if not compatible:
            raise ctx.error(
                (*path, "physicalType"),
                f"physicalType {physical!r} does not match logicalType {logical!r}",
                fix=f"use a physicalType whose logical type is {logical}",
            )
    return ptype, logical, physical


def load_contract(source: Any) -> Contract:
    """Load a contract from a file path, YAML text, a mapping, or return a ``Contract`` unchanged."""
    from trilho.contracts.contract import Contract

    if isinstance(source, Contract):
        return source
    data, name, marks = parse_source(source)
    ctx = _Ctx(name, marks)
    return Contract(**build(data, ctx), source=name)
