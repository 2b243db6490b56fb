"""The controller lease: one row per lease name; only the holder of an unexpired lease acts.

Acquiring is one conditional UPDATE (``holder = me OR expired``), atomic on SQLite and PostgreSQL alike,
so two controllers on one database never both believe they hold it. State changes are idempotent besides,
so even a holder that lost its lease mid-tick cannot double-step a rollout."""

from __future__ import annotations

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from trilho.clock import Clock, SystemClock
from trilho.store.tables.rollout import rollout_leases


class Lease:
    """A renewable, expiring lease named ``name`` held by ``holder``."""

    def __init__(
        self, store, holder: str, *, name: str = "controller", ttl: float = 15.0, clock: Clock | None = None
    ) -> None:
        self.store, self.holder, self.name, self.ttl = store, holder, name, ttl
        self.clock = clock or SystemClock()

    def acquire(self) -> bool:
        """Take or renew the lease; True while this holder has it."""
        now = self.clock.now().timestamp()
        t = rollout_leases
        try:
            with self.store.transaction() as conn:
                res = conn.execute(
                    update(t)
                    .where(t.c.name == self.name, or_(t.c.holder == self.holder, t.c.expires_at < now))
                    .values(holder=self.holder, expires_at=now + self.ttl)
                )
                if res.rowcount:
                    return True
                exists = conn.execute(select(t.c.holder).where(t.c.name == self.name)).first()
                if exists is not None:
                    return False
                conn.execute(insert(t).values(name=self.name, holder=self.holder, expires_at=now + self.ttl))
                return True
        except IntegrityError:  # another controller inserted the row first
            return False

    def release(self) -> None:
        """Give the lease up (expire it now) if this holder has it."""
        t = rollout_leases
        with self.store.transaction() as conn:
            conn.execute(
                update(t).where(t.c.name == self.name, t.c.holder == self.holder).values(expires_at=0.0)
            )

    def holder_now(self) -> str | None:
        """Who holds the unexpired lease, if anyone."""
        now = self.clock.now().timestamp()
        with self.store.connect() as conn:
            row = (
                conn.execute(select(rollout_leases).where(rollout_leases.c.name == self.name))
                .mappings()
                .first()
            )
        return row["holder"] if row is not None and row["expires_at"] >= now else None
