"""trilho.evals: GenAI safety rails and eval loops.

- deterministic checks and policies (``Policy``, ``trilho.evals.checks``): PII, secrets, banned terms,
  claims, prompt injection, JSON / JSON Schema, length, citations, refusal; block / redact / flag with
  timeouts and fail-open / fail-closed;
- LLM-as-judge (``trilho.evals.judges``): rubrics, strict verdicts, retries, cache, panels, and an offline
  embedding judge behind an OpenAI-compatible server;
- calibration against humans (``calibrate``), per target (``JudgeCalibration`` names its population;
  ``decide_judge_gate`` refuses a judge on a shifted candidate until its own labelled sample clears the
  floor), suites and gates (``Suite``, ``run_suite``, ``evaluate_suite``), the human annotation queue
  (``AnnotationQueue``), and online evaluation in the gateway (``OnlineEvaluator``; ``GatewayEvals`` is
  what ``trilho serve --evals`` plugs into the gateway).

Heavy parts (presidio, spaCy, the embedding model) load lazily, on first use.
"""

from trilho.evals.annotations import AnnotationQueue
from trilho.evals.calibration import CalibrationReport, calibrate, calibrate_labels
from trilho.evals.gates import GateDecision, decide_gate
from trilho.evals.judge_gate import JudgeCalibration, JudgeGateDecision, Population, decide_judge_gate
from trilho.evals.online import OnlineEvaluator, OnlineVerdict
from trilho.evals.online_gateway import GatewayEvals
from trilho.evals.policy import Action, Policy, PolicyVerdict, default_policy
from trilho.evals.sampling import StratifiedSampler
from trilho.evals.service import evaluate_suite
from trilho.evals.suites import Suite, SuiteRun, run_suite

__all__ = [
    "Action",
    "AnnotationQueue",
    "CalibrationReport",
    "GateDecision",
    "GatewayEvals",
    "JudgeCalibration",
    "JudgeGateDecision",
    "OnlineEvaluator",
    "OnlineVerdict",
    "Policy",
    "PolicyVerdict",
    "Population",
    "StratifiedSampler",
    "Suite",
    "SuiteRun",
    "calibrate",
    "calibrate_labels",
    "decide_gate",
    "decide_judge_gate",
    "default_policy",
    "evaluate_suite",
    "run_suite",
]
