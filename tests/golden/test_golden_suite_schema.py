"""docs/schemas/golden-suite.schema.json is generated (trilho.formats) from the code that parses the format:
a change to that code regenerates it, checked here where the change is made."""

import json
from pathlib import Path

from trilho import formats

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "golden-suite.schema.json"


def test_the_committed_golden_suite_schema_is_current():
    generated = json.dumps(formats.SCHEMAS["golden-suite"](), indent=2, sort_keys=True) + "\n"
    assert SCHEMA.read_text(encoding="utf-8") == generated, "regenerate: python -m trilho.formats --write"
