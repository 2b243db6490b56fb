"""Eval reports: the run as JSON and as a self-contained HTML page (jinja2, autoescaped)."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment

from trilho.evals.suites import SuiteRun

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>trilho eval — {{ run.suite }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem}table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}.pass{color:#16794c}
.fail{color:#b42318;font-weight:bold}code{font-size:.85em}</style></head><body>
<h1>Eval suite <code>{{ run.suite }}</code></h1>
<p>run <code>{{ run.run_id }}</code>{% if run.model %} · model <code>{{ run.model }}@{{ run.version }}</code>{% endif %}
 · {{ run.items|length }} items</p>
{% if run.gate %}<h2>Gate: <span class="{{ run.gate.decision }}">{{ run.gate.decision|upper }}</span></h2>
<ul>{% for r in run.gate.reasons %}<li>{{ r }}</li>{% else %}<li>all thresholds met, no regression</li>{% endfor %}</ul>
{% endif %}
<h2>Metrics</h2><table><tr><th>metric</th><th>value</th><th>threshold</th></tr>
{% for name, value in run.metrics|dictsort %}<tr><td>{{ name }}</td><td>{{ '%.4f'|format(value) }}</td>
<td>{% for t in thresholds if t.metric == name %}<span class="{{ 'pass' if t.passed else 'fail' }}">
{% if t.min is not none %}≥ {{ t.min }}{% endif %} {% if t.max is not none %}≤ {{ t.max }}{% endif %}</span>{% endfor %}</td></tr>
{% endfor %}</table>
{% if run.gate and run.gate.regressions %}<h2>Against baseline {{ run.gate.baseline_run }}</h2>
<table><tr><th>metric</th><th>test</th><th>baseline</th><th>candidate</th><th>diff [CI]</th><th>p</th><th></th></tr>
{% for t in run.gate.regressions %}<tr><td>{{ t.metric }}</td><td>{{ t.test }}</td><td>{{ '%.4f'|format(t.baseline) }}</td>
<td>{{ '%.4f'|format(t.candidate) }}</td><td>{{ '%+.4f'|format(t.diff) }} [{{ '%+.4f'|format(t.low) }},
{{ '%+.4f'|format(t.high) }}]</td><td>{{ '%.3g'|format(t.p_value) }}</td>
<td class="{{ 'fail' if t.regressed else 'pass' }}">{{ 'regressed' if t.regressed else 'ok' }}</td></tr>{% endfor %}
</table>{% endif %}
{% if run.baselines %}<h2>Pairwise judges beside the length-only baseline</h2>
<table><tr><th>judge</th><th>judge win rate</th><th>"pick the longer" win rate</th><th>judge picked the longer</th>
<th>inconsistent pairs</th><th>judge accuracy</th><th>baseline accuracy</th></tr>
{% for name, b in run.baselines|dictsort %}<tr><td>{{ name }}</td><td>{{ '%.4f'|format(b.judge_win_rate) }}</td>
<td>{{ '%.4f'|format(b.length_win_rate) }}</td>
<td>{{ '%.4f'|format(b.judge_picks_longer) if b.judge_picks_longer is not none else '–' }}</td>
<td>{{ '%.4f'|format(b.inconsistent_share) }}</td>
<td>{{ '%.4f'|format(b.judge_accuracy) if b.labelled else '–' }}</td>
<td class="{{ 'fail' if b.labelled and b.length_accuracy >= b.judge_accuracy else '' }}">
{{ '%.4f'|format(b.length_accuracy) if b.labelled else '–' }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Items</h2><table><tr><th>id</th><th>input</th><th>output</th><th>scores</th></tr>
{% for it in run.items %}<tr><td>{{ it.id }}</td><td>{{ it.input }}</td><td>{{ it.output }}</td>
<td>{% for k, v in it.scores|dictsort %}<div class="{{ 'pass' if v >= 0.5 else 'fail' }}">{{ k }}: {{ v }}</div>
{% endfor %}</td></tr>{% endfor %}</table></body></html>
"""  # noqa: E501


def write_report(run: SuiteRun, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``<suite>-<run_id>.json`` and ``.html`` under ``out_dir``; returns both paths."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    stem = f"{run.suite}-{run.run_id}"
    jpath, hpath = d / f"{stem}.json", d / f"{stem}.html"
    jpath.write_text(json.dumps(run.to_dict(), indent=2, sort_keys=True, default=str), encoding="utf-8")
    env = Environment(autoescape=True)
    thresholds = list(run.gate.thresholds) if run.gate else []
    hpath.write_text(env.from_string(_HTML).render(run=run, thresholds=thresholds), encoding="utf-8")
    return jpath, hpath
