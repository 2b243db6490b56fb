"""trilho.datasets: the reference data ships with the package, pinned by checksum, with its licences."""

from __future__ import annotations

import shutil

import pytest

from trilho import datasets


def test_every_shipped_file_matches_its_pinned_checksum():
    checked = datasets.verify()
    assert "causal/prop99_smoking.csv" in checked
    assert "genai/xstest_v2_completions_llama2orig_gpteval.csv" in checked
    shipped = {
        f"{p.parent.name}/{p.name}" for name in datasets.folders() for p in datasets.path(name).iterdir()
    }
    assert shipped == {c for c in checked if "/" in c}, "a shipped file is not pinned in SHA256SUMS.txt"


def test_each_data_folder_keeps_its_readme_and_licences():
    for name in datasets.folders():
        folder = datasets.path(name)
        assert (folder / "README.md").is_file()
        assert list(folder.glob("LICENSE*")), f"{name}: no licence text beside the data"


def test_unknown_folder_names_the_ones_that_exist():
    with pytest.raises(datasets.DatasetError, match="choose one of causal, genai"):
        datasets.path("nope")


def test_an_edited_or_missing_file_fails_verification(tmp_path, monkeypatch):
    copy = tmp_path / "datasets"
    shutil.copytree(datasets.ROOT, copy)
    monkeypatch.setattr(datasets, "ROOT", copy)
    with (copy / "causal" / "basque.csv").open("a") as f:
        f.write("tampered\n")
    with pytest.raises(datasets.DatasetError, match="basque.csv has sha256"):
        datasets.verify("causal")
    (copy / "genai" / "xstest_prompts.csv").unlink()
    with pytest.raises(datasets.DatasetError, match="xstest_prompts.csv is missing"):
        datasets.verify("genai")
