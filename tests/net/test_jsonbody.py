"""The bounded JSON decoder (pure): its nesting depth agrees with the parsed value's, strings never count,
and a body too deep is refused before parsing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trilho.net.errors import RequestRejected
from trilho.net.jsonbody import decode_json, nesting_depth, too_deep

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\a'), inner, max_size=3)
    ),
    max_leaves=30,
)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@given(JSON, st.integers(0, 12))
def test_depth_matches_the_parsed_value_and_brackets_in_strings_do_not_count(value, limit):
    body = json.dumps(value).encode()
    assert nesting_depth(body, 1000) == depth(value)
    assert too_deep(body, limit) == (depth(value) > limit)
    assert nesting_depth(body, limit) <= limit + 1  # bounded work: it stops counting past the limit


@given(JSON)
def test_decode_json_returns_what_json_would(value):
    assert decode_json(json.dumps(value).encode(), max_depth=64) == value


@pytest.mark.parametrize("levels", [65, 1000, 100_000])
def test_too_deep_is_a_400_naming_the_rule(levels):
    with pytest.raises(RequestRejected) as err:
        decode_json(b"[" * levels + b"]" * levels, max_depth=64)
    assert err.value.status == 400 and err.value.to_dict()["error"] == "NestingTooDeep"
    assert err.value.fields["rule"] == "maxDepth:64"


def test_unbalanced_text_is_malformed_not_too_deep():
    for body in (b"[" * 100, b"[" * 100_000 + b"]"):  # the parser's own recursion limit is caught too
        with pytest.raises(RequestRejected) as err:
            decode_json(body, max_depth=64)
        assert err.value.status == 400 and err.value.to_dict()["error"] == "MalformedJSON"
    with pytest.raises(RequestRejected) as err:
        decode_json(b'{"a": [1, 2}', max_depth=64)
    assert err.value.to_dict()["error"] == "MalformedJSON"
