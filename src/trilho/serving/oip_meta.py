"""What the protocol transports (OIP V2 over HTTP and gRPC, KServe V1) read off a served model: its tensor
metadata in the protocol's datatype names and its input field order (from the stable version's contract,
computed once per contract), and the sticky unit a V2 request names in its parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trilho.serving.oip_v2 import V2Request, field_kinds, tensor_metadata

#: The request parameter (HTTP JSON ``parameters``, gRPC ``parameters`` map) naming the sticky unit; the
#: ``X-Trilho-Unit`` header (HTTP) and ``x-trilho-unit`` metadata (gRPC) take precedence.
UNIT_PARAMETER = "trilho_unit"


@dataclass(frozen=True, slots=True)
class ContractTensors:
    """A contract seen as V2 tensors: metadata for both roles, input kinds, declared output datatypes."""

    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    kinds: dict[str, str]  # input name → the contract field's value kind
    declared: dict[str, str]  # output name → datatype

    @property
    def input_names(self) -> list[str]:
        """The contract's input fields in declared order (KServe V1 list-style instances follow it)."""
        return [t["name"] for t in self.inputs]


_NONE = ContractTensors([], [], {}, {})
_cache: dict[int, tuple[Any, ContractTensors]] = {}


def contract_tensors(mr: Any) -> ContractTensors:
    """The stable version's contract of a served model (``ModelRuntime``) as V2 tensors (cached)."""
    stable = getattr(mr, "stable", None)
    contract = stable.loaded.contract if stable is not None else None
    if contract is None:
        return _NONE
    hit = _cache.get(id(contract))
    if hit is not None and hit[0] is contract:
        return hit[1]
    outputs = tensor_metadata(contract, "output")
    tensors = ContractTensors(
        tensor_metadata(contract, "input"),
        outputs,
        field_kinds(contract, "input"),
        {t["name"]: t["datatype"] for t in outputs},
    )
    if len(_cache) > 256:  # contracts of versions long gone
        _cache.clear()
    _cache[id(contract)] = (contract, tensors)
    return tensors


def model_metadata(mr: Any) -> dict[str, Any]:
    """``GET /v2/models/{name}`` (and gRPC ModelMetadata): versions, platform and tensors."""
    tensors = contract_tensors(mr)
    return {
        "name": mr.name,
        "versions": [r.version for r in mr.deployment.routes],
        "platform": "trilho",
        "inputs": tensors.inputs,
        "outputs": tensors.outputs,
    }


def v2_unit(request: V2Request | None) -> str | None:
    """The sticky unit named by the request's ``trilho_unit`` parameter, if any."""
    if request is None:
        return None
    value = request.parameters.get(UNIT_PARAMETER)
    return None if value is None or isinstance(value, dict | list) else str(value)
