"""Fixtures for the evals tests: the shared GenAI reference data and the offline embedding model (once)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from tests.conftest import reference_data


@pytest.fixture(scope="session")
def genai_data() -> Path:
    """Folder with the labelled GenAI reference files (skipped where absent, a failure in CI)."""
    return reference_data("genai")


@pytest.fixture(scope="session")
def embedder():
    """The offline all-MiniLM-L6-v2 sentence embedder, loaded once per test session."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from trilho.evals.judges.embed import Embedder

    return Embedder.load()


@pytest.fixture(scope="session")
def refusal_judge(genai_data, embedder, tmp_path_factory):
    """An offline refusal judge fitted on every 5th XSTest completion (fast), with 20 held-out rows."""
    from trilho.evals.judges.offline import fit_classifier, xstest_refusal_rows
    from trilho.evals.judges.train import embed_pairs

    q, r, y = xstest_refusal_rows(genai_data / "xstest_v2_completions_gpt4_gpteval.csv")
    train = [i for i in range(len(q)) if i % 5 == 0]
    held = [i for i in range(len(q)) if i % 5 == 2][:20]
    # embeddings are content-addressed, so a cache shared across sessions is safe (and never committed)
    cache = Path(tempfile.gettempdir()) / "trilho-evals-test-cache"
    x = embed_pairs(embedder, [q[i] for i in train], [r[i] for i in train], cache)
    clf = fit_classifier("trilho-refusal-minilm", x, [y[i] for i in train], good="1_full_compliance")
    heldout = [{"id": str(i), "input": q[i], "output": r[i], "label": y[i]} for i in held]
    return clf, heldout


@pytest.fixture(scope="session")
def judge_server(refusal_judge, embedder):
    """The offline judge served on 127.0.0.1 (OpenAI-compatible); yields (base_url, app state)."""
    from trilho.evals._serve import serve_in_thread
    from trilho.evals.judges.server import make_judge_app

    clf, _ = refusal_judge
    app = make_judge_app({clf.name: clf}, embedder)
    with serve_in_thread(app) as url:
        yield url, app.state.judge
