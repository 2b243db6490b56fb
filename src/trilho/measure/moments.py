"""Sufficient statistics: per-arm counts, sums and cross-products, and the moments derived from them.

Every A/B estimate in trilho is a function of these sums, so the heavy lifting (one pass over the rows)
happens in SQL and only a handful of numbers per arm ever reach Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from trilho.errors import MeasurementError


@dataclass(frozen=True)
class Moments:
    """Count, column sums and the matrix of cross-product sums for one arm (or a pool of arms)."""

    columns: tuple[str, ...]
    n: float
    sums: np.ndarray  # shape (k,)
    cross: np.ndarray  # shape (k, k), symmetric: sum of x_i * x_j

    @classmethod
    def from_sums(
        cls,
        columns: Sequence[str],
        n: float,
        sums: Mapping[str, float],
        cross: Mapping[tuple[str, str], float],
    ) -> Moments:
        """Build moments from named sums; ``cross`` needs each unordered pair once, in either order."""
        cols = tuple(columns)
        k = len(cols)
        s = np.array([float(sums[c]) for c in cols])
        m = np.empty((k, k))
        for i, a in enumerate(cols):
            for j in range(i, k):
                b = cols[j]
                v = cross[(a, b)] if (a, b) in cross else cross[(b, a)]
                m[i, j] = m[j, i] = float(v)
        return cls(cols, float(n), s, m)

    @classmethod
    def from_array(cls, columns: Sequence[str], data: np.ndarray) -> Moments:
        """Moments of an (n, k) array of unit-level values (for tests and small in-memory data)."""
        x = np.asarray(data, dtype=float).reshape(len(data), len(columns))
        return cls(tuple(columns), float(len(x)), x.sum(axis=0), x.T @ x)

    def __add__(self, other: Moments) -> Moments:
        if self.columns != other.columns:
            raise ValueError("cannot add moments over different columns")
        return Moments(self.columns, self.n + other.n, self.sums + other.sums, self.cross + other.cross)

    def index(self, column: str) -> int:
        """Position of ``column`` in the moment vectors."""
        return self.columns.index(column)

    @property
    def mean(self) -> np.ndarray:
        """Per-column means."""
        if self.n <= 0:
            raise MeasurementError("an arm has no units", fix="check the variant column and the filters")
        return self.sums / self.n

    @property
    def cov(self) -> np.ndarray:
        """Unit-level sample covariance matrix (ddof = 1)."""
        if self.n < 2:
            raise MeasurementError(
                f"an arm has {int(self.n)} unit(s); a variance needs at least 2", fix="collect more data"
            )
        mu = self.mean
        c = (self.cross - self.n * np.outer(mu, mu)) / (self.n - 1)
        return (c + c.T) / 2
