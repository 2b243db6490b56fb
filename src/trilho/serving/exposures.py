"""The exposure log: which unit the gateway routed to which version, when, under which routing table.

The request path only appends one tuple to a bounded buffer (``record``); when the buffer is full the
exposure is dropped and counted, never waited for. A background thread drains the buffer and, when a part
is big or old enough (rotation), writes it as Parquet under
``<root>/day=YYYY-MM-DD/model=<model>/part-<gateway>-<seq>.parquet`` (Hive layout, so DuckDB and Spark read
the folder in place): first to a hidden temporary name, fsync'd, then renamed — a kill -9 loses at most the
rows not yet written, never a file already closed. ``trilho.measure.exposure`` reads these files.

Rows: unit (the sticky unit id; null for requests without one), version, variant, generation (the routing
table's), ts (UTC, µs) and request_id; day and model are the partition folders.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from urllib.parse import quote

from trilho.obs import counter, get_logger
from trilho.serving.settings import GatewaySettings

log = get_logger("serving")

EXPOSURES_WRITTEN = counter(
    "trilho_serving_exposures_written_total", "Exposures written to closed Parquet parts.", ("model",)
)
EXPOSURES_DROPPED = counter(
    "trilho_serving_exposures_dropped_total",
    "Exposures not logged: the buffer was full (the request was served) or a part could not be written.",
    ("reason",),
)
EXPOSURE_PARTS = counter("trilho_serving_exposure_parts_total", "Parquet parts of the exposure log closed.")

COLUMNS = ("unit", "version", "variant", "generation", "ts", "request_id")
_DAY_NS = 86_400 * 1_000_000_000
COMPRESSION = "zstd"


def _schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("unit", pa.string()),
            ("version", pa.string()),
            ("variant", pa.string()),
            ("generation", pa.int64()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("request_id", pa.string()),
        ]
    )


class ExposureLog:
    """A bounded, non-blocking buffer of exposures flushed to rotated Parquet parts by one daemon thread."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None,
        *,
        sink: Callable[[list[tuple]], None] | None = None,
        writer_id: str = "",
        capacity: int = 100_000,
        flush_interval_s: float = 1.0,
        rotate_rows: int = 100_000,
        rotate_s: float = 60.0,
    ) -> None:
        self.root = Path(root) if root is not None else None
        self._sink = (
            sink  # instead of Parquet parts here: e.g. a Redis stream (trilho.serving.exposure_stream)
        )
        self.writer_id = re.sub(r"[^A-Za-z0-9_.-]", "_", writer_id or f"{os.getpid()}")
        self.capacity = capacity
        self.flush_interval_s = flush_interval_s
        self.rotate_rows = rotate_rows
        self.rotate_s = rotate_s
        self.dropped = 0
        self.written = 0
        self.parts = 0
        self._buf: deque[tuple] = deque()
        self._open: list[tuple] = []  # drained rows not yet in a closed part
        self._opened_at = 0.0
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one writer at a time (the thread, or close())
        if sink is not None:
            self.rotate_s = 0.0  # a sink takes every flush: what a kill -9 loses is one flush interval

    @classmethod
    def from_settings(cls, gs: GatewaySettings) -> ExposureLog | None:
        """The gateway's log as its settings ask: a Redis stream when ``exposures_redis_url`` is set, else
        Parquet parts in ``exposures_dir`` (None when off or with neither)."""
        if not gs.exposures or not (gs.exposures_dir or gs.exposures_redis_url):
            return None
        sink = None
        if gs.exposures_redis_url:
            from trilho.serving.exposure_stream import RedisStreamSink

            sink = RedisStreamSink(gs.exposures_redis_url, stream=gs.exposures_stream)
        return cls(
            gs.exposures_dir,
            sink=sink,
            writer_id=gs.gateway_id,
            capacity=gs.exposures_buffer,
            rotate_s=gs.exposures_rotate_s,
        )

    # --- the request path: one length check and one append -----------------------------------------------
    def record(
        self, unit: str | None, model: str, version: str, variant: str, generation: int, request_id: str
    ) -> None:
        """Log one routed request; drops (and counts) it when the buffer is full — never blocks."""
        buf = self._buf
        if len(buf) >= self.capacity:
            self.dropped += 1
            EXPOSURES_DROPPED.labels("buffer_full").inc()
            return
        buf.append((unit, model, version, variant, generation, time.time_ns(), request_id))

    # --- the background writer ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the flushing thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="trilho-exposures", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and write everything buffered as a last part."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        try:
            self.flush(force=True)
        except Exception as exc:  # counted as dropped; stopping the gateway goes on
            log.warning("exposure log: last part not written", error=f"{type(exc).__name__}: {exc}"[:300])

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            try:
                self.flush()
            except Exception as exc:  # a writer that dies silently would stop the log for good
                log.warning("exposure log flush failed", error=f"{type(exc).__name__}: {exc}"[:300])

    def flush(self, *, force: bool = False) -> int:
        """Drain the buffer; close a part when it is due (rows, age) or ``force``; returns rows written."""
        with self._lock:
            buf, drained = self._buf, []
            for _ in range(len(buf)):
                drained.append(buf.popleft())
            now = time.monotonic()
            if drained and not self._open:
                self._opened_at = now
            self._open.extend(drained)
            due = len(self._open) >= self.rotate_rows or now - self._opened_at >= self.rotate_s
            if not self._open or not (due or force):
                return 0
            rows, self._open = self._open, []
            try:
                (self._sink or self.write_rows)(rows)
            except Exception:
                self.dropped += len(rows)
                EXPOSURES_DROPPED.labels("write_failed").inc(len(rows))
                raise
            self.written += len(rows)
            return len(rows)

    def write_rows(self, rows: list[tuple]) -> None:
        """Write rows as ``record`` keeps them (unit, model, version, variant, generation, ns, request id)
        as closed parts, one per day and model."""
        import pyarrow as pa

        if self.root is None:
            raise ValueError("this exposure log has no folder to write parts to")

        units, models, versions, variants, gens, ts, rids = columns(rows)
        table = pa.table(
            [
                pa.array(units, pa.string()),
                pa.array(versions, pa.string()),
                pa.array(variants, pa.string()),
                pa.array(gens, pa.int64()),
                pa.array(ts, pa.timestamp("ns", tz="UTC")).cast(pa.timestamp("us", tz="UTC"), safe=False),
                pa.array(rids, pa.string()),
            ],
            schema=_schema(),
        )
        for (day, model), part in _partitions(table, models, ts):
            self._write_part(day, model, part)
            EXPOSURES_WRITTEN.labels(model).inc(part.num_rows)

    def _write_part(self, day: str, model: str, table) -> Path:
        import pyarrow.parquet as pq

        folder = self.root / f"day={day}" / f"model={quote(model, safe='')}"
        folder.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"part-{self.writer_id}-{time.time_ns()}-{self._seq:06d}.parquet"
        tmp = folder / f".{name}.tmp"
        pq.write_table(table, tmp, compression=COMPRESSION)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        final = folder / name
        os.replace(tmp, final)  # atomic: readers see no file or the whole file
        with contextlib.suppress(OSError):  # persist the rename itself
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        self.parts += 1
        EXPOSURE_PARTS.inc()
        return final


def columns(rows: list[tuple]) -> list[list]:
    """One list per field of ``record``'s rows (itemgetter over the rows: ``zip(*rows)`` makes an iterator
    per row, and the garbage collector walks them all — 3x the CPU)."""
    return [list(map(itemgetter(i), rows)) for i in range(7)]


def _partitions(table, models: list[str], ts: list[int]):
    """(day, model) → the rows of ``table`` in that partition (the usual case, one day and one model, copies
    nothing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    first_day, last_day = min(ts) // _DAY_NS, max(ts) // _DAY_NS
    names = sorted(set(models))
    model_col = pa.array(models, pa.string()) if len(names) > 1 else None
    for day in range(first_day, last_day + 1):
        by_day = table
        in_day = None
        if first_day != last_day:
            days = pc.divide(pa.array(ts, pa.int64()), _DAY_NS)
            in_day = pc.equal(days, day)
            by_day = table.filter(in_day)
        label = time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
        for model in names:
            if model_col is None:
                part = by_day
            else:
                mask = pc.equal(model_col, model)
                part = table.filter(pc.and_(mask, in_day) if in_day is not None else mask)
            if part.num_rows:
                yield (label, model), part


def exposures_root(home: str | os.PathLike[str]) -> Path:
    """Where a home keeps its exposure log."""
    return Path(home) / "exposures"
