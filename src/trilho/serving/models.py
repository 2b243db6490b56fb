"""The seam between the gateway and model loading: a ``ModelProvider`` turns (model, version) into a
``LoadedVersion`` (a batch predict function, its contract's validators and warm-up records).

A batch may reach ``predict`` as a ``ColumnBatch`` (binary tensor requests: records held as columns). Only a
predictor that says it takes one (``accepts_columns``: the registry's sklearn, torch and ONNX flavours, a
python model whose predict function has ``columnar = True``) gets it as is (the micro-batcher hands every
other one a list of records, as always).

``RegistryProvider`` is the production one (``trilho.registry``); ``StaticProvider`` serves plain Python
callables (tests, benchmarks, embedding trilho in another service)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from trilho.contracts.columns import ColumnBatch
from trilho.errors import RegistryError

Records = list[dict[str, Any]]
Validate = Callable[[dict[str, Any]], dict[str, Any]]
ValidateColumns = Callable[[ColumnBatch], "ColumnBatch | None"]


@dataclass
class LoadedVersion:
    """A model version ready to call: ``predict(records) -> records`` and the checks around it."""

    model: str
    version: str
    predict: Callable[[Records], Records]
    contract: Any | None = None
    warmup_records: Records = field(default_factory=list)
    accepts_shadow: bool = True
    accepts_columns: bool = False  # predict takes a ColumnBatch whole (else it gets records)

    def __post_init__(self) -> None:
        self.validate_input: Validate | None = _validator(self.contract, "input")
        self.validate_output: Validate | None = _validator(self.contract, "output")
        self.validate_columns: ValidateColumns | None = _column_validator(self.contract)

    def fields(self, role: str) -> list[dict[str, Any]]:
        """The contract's fields for ``role`` as ``{name, type}`` (empty without a contract)."""
        get = getattr(self.contract, "fields", None)
        if not callable(get):
            return []
        try:
            return [{"name": f.name, "type": _type_name(getattr(f, "type", "any"))} for f in get(role)]
        except Exception:  # a contract that cannot describe a role still serves
            return []


class ModelProvider(Protocol):
    """Anything that can load a model version for serving."""

    def load(self, model: str, version: str) -> LoadedVersion:
        """Load ``model@version`` (may be slow: the gateway calls it off the event loop)."""
        ...


def _column_validator(contract: Any) -> ValidateColumns | None:
    make = getattr(contract, "column_validator", None)
    if contract is None or not callable(make):
        return None
    try:
        validator = make("input")
    except Exception:  # no input role: records are validated (or not) as before
        return None
    return validator.validate if validator.supported else None


def _validator(contract: Any, role: str) -> Validate | None:
    make = getattr(contract, "request_validator", None)
    if contract is None or not callable(make):
        return None
    return make(role).validate


def _type_name(t: Any) -> str:
    return str(getattr(t, "value", None) or getattr(t, "name", None) or t)


def _examples(contract: Any) -> Records:
    fn = getattr(contract, "examples", None)
    if contract is None or not callable(fn):
        return []
    try:
        return [dict(r) for r in (fn("input") or [])][:4]
    except Exception:
        return []


def as_loaded(model: str, version: str, predictor: Any, warmup: Records | None = None) -> LoadedVersion:
    """Wrap a predictor (an object with ``predict(records)`` or a plain callable) for the gateway."""
    predict = predictor.predict if hasattr(predictor, "predict") else predictor
    if not callable(predict):
        raise RegistryError(
            f"{model}@{version} is neither callable nor has predict(records)",
            fix="serve a function taking a list of records, or an object with predict(records)",
            field="model",
            value=f"{model}@{version}",
        )
    contract = getattr(predictor, "contract", None)
    return LoadedVersion(
        model=model,
        version=str(version),
        predict=predict,
        contract=contract,
        warmup_records=list(warmup) if warmup is not None else _examples(contract),
        accepts_shadow=bool(getattr(predictor, "accepts_shadow", True)),
        accepts_columns=bool(
            getattr(predictor, "accepts_columns", False) or getattr(predict, "columnar", False)
        ),
    )


class StaticProvider:
    """Serve predictors given in code: ``StaticProvider({"iris@1": predict_fn, "iris@2": obj})``."""

    def __init__(self, predictors: Mapping[str, Any], warmup: Mapping[str, Records] | None = None) -> None:
        self.predictors = dict(predictors)
        self.warmup = dict(warmup or {})

    def load(self, model: str, version: str) -> LoadedVersion:
        """Load ``model@version``."""
        ref = f"{model}@{version}"
        if ref not in self.predictors:
            raise RegistryError(
                f"no predictor for {ref}", fix="add it to the StaticProvider", field="model", value=ref
            )
        return as_loaded(model, version, self.predictors[ref], self.warmup.get(ref) or self.warmup.get(model))


class RegistryProvider:
    """Load versions from the model registry (``trilho.registry.Registry``)."""

    def __init__(self, store: Any, artifacts_root: str | Path) -> None:
        from trilho.registry import Registry

        self.registry = Registry(store, artifacts_root)
        self._spec = (store.url, getattr(store, "schema", None), str(artifacts_root))

    def spec(self) -> Any:
        """A picklable description another process can rebuild this provider from."""
        from trilho.serving.isolation import RegistrySpec

        return RegistrySpec(*self._spec)

    def load(self, model: str, version: str) -> LoadedVersion:
        """Load ``model@version``."""
        predictor = self.registry.load_predictor(f"{model}@{version}")
        registered = getattr(getattr(predictor, "model_version", None), "examples", None) or {}
        warmup = [dict(r) for r in (registered.get("inputs") or [])][:4] or None
        return as_loaded(model, version, predictor, warmup)
