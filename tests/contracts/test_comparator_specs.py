"""The shadow comparator grammar: every spec the serving side builds a comparator from parses here, the parser
accepts no more than the JSON Schema pattern editors check, and a bad spec names the field, the value and the
allowed forms."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trilho.contracts.comparator_specs import FORMS, PATTERN, parse_comparator_spec
from trilho.errors import InputError

names = st.text(st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), min_size=1, max_size=8)
numbers = st.floats(0, 1).map(repr)
good_specs = st.one_of(
    st.just("exact"),
    st.builds(lambda t, f: f"numeric:{t}" + (f":{f}" if f else ""), numbers, st.none() | names),
    st.builds(lambda f: f"label:{f}", names),
    st.builds(
        lambda k, f, m: f"topk:{k}:{f}" + (f":{m}" if m else ""),
        st.integers(1, 50),
        names,
        st.none() | numbers,
    ),
    st.builds(lambda f, m: f"cosine:{f}" + (f":{m}" if m else ""), names, st.none() | numbers),
)


@given(good_specs)
def test_every_well_formed_spec_parses_and_matches_the_schema_pattern(spec):
    parsed = parse_comparator_spec(spec)
    assert parsed.kind == spec.split(":")[0]
    assert re.fullmatch(PATTERN, spec)


@given(st.text(max_size=30))
def test_the_parser_accepts_no_more_than_the_schema_pattern(spec):
    try:
        parse_comparator_spec(spec)
    except InputError:
        return
    assert re.fullmatch(PATTERN, spec)


@pytest.mark.parametrize(
    "bad",
    ["abs_tol(x)", "nope", "exact:1", "label", "label:", "topk:0:items", "topk:x:items", "numeric:-1",
     "numeric:nan", "numeric:1_0", "cosine:e:1.5", "topk:+3:items", " exact"],
)  # fmt: skip
def test_a_bad_spec_names_field_value_and_the_allowed_forms(bad):
    with pytest.raises(InputError) as err:
        parse_comparator_spec(bad, field="comparators[2]")
    e = err.value
    assert e.fields["field"] == "comparators[2]" and e.fields["value"] == bad
    assert repr(bad) in e.message and all(form in e.message for form in FORMS)
