"""Flavours: how each kind of artifact becomes a batch function ``records -> records``.

* ``python``  — ``module:object`` from the artifact file or folder; a function taking a list of records, an
  object with ``predict(records)``, or a class that is instantiated without arguments.
* ``sklearn`` — a skops file, loaded only when every type in it is trusted (never raw pickle).
* ``torch``   — a TorchScript file, or a state dict (``weights_only=True``) plus ``module:factory``; a module
  with a ``predict_records(records)`` method serves records itself (inputs that are not one flat matrix, such
  as a recommender's user id and item lists).
* ``onnx``    — an ONNX graph run with onnxruntime.
* ``llm``     — a spec of an OpenAI-compatible LLM call (:mod:`trilho.registry.llm`): upstream, model, prompt.

Array flavours map records to matrices by the contract's input field order and back by its output fields.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trilho.contracts.columns import ColumnBatch, as_records
from trilho.errors import RegistryError
from trilho.registry.io import columns_to_records, matrix_to_records, records_to_matrix

FLAVORS = ("python", "sklearn", "torch", "onnx", "llm")

BatchFn = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@dataclass(frozen=True)
class LoadSpec:
    """What a flavour needs: the local artifact path, the entry point, options and the contract's fields."""

    path: Path
    entry: str | None
    inputs: Sequence[str]
    outputs: Sequence[str]
    options: dict[str, Any] = field(default_factory=dict)


def check_flavor(flavor: str) -> str:
    """Return ``flavor`` if trilho can load it, else raise ``RegistryError`` listing the valid ones."""
    if flavor not in FLAVORS:
        raise RegistryError(
            f"unknown flavor {flavor!r}",
            fix=f"use one of: {', '.join(FLAVORS)}",
            field="flavor",
            value=flavor,
        )
    return flavor


def load_flavor(flavor: str, spec: LoadSpec) -> BatchFn:
    """Load an artifact of ``flavor`` into a batch function ``records -> records``."""
    loader = {
        "python": _load_python,
        "sklearn": _load_sklearn,
        "torch": _load_torch,
        "onnx": _load_onnx,
        "llm": _load_llm,
    }[check_flavor(flavor)]
    try:
        return loader(spec)
    except RegistryError:
        raise
    except Exception as exc:  # any failure inside third-party loaders is one clear registry error
        raise RegistryError(
            f"loading the {flavor} artifact {spec.path.name!r} failed: {type(exc).__name__}: {exc}",
            fix=f"check that the artifact really is a {flavor} model and that --entry is right",
            field="artifact",
            value=str(spec.path),
        ) from exc


# --- python ---------------------------------------------------------------------------------------
def _split_entry(entry: str | None, what: str) -> tuple[str, str]:
    if not entry or entry.count(":") != 1 or not all(entry.split(":")):
        raise RegistryError(
            f"{what} needs an entry point 'module:object', got {entry!r}",
            fix="pass --entry module:object (e.g. --entry model:predict)",
            field="entry",
            value=entry,
        )
    module, obj = entry.split(":")
    return module, obj


def import_entry(artifact: Path, entry: str | None, what: str = "the python flavour") -> Any:
    """Import ``module:object`` from an artifact file/folder (or an installed module) without name clashes."""
    module_name, attr = _split_entry(entry, what)
    root = artifact if artifact.is_dir() else artifact.parent
    rel = Path(*module_name.split("."))
    candidates = [root / rel.with_suffix(".py"), root / rel / "__init__.py"]
    source = next((c for c in candidates if c.is_file()), None)
    if source is not None:
        module = _import_from_root(root, module_name)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise RegistryError(
                f"module {module_name!r} is neither in the artifact nor installed",
                fix="put the module file in the artifact folder, or fix --entry",
                field="entry",
                value=entry,
            ) from exc
    if not hasattr(module, attr):
        raise RegistryError(
            f"module {module_name!r} has no attribute {attr!r}",
            fix="fix --entry; names defined there: "
            + ", ".join(n for n in dir(module) if not n.startswith("_")),
            field="entry",
            value=entry,
        )
    return getattr(module, attr)


_IMPORT_LOCK = threading.RLock()


def _import_from_root(root: Path, module_name: str) -> Any:
    """Import ``module_name`` from ``root`` as a submodule of a package unique to that folder.

    Every artifact folder becomes its own package (``_trilho_artifact_<hash>``), so two versions that both
    have ``model.py`` or ``helpers.py`` never share modules, and relative imports work. Absolute imports of
    siblings (``import helpers``) resolve while the entry module runs; the sibling modules are then dropped
    from ``sys.modules`` so the next artifact gets its own. Import siblings at the top of the entry module.
    """
    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    package = f"_trilho_artifact_{tag}"
    full = f"{package}.{module_name}"
    with _IMPORT_LOCK:
        if full in sys.modules:
            return sys.modules[full]
        if package not in sys.modules:
            spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
            spec.submodule_search_locations = [str(root)]
            pkg = importlib.util.module_from_spec(spec)
            sys.modules[package] = pkg
        before = set(sys.modules)
        sys.path.insert(0, str(root))
        try:
            return importlib.import_module(full)
        finally:
            sys.path.remove(str(root))
            resolved = root.resolve()
            for name in set(sys.modules) - before:
                if name == full or name.startswith(package + "."):
                    continue
                file = getattr(sys.modules.get(name), "__file__", None)
                if file and Path(file).resolve().is_relative_to(resolved):
                    del sys.modules[name]


def _load_python(spec: LoadSpec) -> BatchFn:
    obj = import_entry(spec.path, spec.entry)
    if inspect.isclass(obj):
        obj = obj()
    if hasattr(obj, "predict") and callable(obj.predict):
        return obj.predict
    if callable(obj):
        return obj
    raise RegistryError(
        f"entry {spec.entry!r} is neither callable nor has a predict method",
        fix="point --entry at a function taking a list of records, or an object with predict(records)",
        field="entry",
        value=spec.entry,
    )


# --- scikit-learn through skops -------------------------------------------------------------------------
def _load_sklearn(spec: LoadSpec) -> BatchFn:
    import skops.io as sio

    if spec.path.is_dir():
        files = sorted(spec.path.rglob("*.skops"))
        if len(files) != 1:
            raise RegistryError(
                f"artifact folder {spec.path.name!r} must hold exactly one .skops file, found {len(files)}",
                fix="save the model with skops.io.dump(model, 'model.skops') and pass that file",
                field="artifact",
            )
        path = files[0]
    else:
        path = spec.path
    trusted = list(spec.options.get("trusted_types") or [])
    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in trusted]
    if untrusted:
        raise RegistryError(
            f"the skops file contains types trilho does not trust: {', '.join(untrusted)}",
            fix="review them, then register again with --trust TYPE for each one you trust",
            field="trusted_types",
            value=untrusted,
        )
    model = sio.load(path, trusted=trusted or None)
    method_name = spec.options.get("method") or (
        spec.entry if spec.entry and ":" not in spec.entry else "predict"
    )
    method = getattr(model, method_name, None)
    if method is None:
        raise RegistryError(
            f"the scikit-learn model has no method {method_name!r}",
            fix="pass --entry predict, predict_proba or another method the estimator has",
            field="entry",
            value=method_name,
        )
    inputs, outputs = list(spec.inputs), list(spec.outputs)
    names = getattr(model, "feature_names_in_", None)
    missing = [str(n) for n in (names if names is not None else []) if str(n) not in inputs]
    if missing:
        raise RegistryError(
            f"the model was fitted on columns {missing} that the contract's inputs {inputs} do not declare",
            fix="declare every training column as an input field of the contract",
            field="inputs",
            value=missing,
        )

    def predict(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not records:
            return []
        if names is not None:
            import pandas as pd

            columns = [str(n) for n in names]
            if isinstance(records, ColumnBatch) and all(c in records.columns for c in columns):
                frame = pd.DataFrame({c: records.column(c) for c in columns})
            else:
                frame = pd.DataFrame.from_records(as_records(records), columns=columns)
            result = method(frame)
        else:
            result = method(records_to_matrix(records, inputs))
        return matrix_to_records(result, outputs, len(records))

    predict.columnar = True  # type: ignore[attr-defined]  # takes a ColumnBatch whole
    return predict


# --- torch ----------------------------------------------------------------------------------------
def _load_torch(spec: LoadSpec) -> BatchFn:
    import torch

    path = spec.path
    if path.is_dir():
        files = sorted([*path.rglob("*.pt"), *path.rglob("*.pth")])
        if len(files) != 1:
            raise RegistryError(
                f"artifact folder {path.name!r} must hold exactly one .pt/.pth file, found {len(files)}",
                fix="keep one weights file (plus the factory's module) in the folder",
                field="artifact",
            )
        weights = files[0]
    else:
        weights = path
    if spec.entry:
        factory = import_entry(path, spec.entry, "a torch state dict")
        module = factory()
        state = torch.load(weights, map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    else:
        module = torch.jit.load(str(weights), map_location="cpu")
    module.eval()
    own = getattr(module, "predict_records", None)
    if callable(own):
        return own
    inputs, outputs = list(spec.inputs), list(spec.outputs)

    def predict(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not records:
            return []
        x = torch.from_numpy(records_to_matrix(records, inputs, dtype="float32"))
        with torch.inference_mode():
            y = module(x)
        if isinstance(y, tuple | list):
            return columns_to_records([t.numpy() for t in y], outputs, len(records))
        return matrix_to_records(y.numpy(), outputs, len(records))

    predict.columnar = True  # type: ignore[attr-defined]
    return predict


# --- onnx -----------------------------------------------------------------------------------------
_ONNX_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(string)": "object",
}


def _load_onnx(spec: LoadSpec) -> BatchFn:
    import onnxruntime as ort

    path = spec.path
    if path.is_dir():
        files = sorted(path.rglob("*.onnx"))
        if len(files) != 1:
            raise RegistryError(
                f"artifact folder {path.name!r} must hold exactly one .onnx file, found {len(files)}",
                fix="pass the .onnx file itself as --artifact",
                field="artifact",
            )
        path = files[0]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    dtype = _ONNX_DTYPES.get(first.type, "float32")
    out_names = [o.name for o in session.get_outputs()]
    inputs, outputs = list(spec.inputs), list(spec.outputs)
    by_name = len(outputs) > 1 and len(out_names) >= len(outputs)
    wanted = out_names[: len(outputs)] if by_name else out_names[:1]

    def predict(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not records:
            return []
        x = records_to_matrix(records, inputs, dtype=dtype)
        result = session.run(wanted, {first.name: x})
        if by_name:
            return columns_to_records(result, outputs, len(records))
        return matrix_to_records(result[0], outputs, len(records))

    predict.columnar = True  # type: ignore[attr-defined]
    return predict


# --- llm ------------------------------------------------------------------------------------------
def _load_llm(spec: LoadSpec) -> BatchFn:
    from trilho.registry.llm import load_llm

    return load_llm(spec.path)
