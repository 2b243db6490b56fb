"""Write the model back out as an ODCS v3 document (the canonical form, also used for the content hash).

The trilho extension is written in strict ODCS form, ``customProperties: [{property: trilho, value: {...}}]``,
so exported files validate against the ODCS JSON Schema; ``x-trilho`` is accepted on input only.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

import yaml

from trilho.contracts.model import Field, SchemaObject

if TYPE_CHECKING:
    from trilho.contracts.contract import Contract


def _custom(existing: list[Any] | None, ext: dict[str, Any]) -> list[Any] | None:
    out = list(existing or [])
    if ext:
        out.append({"property": "trilho", "value": ext})
    return out or None


def field_to_odcs(f: Field, *, is_items: bool = False) -> dict[str, Any]:
    """One property as an ODCS mapping."""
    out: dict[str, Any] = {} if is_items else {"name": f.name}
    out["logicalType"] = f.logical_type_raw or f.type.logical
    out["physicalType"] = f.physical_type_raw or f.type.name
    if not is_items:
        out["required"] = f.required
        out["unique"] = f.unique
    if f.description:
        out["description"] = f.description
    opts: dict[str, Any] = dict(f.extra.get("logicalTypeOptions", {}))
    if f.minimum is not None:
        opts["minimum"] = f.minimum
        if f.exclusive_minimum:
            opts["exclusiveMinimum"] = True
    if f.maximum is not None:
        opts["maximum"] = f.maximum
        if f.exclusive_maximum:
            opts["exclusiveMaximum"] = True
    for key, value in (
        ("minLength", f.min_length),
        ("maxLength", f.max_length),
        ("pattern", f.pattern),
        ("format", f.format),
    ):
        if value is not None:
            opts[key] = value
    if opts:
        out["logicalTypeOptions"] = opts
    quality: list[dict[str, Any]] = []
    if f.enum is not None:
        quality.append({"metric": "invalidValues", "arguments": {"validValues": list(f.enum)}, "mustBe": 0})
    for c in f.checks:
        threshold = list(c.threshold) if isinstance(c.threshold, tuple) else c.threshold
        quality.append({"metric": c.metric, c.op: threshold, "unit": c.unit})
    quality.extend(f.unenforced)
    if quality:
        out["quality"] = quality
    if f.items is not None:
        out["items"] = field_to_odcs(f.items, is_items=True)
    if f.examples:
        out["examples"] = list(f.examples)
    for key, value in f.extra.items():
        if key not in ("logicalTypeOptions", "customProperties"):
            out[key] = value
    ext: dict[str, Any] = {}
    if f.shape is not None:
        ext["shape"] = list(f.shape)
    if f.tolerance is not None:
        ext["tolerance"] = {"abs": f.tolerance.abs, "rel": f.tolerance.rel}
    if f.default is not None:
        ext["default"] = f.default
    custom = _custom(f.extra.get("customProperties"), ext)
    if custom:
        out["customProperties"] = custom
    return out


def object_to_odcs(obj: SchemaObject) -> dict[str, Any]:
    """One schema object as an ODCS mapping."""
    out: dict[str, Any] = {"name": obj.name}
    if obj.physical_name:
        out["physicalName"] = obj.physical_name
    out["logicalType"] = "object"
    if obj.description:
        out["description"] = obj.description
    for key, value in obj.extra.items():
        if key != "customProperties":
            out[key] = value
    out["properties"] = [field_to_odcs(f) for f in obj.fields]
    quality = [
        {
            "metric": c.metric,
            c.op: list(c.threshold) if isinstance(c.threshold, tuple) else c.threshold,
            "unit": c.unit,
        }
        for c in obj.checks
    ]
    quality.extend(obj.unenforced)
    if quality:
        out["quality"] = quality
    ext: dict[str, Any] = {}
    if obj.role is not None:
        ext["role"] = obj.role
    if obj.extra_policy != ("ignore" if obj.role == "output" else "forbid"):
        ext["extra"] = obj.extra_policy
    if obj.examples:
        ext["examples"] = [dict(e) for e in obj.examples]
    custom = _custom(obj.extra.get("customProperties"), ext)
    if custom:
        out["customProperties"] = custom
    return out


def contract_to_odcs(c: Contract) -> dict[str, Any]:
    """The whole contract as an ODCS v3 mapping."""
    out: dict[str, Any] = {
        "apiVersion": c.api_version,
        "kind": "DataContract",
        "id": c.id,
        "name": c.name,
        "version": c.version,
        "status": c.status,
    }
    out.update(c.meta)
    out["schema"] = [object_to_odcs(o) for o in c.objects]
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def canonical_json(doc: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, dates as ISO strings."""
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain, allow_nan=False
    )


def content_hash(doc: Any) -> str:
    """sha256 (hex) of the canonical JSON form of ``doc``."""
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


class _Dumper(yaml.SafeDumper):
    """A YAML dumper that keeps key order and indents lists under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def to_yaml(doc: Any) -> str:
    """Readable YAML for an ODCS mapping (key order kept)."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)
