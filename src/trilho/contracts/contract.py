"""The ``Contract``: one loaded document and the validators, schemas and exports compiled from it."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trilho.contracts import export
from trilho.contracts.model import ROLES, Field, SchemaObject
from trilho.errors import ContractError

if TYPE_CHECKING:
    from trilho.contracts.columns import ColumnValidator
    from trilho.contracts.frame import FrameReport
    from trilho.contracts.request import RequestValidator


class Contract:
    """A loaded, normalised data contract (ODCS v3 core + the trilho extension for model I/O)."""

    def __init__(
        self,
        *,
        id: str,
        name: str,
        version: str,
        objects: tuple[SchemaObject, ...],
        api_version: str = "v3.0.2",
        status: str = "active",
        meta: Mapping[str, Any] | None = None,
        warnings: tuple[str, ...] = (),
        source: str | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.version = version
        self.objects = objects
        self.api_version = api_version
        self.status = status
        self.meta = dict(meta or {})
        self.warnings = warnings
        self.source = source
        self._validators: dict[str, Any] = {}
        self._schema_validators: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Contract(id={self.id!r}, version={self.version!r}, objects={[o.name for o in self.objects]})"

    # --- identity -----------------------------------------------------------------------------------------
    @functools.cached_property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON form of the contract (formatting and key order do not matter)."""
        return export.content_hash(self.to_odcs())

    @property
    def major(self) -> int:
        """The MAJOR part of the semantic version."""
        return int(self.version.split(".", 1)[0])

    # --- roles and fields -----------------------------------------------------------------------------------
    @property
    def roles(self) -> tuple[str, ...]:
        """The roles this contract describes (a contract without annotations describes only ``input``)."""
        explicit = tuple(o.role for o in self.objects if o.role is not None)
        return explicit or ("input",)

    def object(self, role: str | None = "input") -> SchemaObject:
        """The schema object for ``role`` (``input``/``output``), or else the object named ``role``."""
        if role is None:
            role = "input" if "input" in self.roles else self.roles[0]
        for o in self.objects:
            if o.role == role:
                return o
        if role == "input" and all(o.role is None for o in self.objects):
            return self.objects[0]
        for o in self.objects:
            if o.name == role:
                return o
        if role in ROLES:
            raise ContractError(
                f"contract {self.id} {self.version} has no {role} object",
                fix=f"add 'x-trilho: {{role: {role}}}' to the schema object that describes the {role}s",
                field="role",
                value=role,
            )
        names = ", ".join(o.name for o in self.objects)
        raise ContractError(
            f"contract {self.id} has no role or schema object {role!r}",
            fix=f"use 'input', 'output' or one of: {names}",
            field="role",
            value=role,
        )

    def fields(self, role: str | None = "input") -> tuple[Field, ...]:
        """The fields of the object for ``role``."""
        return self.object(role).fields

    def examples(self, role: str | None = "input") -> list[dict[str, Any]]:
        """Example records: the object's ``examples``, else records assembled from per-property examples."""
        obj = self.object(role)
        if obj.examples:
            return [dict(e) for e in obj.examples]
        if not any(f.examples for f in obj.fields) or any(f.required and not f.examples for f in obj.fields):
            return []
        n = max(len(f.examples) for f in obj.fields)
        return [{f.name: f.examples[i % len(f.examples)] for f in obj.fields if f.examples} for i in range(n)]

    # --- compiled validators -----------------------------------------------------------------------------
    def request_validator(
        self, role: str | None = "input", *, engine: str = "pydantic-core"
    ) -> RequestValidator:
        """The hot-path validator for one record of ``role`` (compiled once per role and engine, then cached).

        ``engine`` picks the fast path: ``pydantic-core`` (default, faster in our benchmark) or ``msgspec``;
        both accept exactly the same records.
        """
        key = f"{role or 'input'}/{engine}"
        v = self._validators.get(key)
        if v is None:
            from trilho.contracts.request import RequestValidator

            v = self._validators[key] = RequestValidator(self.object(role), engine=engine)
        return v

    def column_validator(self, role: str | None = "input") -> ColumnValidator:
        """The column-wise twin of ``request_validator`` for batches held as columns (compiled once per
        role, then cached): it accepts what the record validator accepts, else defers to it."""
        key = f"{role or 'input'}/columns"
        v = self._validators.get(key)
        if v is None:
            from trilho.contracts.columns import ColumnValidator

            v = self._validators[key] = ColumnValidator(self.object(role))
        return v  # type: ignore[return-value]

    def validate_frame(self, df: Any, role: str | None = None) -> FrameReport:
        """Validate a pandas/polars frame; the report lists every failure (row, column, value, rule)."""
        from trilho.contracts.frame import validate_frame

        return validate_frame(self.object(role), df)

    def fill_defaults(self, df: Any, role: str | None = None) -> Any:
        """A pandas/polars frame with ``role``'s declared defaults filled in (what the model should see)."""
        from trilho.contracts.frame import fill_defaults

        return fill_defaults(self.object(role), df)

    def json_schema(self, role: str | None = "input") -> dict[str, Any]:
        """JSON Schema (draft 2020-12) for one record of ``role``."""
        from trilho.contracts.json_schema import object_schema

        return object_schema(self.object(role), contract_id=self.id, version=self.version, role=role)

    def json_schema_validator(self, role: str | None = "input") -> Any:
        """A ``jsonschema`` Draft 2020-12 validator for ``role``'s records."""
        key = role or "input"
        v = self._schema_validators.get(key)
        if v is None:
            from trilho.contracts.json_schema import validator_for

            v = self._schema_validators[key] = validator_for(self.json_schema(role))
        return v

    # --- export ---------------------------------------------------------------------------------------------
    def to_odcs(self) -> dict[str, Any]:
        """The contract as an ODCS v3 mapping (trilho extension in ``customProperties``)."""
        return export.contract_to_odcs(self)

    def to_yaml(self) -> str:
        """The contract as ODCS v3 YAML."""
        return export.to_yaml(self.to_odcs())
