"""Spark as a :class:`~trilho.measure.sql.Source`: the same sufficient-statistics SQL, run by Spark SQL.

The query text comes from :mod:`trilho.measure.sql` with the :data:`~trilho.measure.sql.SPARK` dialect, so
DuckDB, PostgreSQL and Spark differ only in identifier quotes and type names. Pass your own ``SparkSession``
(a cluster) or let :func:`local_session` start a small ``local[1]`` one on first use (needs ``pyspark`` and a
Java 17+ runtime). Only the per-arm aggregates are collected to the driver.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trilho.errors import MeasurementError
from trilho.measure.sql import SPARK

_LOCK = threading.Lock()
_SESSION: Any = None

# Small-data settings: one core, one shuffle partition, no UI, a JVM tuned for start-up over peak speed.
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


def local_session(app_name: str = "trilho-measure") -> Any:
    """The process-wide ``local[1]`` SparkSession, started on the first call (several seconds)."""
    global _SESSION
    with _LOCK:
        if _SESSION is None:
            try:
                from pyspark.sql import SparkSession
            except ImportError:
                raise MeasurementError(
                    "the Spark engine needs pyspark", fix="pip install pyspark (and a Java 17+ runtime)"
                ) from None
            if shutil.which("java") is None and not _java_home():
                raise MeasurementError(
                    "the Spark engine needs a Java runtime and none was found",
                    fix="install Java 17+ (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
                )
            builder = SparkSession.builder.master("local[1]").appName(app_name)
            for k, v in LOCAL_CONF.items():
                builder = builder.config(k, v)
            _SESSION = builder.getOrCreate()
            _SESSION.sparkContext.setLogLevel("ERROR")
        return _SESSION


def stop_local_session() -> None:
    """Stop the session :func:`local_session` started, if any (the next call starts a new one)."""
    global _SESSION
    with _LOCK:
        if _SESSION is not None:
            _SESSION.stop()
            _SESSION = None


def _java_home() -> bool:
    import os

    home = os.environ.get("JAVA_HOME")
    return bool(home) and (Path(home) / "bin" / "java").exists()


@dataclass
class SparkSource:
    """A Parquet/CSV file (or folder) or a table registered in a Spark session.

    Give ``path`` to read files (a Parquet file, glob or folder — its ``*.parquet`` files at any depth — or
    a CSV with a header row, types inferred) or ``table`` to use a table or view that exists in ``spark``.
    Without ``spark``, the shared :func:`local_session` is used.
    """

    path: str | Path | None = None
    table: str | None = None
    spark: Any = None
    dialect = SPARK
    _view: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if (self.path is None) == (self.table is None):
            raise MeasurementError("give exactly one of path or table", field="data")
        if self.path is not None and "*" not in str(self.path) and not Path(str(self.path)).exists():
            raise MeasurementError(
                f"data file {self.path} does not exist",
                fix="check the path",
                field="data",
                value=str(self.path),
            )
        self.spark = self.spark or local_session()
        if self.table is not None:
            self.name = self.table
            self._view = self.table
            return
        p = Path(str(self.path))
        self.name = p.name
        reader = self.spark.read
        if p.is_dir():  # like DuckDB's folder/**/*.parquet: Parquet files at any depth, nothing else
            df = (
                reader.option("recursiveFileLookup", "true")
                .option("pathGlobFilter", "*.parquet")
                .parquet(str(p))
            )
        elif p.suffix.lower() in (".parquet", ".pq"):
            df = reader.parquet(str(p))
        else:
            df = reader.csv(str(p), header=True, inferSchema=True)
        self._view = f"trilho_{id(self):x}"
        df.createOrReplaceTempView(self._view)

    def relation(self) -> str:
        """The FROM clause naming the view or table."""
        return ".".join(self.dialect.quote(part) for part in self._view.split("."))

    def columns(self) -> list[str]:
        """Column names, from the schema only."""
        return list(self.spark.table(self._view).columns)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run ``sql`` with Spark SQL and collect its (few) rows."""
        return [tuple(r) for r in self.spark.sql(sql).collect()]

    def close(self) -> None:
        """Drop the temporary view this source registered (the session stays up for reuse)."""
        if self.path is not None:
            self.spark.catalog.dropTempView(self._view)
