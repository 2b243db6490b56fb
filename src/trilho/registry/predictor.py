"""The loaded model: one batch-first call, ``predict(list of records) -> list of records``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from trilho.contracts.columns import ColumnBatch, as_records
from trilho.contracts.request import Defaults, declared_defaults, with_defaults
from trilho.errors import RegistryError
from trilho.obs import histogram
from trilho.registry.records import ModelVersion

_latency = histogram(
    "trilho_registry_predict_seconds",
    "Time spent inside a loaded model's predict call.",
    ["model", "version"],
)


class Predictor:
    """A loaded model version with its contract; ``predict`` maps a batch of records to a batch of records."""

    def __init__(
        self,
        fn: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
        model_version: ModelVersion,
        contract: Any,
    ) -> None:
        self._fn = fn
        self.model_version = model_version
        self.contract = contract
        self.llm_spec = getattr(fn, "llm_spec", None)  # an ``llm`` version's spec (the gateway streams it)
        self._defaults = _input_defaults(contract)  # filled in before the model sees a record
        #: The model takes a ``ColumnBatch`` whole (its function says ``columnar = True``).
        self.accepts_columns = bool(getattr(fn, "columnar", False))
        self._timer = _latency.labels(model=model_version.name, version=str(model_version.version))

    @property
    def ref(self) -> str:
        """``NAME@VERSION`` of the loaded version."""
        return self.model_version.ref

    def predict(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Predict a batch: one output record per input record, in order; a field the input contract gives a
        default is filled in where a record lacks it (the caller's records are not changed)."""
        if isinstance(records, ColumnBatch) and self.accepts_columns and not self._missing(records):
            batch: Any = records  # every defaulted field is a column: nothing to fill
        else:
            batch = list(as_records(records))  # the caller's list is not changed
            if self._defaults:  # the contract's declared defaults, as the gateway's validators fill them
                batch = [with_defaults(r, self._defaults) for r in batch]
        start = time.perf_counter()
        out = self._fn(batch)
        self._timer.observe(time.perf_counter() - start)
        if not isinstance(out, list) or len(out) != len(batch):
            raise RegistryError(
                f"{self.ref} returned {len(out) if isinstance(out, list) else type(out).__name__} results "
                f"for {len(batch)} records",
                fix="predict must return a list with one record per input record",
            )
        return out

    def _missing(self, batch: ColumnBatch) -> bool:
        return any(name not in batch.columns for name, _ in self._defaults)

    def predict_one(self, record: dict[str, Any]) -> dict[str, Any]:
        """Predict a single record (a batch of one)."""
        return self.predict([record])[0]

    def __repr__(self) -> str:
        return f"Predictor({self.ref}, flavor={self.model_version.flavor})"


def _input_defaults(contract: Any) -> Defaults:
    """The input contract's declared defaults (none for a contract without an input role)."""
    try:
        return declared_defaults(contract.object("input"))
    except Exception:  # no contract, or no input role: nothing to fill
        return ()
