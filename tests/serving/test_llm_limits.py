"""Per-key rate limits and spend budgets (pure, on a manual clock): the token bucket never admits more than
its capacity plus what a minute refills, refusals say when to retry, budgets reset with their UTC window, and
a bad keys file names the field."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.errors import ConfigError
from trilho.serving.llm.limits import KeyLimits, window_of

KEY = "sk-team-a-secret"
T0 = dt.datetime(2026, 12, 8, 23, 59, 0, tzinfo=dt.UTC).timestamp()


def _limits(**policy) -> KeyLimits:
    return KeyLimits.from_dict(
        {"keys": [{"name": "team-a", "key_env": "A_KEY", **policy}]}, env={"A_KEY": KEY}
    )


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 30), st.lists(st.floats(0, 300, allow_nan=False), min_size=1, max_size=120))
def test_requests_never_exceed_capacity_plus_refill(rpm, offsets):
    limits = _limits(requests_per_minute=rpm)
    policy, refusal = limits.identify(f"Bearer {KEY}")
    assert refusal is None and policy is not None
    admitted = 0
    times = sorted(offsets)
    for t in times:
        r = limits.admit(policy, T0 + t)
        if r is None:
            admitted += 1
        else:
            assert r.status == 429 and r.code == "requests" and r.retry_after_s >= 1
            assert "team-a" in r.message and KEY not in r.message
    assert admitted <= rpm + rpm * (times[-1] - times[0]) / 60.0 + 1e-6


def test_a_refused_key_is_admitted_again_after_retry_after():
    limits = _limits(requests_per_minute=2)
    policy, _ = limits.identify(f"Bearer {KEY}")
    assert limits.admit(policy, T0) is None and limits.admit(policy, T0) is None
    r = limits.admit(policy, T0)
    assert r is not None and r.retry_after_s == 30
    assert limits.admit(policy, T0 + r.retry_after_s) is None


def test_tokens_are_charged_after_the_answer_and_then_wait():
    limits = _limits(tokens_per_minute=100)
    policy, _ = limits.identify(f"Bearer {KEY}")
    assert limits.admit(policy, T0) is None
    limits.charge(policy, 160, 0.0, T0)  # an answer larger than the minute's tokens: the key owes 60
    r = limits.admit(policy, T0 + 1)
    assert r is not None and r.code == "tokens" and 30 <= r.retry_after_s <= 36
    assert limits.admit(policy, T0 + 40) is None


def test_a_daily_budget_refuses_until_utc_midnight_then_resets():
    limits = _limits(budget_usd=0.01, budget_window="day")
    policy, _ = limits.identify(f"Bearer {KEY}")
    assert limits.admit(policy, T0) is None
    limits.charge(policy, 1000, 0.012, T0)
    r = limits.admit(policy, T0 + 1)
    assert r is not None and (r.status, r.kind, r.code) == (429, "insufficient_quota", "insufficient_quota")
    assert r.retry_after_s == 59 and "$0.01" in r.message and "per day" in r.message
    assert limits.admit(policy, T0 + 60) is None  # a new UTC day
    assert limits.spent(policy) == 0.0


def test_a_total_budget_has_no_retry_after():
    limits = _limits(budget_usd=1.0)
    policy, _ = limits.identify(f"Bearer {KEY}")
    limits.charge(policy, 10, 1.5, T0)
    r = limits.admit(policy, T0 + 86400 * 40)
    assert r is not None and r.retry_after_s is None and "in total" in r.message


def test_unknown_and_missing_keys_are_refused_unless_anonymous_is_allowed():
    limits = _limits()
    for header in (None, "Bearer nope", "Bearer "):
        policy, r = limits.identify(header)
        assert policy is None and r is not None and r.status == 401 and r.code == "invalid_api_key"
    open_ = KeyLimits.from_dict(
        {"anonymous": "allow", "keys": [{"name": "b", "key_sha256": hashlib.sha256(b"k").hexdigest()}]}
    )
    assert open_.identify(None) == (None, None)
    assert open_.identify("Bearer k")[0].name == "b"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"keys": "x"}, "keys"),
        ({"keys": [], "anonymous": "maybe"}, "anonymous"),
        ({"keys": [{"name": "a"}]}, "keys[0]"),
        (
            {"keys": [{"name": "a", "key_env": "A_KEY", "requests_per_minute": 0}]},
            "keys[0].requests_per_minute",
        ),
        ({"keys": [{"name": "a", "key_env": "A_KEY", "budget_window": "week"}]}, "keys[0].budget_window"),
        ({"keys": [{"name": "a", "key_env": "UNSET_KEY_VAR"}]}, "keys[0].key_env"),
        ({"keys": [{"name": "a", "key_sha256": "xyz"}]}, "keys[0].key_sha256"),
        ({"keys": [{"name": "a", "key_env": "A_KEY", "api_key": KEY}]}, "keys[0]"),
    ],
)
def test_bad_keys_files_name_the_field(doc, field):
    with pytest.raises(ConfigError) as err:
        KeyLimits.from_dict(doc, env={"A_KEY": KEY})
    assert err.value.fields["field"] == field and KEY not in str(err.value)


def test_windows():
    assert window_of("total", T0) == ("total", None)
    assert window_of("day", T0) == ("2026-12-08", 60.0)
    month, left = window_of("month", T0)
    assert month == "2026-12" and left == 60.0 + 23 * 86400
