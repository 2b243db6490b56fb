"""DuckDBSource used as a library never draws DuckDB's progress bar on the caller's stdout."""

from __future__ import annotations

from trilho.measure.sql import DuckDBSource


def test_duckdb_source_turns_the_progress_bar_off(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("variant,y\n0,1\n1,2\n")
    source = DuckDBSource(data)
    assert source.query("SELECT current_setting('enable_progress_bar')") == [(False,)]
