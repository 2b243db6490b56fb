"""Plan loading: defaults, durations, ordering rules, and errors that name the field."""

from __future__ import annotations

import pytest

from trilho.errors import RolloutError
from trilho.rollout.plan import DEFAULT_PLAN_YAML, load_plan, parse_duration


def test_default_plan_loads_and_round_trips():
    plan = load_plan(DEFAULT_PLAN_YAML)
    assert [s.kind for s in plan.steps] == ["shadow", "canary", "canary", "canary"]
    assert [s.body.weight for s in plan.steps[1:]] == [1, 10, 50]
    assert plan.steps[2].body.min_duration == 60.0
    assert load_plan(plan.to_yaml()) == plan


def test_plan_from_file(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(DEFAULT_PLAN_YAML)
    assert load_plan(path).name == "default"
    assert load_plan(str(path)).name == "default"
    with pytest.raises(RolloutError, match="does not exist"):
        load_plan(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("value", "seconds"), [(5, 5.0), ("500ms", 0.5), ("30s", 30.0), ("2m", 120.0), ("1h", 3600.0)]
)
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"steps": []}, "steps"),
        ({"steps": [{"canary": {"weight": 150}}]}, "steps[0].canary.weight"),
        ({"steps": [{"canary": {"weight": 10, "min_duration": "soon"}}]}, "steps[0].canary.min_duration"),
        ({"steps": [{"shadow": {"traffic": 0.1}, "canary": {"weight": 1}}]}, "steps[0]"),
        ({"steps": [{"canary": {"weight": 1, "colour": "red"}}]}, "steps[0].canary.colour"),
        (
            {"steps": [{"canary": {"weight": 1}}], "on_insufficient_data": {"action": "pray"}},
            "on_insufficient_data.action",
        ),
        (
            {"steps": [{"canary": {"weight": 1}}], "missing_metrics": {"action": "ignore"}},
            "missing_metrics.action",
        ),
        (
            {"steps": [{"canary": {"weight": 1}}], "runbooks": [{"on": "rolled_back", "actions": [{}]}]},
            "runbooks[0].actions[0]",
        ),
        (
            {
                "steps": [{"canary": {"weight": 1}}],
                "runbooks": [{"on": "rolled_back", "actions": [{"webhook": {"url": "ftp://x"}}]}],
            },
            "runbooks[0].actions[0].webhook.url",
        ),
        (
            {"steps": [{"canary": {"weight": 1}}], "analysis": {"error_rate": {"alpha": 0.9}}},
            "analysis.error_rate.alpha",
        ),
        ({"steps": [{"canary": {"weight": 10}}, {"canary": {"weight": 5}}]}, "steps[1]"),
        # a check that needs more data than the step asks for says so up front, naming the field to raise
        ({"steps": [{"shadow": {"traffic": 0.2, "min_requests": 50}}]}, "steps[0].shadow.min_requests"),
        (
            {"steps": [{"shadow": {"traffic": 0.2}}], "analysis": {"shadow_agreement": {"min_pairs": 10}}},
            "analysis.shadow_agreement.min_pairs",
        ),
        (
            {"steps": [{"shadow": {"traffic": 0.2}}], "analysis": {"shadow_agreement": {"threshold": 1}}},
            "analysis.shadow_agreement.threshold",
        ),
    ],
)
def test_errors_name_the_field(doc, field):
    with pytest.raises(RolloutError) as info:
        load_plan(doc)
    assert info.value.fields["field"] == field
    assert field in str(info.value)


def test_order_rules():
    with pytest.raises(RolloutError, match="weights must increase"):
        load_plan({"steps": [{"canary": {"weight": 10}}, {"canary": {"weight": 5}}]})
    with pytest.raises(RolloutError, match="shadow step must come before"):
        load_plan({"steps": [{"canary": {"weight": 10}}, {"shadow": {"traffic": 0.5}}]})
    with pytest.raises(RolloutError, match="at least 1 second"):
        load_plan({"interval": "500ms", "steps": [{"canary": {"weight": 10}}]})


def test_not_yaml_or_not_mapping():
    with pytest.raises(RolloutError, match="not valid YAML"):
        load_plan("steps: [\n  - {")
    with pytest.raises(RolloutError, match="mapping"):
        load_plan("- 1\n- 2\n")


def test_step_analysis_overrides_plan():
    plan = load_plan(
        {"steps": [{"canary": {"weight": 5, "analysis": {"latency": None}}}, {"canary": {"weight": 50}}]}
    )
    assert plan.analysis_for(0).latency is None
    assert plan.analysis_for(1).latency is not None


def test_user_metric_needs_a_source():
    with pytest.raises(RolloutError, match="add a prometheus") as info:
        load_plan(
            {
                "steps": [{"canary": {"weight": 1}}],
                "analysis": {"user_metrics": [{"name": "ctr", "min": 0.1}]},
            }
        )
    assert info.value.fields["field"] == "analysis.user_metrics[0]"
    plan = load_plan(
        {
            "steps": [{"canary": {"weight": 1}}],
            "analysis": {
                "user_metrics": [
                    {
                        "name": "ctr",
                        "min": 0.1,
                        "prometheus": {"url": "http://prom:9090", "query": 'ctr{version="{version}"}'},
                    },
                    {"name": "fallback_rate", "max": 0.05},
                ]
            },
        }
    )
    assert plan.analysis.user_metrics[0].prometheus.url == "http://prom:9090"


def test_switched_off_checks_stay_off_through_yaml():
    plan = load_plan(
        {
            "name": "x",
            "steps": [
                {"shadow": {"traffic": 0.5}},
                {"canary": {"weight": 10, "analysis": {"latency": None}}},
            ],
            "analysis": {"latency": None, "shadow_agreement": None},
        }
    )
    again = load_plan(plan.to_yaml())
    assert again == plan
    assert again.analysis.latency is None and again.analysis.shadow_agreement is None
    assert again.steps[1].body.analysis.latency is None


def test_the_steps_min_requests_governs_every_check_left_unset():
    plan = load_plan(
        {
            "steps": [
                {"shadow": {"traffic": 0.2, "min_requests": 80}},
                {"canary": {"weight": 10, "min_requests": 50, "min_duration": "30s"}},
            ],
            "analysis": {
                "latency": {"min_requests": 400},  # written in the plan: it differs, and status shows it
                "user_metrics": [{"name": "fallback_rate", "max": 0.1}],
            },
        }
    )
    canary = plan.analysis_for(1)
    assert (canary.error_rate.min_requests, canary.latency.min_requests) == (50, 400)
    assert canary.user_metrics[0].min_count == 50
    assert plan.analysis_for(0).shadow_agreement.min_pairs == 80
    assert plan.minimums(1) == {
        "min_duration_s": 30.0,
        "min_requests": 50,
        "checks": {
            "error_rate": {"min": 50, "of": "requests per arm"},
            "latency": {"min": 400, "of": "latency observations per arm"},
            "metric:fallback_rate": {"min": 50, "of": "observations"},
        },
    }
    dumped = plan.to_data()["analysis"]
    assert "min_requests" not in dumped["error_rate"] and dumped["latency"]["min_requests"] == 400
    assert load_plan(plan.to_yaml()) == plan  # filled-in minimums are not written back


@pytest.mark.parametrize(("threshold", "confidence"), [(0.95, 0.95), (0.9, 0.95), (0.99, 0.9), (0.5, 0.8)])
def test_pairs_needed_is_the_fewest_pairs_that_can_pass(threshold, confidence):
    from trilho.rollout.plan import AgreementCheck
    from trilho.rollout.statistics import wilson_interval

    n = AgreementCheck(threshold=threshold, confidence=confidence).pairs_needed
    assert wilson_interval(n, n, confidence)[0] >= threshold > wilson_interval(n - 1, n - 1, confidence)[0]


def test_shadow_share_is_in_percent_like_canary_weights():
    new = load_plan({"steps": [{"shadow": {"percent": 20}}, {"canary": {"weight": 10}}]})
    old = load_plan({"steps": [{"shadow": {"traffic": 0.2}}, {"canary": {"weight": 10}}]})
    assert new == old and new.steps[0].body.percent == 20 and new.steps[0].body.traffic == 0.2
    assert "percent: 20" in old.to_yaml() and "traffic" not in old.to_yaml()
    for bad, says in (({"traffic": 20}, "write percent: 20"), ({"traffic": 0.2, "percent": 20}, "not both")):
        with pytest.raises(RolloutError, match=says) as info:
            load_plan({"steps": [{"shadow": bad}]})
        assert info.value.fields["field"] == "steps[0].shadow"
