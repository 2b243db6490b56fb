"""A stand-in for the reader's LLM feature: answers one question, records in, records out."""


def answer(question: str) -> str:
    return f"Open Settings and look for '{question.rstrip('?')}'. Our help centre has a guide."


def predict(records):
    return [{"completion": answer(str(r["question"]))} for r in records]
