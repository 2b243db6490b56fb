"""Sufficient statistics in SQL: one GROUP BY pass per experiment, the same query on every engine.

:func:`moments_sql` writes the query; a :class:`Source` runs it where the data lives — DuckDB over
Parquet/CSV files (the embedded default), any SQLAlchemy connection (PostgreSQL, a warehouse) or Spark
(:mod:`trilho.measure.spark`). Only the per-arm aggregates come back; unit-level rows never reach Python.
The few spellings that differ between engines (identifier quotes, type names) live in one :class:`Dialect`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from trilho.errors import MeasurementError
from trilho.measure.moments import Moments


@dataclass(frozen=True)
class Dialect:
    """What differs between SQL engines in the queries below; everything else is one shared text."""

    name: str
    quote_char: str = '"'
    double: str = "DOUBLE PRECISION"
    text: str = "VARCHAR"
    time_fn: str | None = None  # an engine without a time type compares times through this function
    time_type: str = "TIMESTAMPTZ"  # the instant type times are cast to otherwise

    def quote(self, name: str) -> str:
        """``name`` as a quoted identifier, the quote character doubled inside it."""
        q = self.quote_char
        return q + name.replace(q, q + q) + q

    def as_time(self, expr: str) -> str:
        """``expr`` (a time column or an ISO-8601 literal) as a comparable instant."""
        return f"{self.time_fn}({expr})" if self.time_fn else f"CAST({expr} AS {self.time_type})"


ANSI = Dialect("ansi")  # DuckDB, PostgreSQL and ANSI warehouses
SPARK = Dialect("spark", quote_char="`", double="DOUBLE", text="STRING", time_type="TIMESTAMP")  # UTC session
SQLITE = Dialect("sqlite", double="REAL", text="TEXT", time_fn="julianday")  # times as ISO-8601 text


def moments_sql(source: str, variant: str | None, columns: Sequence[str], dialect: Dialect = ANSI) -> str:
    """The query returning, per variant: n, non-null counts, Σc and Σc·c' for every pair of ``columns``.

    ``variant=None`` pools every row into one group (for designs from historical data).
    """
    q = dialect.quote
    v = f"CAST({q(variant)} AS {dialect.text})" if variant else "'all'"
    sel = [f"{v} AS variant", "COUNT(*) AS n"]
    cast = [f"CAST({q(c)} AS {dialect.double})" for c in columns]
    for i, c in enumerate(columns):
        sel.append(f"COUNT({q(c)}) AS k{i}")
        sel.append(f"SUM({cast[i]}) AS s{i}")
    for i in range(len(columns)):
        for j in range(i, len(columns)):
            sel.append(f"SUM({cast[i]} * {cast[j]}) AS p{i}_{j}")
    group = f" GROUP BY {v} ORDER BY 1" if variant else ""
    return f"SELECT {', '.join(sel)} FROM {source}{group}"


def late_covariate_sql(source: str, time_column: str, exposure: str, dialect: Dialect = ANSI) -> str:
    """Count units whose covariate time is after their exposure (``exposure``: quoted column or literal)."""
    return (
        f"SELECT COUNT(*) FROM {source} WHERE CAST({dialect.quote(time_column)} AS TIMESTAMP) > "
        f"CAST({exposure} AS TIMESTAMP)"
    )


class Source(Protocol):
    """Where experiment data lives: something that can list its columns and run an aggregate query."""

    name: str
    dialect: Dialect

    def columns(self) -> list[str]: ...

    def relation(self) -> str: ...

    def query(self, sql: str) -> list[tuple[Any, ...]]: ...


@dataclass
class DuckDBSource:
    """Parquet or CSV file(s) (a path or a glob) read by an embedded DuckDB."""

    path: str | Path
    threads: int | None = None
    memory_limit: str | None = None
    dialect = ANSI

    def __post_init__(self) -> None:
        import duckdb

        self.name = Path(str(self.path)).name
        p = str(self.path)
        if "*" not in p and not Path(p).exists():
            raise MeasurementError(
                f"data file {p} does not exist", fix="check the path", field="data", value=p
            )
        self._con = duckdb.connect()
        # a library never draws on stdout: DuckDB's progress bar shared it with callers' own output
        self._con.execute("SET enable_progress_bar = false")
        if self.threads:
            self._con.execute(f"SET threads = {int(self.threads)}")
        if self.memory_limit:
            self._con.execute(f"SET memory_limit = '{self.memory_limit}'")

    def relation(self) -> str:
        """The FROM clause reading the file(s)."""
        p = str(self.path).replace("'", "''")
        low = p.lower()
        if low.endswith((".parquet", ".pq")) or Path(p).is_dir():
            target = f"{p}/**/*.parquet" if Path(p).is_dir() else p
            return f"read_parquet('{target}')"
        return f"read_csv_auto('{p}')"

    def columns(self) -> list[str]:
        """Column names, from the schema only."""
        return [r[0] for r in self._con.execute(f"DESCRIBE SELECT * FROM {self.relation()}").fetchall()]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run ``sql`` and return its (few) rows."""
        return self._con.execute(sql).fetchall()

    def close(self) -> None:
        """Close the DuckDB connection."""
        self._con.close()


@dataclass
class SQLAlchemySource:
    """A table reachable through a SQLAlchemy engine (PostgreSQL or any warehouse with a dialect)."""

    engine: Any
    table: str
    schema: str | None = None
    dialect = ANSI

    def __post_init__(self) -> None:
        self.name = self.table
        if getattr(self.engine, "dialect", None) is not None and self.engine.dialect.name == "sqlite":
            self.dialect = SQLITE

    def relation(self) -> str:
        """The FROM clause naming the table."""
        q = self.dialect.quote
        return f"{q(self.schema)}.{q(self.table)}" if self.schema else q(self.table)

    def columns(self) -> list[str]:
        """Column names, from the database catalogue."""
        from sqlalchemy import inspect

        cols = inspect(self.engine).get_columns(self.table, schema=self.schema)
        if not cols:
            raise MeasurementError(f"table {self.relation()} does not exist or has no columns", field="data")
        return [c["name"] for c in cols]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run ``sql`` and return its (few) rows."""
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql)).fetchall()]


def require_columns(source: Source, needed: Sequence[str], *, flag: str = "metric") -> None:
    """Raise a MeasurementError naming the first missing column and listing what exists."""
    have = source.columns()
    for col in needed:
        if col not in have:
            raise MeasurementError(
                f"column '{col}' is missing from {source.name}",
                fix=f"pass --{flag} with one of: {', '.join(have)}",
                field=flag,
                value=col,
            )


def _row_moments(row: Sequence[Any], cols: Sequence[str], variant: str) -> Moments:
    name, n = row[0], int(row[1])
    if name is None:
        raise MeasurementError(
            f"{n} row(s) have no value in variant column '{variant}'",
            fix="drop unassigned rows or fill the variant",
            field="variant",
            value=variant,
        )
    sums, cross = {}, {}
    k = len(cols)
    for i, c in enumerate(cols):
        nn, s = int(row[2 + 2 * i]), row[3 + 2 * i]
        if nn != n:
            raise MeasurementError(
                f"column '{c}' has {n - nn} missing value(s) in variant {name}",
                fix=f"fill or filter missing '{c}' values before the analysis",
                field="column",
                value=c,
            )
        if s is None or not math.isfinite(float(s)):
            raise MeasurementError(
                f"column '{c}' contains NaN or infinite values in variant {name}",
                fix=f"clean '{c}' (NaN/inf) before the analysis",
                field="column",
                value=c,
            )
        sums[c] = float(s)
    pos = 2 + 2 * k
    for i in range(k):
        for j in range(i, k):
            cross[(cols[i], cols[j])] = float(row[pos] or 0.0)
            pos += 1
    return Moments.from_sums(cols, n, sums, cross)


def read_moments(source: Source, variant: str, columns: Sequence[str]) -> dict[str, Moments]:
    """Per-variant :class:`Moments` over ``columns``; refuses NULLs and NaNs, naming the column."""
    cols = list(dict.fromkeys(columns))
    rows = source.query(moments_sql(source.relation(), variant, cols, source.dialect))
    return {str(row[0]): _row_moments(row, cols, variant) for row in rows}


def read_pooled_moments(source: Source, columns: Sequence[str]) -> Moments:
    """:class:`Moments` over every row (no variant split), e.g. historical data for a design."""
    cols = list(dict.fromkeys(columns))
    rows = source.query(moments_sql(source.relation(), None, cols, source.dialect))
    if not rows or int(rows[0][1]) == 0:
        raise MeasurementError(f"{source.name} has no rows", field="data")
    return _row_moments(rows[0], cols, "-")
