"""Window rows as a gateway writes them, for the traffic simulators (dashboard seed, rollout tests).

One builder per table, so a column the gateway starts writing is added here once and every simulator writes
it (a simulator missing ``model_latency_*`` once made every seeded shadow step abort).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def serving_row(
    model: str,
    version: str,
    variant: str,
    start: datetime,
    end: datetime,
    *,
    requests: int,
    errors: int,
    latency_s: float,
    histogram: dict[str, Any],
    model_histogram: dict[str, Any],
) -> dict[str, Any]:
    """One ``serving_windows`` row: ``requests`` answered in ``latency_s`` each, end to end and model time."""
    return dict(
        gateway="g1",
        model=model,
        version=version,
        variant=variant,
        window_start=start,
        window_end=end,
        requests=requests,
        errors=errors,
        fallbacks=0,
        shed=0,
        latency_sum_s=requests * latency_s,
        latency_histogram=histogram,
        # model time per record: what a shadow step compares with the shadow's per-record time
        model_latency_sum_s=requests * latency_s,
        model_latency_histogram=model_histogram,
    )


def shadow_row(
    model: str,
    primary: str,
    shadow: str,
    start: datetime,
    end: datetime,
    *,
    compared: int,
    agreed: int,
    errors: int,
    histogram: dict[str, Any],
) -> dict[str, Any]:
    """One ``shadow_windows`` row of the ``exact`` comparator."""
    return dict(
        gateway="g1",
        model=model,
        primary_version=primary,
        shadow_version=shadow,
        comparator="exact",
        window_start=start,
        window_end=end,
        compared=compared,
        agreed=agreed,
        score_sum=float(agreed),
        shadow_errors=errors,
        dropped=0,
        shadow_latency_sum_s=0.0,
        shadow_latency_histogram=histogram,
    )
