"""The project's own checks: the FAQ meets its contract and the copilot answers its golden cases."""

import json
import runpy
from pathlib import Path

import pandas as pd

from trilho.contracts import load_contract

ROOT = Path(__file__).resolve().parents[1]


def test_faq_meets_its_contract():
    report = load_contract(ROOT / "contracts/data.yaml").validate_frame(pd.read_csv(ROOT / "data/faq.csv"))
    assert report.ok, report.failures[:3]


def test_the_built_copilot_answers_every_golden_case(monkeypatch):
    monkeypatch.chdir(ROOT)
    runpy.run_path("train.py", run_name="__main__")
    copilot = runpy.run_path("build/copilot/copilot.py")
    cases = [json.loads(line) for line in (ROOT / "golden/cases.jsonl").read_text().splitlines()]
    answers = copilot["predict"]([c["input"] for c in cases])
    assert [a["answer"] for a in answers] == [c["expected"]["answer"] for c in cases]
