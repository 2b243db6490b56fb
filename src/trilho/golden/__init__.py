"""Golden tests: suites of cases with per-field comparators, runs, candidate-vs-baseline gates, snapshots.

from trilho import golden

result = golden.run(registry, "golden/churn.yaml", "churn@champion")        # RunResult: .passed, .failed
outcome = golden.compare(registry, "golden/churn.yaml", "churn@2", "churn@champion",
                         record=True, key=signing_key(home))              # signed gate on churn@2
golden.snapshot(registry, "golden/churn.yaml", "churn@2").diff             # .write() only when asked
"""

from trilho.golden.api import GATE_KIND, CompareOutcome, compare, record_run, run, snapshot
from trilho.golden.comparators import KINDS, Comparator, FieldResult, parse_comparator
from trilho.golden.compare import Comparison, MetricDelta, compare_runs
from trilho.golden.junit import to_junit_xml
from trilho.golden.runner import CaseResult, RunResult, evaluate, run_suite
from trilho.golden.snapshot import Snapshot, build_snapshot
from trilho.golden.stats import bootstrap_ci, gate_passes
from trilho.golden.suite import Case, GateSpec, Suite, load_suite

__all__ = [
    "GATE_KIND",
    "KINDS",
    "Case",
    "CaseResult",
    "CompareOutcome",
    "Comparator",
    "Comparison",
    "FieldResult",
    "GateSpec",
    "MetricDelta",
    "RunResult",
    "Snapshot",
    "Suite",
    "bootstrap_ci",
    "build_snapshot",
    "compare",
    "compare_runs",
    "evaluate",
    "gate_passes",
    "load_suite",
    "parse_comparator",
    "record_run",
    "run",
    "run_suite",
    "snapshot",
    "to_junit_xml",
]
