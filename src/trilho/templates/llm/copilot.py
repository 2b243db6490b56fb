"""The LLM feature: a support copilot. Offline it answers from the FAQ bundle (data/faq.csv, built by
train.py); in production swap `generate` for a call to your model endpoint — the contract, golden cases and
eval gate stay.

The registry loads it with the python flavour: entry ``copilot:predict`` (records in, records out).
"""

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _faq() -> list[tuple[str, str]]:
    path = HERE / "faq.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        return [(row["keyword"].lower(), row["answer"]) for row in csv.DictReader(fh)]


FAQ = _faq() if (HERE / "faq.csv").is_file() else []


def generate(question: str) -> str:
    """Answer one question."""
    q = question.lower()
    for keyword, text in FAQ:
        if keyword in q:
            return text
    topic = question.rstrip("?").split(" ", 3)[-1]
    return f"Here is how: open the app, go to Settings and look for '{topic}'. Our help centre has a guide."


def predict(records: list[dict]) -> list[dict]:
    """Batch entry point for the registry and the gateway."""
    return [{"answer": generate(str(r["question"]))} for r in records]
