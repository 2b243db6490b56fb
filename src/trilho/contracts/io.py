"""Read data files (CSV, Parquet, JSON Lines) into a dataframe for validation or inference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trilho.errors import InputError

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def data_format(path: str | Path) -> str:
    """``csv``, ``parquet`` or ``jsonl`` from the file suffix (``InputError`` otherwise)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"unsupported data file {path}: unknown suffix {suffix!r}",
            fix="use .csv, .tsv, .parquet or .jsonl",
            field="data",
            value=str(path),
        )
    return FORMATS[suffix]


def read_data(path: str | Path, *, string_columns: tuple[str, ...] = (), parse_dates: bool = False) -> Any:
    """Read ``path`` into a polars DataFrame (pandas, with object columns, for JSONL polars cannot type).

    ``string_columns`` are read as text from CSV (so ``00123`` stays a string); ``parse_dates`` lets CSV
    columns that look like dates become dates (used by inference).
    """
    import polars as pl

    p = Path(path)
    fmt = data_format(p)
    if not p.is_file():
        raise InputError(f"data file not found: {p}", fix="check the path", field="data", value=str(p))
    try:
        if fmt == "csv":
            sep = "\t" if p.suffix.lower() == ".tsv" else ","
            header = pl.read_csv(p, n_rows=0, separator=sep).columns
            overrides = {c: pl.String for c in string_columns if c in header}
            return pl.read_csv(
                p,
                separator=sep,
                schema_overrides=overrides,
                try_parse_dates=parse_dates,
                infer_schema_length=None,
            )
        if fmt == "parquet":
            return pl.read_parquet(p)
        return _read_jsonl(p)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"cannot read {p} as {fmt}: {str(exc).splitlines()[0] if str(exc) else exc!r}",
            fix=f"check that the file is valid {fmt}",
            field="data",
            value=str(p),
        ) from None


def _read_jsonl(p: Path) -> Any:
    """JSON Lines into polars; a column mixing types (which polars would silently turn into strings) keeps
    each value as a Python object instead (pandas object columns), so validation sees the real values."""
    import pandas as pd
    import polars as pl

    records = []
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{p}:{lineno}: invalid JSON: {exc.msg}",
                    fix="fix the line shown",
                    field="data",
                    value=str(p),
                    line=lineno,
                ) from None
            if not isinstance(rec, dict):
                raise InputError(
                    f"{p}:{lineno}: each line must be a JSON object", field="data", value=str(p), line=lineno
                )
            records.append(rec)
    names: dict[str, None] = {}
    for rec in records:
        names.update(dict.fromkeys(rec))
    typed: dict[str, Any] = {}
    mixed: dict[str, list[Any]] = {}
    for name in names:
        values = [rec.get(name) for rec in records]
        series = _typed_series(name, values)
        if series is None:
            mixed[name] = values
        else:
            typed[name] = series
    if not mixed:
        return pl.DataFrame(list(typed.values()))
    return pd.DataFrame(
        {
            name: typed[name].to_pandas() if name in typed else pd.Series(mixed[name], dtype=object)
            for name in names
        }
    )


def _typed_series(name: str, values: list[Any]) -> Any:
    """A strictly typed polars Series, or ``None`` when the values mix types (ints with floats become floats
    when every int is exactly representable)."""
    import polars as pl

    try:
        return pl.Series(name, values, strict=True)
    except Exception:
        pass
    numbers = [v for v in values if v is not None]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers) and all(
        abs(v) <= 2**53 for v in numbers if isinstance(v, int)
    ):
        return pl.Series(name, values, dtype=pl.Float64)
    return None
