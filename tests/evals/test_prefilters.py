"""The default policy's prefilters skip a detector only where it cannot match: on the PII corpus and on
generated text, a prefiltered pattern never matches where its prefilter says no, the PII detector finds
exactly what it found without prefilters, and the secrets check's shared trigger table fires exactly the
rules the per-rule trigger test did."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.evals.checks import pii
from trilho.evals.checks.secrets import DS_TRIGGERS, GENERIC, TRIGGERS, SecretsCheck
from trilho.evals.validation import load_presidio_synth

SAMPLES = [
    "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "fe80::1%eth0", "::1", "::", "::ffff:192.0.2.128",
    "64:ff9b::192.0.2.33", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
    "de89 3704 0044 0532 0130 00", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
]  # fmt: skip
ALPHABET = "0123456789abcdefABCDEFGXYZqrsxyz:.-_ /\nİıſK"


def _prefiltered():
    import regex

    out = []
    for rec in pii.pattern_recognizers(True):
        for pat in rec.patterns:
            pre = pii.PREFILTERS.get((rec.name, pat.name))
            if pre is not None:
                rx = regex.compile(pat.regex, flags=rec.global_regex_flags or 0)
                out.append((rec.name, pat.name, rx, pre))
    return out


PREFILTERED = _prefiltered()


def test_every_prefilter_names_a_real_pattern():
    assert len(PREFILTERED) == len(pii.PREFILTERS)


def _never_skips_a_match(text: str) -> None:
    for rec, pat, rx, pre in PREFILTERED:
        if not pre(text):
            assert rx.search(text) is None, (rec, pat, text)


@pytest.mark.parametrize("sample", SAMPLES)
def test_prefilters_pass_real_identifiers(sample):
    for text in (sample, f"reach me at {sample} today", sample.lower(), sample.upper()):
        _never_skips_a_match(text)
    assert any(pre(sample) for *_, pre in PREFILTERED)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SAMPLES), st.text(ALPHABET, max_size=40)), max_size=4))
def test_prefilters_never_skip_a_match_on_generated_text(parts):
    _never_skips_a_match(" ".join(parts))


def test_pii_detector_finds_the_same_with_and_without_prefilters(genai_data, monkeypatch):
    records = load_presidio_synth(genai_data / "presidio_synth_dataset_v2.json")
    entities = ["CREDIT_CARD", "IBAN_CODE", "US_SSN", "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS",
                "US_ITIN", "UK_NHS", "CRYPTO"]  # fmt: skip
    fast = pii.PIIDetector("pattern", entities)
    monkeypatch.setattr(pii, "PREFILTERS", {})
    full = pii.PIIDetector("pattern", entities)
    texts = [r["full_text"] for r in records] + SAMPLES
    for text in texts:
        _never_skips_a_match(text)
        assert fast.detect(text) == full.detect(text), text


LITERALS = sorted(
    {t for trig in TRIGGERS.values() for t in trig}
    | {t for groups in DS_TRIGGERS.values() for g in groups for grp in g for t in grp}
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(LITERALS), st.text("abcXYZ_-= :", max_size=8)), max_size=8))
def test_secrets_trigger_table_fires_like_the_per_rule_test(parts):
    check = SecretsCheck()
    text = "".join(parts)
    lowered = text.lower()
    fired = {k for k, _ in check._rules.firing(text, lowered)}
    assert fired == {k for k, trig in TRIGGERS.items() if any(t in text for t in trig)}
    fired_cat = [k for k, _ in check._catalogue.firing(text, lowered)]
    expected = []
    from trilho.evals.checks.secrets import detect_secrets_rules

    for kind, groups, ignore_case, _ in detect_secrets_rules():
        hay = lowered if ignore_case else text
        if all(any((t.lower() if ignore_case else t) in hay for t in g) for g in groups):
            expected.append(kind)
    assert fired_cat == expected


@settings(max_examples=300, deadline=None)
@given(st.text("apikeysecrtoknpw_ABC0123456789xyz'\" -", max_size=60))
def test_generic_secret_needs_an_assignment(text):
    if "=" not in text and ":" not in text:
        assert re.search(GENERIC, text) is None
