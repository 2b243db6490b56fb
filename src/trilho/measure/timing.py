"""Covariate timing: the rule that keeps post-exposure covariates out of CUPED/CUPAC.

A covariate affected by the treatment can bias the estimate or flip its sign (Deng et al. 2013), so every
covariate must prove it was recorded before exposure, in one of three explicit ways:

1. ``recorded_until`` — a timestamp declared for the whole column
   (``--covariate-time orders_pre=2024-03-01``):
   the covariate window ended then; it must be at or before the experiment start (``--start``).
2. ``time_column`` — a per-unit timestamp column saying when each unit's covariate was recorded
   (``--covariate-time orders_pre=@pre_ts``); compared in SQL with the per-unit exposure column
   (``--exposure-col``) or, failing that, with ``--start``. Any unit recorded after exposure is refused.
3. The naming contract — a column named ``*_pre``, ``pre_*``, ``*_pre_period`` or ``*_covariate`` is
   declared pre-exposure by whoever produced the table (tea-tasting's convention). The report records that
   the timing rests on the contract, not on timestamps.

Anything else is refused with a :class:`~trilho.errors.MeasurementError` naming the column and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from trilho.errors import MeasurementError

PRE_PERIOD_NAME = re.compile(r"(^pre_.+)|(.+_pre$)|(.+_pre_period$)|(.+_covariate$)")


@dataclass(frozen=True)
class CovariateTiming:
    """When a covariate was recorded: a declared window end or a per-unit timestamp column."""

    recorded_until: datetime | None = None
    time_column: str | None = None

    @property
    def basis(self) -> Literal["timestamp", "column"]:
        """Which kind of evidence this timing is."""
        return "column" if self.time_column else "timestamp"


@dataclass(frozen=True)
class TimingCheck:
    """The outcome of the timing rule for one covariate column (recorded in reports)."""

    column: str
    basis: Literal["timestamp", "column", "naming-contract"]
    detail: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"column": self.column, "basis": self.basis, "detail": self.detail}


def parse_time(value: str | datetime, *, field: str = "time") -> datetime:
    """An ISO date or timestamp as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        dt = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise MeasurementError(
            f"{field} {value!r} is not an ISO date or timestamp",
            fix="use e.g. 2024-03-01 or 2024-03-01T00:00:00Z",
            field=field,
            value=str(value),
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def parse_covariate_time(spec: str) -> tuple[str, CovariateTiming]:
    """Parse ``COL=2024-03-01`` (window end) or ``COL=@ts_column`` (per-unit timestamp column)."""
    if "=" not in spec:
        raise MeasurementError(
            f"--covariate-time {spec!r} is not COL=TIMESTAMP or COL=@TIME_COLUMN",
            fix="e.g. --covariate-time orders_pre=2024-03-01",
            field="covariate_time",
            value=spec,
        )
    col, value = (p.strip() for p in spec.split("=", 1))
    if value.startswith("@"):
        return col, CovariateTiming(time_column=value[1:])
    return col, CovariateTiming(recorded_until=parse_time(value, field="covariate_time"))


def check_timing(
    column: str, timing: CovariateTiming | None, *, start: datetime | None, exposure_column: str | None = None
) -> TimingCheck:
    """Apply the timing rule to one covariate column; raise if it is (or may be) recorded after exposure.

    Per-unit time columns are only checked for shape here; the row-level comparison runs in SQL
    (see :func:`trilho.measure.sql.count_late_covariates`).
    """
    if timing is not None and timing.recorded_until is not None:
        if start is None:
            raise MeasurementError(
                f"covariate '{column}' declares a recording time but the experiment start is unknown",
                fix="pass the exposure start (--start) so the covariate window can be checked",
                field="start",
                value=column,
            )
        if timing.recorded_until > start:
            raise MeasurementError(
                f"covariate '{column}' was recorded until {timing.recorded_until.isoformat()}, "
                "after exposure "
                f"started at {start.isoformat()}; a post-exposure covariate can bias or flip the result",
                fix="use a covariate from before the experiment (e.g. the metric over the pre-period)",
                field="covariate",
                value=column,
            )
        return TimingCheck(column, "timestamp", f"recorded until {timing.recorded_until.isoformat()}")
    if timing is not None and timing.time_column:
        if start is None and exposure_column is None:
            raise MeasurementError(
                f"covariate '{column}' has a time column but there is no exposure time to compare it with",
                fix="pass --exposure-col (per-unit first exposure) or --start",
                field="exposure_col",
                value=column,
            )
        against = exposure_column or (start.isoformat() if start else "")
        return TimingCheck(column, "column", f"'{timing.time_column}' ≤ {against} for every unit")
    if PRE_PERIOD_NAME.match(column):
        return TimingCheck(
            column, "naming-contract", "name follows the pre-period contract (*_pre, *_covariate)"
        )
    raise MeasurementError(
        f"covariate '{column}' has no recording time, so it may have been recorded after exposure",
        fix=(
            f"declare it: --covariate-time {column}=<timestamp before --start> or "
            f"--covariate-time {column}=@<per-unit time column>, or name the column {column}_pre"
        ),
        field="covariate",
        value=column,
    )
