"""Brazilian personal data as presidio pattern recognizers with checksums: CPF (two mod-11 check digits),
CNPJ (two weighted mod-11 check digits), CEP (postal code, 00000-000) and Brazilian phone numbers (a valid DDD
area code; mobiles are 9 + 8 digits, landlines start with 2-5).

The checksums and the DDD table are pure functions (property-tested); the recognizers reject any match whose
digits fail them, so a random 11-digit number is not a CPF.
"""

from __future__ import annotations

import re
from typing import Any

# ANATEL's area codes (DDD) in use
DDD = frozenset(
    [
        11,
        12,
        13,
        14,
        15,
        16,
        17,
        18,
        19,
        21,
        22,
        24,
        27,
        28,
        31,
        32,
        33,
        34,
        35,
        37,
        38,
        41,
        42,
        43,
        44,
        45,
        46,
    ]
    + [47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84]
    + [85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99]
)


def _digits(text: str) -> list[int]:
    return [int(c) for c in re.sub(r"\D", "", text)]


def _mod11(digits: list[int], weights: list[int]) -> int:
    r = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if r < 2 else 11 - r


def cpf_valid(text: str) -> bool:
    """True when ``text`` holds 11 digits whose two check digits are right (and not all the same digit)."""
    d = _digits(text)
    if len(d) != 11 or len(set(d)) == 1:
        return False
    first = _mod11(d[:9], list(range(10, 1, -1)))
    return first == d[9] and _mod11(d[:10], list(range(11, 1, -1))) == d[10]


def cnpj_valid(text: str) -> bool:
    """True when ``text`` holds 14 digits whose two check digits are right (and not all the same digit)."""
    d = _digits(text)
    if len(d) != 14 or len(set(d)) == 1:
        return False
    w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    return _mod11(d[:12], w1) == d[12] and _mod11(d[:13], [6, *w1]) == d[13]


def br_phone_valid(text: str) -> bool:
    """True for a Brazilian number: optional +55, a valid DDD, then 9 + 8 digits (mobile) or 8 digits
    starting with 2-5 (landline)."""
    d = _digits(text)
    if len(d) in (12, 13) and d[:2] == [5, 5]:
        d = d[2:]
    if len(d) not in (10, 11) or d[0] * 10 + d[1] not in DDD:
        return False
    local = d[2:]
    return (len(local) == 9 and local[0] == 9) or (len(local) == 8 and 2 <= local[0] <= 5)


def with_check_digits(base: list[int], kind: str) -> str:
    """A valid CPF (9 base digits) or CNPJ (12 base digits) built from ``base``, digits only."""
    if kind == "cpf":
        d = list(base)
        d.append(_mod11(d, list(range(10, 1, -1))))
        d.append(_mod11(d, list(range(11, 1, -1))))
    else:
        w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
        d = list(base)
        d.append(_mod11(d, w1))
        d.append(_mod11(d, [6, *w1]))
    return "".join(map(str, d))


def br_recognizers() -> list[Any]:
    """presidio PatternRecognizers for BR_CPF, BR_CNPJ, BR_CEP and Brazilian PHONE_NUMBER."""
    import regex
    from presidio_analyzer import Pattern, PatternRecognizer

    class _Validated(PatternRecognizer):
        """A pattern recognizer whose matches must pass ``check`` (a checksum)."""

        def __init__(self, check: Any, **kw: Any) -> None:
            super().__init__(global_regex_flags=regex.DOTALL | regex.MULTILINE, **kw)
            self._check = check

        def validate_result(self, pattern_text: str) -> bool | None:
            return bool(self._check(pattern_text))

    cpf = r"(?<![\d.\-/])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\d\-/]|\.\d)"
    cnpj = r"(?<![\d.\-/])\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}(?![\d\-/]|\.\d)"
    return [
        _Validated(
            cpf_valid,
            supported_entity="BR_CPF",
            name="TrilhoBrCpfRecognizer",
            patterns=[Pattern("cpf", cpf, 0.5)],
        ),
        _Validated(
            cnpj_valid,
            supported_entity="BR_CNPJ",
            name="TrilhoBrCnpjRecognizer",
            patterns=[Pattern("cnpj", cnpj, 0.5)],
        ),
        PatternRecognizer(
            supported_entity="BR_CEP",
            name="TrilhoBrCepRecognizer",
            global_regex_flags=regex.DOTALL | regex.MULTILINE | regex.IGNORECASE,
            patterns=[
                Pattern("cep word", r"(?<=\bCEP:?\s?)\d{5}-?\d{3}\b", 0.7),
                Pattern("cep dashed", r"(?<![\d\-])\d{5}-\d{3}(?![\d\-])", 0.5),
            ],
        ),
        _Validated(
            br_phone_valid,
            supported_entity="PHONE_NUMBER",
            name="TrilhoBrPhoneRecognizer",
            patterns=[
                Pattern(
                    "br phone",
                    r"(?<![\w+])(?:\+55\s?)?(?:\(\d{2}\)|\d{2})[\s\-]?"
                    r"(?:9\d{4}|[2-5]\d{3})[\s\-]?\d{4}(?![\w-])",
                    0.7,
                )
            ],
        ),
    ]
