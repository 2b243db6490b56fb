"""The eval suite's target: the *built* copilot in build/copilot (what gets registered), one question at a
time."""

import hashlib
import importlib.util
from pathlib import Path

_cache: dict[str, object] = {}


def _module():
    path = Path("build/copilot/copilot.py").resolve()
    key = hashlib.sha256(str(path).encode() + path.read_bytes()).hexdigest()[:16]  # a rebuilt copilot reloads
    if key not in _cache:
        spec = importlib.util.spec_from_file_location(f"_copilot_{key}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _cache[key] = module
    return _cache[key]


def answer(question: str) -> str:
    """One answer from the built copilot."""
    return _module().generate(question)
