"""Records held as columns, and the contract checked column-wise on them.

``ColumnBatch`` is a batch of records kept as one 1-D numpy array per field (what a binary tensor request
decodes to): a read-only ``Sequence`` of records, so every consumer that iterates records still works, with
``column(name)`` / ``matrix(names)`` for the ones that can take the batch whole (the registry's sklearn, torch
and ONNX flavours, and any python model whose predict function says ``columnar = True``). Records are only
built when something asks for them.

``ColumnValidator`` checks a ``ColumnBatch`` against a schema object with one vectorised pass per field
(numeric type, range, the declared minimum / maximum): it accepts exactly what ``RequestValidator`` accepts
record by record, and it never makes its own errors. A batch it cannot vouch for (a failing value, NaN, a
missing or unknown field, a field kind or rule it does not check: strings, dates, arrays, enums) is answered
with ``None``, and the caller validates the records one by one as before, so bad input gets the same error,
naming the same record, field and rule, whichever way it arrived.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np

from trilho.contracts.model import Field, SchemaObject

__all__ = ["ColumnBatch", "ColumnValidator", "as_records", "join"]


class ColumnBatch(Sequence[dict[str, Any]]):
    """Records as columns: ``{name: 1-D array}``, every array of the same length (read-only)."""

    __slots__ = ("columns", "_n", "_records")

    def __init__(self, columns: Mapping[str, np.ndarray]) -> None:
        self.columns = dict(columns)
        lengths = {len(c) for c in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self._n = lengths.pop() if lengths else 0
        self._records: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> ColumnBatch: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | ColumnBatch:
        if isinstance(i, slice):
            return ColumnBatch({k: c[i] for k, c in self.columns.items()})
        if self._records is not None:
            return self._records[i]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return {k: c[i].item() for k, c in self.columns.items()}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ColumnBatch | list | tuple):
            return self.records() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, like a list

    def __repr__(self) -> str:
        return f"ColumnBatch({self._n} rows: {', '.join(self.columns)})"

    def __reduce__(self) -> tuple[Any, ...]:  # pickled (shadow child) as plain arrays
        return (ColumnBatch, ({k: np.array(c) for k, c in self.columns.items()},))

    def records(self) -> list[dict[str, Any]]:
        """The records, built once (Python values: ``tolist`` per column)."""
        if self._records is None:
            names = list(self.columns)
            cols = [c.tolist() for c in self.columns.values()]
            self._records = [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]
        return self._records

    def column(self, name: str) -> np.ndarray:
        """One field's values (KeyError when the batch has no such column)."""
        return self.columns[name]

    def matrix(self, names: Sequence[str], dtype: Any = None) -> np.ndarray:
        """A ``(rows, len(names))`` array with the columns in ``names`` order."""
        out = np.empty(
            (self._n, len(names)), dtype=dtype or np.result_type(*(self.columns[n] for n in names))
        )
        for j, n in enumerate(names):
            out[:, j] = self.columns[n]
        return out


def as_records(batch: Sequence[Any]) -> list[Any]:
    """``batch`` as a plain list of records (a ``ColumnBatch`` builds its records; a list is kept)."""
    if isinstance(batch, ColumnBatch):
        return batch.records()
    return batch if isinstance(batch, list) else list(batch)


def join(batches: Sequence[Sequence[Any]], *, columns: bool = True) -> Sequence[Any]:
    """Several requests' records as one batch: with ``columns``, column batches with the same fields stay
    columns (concatenated); anything else, or without ``columns``, is one list of records."""
    if len(batches) == 1:
        return batches[0] if columns else as_records(batches[0])
    first = batches[0]
    if (
        columns
        and isinstance(first, ColumnBatch)
        and all(isinstance(b, ColumnBatch) and b.columns.keys() == first.columns.keys() for b in batches)
    ):
        return ColumnBatch({k: np.concatenate([b.columns[k] for b in batches]) for k in first.columns})  # type: ignore[union-attr]
    out: list[Any] = []
    for b in batches:
        out.extend(as_records(b))
    return out


# --- the contract, column-wise ------------------------------------------------------------------------
ColumnCheck = Callable[[np.ndarray], "np.ndarray | None"]  # the normalised column, or None: not vouched for


class ColumnValidator:
    """Checks a ``ColumnBatch`` against a schema object, one vectorised pass per field; ``validate`` returns
    the normalised batch (the declared fields only, floats as float64) or ``None`` when the batch must be
    validated record by record (see the module docstring)."""

    __slots__ = ("object", "_checks", "_forbid", "supported")

    def __init__(self, obj: SchemaObject) -> None:
        self.object = obj
        checks = [(f.name, _column_check(f)) for f in obj.fields]
        self._checks: tuple[tuple[str, ColumnCheck], ...] = tuple((n, c) for n, c in checks if c is not None)
        self._forbid = obj.extra_policy == "forbid"
        #: False when some field can only be checked record by record (every batch then is).
        self.supported = len(self._checks) == len(checks)

    def validate(self, batch: ColumnBatch) -> ColumnBatch | None:
        """The normalised batch when every value passes, else None (validate the records instead)."""
        if not self.supported or not len(batch):
            return None
        columns = batch.columns
        if len(columns) != len(self._checks) and (self._forbid or len(columns) < len(self._checks)):
            return None  # an unknown field (refused) or a missing one (required, or a default to fill)
        out: dict[str, np.ndarray] = {}
        for name, check in self._checks:
            column = columns.get(name)
            if column is None or column.ndim != 1:
                return None
            normal = check(column)
            if normal is None:
                return None
            out[name] = normal
        return ColumnBatch(out)


def _column_check(f: Field) -> ColumnCheck | None:
    """The vectorised check of one field, or None for a field only the record checks can judge."""
    if f.enum is not None:
        return None
    if f.kind == "bool":
        return lambda c: c if c.dtype == np.bool_ else None
    if f.kind not in ("int", "float"):
        return None
    lo_t, hi_t = f.type.lo, f.type.hi
    mn, mx, xmn, xmx = f.minimum, f.maximum, f.exclusive_minimum, f.exclusive_maximum
    integer = f.kind == "int"

    def within(lo: Any, hi: Any) -> bool:
        if not (lo_t <= lo and hi <= hi_t):
            return False
        if mn is not None and (lo <= mn if xmn else lo < mn):
            return False
        return not (mx is not None and (hi >= mx if xmx else hi > mx))

    def check(c: np.ndarray) -> np.ndarray | None:
        kind = c.dtype.kind
        if kind not in "iu" and (integer or kind != "f"):
            return None  # a bool, text or object column: the record checks say what is wrong
        if not len(c):
            return None
        if kind == "f":
            c = c.astype(np.float64, copy=False)  # constraints apply to the float64 value, as per record
            lo, hi = float(c.min()), float(c.max())
            if not (math.isfinite(lo) and math.isfinite(hi)):
                return None  # NaN (missing) or infinite: per record
        else:
            lo, hi = int(c.min()), int(c.max())  # Python ints: exact for every int64 and uint64
            if not integer:
                c = c.astype(np.float64)
                lo, hi = float(lo), float(hi)
        return c if within(lo, hi) else None

    return check
