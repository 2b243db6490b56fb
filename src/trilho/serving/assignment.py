"""Sticky assignment: a unit id hashes (xxhash, never Python's salted ``hash``) into one of 10,000 buckets,
and each bucket maps to a route. Canaries occupy the low buckets in table order, stable the rest, so raising a
canary's weight only moves units *into* that canary."""

from __future__ import annotations

from dataclasses import dataclass

import xxhash

from trilho.store.routing import Deployment, Route

BUCKETS = 10_000


def bucket_of(model: str, unit: str) -> int:
    """The unit's bucket for this model (0..9999): stable across processes, machines and releases."""
    return xxhash.xxh3_64_intdigest(f"{model}\x00{unit}".encode()) % BUCKETS


def shadow_selected(model: str, request_id: str, fraction: float) -> bool:
    """Whether this request is mirrored to the shadow versions (independent of the live bucket)."""
    if fraction <= 0.0:
        return False
    if fraction >= 1.0:
        return True
    return (
        xxhash.xxh3_64_intdigest(f"shadow\x00{model}\x00{request_id}".encode()) % BUCKETS < fraction * BUCKETS
    )


@dataclass(frozen=True)
class Assigner:
    """Bucket → route for one deployment, precomputed for the hot path."""

    model: str
    stable: Route
    ranges: tuple[tuple[int, Route], ...]  # (upper bucket bound exclusive, canary route), ascending

    @classmethod
    def for_deployment(cls, deployment: Deployment) -> Assigner:
        """Lay the canaries out from bucket 0 in table order; stable takes the remaining buckets."""
        ranges: list[tuple[int, Route]] = []
        upper = 0
        if deployment.kill == "off":
            for route in deployment.canaries:
                upper = min(BUCKETS, upper + round(route.weight * BUCKETS))
                if route.weight > 0:
                    ranges.append((upper, route))
        return cls(deployment.model, deployment.stable, tuple(ranges))

    @property
    def versions(self) -> frozenset[str]:
        """Every version this assigner can send a request to (stable, and canaries with traffic)."""
        return frozenset({self.stable.version, *(route.version for _, route in self.ranges)})

    def route_for_bucket(self, bucket: int) -> Route:
        """The route serving this bucket."""
        for upper, route in self.ranges:
            if bucket < upper:
                return route
        return self.stable

    def route_for(self, unit: str) -> Route:
        """The route serving this unit id."""
        if not self.ranges:
            return self.stable
        return self.route_for_bucket(bucket_of(self.model, unit))
