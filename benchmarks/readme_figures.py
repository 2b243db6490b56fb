"""README figures from ``benchmarks/results/*.json``: the benchmark table and every inline figure, generated.

The README holds two kinds of generated text, each between markers so people never type a measured number:

* the benchmark table, between ``<!-- bench:table -->`` and ``<!-- /bench:table -->``: one row per results
  file with the run's date, quick/full, every target's measured value against its goal, and how many were met;
* inline figures, ``<!-- fig NAME "TARGET" -->VALUE<!-- /fig -->``: the measured value of one target of
  ``benchmarks/results/NAME.json``, or of one entry of its ``figures`` mapping (measured context a benchmark
  records for the README that is not a target, e.g. a reference agreement).

``python -m benchmarks.readme_figures`` rewrites README.md; ``--check`` exits 1 and names each drift
(the test suite runs the check, so a benchmark rerun without regenerating the README fails CI).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"

TABLE_START, TABLE_END = "<!-- bench:table -->", "<!-- /bench:table -->"
FIG = re.compile(r'<!-- fig (?P<bench>[a-z_]+) "(?P<target>[^"]+)" -->(?P<value>.*?)<!-- /fig -->', re.S)


def load_results(folder: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """Every results file by benchmark name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def format_value(value: Any) -> str:
    """A measured value as the README shows it (numbers to 4 significant figures, lists joined)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e15 else repr(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value is None:
        return "not measured"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items())
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(results: dict[str, dict[str, Any]]) -> str:
    """The README's benchmark table: one row per results file, every target with its value and goal."""
    lines = [
        "| benchmark | run | targets: measured (goal) | met |",
        "|---|---|---|---|",
    ]
    for name, data in results.items():
        targets = data.get("targets", [])
        parts = [
            f"{'✓' if t['met'] else '✗'} {t['name']}: {format_value(t['value'])} (goal {t['goal']})"
            for t in targets
        ]
        met = sum(bool(t["met"]) for t in targets)
        run = f"{str(data.get('measured_at', '?'))[:10]}, {'quick' if data.get('quick') else 'full'}"
        lines.append(f"| `{name}` | {run} | {_cell('; '.join(parts))} | {met} of {len(targets)} |")
    return "\n".join(lines)


def figure(results: dict[str, dict[str, Any]], bench: str, target: str) -> str:
    """The formatted measured value of one named target; KeyError names what exists."""
    if bench not in results:
        raise KeyError(f"no benchmarks/results/{bench}.json (have: {', '.join(results)})")
    for t in results[bench].get("targets", []):
        if t["name"] == target:
            return format_value(t["value"])
    figures = results[bench].get("figures") or {}
    if target in figures:
        return format_value(figures[target])
    names = "; ".join([t["name"] for t in results[bench].get("targets", [])] + list(figures))
    raise KeyError(f"{bench}.json has no target {target!r} (has: {names})")


def render(readme: str, results: dict[str, dict[str, Any]]) -> str:
    """The README with its table and inline figures regenerated from the results."""
    if TABLE_START not in readme or TABLE_END not in readme:
        raise ValueError(f"README.md has no {TABLE_START} … {TABLE_END} block for the benchmark table")
    head, rest = readme.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    readme = f"{head}{TABLE_START}\n{render_table(results)}\n{TABLE_END}{tail}"

    def fill(m: re.Match[str]) -> str:
        value = figure(results, m["bench"], m["target"])
        return f'<!-- fig {m["bench"]} "{m["target"]}" -->{value}<!-- /fig -->'

    return FIG.sub(fill, readme)


def drifts(readme: str, results: dict[str, dict[str, Any]]) -> list[str]:
    """Where the README disagrees with the results files, as unified-diff lines (empty when they agree)."""
    import difflib

    wanted = render(readme, results)
    if wanted == readme:
        return []
    diff = difflib.unified_diff(
        readme.splitlines(), wanted.splitlines(), "README.md", "generated from results", n=0, lineterm=""
    )
    return [line[:200] for line in diff]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the README disagrees with the JSON")
    args = parser.parse_args(argv)
    readme, results = README.read_text(encoding="utf-8"), load_results()
    if args.check:
        found = drifts(readme, results)
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print("run: python -m benchmarks.readme_figures", file=sys.stderr)
        return 1 if found else 0
    README.write_text(render(readme, results), encoding="utf-8")
    print(f"wrote {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
