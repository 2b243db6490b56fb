"""Rollout plans: the YAML document that says how a candidate earns traffic, checked field by field.

A plan is an ordered list of steps (an optional ``shadow`` step, then ``canary`` steps such as 1 → 10 → 50 %),
the analysis to run at each step, what to do when data is insufficient, the fail-safe for missing metrics and
the runbooks to execute on events. Loading never touches the store; errors name the field that is wrong::

    steps:
      - shadow: {percent: 20, min_requests: 200, min_duration: 30s}
      - canary: {weight: 1, min_requests: 100, min_duration: 1m}
      - canary: {weight: 10, min_requests: 500, min_duration: 1m}
      - canary: {weight: 50, min_requests: 1000, min_duration: 2m}

LLM deployments evaluated online by the gateway add ``analysis: {online_eval: {}}`` so canary steps also
compare the online judge score and the guardrail violation rate with the stable version's.

Business metrics come from the gateway's exposure log joined to an events table (canary steps only): a
guardrail rolls back when the always-valid interval of the relative lift lies wholly on the wrong side of its
threshold; a goal passes only when it lies wholly on the right side (until then the step waits)::

    analysis:
      business:
        outcomes: events.parquet           # unit, ts, one column per outcome (Parquet/CSV/folder/glob)
        metrics:
          - {metric: orders, covariate: orders_pre, role: guardrail, threshold: -0.01}
          - {metric: clicks/impressions, role: goal, threshold: 0.0}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from trilho.contracts.comparator_specs import ALLOWED, PATTERN, parse_comparator_spec
from trilho.errors import InputError, RolloutError, TrilhoError


def _z(confidence: float) -> float:
    """The two-sided normal quantile the Wilson interval uses."""
    from scipy import stats

    return float(stats.norm.ppf(0.5 + confidence / 2.0))


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30s', '5m', '1h'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match:
            return float(match.group(1)) * _UNIT[match.group(2)]
    raise ValueError(f"{value!r} is not a duration; use seconds or a string like '30s', '5m', '1h'")


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


def _comparator_name(value: str) -> str:
    """``value`` when the shadow comparator grammar parses it (``trilho.contracts.comparator_specs``)."""
    try:
        parse_comparator_spec(value)
    except InputError:
        raise PydanticCustomError(
            "comparator",
            "{value} is not a comparator (allowed: {allowed})",
            {"value": repr(value), "allowed": ALLOWED},
        ) from None
    return value


ComparatorName = Annotated[
    str,
    AfterValidator(_comparator_name),
    Field(description=f"a shadow comparator: {ALLOWED}", json_schema_extra={"pattern": PATTERN}),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorRateCheck(_Model):
    """Error rate vs the baseline with an always-valid sequential test (a Beta mixture, or mSPRT)."""

    alpha: float = Field(0.05, gt=0, lt=0.5)
    method: Literal["beta_mixture", "msprt"] = "beta_mixture"
    mde: float = Field(0.02, gt=0, le=1, description="msprt only: effect size the mixture is tuned for")
    min_requests: int | None = Field(
        None, ge=1, description="per arm, before the check can pass (default: the step's min_requests)"
    )
    max_rate: float | None = Field(None, ge=0, le=1, description="guardrail: fail above this rate at once")


class LatencyCheck(_Model):
    """Latency quantile ratio vs the baseline, confirmed by a one-sided Mann–Whitney test on histograms."""

    quantile: float = Field(0.99, gt=0, lt=1)
    max_ratio: float = Field(1.5, gt=1)
    alpha: float = Field(0.01, gt=0, lt=0.5)
    min_requests: int | None = Field(
        None, ge=1, description="observations per arm before it decides (default: the step's min_requests)"
    )
    max_seconds: float | None = Field(None, gt=0, description="guardrail on the candidate's quantile")


class AgreementCheck(_Model):
    """Shadow output agreement: Wilson confidence bounds against a threshold."""

    threshold: float = Field(0.95, gt=0, lt=1, description="a lower confidence bound never reaches 1")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    min_pairs: int | None = Field(
        None, ge=1, description="compared pairs before it can pass (default: the step's min_requests)"
    )
    comparator: ComparatorName | None = Field(
        None,
        description="whose pairs it reads: one of the deployment's comparators (default: the first by name)",
    )

    @property
    def pairs_needed(self) -> int:
        """The fewest pairs whose Wilson lower bound can clear the threshold: with every pair agreeing it is
        n / (n + z²), so n ≥ t·z² / (1 − t); fewer pairs can never pass, whatever the step's minimum says."""
        from trilho.rollout.statistics import wilson_interval

        z2 = _z(self.confidence) ** 2
        n = max(1, math.floor(self.threshold * z2 / (1.0 - self.threshold)))
        while wilson_interval(n, n, self.confidence)[0] < self.threshold:
            n += 1
        return n


STORE_METRICS = ("error_rate", "fallback_rate", "shed_rate", "latency_mean_s")


class PrometheusQuery(_Model):
    """An instant PromQL query; ``{model}`` and ``{version}`` are filled in for each arm."""

    url: str = Field(pattern=r"^https?://")
    query: str = Field(min_length=1)
    timeout: Duration = 2.0


class UserMetricCheck(_Model):
    """A user metric (gateway aggregates or a Prometheus query) with plain bounds as a guardrail."""

    name: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None
    max_ratio_to_baseline: float | None = Field(None, gt=0)
    min_count: int | None = Field(
        None, ge=1, description="observations before it decides (default: the step's min_requests)"
    )
    prometheus: PrometheusQuery | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> UserMetricCheck:
        if self.min is None and self.max is None and self.max_ratio_to_baseline is None:
            raise ValueError("give at least one of min, max, max_ratio_to_baseline")
        if self.prometheus is None and self.name not in STORE_METRICS:
            raise ValueError(
                f"metric {self.name!r} is not in the store's aggregates ({', '.join(STORE_METRICS)}); "
                "add a prometheus: {url, query} source for it"
            )
        return self


class OnlineScoreCheck(_Model):
    """The gateway's online judge score (inverse-probability-weighted mean of the judged sample) vs the
    baseline's: an always-valid normal-mixture test on the difference of the two means."""

    alpha: float = Field(0.05, gt=0, lt=0.5)
    mde: float = Field(0.1, gt=0, description="score difference the mixture is tuned for (score units)")
    min_effect: float = Field(0.0, ge=0, description="a drop no larger than this never fails the step")
    min_judged: int = Field(
        30, ge=2, description="judged responses per arm before the test decides (a sample, not requests)"
    )


class OnlineViolationCheck(_Model):
    """The share of answers failing the gateway's guardrail checks vs the baseline's, with the always-valid
    one-sided test the error rate uses; ``checks`` empty means "any check" (answers with ≥ 1 violation)."""

    alpha: float = Field(0.05, gt=0, lt=0.5)
    checks: tuple[str, ...] = Field((), description="check ids, each tested on its own (α split evenly)")
    min_checked: int | None = Field(
        None,
        ge=1,
        description="checked answers per arm before it can pass (default: the step's min_requests)",
    )
    max_rate: float | None = Field(None, ge=0, le=1, description="guardrail: fail above this rate at once")


class OnlineEvalCheck(_Model):
    """Online evaluation of canary traffic (``trilho serve --evals``): judge score, guardrail violations."""

    judge_score: OnlineScoreCheck | None = Field(default_factory=OnlineScoreCheck)
    violations: OnlineViolationCheck | None = Field(default_factory=OnlineViolationCheck)


PRE_SUFFIX = "_pre"  # the exposure join's name for a column summed over the events before exposure


def _outcome_spec(value: str) -> str:
    """``value`` when it names an outcome column or a ``numerator/denominator`` ratio of two, none of them a
    pre-exposure sum (those are covariates, never outcomes)."""
    parts = [p.strip() for p in value.split("/")]
    if len(parts) > 2 or not all(parts):
        raise PydanticCustomError(
            "business_metric",
            "{value} is not an outcome column or a ratio 'numerator/denominator' of two columns",
            {"value": repr(value)},
        )
    for part in parts:
        if part.endswith(PRE_SUFFIX):
            raise PydanticCustomError(
                "business_metric",
                "{value} would count events before exposure as an outcome; name {column} as the metric "
                "and {part} as its covariate",
                {"value": repr(part), "column": repr(part[: -len(PRE_SUFFIX)]), "part": repr(part)},
            )
    return "/".join(parts)


OutcomeSpec = Annotated[str, AfterValidator(_outcome_spec), Field(min_length=1)]


class BusinessMetricCheck(_Model):
    """One business metric per exposed unit (summed over its events after first exposure), compared with the
    stable version's by its relative lift and an always-valid confidence sequence (``trilho.measure``).

    ``role: guardrail`` rolls back when the whole interval is on the wrong side of ``threshold`` (harm is
    significant); ``role: goal`` passes only when the whole interval is on the right side of it (the lift's
    lower bound clears the threshold; until then the step waits as for insufficient data)."""

    metric: OutcomeSpec = Field(description="outcome column, or 'numerator/denominator' (delta method)")
    name: str | None = Field(None, min_length=1, description="label in reasons and status (default: metric)")
    role: Literal["guardrail", "goal"] = "guardrail"
    direction: Literal["increase", "decrease"] = Field(
        "increase", description="which way is better: increase (conversion, revenue) or decrease (refunds)"
    )
    threshold: float = Field(
        0.0,
        gt=-1,
        allow_inf_nan=False,
        description="relative lift the interval is compared with (0.01 = +1 %, -0.02 = -2 %)",
    )
    covariate: str | None = Field(
        None, min_length=1, description="pre-exposure covariate (CUPED), e.g. orders_pre or orders"
    )
    alpha: float = Field(0.05, gt=0, lt=0.5)
    min_units: int | None = Field(
        None, ge=2, description="exposed units per arm before it decides (default: the step's min_requests)"
    )

    @property
    def label(self) -> str:
        """The metric's name in reasons: ``name`` or the metric spec."""
        return self.name or self.metric


class BusinessAnalysis(_Model):
    """Business metrics from the gateway's exposure log joined to an outcomes table (canary steps only)."""

    outcomes: str = Field(min_length=1, description="Parquet/CSV file, folder or glob of events per unit")
    exposures: str | None = Field(
        None, min_length=1, description="exposure log folder (default: the controller's <home>/exposures)"
    )
    unit: str = Field("unit", min_length=1, description="the outcomes' unit id column (the X-Trilho-Unit)")
    time: str = Field("ts", min_length=1, description="the outcomes' event time column")
    planned_units: int = Field(
        10_000, ge=10, description="exposed units the confidence sequence is tightest at (valid at any count)"
    )
    metrics: tuple[BusinessMetricCheck, ...]

    @field_validator("metrics")
    @classmethod
    def _some_metric(cls, value: tuple[BusinessMetricCheck, ...]) -> tuple[BusinessMetricCheck, ...]:
        """At least one metric (checked after the items, so a bad item is the only error it shows)."""
        if not value:
            raise ValueError("give at least one metric: {metric: COLUMN, role: guardrail|goal}")
        return value

    @model_validator(mode="after")
    def _unique_labels(self) -> BusinessAnalysis:
        seen: set[str] = set()
        for i, m in enumerate(self.metrics):
            if m.label in seen:
                raise ValueError(
                    f"metrics[{i}]: {m.label!r} is named twice; give one of them a distinct name"
                )
            seen.add(m.label)
        return self


class Analysis(_Model):
    """Which checks run; ``None`` switches a check off."""

    error_rate: ErrorRateCheck | None = Field(default_factory=ErrorRateCheck)
    latency: LatencyCheck | None = Field(default_factory=LatencyCheck)
    shadow_agreement: AgreementCheck | None = Field(default_factory=AgreementCheck)
    user_metrics: tuple[UserMetricCheck, ...] = ()
    online_eval: OnlineEvalCheck | None = None  # off unless asked for: only LLM deployments have it
    business: BusinessAnalysis | None = None  # off unless asked for: needs an outcomes table


def with_step_minimums(analysis: Analysis, floor: int) -> Analysis:
    """``analysis`` with every check minimum the plan left unset taken from the step's ``min_requests``
    (``floor``): a step's declared minimum governs its checks; only a minimum written in the plan differs."""

    def fill(check: Any, attr: str) -> Any:
        if check is None or getattr(check, attr) is not None:
            return check
        return check.model_copy(update={attr: floor})

    online = analysis.online_eval
    if online is not None:
        online = online.model_copy(update={"violations": fill(online.violations, "min_checked")})
    business = analysis.business
    if business is not None:
        business = business.model_copy(
            update={"metrics": tuple(fill(m, "min_units") for m in business.metrics)}
        )
    return analysis.model_copy(
        update={
            "business": business,
            "error_rate": fill(analysis.error_rate, "min_requests"),
            "latency": fill(analysis.latency, "min_requests"),
            "shadow_agreement": fill(analysis.shadow_agreement, "min_pairs"),
            "user_metrics": tuple(fill(u, "min_count") for u in analysis.user_metrics),
            "online_eval": online,
        }
    )


def check_minimums(analysis: Analysis, kind: str) -> dict[str, dict[str, Any]]:
    """What each check of a step (its analysis already :func:`with_step_minimums`) waits for before it can
    pass: ``{check: {"min": n, "of": what}}`` — what ``rollout status`` shows."""
    out: dict[str, dict[str, Any]] = {}
    if analysis.error_rate is not None:
        out["error_rate"] = {"min": analysis.error_rate.min_requests, "of": "requests per arm"}
    if analysis.latency is not None:
        out["latency"] = {"min": analysis.latency.min_requests, "of": "latency observations per arm"}
    if kind == "shadow" and analysis.shadow_agreement is not None:
        a = analysis.shadow_agreement
        out["shadow_agreement"] = {"min": max(a.min_pairs or 1, a.pairs_needed), "of": "compared pairs"}
    for u in analysis.user_metrics:
        out[f"metric:{u.name}"] = {"min": u.min_count, "of": "observations"}
    online = analysis.online_eval
    if kind == "canary" and online is not None:
        if online.judge_score is not None:
            out["online:judge_score"] = {"min": online.judge_score.min_judged, "of": "judged answers per arm"}
        if online.violations is not None:
            out["online:violations"] = {"min": online.violations.min_checked, "of": "checked answers per arm"}
    if kind == "canary" and analysis.business is not None:
        for m in analysis.business.metrics:
            out[f"business:{m.label}"] = {"min": m.min_units, "of": "exposed units per arm"}
    return out


def _keep_disabled_checks(analysis: Analysis, dumped: dict[str, Any]) -> None:
    for name in ("error_rate", "latency", "shadow_agreement"):
        if getattr(analysis, name) is None:
            dumped[name] = None
    if analysis.online_eval is not None:
        for name in ("judge_score", "violations"):
            if getattr(analysis.online_eval, name) is None:
                dumped["online_eval"][name] = None


class ShadowStep(_Model):
    """Mirror ``percent`` of live traffic to the candidate; users never see its answers."""

    percent: float = Field(gt=0, le=100, description="percent of live requests mirrored")
    min_requests: int = Field(100, ge=1)
    min_duration: Duration = 60.0
    analysis: Analysis | None = None

    @model_validator(mode="before")
    @classmethod
    def _traffic_as_percent(cls, data: Any) -> Any:
        """``traffic`` (a fraction, as plans wrote it before) is read as ``percent``; one unit is kept."""
        if not isinstance(data, dict) or "traffic" not in data:
            return data
        if "percent" in data:
            raise ValueError("give percent (of live requests) or the older traffic (a fraction), not both")
        traffic = data["traffic"]
        if isinstance(traffic, bool) or not isinstance(traffic, int | float) or not 0 < traffic <= 1:
            raise ValueError(f"traffic {traffic!r} is a fraction in (0, 1]; write percent: 20 for 20 %")
        return {**{k: v for k, v in data.items() if k != "traffic"}, "percent": round(traffic * 100.0, 9)}

    @property
    def traffic(self) -> float:
        """The share mirrored as a fraction (what the routing table stores)."""
        return self.percent / 100.0


class CanaryStep(_Model):
    """Send ``weight`` percent of live traffic to the candidate."""

    weight: float = Field(gt=0, lt=100, description="percent of live traffic")
    min_requests: int = Field(100, ge=1)
    min_duration: Duration = 60.0
    analysis: Analysis | None = None


class Step(_Model):
    """One plan step: exactly one of ``shadow`` or ``canary``."""

    shadow: ShadowStep | None = None
    canary: CanaryStep | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        if (self.shadow is None) == (self.canary is None):
            raise ValueError("a step has exactly one key: shadow or canary")
        return self

    @property
    def kind(self) -> Literal["shadow", "canary"]:
        return "shadow" if self.shadow is not None else "canary"

    @property
    def body(self) -> ShadowStep | CanaryStep:
        return self.shadow if self.shadow is not None else self.canary  # type: ignore[return-value]


class MissingMetrics(_Model):
    """Fail-safe when no aggregates arrive for ``intervals`` consecutive analysis intervals."""

    intervals: int = Field(3, ge=1)
    action: Literal["hold", "rollback"] = "rollback"


class Insufficient(_Model):
    """What happens when a step's minimum duration is over but the data is not enough to decide."""

    action: Literal["hold", "extend", "abort"] = "extend"
    extend_by: Duration = 60.0
    max_extensions: int = Field(3, ge=0)


class Webhook(_Model):
    """POST a Slack-compatible JSON body (``{"text": ...}``) to ``url``."""

    url: str = Field(pattern=r"^https?://")
    timeout: Duration = 2.0


class Action(_Model):
    """One runbook action: exactly one of ``rollback``, ``route_to_fallback`` or ``webhook``."""

    rollback: bool | None = None
    route_to_fallback: str | None = Field(None, min_length=1, description="version to send all traffic to")
    webhook: Webhook | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [
            k for k in ("rollback", "route_to_fallback", "webhook") if getattr(self, k) not in (None, False)
        ]
        if len(given) != 1:
            raise ValueError("an action has exactly one key: rollback, route_to_fallback or webhook")
        return self


EVENTS = ("started", "gates_failed", "step_passed", "promoted", "rolled_back", "killed", "aborted",
          "paused", "resumed", "check_failed", "metrics_missing")  # fmt: skip


class Runbook(_Model):
    """Actions the controller runs when ``on`` happens."""

    on: Literal[
        "started", "gates_failed", "step_passed", "promoted", "rolled_back", "killed", "aborted",
        "paused", "resumed", "check_failed", "metrics_missing",
    ]  # fmt: skip
    actions: tuple[Action, ...] = Field(min_length=1)


class Plan(_Model):
    """A whole rollout plan."""

    name: str = "default"
    interval: Duration = Field(5.0, description="analysis interval in seconds (≥ 1)")
    analysis: Analysis = Field(default_factory=Analysis)
    steps: tuple[Step, ...] = Field(min_length=1)
    on_insufficient_data: Insufficient = Field(default_factory=Insufficient)
    missing_metrics: MissingMetrics = Field(default_factory=MissingMetrics)
    fallback_version: str | None = None
    runbooks: tuple[Runbook, ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> Plan:
        if self.interval < 1:
            raise ValueError("interval must be at least 1 second")
        seen_canary = False
        last_weight = 0.0
        for i, step in enumerate(self.steps):
            if step.kind == "shadow" and seen_canary:
                raise ValueError(f"steps[{i}]: a shadow step must come before every canary step")
            if step.kind == "canary":
                seen_canary = True
                weight = step.body.weight  # type: ignore[union-attr]
                if weight <= last_weight:
                    raise ValueError(
                        f"steps[{i}]: canary weights must increase (got {weight} after {last_weight})"
                    )
                last_weight = weight
        for i, step in enumerate(self.steps):
            agreement = self.analysis_for(i).shadow_agreement
            if step.kind != "shadow" or agreement is None:
                continue
            floor, needed = agreement.min_pairs or 1, agreement.pairs_needed
            if floor < needed:
                own = (step.body.analysis or self.analysis).shadow_agreement
                where = (
                    ("steps[{i}].shadow.analysis" if step.body.analysis else "analysis")
                    + ".shadow_agreement.min_pairs"
                    if own is not None and own.min_pairs is not None
                    else f"steps[{i}].shadow.min_requests"
                ).format(i=i)
                raise ValueError(
                    f"{where}: shadow agreement ≥ {agreement.threshold:.1%} at {agreement.confidence:.0%} "
                    f"confidence cannot pass with fewer than {needed} compared pairs, and the plan asks for "
                    f"{floor}; raise it to {needed} or more (or lower the threshold or the confidence)"
                )
        return self

    def analysis_for(self, index: int) -> Analysis:
        """The analysis a step runs (its own, or the plan's), with the step's ``min_requests`` as every check
        minimum the plan left unset."""
        body = self.steps[index].body
        return with_step_minimums(body.analysis or self.analysis, body.min_requests)

    def minimums(self, index: int) -> dict[str, Any]:
        """What step ``index`` waits for: its duration and requests, and each check's minimum."""
        step = self.steps[index]
        return {
            "min_duration_s": step.body.min_duration,
            "min_requests": step.body.min_requests,
            "checks": check_minimums(self.analysis_for(index), step.kind),
        }

    def redacted(self) -> dict[str, Any]:
        """The plan as JSON-ready data with webhook URLs cut to their host (for logs, audit, API)."""
        from urllib.parse import urlsplit

        data = self.to_data()
        for book in data.get("runbooks", []):
            for action in book.get("actions", []):
                if "webhook" in action:
                    parts = urlsplit(action["webhook"]["url"])
                    action["webhook"]["url"] = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}/…"
        return data

    def to_data(self) -> dict[str, Any]:
        """JSON-ready data that round-trips through :func:`load_plan`: unset options are left out, but a check
        switched off (``latency: null``) stays off instead of coming back as the default check."""
        data = self.model_dump(mode="json", exclude_none=True)
        _keep_disabled_checks(self.analysis, data["analysis"])
        for step, dumped in zip(self.steps, data["steps"], strict=True):
            if step.body.analysis is not None:
                (body,) = dumped.values()
                _keep_disabled_checks(step.body.analysis, body["analysis"])
        return data

    def to_yaml(self) -> str:
        """The plan as YAML (round-trips through :func:`load_plan`)."""
        return yaml.safe_dump(self.to_data(), sort_keys=False)


DEFAULT_PLAN_YAML = """\
name: default
interval: 5s
steps:
  - shadow: {percent: 20, min_requests: 200, min_duration: 30s}
  - canary: {weight: 1, min_requests: 100, min_duration: 1m}
  - canary: {weight: 10, min_requests: 500, min_duration: 1m}
  - canary: {weight: 50, min_requests: 1000, min_duration: 2m}
"""


def load_plan(source: str | Path | dict[str, Any]) -> Plan:
    """A :class:`Plan` from a YAML file path, YAML text or a dict; ``RolloutError`` names the bad field."""
    where, data = read_yaml_mapping(
        source,
        what="plan",
        error=RolloutError,
        shape="a 'steps' list",
        fix_missing="pass the path of a YAML plan",
        fix_shape="see DEFAULT_PLAN_YAML",
    )
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, where, default="plan", error=RolloutError) from None


def read_yaml_mapping(
    source: str | Path | Mapping[str, Any],
    *,
    what: str,
    error: type[TrilhoError],
    shape: str,
    fix_missing: str,
    fix_shape: str,
) -> tuple[str, dict[str, Any]]:
    """``(where, mapping)`` from a YAML file path, YAML text or a mapping; a missing file, bad YAML or a
    document that is not a mapping is one ``error`` naming the field ``what``."""
    if isinstance(source, Mapping):
        return what, dict(source)
    where, text = what, str(source)
    path = Path(text) if isinstance(source, Path) or ("\n" not in text and len(text) < 4096) else None
    if path is not None and path.suffix in (".yaml", ".yml", ".json"):
        if not path.is_file():
            raise error(f"{what} file {text!r} does not exist", fix=fix_missing, field=what, value=text)
        where, text = str(path), path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{where} is not valid YAML: {exc}", fix="fix the YAML syntax", field=what) from exc
    if not isinstance(data, dict):
        raise error(f"{where} must be a YAML mapping with {shape}", fix=fix_shape, field=what)
    return where, data


def validation_error(
    exc: ValidationError, where: str, *, default: str, error: type[TrilhoError], hint: str = ""
) -> TrilhoError:
    """One error naming the first invalid field of a YAML document (``routes[1].weight``), its value and the
    fix, with every problem listed in ``errors``."""
    errors = exc.errors()
    problems = [_problem(e) for e in errors]
    loc, msg = problems[0][0] or default, problems[0][1]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return error(
        f"{where}: {loc}: {msg}",
        fix=f"correct '{loc}'{more}{hint}",
        field=loc,
        value=_short(errors[0].get("input")),
        errors=[{"field": f, "message": m} for f, m in problems],
    )


def _problem(error: Any) -> tuple[str, str]:
    """(field, message) of one validation error; a plan-wide rule names its field in its message."""
    loc = _loc(error["loc"])
    match = None if loc else _NAMED.match(error["msg"])
    if match:
        return match.group(1), error["msg"][match.end() :]
    return loc, error["msg"]


_NAMED = re.compile(r"^(?:Value error, )?((?:steps\[\d+\]|analysis)[\w.\[\]]*): ")


def _loc(parts: tuple[Any, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any) -> Any:
    text = repr(value)
    return (
        value if len(text) <= 80 and isinstance(value, str | int | float | bool | type(None)) else text[:80]
    )
