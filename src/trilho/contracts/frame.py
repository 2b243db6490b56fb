"""The dataframe validator: every failure in a pandas or polars frame, found with vectorised expressions.

Each field becomes a handful of boolean "row fails" expressions (narwhals, so the same code runs natively on
pandas and polars). One ``select`` counts the failures of every rule in a single pass; only rules that failed
are then filtered to collect their rows and values. Columns whose dtype carries arbitrary Python objects
(pandas ``object``, arrays/lists, decimals) fall back to the precise per-value checks of the request
validator, so the verdicts stay identical. Dataset-level rules (unique, null values, duplicates, row count)
are checked here only. A field's declared default is filled in first (:func:`fill_defaults`: a missing
column, nulls and NaN take it), so the frame is judged as the model will see it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import narwhals.stable.v2 as nw

from trilho.contracts._regex import to_dialect
from trilho.contracts.checks import Invalid, compile_check
from trilho.contracts.model import DatasetCheck, Field, SchemaObject
from trilho.contracts.request import show as _show
from trilho.contracts.types import FLOAT32_MAX, FLOAT64_MAX, TYPES
from trilho.errors import SchemaViolation

ROW = "__trilho_row__"
#: Rules about the dataset as a whole; every other rule is about single records.
DATASET_RULES = frozenset({"unique", "nullValues", "duplicateValues", "rowCount"})


@dataclass(frozen=True, slots=True)
class Failure:
    """One failing cell (or, with ``row=None``, a whole column or the dataset)."""

    row: int | None
    column: str
    value: Any
    rule: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "row": self.row,
            "column": self.column,
            "value": _show(self.value),
            "rule": self.rule,
            "message": self.message,
        }


@dataclass(slots=True)
class FailureGroup:
    """Every row that broke one rule on one column."""

    column: str
    rule: str
    message: str
    rows: list[int | None]
    values: list[Any]

    @property
    def count(self) -> int:
        """How many rows failed."""
        return len(self.rows)


@dataclass
class FrameReport:
    """The outcome of validating a frame: all failures, grouped by column and rule."""

    object: str
    rows: int
    columns: list[str]
    groups: list[FailureGroup] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.groups

    def __bool__(self) -> bool:
        return self.ok

    @property
    def records_ok(self) -> bool:
        """True when every record is valid on its own (dataset-level rules such as unique aside)."""
        return all(g.rule in DATASET_RULES for g in self.groups)

    @property
    def failures(self) -> list[Failure]:
        """Every failure, one per (row, column, rule), rows in order within each rule."""
        return list(self.iter_failures())

    def iter_failures(self) -> Iterator[Failure]:
        """Iterate the failures without building the whole list."""
        for g in self.groups:
            for row, value in zip(g.rows, g.values, strict=True):
                yield Failure(row, g.column, value, g.rule, g.message)

    @property
    def failure_count(self) -> int:
        """Total number of failures."""
        return sum(g.count for g in self.groups)

    @property
    def failed_rows(self) -> list[int]:
        """Sorted indices (0-based positions) of rows with at least one failure."""
        return sorted({r for g in self.groups for r in g.rows if r is not None})

    def summary(self) -> list[dict[str, Any]]:
        """One line per (column, rule): count and up to three example values."""
        return [
            {
                "column": g.column,
                "rule": g.rule,
                "count": g.count,
                "message": g.message,
                "examples": [_show(v) for v in g.values[:3]],
            }
            for g in self.groups
        ]

    def to_dict(self, limit: int | None = 1000) -> dict[str, Any]:
        """JSON-ready form; ``limit`` caps the number of individual failures listed."""
        failures = []
        for i, f in enumerate(self.iter_failures()):
            if limit is not None and i >= limit:
                break
            failures.append(f.to_dict())
        return {
            "ok": self.ok,
            "object": self.object,
            "rows": self.rows,
            "failure_count": self.failure_count,
            "failed_rows": len(self.failed_rows),
            "summary": self.summary(),
            "failures": failures,
            "truncated": limit is not None and self.failure_count > limit,
        }

    def raise_for_failures(self) -> None:
        """Raise ``SchemaViolation`` describing the first failure when the frame is invalid."""
        if self.ok:
            return
        first = next(self.iter_failures())
        raise SchemaViolation(
            f"{self.failure_count} failure(s) in {self.object}; first: row {first.row}, column "
            f"'{first.column}': {first.message}",
            field=first.column,
            value=_show(first.value),
            rule=first.rule,
            row=first.row,
        )


# --- expression building ----------------------------------------------------------------------
_INT_BOUNDS = {name: (t.lo, t.hi) for name, t in TYPES.items() if t.kind == "int"}
_INT_BOUNDS["int128"] = (-(2**127), 2**127 - 1)
_INT_BOUNDS["uint128"] = (0, 2**128 - 1)


@dataclass
class _Plan:
    masks: list[tuple[str, str, str, Any]] = field(default_factory=list)  # column, rule, message, expr
    python_columns: list[Field] = field(default_factory=list)
    column_failures: list[FailureGroup] = field(default_factory=list)
    null_counts: list[tuple[Field, DatasetCheck, Any]] = field(default_factory=list)
    dup_counts: list[tuple[Field, DatasetCheck, Any]] = field(default_factory=list)
    helper_columns: dict[str, Any] = field(default_factory=dict)
    array_columns: list[Field] = field(default_factory=list)


def _dtype_class(dtype: Any) -> str:
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    if dtype == nw.Boolean:
        return "bool"
    if dtype == nw.String or dtype == nw.Categorical or dtype == nw.Enum:
        return "string"
    if dtype == nw.Date:
        return "date"
    if dtype == nw.Datetime:
        return "timestamp"
    return "python"


def _down(m: float | int) -> float:
    """The largest float <= m (so ``x > m`` ⇔ ``x > _down(m)`` for every float x)."""
    f = float(m)
    return math.nextafter(f, -math.inf) if f > m else f


def _up(m: float | int) -> float:
    """The smallest float >= m (so ``x < m`` ⇔ ``x < _up(m)`` for every float x)."""
    f = float(m)
    return math.nextafter(f, math.inf) if f < m else f


def _numeric_masks(f: Field, c: Any, dclass: str, dtype: Any, nonnull: Any, plan: _Plan) -> None:
    name, kind = f.name, f.kind
    tname = f.type.name
    if dclass == "float":
        if kind == "int":
            plan.masks.append(
                (
                    name,
                    "type",
                    f"'{name}' must be an integer ({tname})",
                    nonnull & (~c.is_finite() | (c != c.round(0))),
                )
            )
        else:
            plan.masks.append((name, "range", f"'{name}' must be finite", nonnull & ~c.is_finite()))
        c_lo, c_hi = (-FLOAT32_MAX, FLOAT32_MAX) if str(dtype) == "Float32" else (-FLOAT64_MAX, FLOAT64_MAX)
        finite = nonnull & c.is_finite()
    else:
        c_lo, c_hi = _INT_BOUNDS[str(dtype).lower()]
        finite = nonnull
    t_lo, t_hi = f.type.lo, f.type.hi
    is_float = dclass == "float"
    # Thresholds exact for float columns: compare against the nearest float on the safe side.
    gt = (lambda m: c > _down(m)) if is_float else (lambda m: c > m)
    lt = (lambda m: c < _up(m)) if is_float else (lambda m: c < m)
    ge = (lambda m: c >= _up(m)) if is_float else (lambda m: c >= m)
    le = (lambda m: c <= _down(m)) if is_float else (lambda m: c <= m)
    within = finite
    if c_lo < t_lo or c_hi > t_hi:
        out = lt(t_lo) | gt(t_hi)
        plan.masks.append(
            (name, "range", f"'{name}' is outside the {tname} range [{t_lo}, {t_hi}]", finite & out)
        )
        within = finite & ~out
    if f.minimum is not None and (
        c_lo is None or (c_lo <= f.minimum if f.exclusive_minimum else c_lo < f.minimum)
    ):
        rule = "exclusiveMinimum" if f.exclusive_minimum else "minimum"
        bad = le(f.minimum) if f.exclusive_minimum else lt(f.minimum)
        plan.masks.append(
            (name, rule, f"'{name}' must be {'>' if f.exclusive_minimum else '>='} {f.minimum}", within & bad)
        )
    if f.maximum is not None and (
        c_hi is None or (c_hi >= f.maximum if f.exclusive_maximum else c_hi > f.maximum)
    ):
        rule = "exclusiveMaximum" if f.exclusive_maximum else "maximum"
        bad = ge(f.maximum) if f.exclusive_maximum else gt(f.maximum)
        plan.masks.append(
            (name, rule, f"'{name}' must be {'<' if f.exclusive_maximum else '<='} {f.maximum}", within & bad)
        )


def _string_masks(f: Field, c: Any, nonnull: Any, native: Any, plan: _Plan) -> None:
    name = f.name
    if f.min_length is not None or f.max_length is not None:
        n = c.str.len_chars()
        if f.min_length is not None:
            plan.masks.append(
                (
                    name,
                    "minLength",
                    f"'{name}' must have at least {f.min_length} characters",
                    nonnull & (n < f.min_length),
                )
            )
        if f.max_length is not None:
            plan.masks.append(
                (
                    name,
                    "maxLength",
                    f"'{name}' must have at most {f.max_length} characters",
                    nonnull & (n > f.max_length),
                )
            )
    for pattern in f.patterns:
        if f.kind in ("date", "timestamp"):
            rule, what = "format", f"an ISO 8601 {f.kind}"
        elif pattern == f.pattern:
            rule, what = "pattern", f"matching {pattern!r}"
        else:
            rule, what = "format", f"a valid {f.format}"
        src = to_dialect(pattern, "rust")
        if _is_pandas(native):
            # pandas picks Python ``re`` or RE2 depending on dtype and pattern; pyarrow is always RE2.
            helper = f"__trilho_match_{len(plan.helper_columns)}__"
            plan.helper_columns[helper] = _pyarrow_matches(native[name], src)
            matches = nw.col(helper)
        else:
            matches = c.str.contains(src)
        plan.masks.append((name, rule, f"'{name}' must be {what}", nonnull & ~matches))


def _plan_field(f: Field, frame: Any, schema: Any, native: Any, plan: _Plan) -> None:
    name = f.name
    if name not in schema:
        if f.required:
            plan.column_failures.append(
                FailureGroup(name, "required", f"required column '{name}' is missing", [None], [None])
            )
        return
    dtype = schema[name]
    dclass = _dtype_class(dtype)
    c = nw.col(name)
    if f.kind == "array" and _is_list(dtype) and not _is_pandas(native) and not f.unique:
        plan.array_columns.append(f)
        return
    if dclass == "python" or f.kind == "array":
        plan.python_columns.append(f)
        return
    null = c.is_null() | c.is_nan() if dclass == "float" else c.is_null()
    nonnull = ~null
    if f.required:
        plan.masks.append((name, "required", f"'{name}' is required and must not be null", null))
    kind = f.kind
    compatible = {
        "int": ("int", "float"),
        "float": ("int", "float"),
        "bool": ("bool",),
        "string": ("string",),
        "date": ("date", "string"),
        "timestamp": ("timestamp", "string"),
    }[kind]
    if kind == "date" and dclass == "timestamp":
        # pandas has no date dtype: a naive datetime column holds dates when every time of day is midnight
        if getattr(dtype, "time_zone", None) is not None:
            plan.masks.append((name, "type", f"'{name}' must be a date, column has dtype {dtype}", nonnull))
        else:
            off = (c.dt.hour() != 0) | (c.dt.minute() != 0) | (c.dt.second() != 0) | (c.dt.nanosecond() != 0)
            plan.masks.append(
                (name, "type", f"'{name}' must be a date, not a timestamp with a time of day", nonnull & off)
            )
    elif dclass not in compatible:
        plan.masks.append(
            (name, "type", f"'{name}' must be {f.type.name}, column has dtype {dtype}", nonnull)
        )
    elif kind in ("int", "float"):
        _numeric_masks(f, c, dclass, dtype, nonnull, plan)
    elif dclass == "string":
        if dtype != nw.String:
            c = c.cast(nw.String)
        _string_masks(f, c, nonnull, native, plan)
    if f.enum is not None and dclass in compatible:
        plan.masks.append(
            (name, "enum", f"'{name}' must be one of {list(f.enum)}", nonnull & ~c.is_in(list(f.enum)))
        )
    if f.unique:
        plan.masks.append((name, "unique", f"'{name}' must be unique", nonnull & c.is_duplicated()))
    for check in f.checks:
        if check.metric == "nullValues":
            plan.null_counts.append((f, check, null.sum()))
        elif check.metric == "duplicateValues":
            plan.dup_counts.append((f, check, nonnull.sum() - c.drop_nulls().n_unique()))


def _is_pandas(native: Any) -> bool:
    return type(native).__module__.startswith("pandas")


def _pyarrow_matches(series: Any, pattern: str) -> Any:
    """Vectorised RE2 search over a pandas column (nulls count as matching; they are checked elsewhere)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(series, from_pandas=True)
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    return pc.fill_null(pc.match_substring_regex(arr, pattern), True).to_numpy(zero_copy_only=False)


def fill_defaults(obj: SchemaObject, df: Any) -> Any:
    """``df`` (pandas or polars, its native type kept) with each defaulted field of ``obj`` filled in: a
    missing column is added with the default, nulls (and NaN in float columns) take it."""
    defaulted = [f for f in obj.fields if f.default is not None]
    if not defaulted:
        return df
    frame = nw.from_native(df)
    schema = frame.collect_schema() if isinstance(frame, nw.LazyFrame) else frame.schema
    exprs = []
    for f in defaulted:
        if f.name not in schema:
            exprs.append(nw.lit(f.default).alias(f.name))
            continue
        c = nw.col(f.name)
        null = c.is_null() | c.is_nan() if _dtype_class(schema[f.name]) == "float" else c.is_null()
        exprs.append(nw.when(null).then(nw.lit(f.default)).otherwise(c).alias(f.name))
    return frame.with_columns(*exprs).to_native()


def validate_frame(obj: SchemaObject, df: Any) -> FrameReport:
    """Validate every row of ``df`` (pandas or polars; eager or lazy) against ``obj``, its declared
    defaults filled in."""
    frame = nw.from_native(fill_defaults(obj, df))
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    native = frame.to_native()
    schema = frame.schema
    n = len(frame)
    plan = _Plan()
    for f in obj.fields:
        _plan_field(f, frame, schema, native, plan)
    report = FrameReport(object=obj.name, rows=n, columns=list(schema))
    report.groups.extend(plan.column_failures)
    if obj.extra_policy == "forbid":
        declared = set(obj.names)
        for col in schema:
            if col not in declared:
                report.groups.append(
                    FailureGroup(
                        col, "unknown-field", f"'{col}' is not a field of {obj.name}", [None], [None]
                    )
                )
    if plan.helper_columns:
        ns = nw.get_native_namespace(frame)
        frame = frame.with_columns(
            *(nw.new_series(k, v, nw.Boolean, backend=ns) for k, v in plan.helper_columns.items())
        )
    # Pass 1: every mask as a boolean column (expressions are translated once), then their sums.
    n_masks = len(plan.masks)
    masks = (
        frame.select([expr.alias(f"m{i}") for i, (_, _, _, expr) in enumerate(plan.masks)])
        if n_masks
        else None
    )
    aggs = [e.alias(f"n{i}") for i, (_, _, e) in enumerate(plan.null_counts)]
    aggs += [e.alias(f"d{i}") for i, (_, _, e) in enumerate(plan.dup_counts)]
    mask_counts = tuple(masks.select(nw.all().sum()).row(0)) if masks is not None and n else (0,) * n_masks
    dataset_counts = tuple(frame.select(aggs).row(0)) if aggs and n else (0,) * len(aggs)
    counts = mask_counts + dataset_counts
    # Pass 2: rows and values, only for the rules that failed.
    failing = [i for i in range(n_masks) if counts[i]]
    if failing:
        assert masks is not None
        for i in failing:
            column, rule, message, _ = plan.masks[i]
            hit = frame.select(column).with_row_index(ROW).filter(masks[f"m{i}"])
            report.groups.append(
                FailureGroup(column, rule, message, hit[ROW].to_list(), hit[column].to_list())
            )
    for j, (f, check, _) in enumerate(plan.null_counts):
        count = counts[n_masks + j]
        if not check.passes(count, n):
            report.groups.append(
                FailureGroup(
                    f.name,
                    "nullValues",
                    f"'{f.name}' has {count} null value(s) of {n}; rule: {check.describe()}",
                    [None],
                    [count],
                )
            )
    base = n_masks + len(plan.null_counts)
    for j, (f, check, _) in enumerate(plan.dup_counts):
        count = counts[base + j]
        if not check.passes(count, n):
            report.groups.append(
                FailureGroup(
                    f.name,
                    "duplicateValues",
                    f"'{f.name}' has {count} duplicate value(s); rule: {check.describe()}",
                    [None],
                    [count],
                )
            )
    for check in obj.checks:
        if check.metric == "rowCount" and not check.passes(n, n):
            report.groups.append(
                FailureGroup("<rows>", "rowCount", f"{n} row(s); rule: {check.describe()}", [None], [n])
            )
    for f in plan.array_columns:
        report.groups.extend(_array_column(f, frame, schema[f.name]))
    for f in plan.python_columns:
        report.groups.extend(_python_column(f, frame[f.name].to_list()))
    return report


def _is_list(dtype: Any) -> bool:
    return dtype == nw.List or dtype == nw.Array


def _as_list(dtype: Any) -> Any:
    """The List dtype with the same nesting as a List/Array dtype (list operations need List)."""
    if _is_list(dtype):
        return nw.List(_as_list(dtype.inner))
    return dtype


def _array_column(f: Field, frame: Any, dtype: Any) -> list[FailureGroup]:
    """Vectorised checks of a vector/tensor column: shape level by level, then every element."""
    assert f.items is not None
    name = f.name
    groups: list[FailureGroup] = []
    sub = frame.select(nw.col(name).cast(_as_list(dtype))).with_row_index(ROW).filter(~nw.col(name).is_null())
    shape = f.shape
    for level in range(len(shape) if shape else 1):
        length = nw.col(name).list.len()
        if shape is not None:
            bad = sub.filter(length != shape[level])
            if len(bad):
                rows, values = _first_per_row(bad[ROW].to_list(), bad[name].to_list())
                groups.append(
                    FailureGroup(name, "shape", f"'{name}' must have shape {list(shape)}", rows, values)
                )
            sub = sub.filter(length == shape[level])
        sub = sub.filter(length > 0).explode(name)  # exploding an empty list would yield a null element
    element = dataclasses.replace(f.items, name=name, required=True, unique=False, checks=())
    plan = _Plan()
    _plan_field(element, sub, sub.schema, sub.to_native(), plan)
    failing: list[tuple[str, str, Any]] = [(rule, msg, expr) for _, rule, msg, expr in plan.masks]
    if failing and len(sub):
        counts = sub.select([expr.sum().alias(f"m{i}") for i, (_, _, expr) in enumerate(failing)]).row(0)
        for (rule, message, expr), count in zip(failing, counts, strict=True):
            if count:
                hit = sub.filter(expr)
                rows, values = _first_per_row(hit[ROW].to_list(), hit[name].to_list())
                if rule == "required":
                    rule, message = "type", f"elements of '{name}' must not be null"
                groups.append(FailureGroup(name, rule, f"{message} (an element of '{name}')", rows, values))
    for g in _python_column(element, sub[name].to_list()) if plan.python_columns else []:
        positions = sub[ROW].to_list()
        rows, values = _first_per_row([positions[r] for r in g.rows], g.values)
        groups.append(FailureGroup(name, g.rule, g.message, rows, values))
    return groups


def _first_per_row(rows: list[int], values: list[Any]) -> tuple[list[int], list[Any]]:
    seen: dict[int, Any] = {}
    for r, v in zip(rows, values, strict=True):
        seen.setdefault(r, v)
    return list(seen), list(seen.values())


def _python_column(f: Field, values: list[Any]) -> list[FailureGroup]:
    """Per-value checks for columns of Python objects (pandas ``object``, lists, decimals)."""
    check = compile_check(f)
    groups: dict[str, FailureGroup] = {}
    seen: dict[Any, int] = {}
    for row, v in enumerate(values):
        try:
            out = check(v)
        except Invalid as bad:
            g = groups.get(bad.rule)
            if g is None:
                g = groups[bad.rule] = FailureGroup(f.name, bad.rule, bad.message, [], [])
            g.rows.append(row)
            g.values.append(v)
            continue
        if f.unique and out is not None:
            key = repr(out)
            seen[key] = seen.get(key, 0) + 1
    result = list(groups.values())
    nulls = sum(1 for v in values if v is None or (isinstance(v, float) and v != v))
    if f.unique and any(c > 1 for c in seen.values()):
        dup_rows = []
        dup_vals = []
        for row, v in enumerate(values):
            try:
                out = check(v)
            except Invalid:
                continue
            if out is not None and seen.get(repr(out), 0) > 1:
                dup_rows.append(row)
                dup_vals.append(v)
        result.append(FailureGroup(f.name, "unique", f"'{f.name}' must be unique", dup_rows, dup_vals))
    for check_ in f.checks:
        if check_.metric == "nullValues" and not check_.passes(nulls, len(values)):
            result.append(
                FailureGroup(
                    f.name,
                    "nullValues",
                    f"'{f.name}' has {nulls} null value(s); rule: {check_.describe()}",
                    [None],
                    [nulls],
                )
            )
        elif check_.metric == "duplicateValues":
            dups = sum(c - 1 for c in seen.values())
            if not check_.passes(dups, len(values)):
                result.append(
                    FailureGroup(
                        f.name, "duplicateValues", f"'{f.name}' has {dups} duplicate value(s)", [None], [dups]
                    )
                )
    return result
