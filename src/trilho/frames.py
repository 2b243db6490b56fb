"""Reading a project's data file (CSV or Parquet) into a pandas DataFrame, with the input error that names the
file and the fix: the one reader continuous training (``trilho.ct``) and the pipeline's validate stage share,
so neither imports the other for it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trilho.errors import InputError


def read_frame(path: str | Path, what: str = "data") -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame; ``InputError`` when it is missing or of another kind."""
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"{what} file {str(p)!r} does not exist",
            fix=f"pass the path of the {what} file",
            field=what,
            value=str(p),
        )
    if p.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(p)
    if p.suffix.lower() == ".csv":
        return pd.read_csv(p)
    raise InputError(
        f"{what} file {str(p)!r} is neither .csv nor .parquet",
        fix="convert it to CSV or Parquet",
        field=what,
        value=str(p),
    )
