"""The project's own checks: the log meets its contract, the recommender trains and beats its recall floor."""

import json
import runpy
from pathlib import Path

import pandas as pd
import yaml

from trilho.contracts import load_contract

ROOT = Path(__file__).resolve().parents[1]


def test_interactions_meet_their_contract():
    report = load_contract(ROOT / "contracts/data.yaml").validate_frame(
        pd.read_csv(ROOT / "data/interactions.csv")
    )
    assert report.ok, report.failures[:3]


def test_training_writes_a_model_that_beats_the_floor(monkeypatch):
    monkeypatch.chdir(ROOT)
    runpy.run_path("train.py", run_name="__main__")
    runpy.run_path("evaluate.py", run_name="__main__")
    metrics = json.loads((ROOT / "build/metrics.json").read_text())
    floor = yaml.safe_load((ROOT / "trilho.yaml").read_text())["evaluate"]["thresholds"]["recall@20"]["min"]
    assert metrics["recall@20"] >= floor
    assert (ROOT / "build/model/recsys_entry.py").is_file()
