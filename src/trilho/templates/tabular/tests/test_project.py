"""The project's own checks: data meets its contract, the model trains and beats its accuracy threshold."""

import json
import runpy
from pathlib import Path

import pandas as pd
import yaml

from trilho.contracts import load_contract

ROOT = Path(__file__).resolve().parents[1]


def test_training_data_meets_its_contract():
    report = load_contract(ROOT / "contracts/data.yaml").validate_frame(pd.read_csv(ROOT / "data/train.csv"))
    assert report.ok, report.failures[:3]


def test_project_file_points_at_real_files():
    project = yaml.safe_load((ROOT / "trilho.yaml").read_text())
    for rel in (project["data"]["train"], project["data"]["contract"], project["model"]["contract"]):
        assert (ROOT / rel).exists(), rel


def test_training_writes_a_model_that_beats_the_threshold(monkeypatch):
    monkeypatch.chdir(ROOT)
    runpy.run_path("train.py", run_name="__main__")
    runpy.run_path("evaluate.py", run_name="__main__")
    metrics = json.loads((ROOT / "build/metrics.json").read_text())
    threshold = yaml.safe_load((ROOT / "trilho.yaml").read_text())["evaluate"]["thresholds"]["accuracy"][
        "min"
    ]
    assert metrics["accuracy"] >= threshold
