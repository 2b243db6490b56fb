"""Contracts benchmark: the per-request validator and the dataframe validator, side by side with alternatives.

Run: ``python -m benchmarks.bench_contracts [--quick]`` (``make bench-contracts [QUICK=1]``).

1. Per-request validation of one 20-field record (the serving hot path) against the test fixture contract
   ``tests/contracts/fixtures/model_io.yaml`` (ints with ranges, float32, enums, patterns, an e-mail format,
   a date, a timestamp, a 4-vector): p50/p99 µs per call for trilho's compiled validator, plain pydantic
   (a model with the same constraints), ``jsonschema`` and ``jsonschema_rs`` on the exported JSON Schema.
   Target: trilho p50 <= 10 µs.
2. Dataframe validation of 1M rows x 20 columns (``--quick``: 100k) in polars, with 0.1% bad rows: trilho's
   ``validate_frame`` vs the same checks written by hand in polars (target <= 1.5x) vs pandera (ratio
   reported), plus trilho on the same frame in pandas. Every implementation must report the same bad rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import polars as pl

from benchmarks._results import print_table, print_targets, target, write_results
from trilho.contracts import load_contract

ROOT = Path(__file__).resolve().parents[1]
IO_CONTRACT = ROOT / "tests" / "contracts" / "fixtures" / "model_io.yaml"

RECORD = {
    "user_id": "u000005",
    "age": 50,
    "tenure_days": 10,
    "n_orders": 1,
    "score_a": 0.1,
    "score_b": 0.9,
    "balance": -120.5,
    "is_active": False,
    "plan": "basic",
    "country": "FR",
    "signup_date": "2021-01-01",
    "last_seen": "2024-03-01T10:20:30Z",
    "email": "ana@example.com",
    "n_sessions_7d": 3,
    "avg_session_s": 1.5,
    "device": "ios",
    "referrer": "x",
    "discount": 0.2,
    "segment": 5,
    "embedding": [0.1, -1.0, 1.0, 0.0],
}


# --- 1. per-request ----------------------------------------------------------------------------------------
def _pydantic_model(contract: Any) -> Any:
    """A plain pydantic model with the contract's constraints, written the way a user would."""
    from pydantic import ConfigDict, Field, StringConstraints, conlist

    from trilho.contracts._regex import FORMAT_PATTERNS

    fields: dict[str, Any] = {}
    for f in contract.fields("input"):
        lo, lo_x, hi, hi_x = f.bounds()
        if f.enum is not None:
            t: Any = Literal[tuple(f.enum)]
        elif f.kind in ("int", "float"):
            base = int if f.kind == "int" else float
            t = Annotated[base, Field(**{("gt" if lo_x else "ge"): lo, ("lt" if hi_x else "le"): hi})]
        elif f.kind == "bool":
            t = bool
        elif f.kind == "string":
            pattern = f.pattern or (FORMAT_PATTERNS[f.format] if f.format else None)
            t = Annotated[
                str, StringConstraints(min_length=f.min_length, max_length=f.max_length, pattern=pattern)
            ]
        elif f.kind == "date":
            t = dt.date
        elif f.kind == "timestamp":
            t = dt.datetime
        else:
            t = conlist(Annotated[float, Field(ge=-1, le=1)], min_length=4, max_length=4)
        fields[f.name] = (t, ...) if f.required else (t | None, None)
    from pydantic import create_model

    return create_model("Features", __config__=ConfigDict(extra="forbid", strict=False), **fields)


def _time_calls(fn: Any, arg: Any, n: int) -> tuple[float, float]:
    for _ in range(min(n, 2000)):
        fn(arg)
    samples = []
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for _ in range(n):
            t0 = clock()
            fn(arg)
            samples.append(clock() - t0)
    finally:
        gc.enable()
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def bench_request(n: int) -> list[dict[str, Any]]:
    """p50/p99 per call of each request validator on the same 20-field record."""
    import jsonschema

    contract = load_contract(IO_CONTRACT)
    validator = contract.request_validator("input")
    assert validator.validate(RECORD)
    via_msgspec = contract.request_validator("input", engine="msgspec")
    assert via_msgspec.validate(RECORD) == validator.validate(RECORD)
    model = _pydantic_model(contract)
    model.model_validate(RECORD)
    schema = contract.json_schema("input")
    js = jsonschema.Draft202012Validator(schema)
    assert js.is_valid(RECORD)
    candidates = [
        ("trilho request_validator (pydantic-core engine, default)", validator.validate),
        ("trilho request_validator (msgspec engine)", via_msgspec.validate),
        ("pydantic v2 model_validate (same constraints, returns a model)", model.model_validate),
        ("pydantic v2 model_validate + model_dump (a dict)", lambda r: model.model_validate(r).model_dump()),
        ("jsonschema Draft202012Validator.is_valid", js.is_valid),
    ]
    try:  # present through schemathesis; not a declared dependency
        import jsonschema_rs

        rs = jsonschema_rs.validator_for(schema)
        assert rs.is_valid(RECORD)
        candidates.append(("jsonschema_rs is_valid (Rust)", rs.is_valid))
    except ImportError:
        pass
    rows = []
    for name, fn in candidates:
        p50, p99 = _time_calls(fn, RECORD, n)
        rows.append(
            {
                "case": "request, 20 fields",
                "implementation": name,
                "p50_us": round(p50, 2),
                "p99_us": round(p99, 2),
            }
        )
    return rows


# --- 2. dataframe ------------------------------------------------------------------------------------------
INT_COLS = [f"i{k}" for k in range(6)]
FLOAT_COLS = [f"x{k}" for k in range(6)]
ENUM_COLS = ["plan", "device", "region"]
ENUMS = {
    "plan": ["basic", "pro", "enterprise"],
    "device": ["ios", "android", "web"],
    "region": ["eu", "us", "apac", "latam"],
}
PATTERN_COLS = {"country": "^[A-Z]{2}$", "sku": "^[a-z]{3}-[0-9]{4}$"}


def frame_contract() -> Any:
    """The 20-column contract the frame benchmark validates against."""
    props: list[dict[str, Any]] = [{"name": "id", "physicalType": "int64", "required": True, "unique": True}]
    props += [
        {
            "name": c,
            "physicalType": "int32",
            "required": True,
            "logicalTypeOptions": {"minimum": 0, "maximum": 1000},
        }
        for c in INT_COLS
    ]
    props += [
        {
            "name": c,
            "physicalType": "float64",
            "required": k < 3,
            "logicalTypeOptions": {"minimum": -10.0, "maximum": 10.0},
            **(
                {}
                if k < 3
                else {"quality": [{"metric": "nullValues", "mustBeLessThan": 5, "unit": "percent"}]}
            ),
        }
        for k, c in enumerate(FLOAT_COLS)
    ]
    props += [
        {
            "name": c,
            "physicalType": "string",
            "required": True,
            "quality": [{"metric": "invalidValues", "arguments": {"validValues": ENUMS[c]}, "mustBe": 0}],
        }
        for c in ENUM_COLS
    ]
    props += [
        {"name": c, "physicalType": "string", "required": True, "logicalTypeOptions": {"pattern": p}}
        for c, p in PATTERN_COLS.items()
    ]
    props += [
        {"name": "active", "physicalType": "bool", "required": True},
        {"name": "day", "physicalType": "date", "required": True},
    ]
    assert len(props) == 20
    return load_contract(
        {
            "apiVersion": "v3.0.2",
            "kind": "DataContract",
            "id": "bench",
            "version": "1.0.0",
            "schema": [{"name": "rows", "properties": props}],
        }
    )


def make_frame(n: int, seed: int = 0) -> tuple[pl.DataFrame, set[int]]:
    """``n`` rows matching ``frame_contract`` except 0.1% injected bad rows (returned as a set)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    cols: dict[str, Any] = {"id": np.arange(n, dtype=np.int64)}
    for c in INT_COLS:
        cols[c] = rng.integers(0, 1001, n).astype(np.int32)
    for c in FLOAT_COLS:
        cols[c] = rng.uniform(-10, 10, n)
    for c in ENUM_COLS:
        cols[c] = rng.choice(ENUMS[c], n)
    cols["country"] = np.char.add(rng.choice(letters, n), rng.choice(letters, n))
    cols["sku"] = np.char.add(
        np.char.add(rng.choice(["abc", "xyz", "qrs"], n), "-"),
        np.char.zfill(rng.integers(0, 10000, n).astype(str), 4),
    )
    cols["active"] = rng.random(n) < 0.5
    df = pl.DataFrame(cols).with_columns(
        (pl.date(2020, 1, 1) + pl.duration(days=pl.Series(rng.integers(0, 1500, n)))).alias("day")
    )
    # optional float columns: 1% nulls; 0.1% of rows get one bad value each
    for c in FLOAT_COLS[3:]:
        df = df.with_columns(
            pl.when(pl.Series(rng.random(n) < 0.01)).then(None).otherwise(pl.col(c)).alias(c)
        )
    bad = rng.choice(n, max(1, n // 1000), replace=False)
    kinds = rng.integers(0, 5, len(bad))
    updates = {
        "i0": (bad[kinds == 0], 5000),
        "x0": (bad[kinds == 1], 99.0),
        "plan": (bad[kinds == 2], "gold"),
        "country": (bad[kinds == 3], "pt"),
        "i3": (bad[kinds == 4], -1),
    }
    for col, (rows, value) in updates.items():
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        df = df.with_columns(
            pl.when(pl.Series(mask))
            .then(pl.lit(value, dtype=df.schema[col]))
            .otherwise(pl.col(col))
            .alias(col)
        )
    return df, {int(r) for r in bad}


def hand_written_polars(df: pl.DataFrame) -> set[int]:
    """The same checks, written directly in polars by someone who knows it well."""
    checks: list[tuple[str, pl.Expr]] = [
        ("id_null", pl.col("id").is_null()),
        ("id_unique", pl.col("id").is_duplicated() & pl.col("id").is_not_null()),
    ]
    for c in INT_COLS:
        checks += [(f"{c}_null", pl.col(c).is_null()), (f"{c}_range", (pl.col(c) < 0) | (pl.col(c) > 1000))]
    for k, c in enumerate(FLOAT_COLS):
        nul = pl.col(c).is_null() | pl.col(c).is_nan()
        if k < 3:
            checks.append((f"{c}_null", nul))
        checks.append((f"{c}_range", ~nul & (~pl.col(c).is_finite() | (pl.col(c) < -10) | (pl.col(c) > 10))))
    for c in ENUM_COLS:
        checks += [(f"{c}_null", pl.col(c).is_null()), (f"{c}_enum", ~pl.col(c).is_in(ENUMS[c]))]
    for c, p in PATTERN_COLS.items():
        checks += [(f"{c}_null", pl.col(c).is_null()), (f"{c}_pattern", ~pl.col(c).str.contains(p))]
    checks += [("active_null", pl.col("active").is_null()), ("day_null", pl.col("day").is_null())]
    null_rates = [pl.col(c).is_null().sum().alias(f"{c}_nulls") for c in FLOAT_COLS[3:]]
    counts = df.select([e.sum().alias(n) for n, e in checks] + null_rates).row(0, named=True)
    for c in FLOAT_COLS[3:]:
        assert 100.0 * counts[f"{c}_nulls"] / len(df) < 5
    bad_rows: set[int] = set()
    for name, expr in checks:
        if counts[name]:
            col = name.rsplit("_", 1)[0]
            hit = df.select(col).with_row_index("__row").filter(expr)
            bad_rows.update(hit["__row"].to_list())
    return bad_rows


def pandera_schema() -> Any:
    """The same checks as a pandera (polars backend) schema."""
    import pandera.polars as pa

    cols: dict[str, Any] = {"id": pa.Column(pl.Int64, nullable=False, unique=True)}
    for c in INT_COLS:
        cols[c] = pa.Column(pl.Int32, pa.Check.in_range(0, 1000), nullable=False)
    for k, c in enumerate(FLOAT_COLS):
        cols[c] = pa.Column(pl.Float64, pa.Check.in_range(-10.0, 10.0), nullable=k >= 3)
    for c in ENUM_COLS:
        cols[c] = pa.Column(pl.String, pa.Check.isin(ENUMS[c]), nullable=False)
    for c, p in PATTERN_COLS.items():
        cols[c] = pa.Column(pl.String, pa.Check.str_matches(p), nullable=False)
    cols["active"] = pa.Column(pl.Boolean, nullable=False)
    cols["day"] = pa.Column(pl.Date, nullable=False)
    return pa.DataFrameSchema(cols, strict=True)


def run_pandera(schema: Any, df: pl.DataFrame) -> set[int]:
    """Validate lazily (all failures) and return the failing row indices."""
    import pandera.errors

    try:
        schema.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        idx = cases["index"] if "index" in cases.columns else None
        return {int(i) for i in idx.drop_nulls().to_list()} if idx is not None else set()
    return set()


def _best(fn: Any, repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench_frame(n: int, repeats: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Median seconds of each frame validator; each must find exactly the injected bad rows."""
    contract = frame_contract()
    df, expected = make_frame(n)
    pdf = df.to_pandas()
    schema = pandera_schema()
    impls = {
        "trilho validate_frame (polars)": lambda: set(contract.validate_frame(df).failed_rows),
        "hand-written polars": lambda: hand_written_polars(df),
        "pandera (polars backend, lazy)": lambda: run_pandera(schema, df),
        "trilho validate_frame (pandas)": lambda: set(contract.validate_frame(pdf).failed_rows),
    }
    rows, seconds = [], {}
    for name, fn in impls.items():
        secs, bad = _best(fn, repeats)
        seconds[name] = secs
        rows.append(
            {
                "case": f"frame, {n:,} rows x 20 cols",
                "implementation": name,
                "seconds": round(secs, 4),
                "rows_per_s": round(n / secs),
                "bad_rows_found": len(bad),
                "same_bad_rows": bad == expected,
            }
        )
    return rows, seconds


def main(argv: list[str] | None = None) -> None:
    """Run both parts and write ``benchmarks/results/contracts.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k rows and fewer calls (<= 1 min)")
    args = parser.parse_args(argv)
    quick = args.quick
    n_calls = 20_000 if quick else 200_000
    n_rows = 100_000 if quick else 1_000_000
    repeats = 3 if quick else 5

    request_rows = bench_request(n_calls)
    print_table(f"per-request validation ({n_calls:,} calls each)", request_rows)
    frame_rows, seconds = bench_frame(n_rows, repeats)
    print_table(f"dataframe validation (median of {repeats})", frame_rows)

    trilho_p50 = request_rows[0]["p50_us"]
    t_trilho = seconds["trilho validate_frame (polars)"]
    ratio_hand = t_trilho / seconds["hand-written polars"]
    ratio_pandera = seconds["pandera (polars backend, lazy)"] / t_trilho
    targets = [
        target("request p50 (20-field record)", "<= 10 us", trilho_p50, trilho_p50 <= 10),
        target("frame: trilho / hand-written polars", "<= 1.5x", round(ratio_hand, 3), ratio_hand <= 1.5),
        target(
            "frame: every implementation finds the injected bad rows",
            "all",
            all(r["same_bad_rows"] for r in frame_rows),
            all(r["same_bad_rows"] for r in frame_rows),
        ),
    ]
    print_targets(targets)
    path = write_results(
        "contracts",
        request_rows + frame_rows,
        targets,
        quick=quick,
        extra={
            "rows": n_rows,
            "calls": n_calls,
            "repeats": repeats,
            "context": {"pandera_over_trilho_frame_time": round(ratio_pandera, 2)},
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
