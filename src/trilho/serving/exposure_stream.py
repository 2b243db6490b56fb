"""The exposure log scaled out: gateways send their exposures to one Redis stream, a consumer writes the same
Parquet layout as the embedded log (``trilho.serving.exposures``).

A gateway's writer thread sends each flush (about a second of traffic) as *one* stream entry: the rows as an
Arrow IPC batch, so the gateway's cost per exposure stays that of building Arrow columns. A stream that holds
``maxlen`` unconsumed entries refuses more (the writer counts those exposures as dropped) instead of trimming
what the consumer has not read. The consumer (``trilho exposures consume``) reads through a consumer group,
writes closed parts (temporary name, rename), then acknowledges and deletes the entries: at-least-once — an
entry written but not acknowledged before a crash is written again, which duplicates rows but never changes a
unit's first exposure (what ``trilho measure rollout`` reads).
"""

from __future__ import annotations

import threading
from pathlib import Path

from trilho.errors import ServingError
from trilho.serving.exposures import ExposureLog, columns

FIELDS = ("unit", "model", "version", "variant", "generation", "ts_ns", "request_id")


def encode(rows: list[tuple]) -> bytes:
    """Rows as ``ExposureLog.record`` keeps them → one Arrow IPC stream."""
    import pyarrow as pa

    cols = columns(rows)
    types = [pa.string()] * 4 + [pa.int64(), pa.int64(), pa.string()]
    batch = pa.record_batch([pa.array(c, t) for c, t in zip(cols, types, strict=True)], names=list(FIELDS))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def decode(data: bytes) -> list[tuple]:
    """The inverse of :func:`encode`."""
    import pyarrow as pa

    table = pa.ipc.open_stream(data).read_all()
    return list(zip(*(table.column(f).to_pylist() for f in FIELDS), strict=True))


def _client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


class RedisStreamSink:
    """The gateway side: each flush of the exposure log becomes one entry of a bounded Redis stream."""

    def __init__(self, url: str, *, stream: str = "trilho:exposures", maxlen: int = 100_000) -> None:
        self.url, self.stream, self.maxlen = url, stream, maxlen
        self._r = _client(url)

    def __call__(self, rows: list[tuple]) -> None:
        """Send ``rows``; raises when the stream is full or Redis is unreachable (the log counts the drop)."""
        if self._r.xlen(self.stream) >= self.maxlen:
            raise ServingError(
                f"exposure stream {self.stream} holds {self.maxlen} unconsumed entries",
                fix="start `trilho exposures consume` (or more consumers) for this stream",
                field="exposures_stream",
                value=self.stream,
            )
        self._r.xadd(self.stream, {"rows": encode(rows)})


class StreamConsumer:
    """Read the exposure stream through a consumer group and write closed Parquet parts under ``root``."""

    def __init__(
        self,
        url: str,
        root: str | Path,
        *,
        stream: str = "trilho:exposures",
        group: str = "parquet",
        consumer: str = "consumer-1",
    ) -> None:
        import redis

        self.stream, self.group, self.consumer = stream, group, consumer
        self._r = _client(url)
        self.log = ExposureLog(root, writer_id=f"stream-{consumer}")
        try:
            self._r.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def drain(self, *, count: int = 100, block_ms: int | None = None) -> int:
        """Write the entries this consumer has not acknowledged yet (its own pending first, after a crash),
        then up to ``count`` new ones; returns the rows written."""
        written = 0
        for start in ("0", ">"):
            resp = self._r.xreadgroup(
                self.group,
                self.consumer,
                {self.stream: start},
                count=count,
                block=block_ms if start == ">" else None,
            )
            ids, rows = [], []
            for _stream, entries in resp or []:
                for entry_id, fields in entries:
                    ids.append(entry_id)
                    raw = fields.get(b"rows") or fields.get("rows")
                    if raw:
                        rows.extend(decode(raw))
            if rows:
                self.log.write_rows(rows)
                written += len(rows)
            if ids:
                self._r.xack(self.stream, self.group, *ids)
                self._r.xdel(self.stream, *ids)
        return written

    def run(self, stop: threading.Event, *, block_ms: int = 1000) -> int:
        """Drain until ``stop`` is set; returns the rows written."""
        total = 0
        while not stop.is_set():
            total += self.drain(block_ms=block_ms)
        return total
