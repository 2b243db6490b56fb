"""Geo panels: a balanced unit × time matrix of outcomes (plus optional predictor columns), validated.

Geo panels are small (tens to hundreds of units × days), so they are held in memory as numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trilho.errors import MeasurementError
from trilho.measure.files import read_table, require, wide_to_long


@dataclass(frozen=True)
class Panel:
    """Outcome ``Y[t, i]`` for times ``times`` and units ``units``, plus extra columns with the same shape."""

    units: tuple[str, ...]
    times: tuple
    Y: np.ndarray
    outcome: str = "Y"
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def unit_index(self, unit: str) -> int:
        """Column of ``unit``; a MeasurementError listing similar units if it is absent."""
        try:
            return self.units.index(unit)
        except ValueError:
            raise MeasurementError(
                f"unit '{unit}' is not in the panel",
                fix=f"use one of: {', '.join(self.units[:12])}{' …' if len(self.units) > 12 else ''}",
                field="unit",
                value=unit,
            ) from None

    def time_index(self, value, *, field_name: str = "start") -> int:
        """Row of the first time ≥ ``value`` (times compare as strings when given as ISO dates)."""
        key = _coerce(value, self.times[0])
        for i, t in enumerate(self.times):
            if t >= key:
                return i
        raise MeasurementError(
            f"{field_name} {value} is after the last time in the panel ({self.times[-1]})",
            fix=f"pass a --{field_name} within {self.times[0]}..{self.times[-1]}",
            field=field_name,
            value=str(value),
        )

    def column(self, name: str) -> np.ndarray:
        """The outcome or an extra column as a (T, N) array."""
        if name == self.outcome:
            return self.Y
        if name not in self.extra:
            raise MeasurementError(f"column '{name}' is not in the panel", field="column", value=name)
        return self.extra[name]

    @classmethod
    def from_frame(
        cls,
        df,
        *,
        unit: str,
        time: str,
        outcome: str,
        extra: Sequence[str] = (),
        source: str = "data",
    ) -> Panel:
        """Pivot a long pandas frame (one row per unit and time) into a validated panel."""
        require(
            df,
            (unit, time, outcome, *extra),
            source=source,
            hint="pass --unit-col/--time-col/--outcome-col naming parsed columns "
            "(or --wide for one column per unit)",
        )
        df = df.copy()
        df[unit] = df[unit].astype(str)
        dup = df.duplicated([unit, time])
        if dup.any():
            r = df[dup].iloc[0]
            raise MeasurementError(
                f"unit '{r[unit]}' has more than one row at {time}={r[time]}",
                fix="aggregate the data to one row per unit and time",
                field="unit",
                value=str(r[unit]),
            )
        wide = df.pivot(index=time, columns=unit, values=outcome).sort_index()
        missing = wide.isna()
        if missing.to_numpy().any():
            col = missing.any().idxmax()
            when = missing[col].idxmax()
            raise MeasurementError(
                f"unit '{col}' has no {outcome} at {time}={when} (missing or NaN)",
                fix=f"fill the gap or drop unit '{col}' (synthetic control needs a balanced panel)",
                field="unit",
                value=str(col),
            )
        units = tuple(str(c) for c in wide.columns)
        extras = {
            c: df.pivot(index=time, columns=unit, values=c)
            .sort_index()
            .reindex(columns=list(units))
            .to_numpy(float)
            for c in extra
        }
        times = tuple(_plain(t) for t in wide.index)
        return cls(units, times, wide.to_numpy(dtype=float), outcome, extras)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        unit: str,
        time: str,
        outcome: str,
        extra: Sequence[str] = (),
        sep: str | None = None,
        wide: bool = False,
    ) -> Panel:
        """Read a CSV (separator ``sep`` or detected) or Parquet panel: long (one row per unit and time) or,
        with ``wide``, one column per unit beside the period column."""
        df = read_table(path, sep=sep)
        name = Path(path).name
        if wide:
            if extra:
                raise MeasurementError(
                    "a wide panel holds one outcome only, so predictors cannot come from it",
                    fix="use a long panel for --predictor",
                    field="wide",
                )
            df = wide_to_long(df, unit=unit, time=time, outcome=outcome, source=name)
        return cls.from_frame(df, unit=unit, time=time, outcome=outcome, extra=extra, source=name)


def _plain(t):
    if hasattr(t, "item"):
        t = t.item()
    if isinstance(t, float) and t.is_integer():
        return int(t)
    return t


def _coerce(value, like):
    if isinstance(like, int | float) and not isinstance(value, int | float):
        try:
            return float(value)
        except ValueError:
            raise MeasurementError(
                f"time {value!r} is not a number like the panel's times", field="start"
            ) from None
    if isinstance(like, str):
        return str(value)
    return value
