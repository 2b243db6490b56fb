"""Metric and covariate specifications: what to estimate, never how or where the data lives.

A metric is a ratio of per-unit means ``mean(numerator) / mean(denominator)``; a plain mean (or a proportion,
the mean of a 0/1 column) has no denominator. A covariate has the same shape, so CUPED and CUPAC work for
ratio metrics too (the covariate of ``orders / sessions`` is ``orders_pre / sessions_pre``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trilho.measure.timing import CovariateTiming

Kind = Literal["mean", "proportion", "ratio"]


@dataclass(frozen=True)
class Covariate:
    """A pre-exposure covariate (CUPED) or prediction (CUPAC), with the timing that makes it admissible."""

    numerator: str
    denominator: str | None = None
    timing: CovariateTiming | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """The data columns this covariate reads."""
        return tuple(c for c in (self.numerator, self.denominator) if c)

    @property
    def label(self) -> str:
        """``num`` or ``num/den``."""
        return self.numerator if self.denominator is None else f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True)
class Metric:
    """One metric: a mean, a proportion or a ratio of means, optionally variance-reduced by a covariate."""

    name: str
    numerator: str
    denominator: str | None = None
    covariate: Covariate | None = None
    kind: Kind = "mean"
    tags: tuple[str, ...] = field(default=())

    @property
    def columns(self) -> tuple[str, ...]:
        """Every data column the metric (and its covariate) reads."""
        cols = [c for c in (self.numerator, self.denominator) if c]
        if self.covariate:
            cols += list(self.covariate.columns)
        return tuple(dict.fromkeys(cols))


def mean(column: str, covariate: str | Covariate | None = None, *, name: str | None = None) -> Metric:
    """The per-unit mean of ``column`` (e.g. orders per user)."""
    return Metric(name or column, column, None, _cov(covariate), "mean")


def proportion(column: str, covariate: str | Covariate | None = None, *, name: str | None = None) -> Metric:
    """The share of units with ``column`` = 1 (a conversion rate); analysed like a mean of a 0/1 column."""
    return Metric(name or column, column, None, _cov(covariate), "proportion")


def ratio(
    numerator: str,
    denominator: str,
    covariate: str | Covariate | None = None,
    *,
    name: str | None = None,
) -> Metric:
    """A ratio of means such as orders per session, analysed with the delta method.

    ``covariate`` may be ``"orders_pre/sessions_pre"`` (a ratio covariate) or a single column.
    """
    return Metric(name or f"{numerator}/{denominator}", numerator, denominator, _cov(covariate), "ratio")


def parse_metric(spec: str, covariate: str | None = None) -> Metric:
    """``"orders"`` → a mean, ``"orders/sessions"`` → a ratio; ``covariate`` is parsed the same way."""
    if "/" in spec:
        num, den = (p.strip() for p in spec.split("/", 1))
        return ratio(num, den, covariate, name=spec)
    return mean(spec.strip(), covariate)


def _cov(value: str | Covariate | None) -> Covariate | None:
    if value is None or isinstance(value, Covariate):
        return value
    if "/" in value:
        num, den = (p.strip() for p in value.split("/", 1))
        return Covariate(num, den)
    return Covariate(value.strip())
