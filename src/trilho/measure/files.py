"""Reading the tables people have: CSV with any common separator (detected, or given), Parquet, wide panels.

One reader for every command that takes a panel or a pair file, so a missing column is reported the same way
everywhere: with the separator that was used and the columns that were parsed.
"""

from __future__ import annotations

import csv
from pathlib import Path

from trilho.errors import MeasurementError

SEPARATORS = ",;\t| "
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", " ": "space"}


def detect_separator(sample: str) -> str:
    """The separator of a CSV sample: csv.Sniffer over the common ones, else the one splitting the header
    into the most fields consistently over the first lines (comma when nothing else fits)."""
    lines = [line for line in sample.splitlines() if line.strip()][:20]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=SEPARATORS).delimiter
    except csv.Error:
        pass
    best, best_fields = ",", 1
    for sep in SEPARATORS:
        counts = {len(next(csv.reader([line], delimiter=sep, skipinitialspace=sep == " "))) for line in lines}
        if len(counts) == 1 and (n := counts.pop()) > best_fields:
            best, best_fields = sep, n
    return best


def read_table(path: str | Path, *, sep: str | None = None):
    """A pandas frame from CSV (separator ``sep`` or detected) or Parquet; ``.attrs['sep']`` says which."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise MeasurementError(
            f"data file {p} does not exist", fix="check the path", field="data", value=str(p)
        )
    if p.suffix in (".parquet", ".pq"):
        df = pd.read_parquet(p)
        df.attrs["sep"] = None
        return df
    if sep is None:
        with p.open(encoding="utf-8", errors="replace") as fh:
            sep = detect_separator(fh.read(64_000))
    sep = {"tab": "\t", "\\t": "\t", "space": " "}.get(sep, sep)
    df = pd.read_csv(p, sep=sep, skipinitialspace=sep == " ")
    df.attrs["sep"] = sep
    return df


def parsed(df) -> str:
    """What was read, for error messages: the separator and the columns."""
    sep = df.attrs.get("sep")
    how = "Parquet" if sep is None else f"{SEPARATOR_NAMES.get(sep, repr(sep))}-separated"
    cols = ", ".join(repr(str(c)) for c in list(df.columns)[:15]) + (" …" if len(df.columns) > 15 else "")
    return f"read as {how} with {len(df.columns)} column(s): {cols}"


def require(df, columns, *, source: str, hint: str) -> None:
    """A MeasurementError naming the first missing column, what was parsed and how to fix it."""
    for col in columns:
        if col not in df.columns:
            raise MeasurementError(
                f"column '{col}' is missing from {source} ({parsed(df)})",
                fix=hint + "; pass --sep if the separator was detected wrongly",
                field="column",
                value=col,
            )


def wide_to_long(df, *, unit: str, time: str, outcome: str, source: str):
    """A wide panel (the period in ``time`` or else the first column, one column per unit) as long rows."""
    tcol = time if time in df.columns else df.columns[0]
    units = [c for c in df.columns if c != tcol]
    if not units:
        raise MeasurementError(
            f"wide panel {source} has no unit columns ({parsed(df)})",
            fix="one column for the period and one per unit",
            field="wide",
        )
    long = df.melt(id_vars=[tcol], value_vars=units, var_name=unit, value_name=outcome)
    return long.rename(columns={tcol: time})
