"""Bucketed latency histograms: the one quantile and merge rule every screen and check uses.

Convention (Prometheus' ``histogram_quantile``): ``counts[i]`` observations fell in ``(bounds[i-1],
bounds[i]]`` (the first bucket starts at 0); the quantile is interpolated linearly inside its bucket; a
quantile that falls in the +Inf bucket is that bucket's lower edge, the largest finite bound (no upper edge to
interpolate to). Histograms are stored as ``{"bounds": [finite …], "counts": [len(bounds) + 1]}`` (the last
count is the +Inf bucket); ``bounds`` ending in ``inf`` with one count per bound is accepted too. An empty
histogram has no quantile (``None``). The gateway's summaries, the rollout latency check and the dashboard all
call this, so one p99 is one number everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["merge", "quantile"]


def _finite_bounds(bounds: Sequence[float], counts: Sequence[float]) -> list[float]:
    finite = [float(b) for b in bounds if not math.isinf(float(b))]
    if len(counts) not in (len(finite), len(finite) + 1):
        raise ValueError(
            f"a histogram with {len(finite)} finite bounds has {len(finite) + 1} counts (the last is +Inf), "
            f"got {len(counts)}"
        )
    return finite


def quantile(bounds: Sequence[float], counts: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0 ≤ q ≤ 1) of a bucketed histogram, or ``None`` when it holds no observation."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q == {q}, must be in [0, 1]")
    finite = _finite_bounds(bounds, counts)
    total = float(sum(counts))
    if total <= 0:
        return None
    rank, seen, lower = q * total, 0.0, 0.0
    for i, c in enumerate(counts):
        c = float(c)
        if c > 0 and seen + c >= rank:
            if i >= len(finite):  # the +Inf bucket: its lower edge
                return lower
            return lower + (finite[i] - lower) * min(max(rank - seen, 0.0) / c, 1.0)
        seen += c
        if i < len(finite):
            lower = finite[i]
    return lower


def merge(histograms: Iterable[Mapping[str, Sequence[float]] | None]) -> dict[str, list[float]] | None:
    """The sum of histograms that share their bounds; ``None`` when their bounds differ (they cannot be
    summed honestly). Missing (``None``/empty) histograms are skipped; none at all gives empty lists."""
    bounds: list[float] | None = None
    counts: list[float] = []
    for h in histograms:
        if not h:
            continue
        b = [float(x) for x in h.get("bounds") or () if not math.isinf(float(x))]
        c = [float(x) for x in h.get("counts") or ()]
        if len(c) == len(b):  # no +Inf bucket written
            c.append(0.0)
        if bounds is None:
            bounds, counts = b, [0.0] * len(c)
        if b != bounds or len(c) != len(counts):
            return None
        counts = [x + y for x, y in zip(counts, c, strict=True)]
    return {"bounds": bounds or [], "counts": counts}
