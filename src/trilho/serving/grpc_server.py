"""The Open Inference Protocol V2 over gRPC (``inference.GRPCInferenceService``: ServerLive/Ready,
ServerMetadata, ModelReady/Metadata, ModelInfer with ``raw_input_contents`` or typed contents) on its own
port, in the HTTP server's event loop and over the same ``Gateway``: one data plane, two transports. Routing,
sticky units (``x-trilho-unit`` metadata, or the ``trilho_unit`` request parameter), shadows, latency budgets
(``x-trilho-deadline-ms`` metadata, else the call's gRPC deadline), fallbacks, metrics, windows and evals are
the gateway's, exactly as over HTTP; the request is decoded by the same V2 codec (``oip_v2.parse_v2``).

The message and service modules in ``trilho.serving.proto`` are generated at dev time from the vendored
``open_inference_grpc.proto`` with grpcio-tools and committed (``scripts/gen_oip_grpc.py``): installing and
testing trilho needs only grpcio and protobuf."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

import grpc

from trilho import __version__
from trilho.errors import InputError, SchemaViolation
from trilho.obs import get_logger
from trilho.serving.batching import QueueFull
from trilho.serving.gateway import Gateway, RecordUnanswered, Unavailable, UnknownModel
from trilho.serving.oip_meta import contract_tensors, model_metadata, v2_unit
from trilho.serving.oip_v2 import FramingError, V2Request, check_datatypes, format_v2, parse_v2
from trilho.serving.proto import open_inference_grpc_pb2 as pb
from trilho.serving.proto import open_inference_grpc_pb2_grpc as pb_grpc
from trilho.serving.protocols import deadline_ms, error_line

log = get_logger("serving.access")

#: Extensions of the protocol this transport implements (raw tensor contents are core in gRPC).
GRPC_EXTENSIONS = ("parameters",)

# typed contents: which field of InferTensorContents carries each datatype (FP16 only travels raw)
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def parameters_of(params: Any) -> dict[str, Any]:
    """A protobuf ``map<string, InferParameter>`` as a plain dict."""
    out = {}
    for key, p in params.items():
        which = p.WhichOneof("parameter_choice")
        out[key] = getattr(p, which) if which else None
    return out


def _set_parameter(target: Any, key: str, value: Any) -> None:
    p = target[key]
    if isinstance(value, bool):
        p.bool_param = value
    elif isinstance(value, int):
        p.int64_param = value
    elif isinstance(value, float):
        p.double_param = value
    else:
        p.string_param = str(value)


def decode_infer(request: Any, max_instances: int) -> V2Request:
    """A ``ModelInferRequest`` → ``V2Request``, through the same codec (and checks) as HTTP's JSON + binary
    body: raw contents become the binary section, typed contents become ``data``."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise FramingError(
            f"raw_input_contents has {len(raw)} entries but there are {len(request.inputs)} inputs",
            fix="send one raw_input_contents entry per input, in input order (or typed contents for all)",
            field="raw_input_contents",
            value=len(raw),
            rule=f"count:{len(request.inputs)}",
        )
    inputs = []
    for i, t in enumerate(request.inputs):
        tensor: dict[str, Any] = {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
        if raw:
            tensor["parameters"] = {"binary_data_size": len(raw[i])}
        else:
            field = _CONTENTS.get(t.datatype)
            values = list(getattr(t.contents, field)) if field else []
            if t.datatype == "BYTES":
                values = _texts(values, f"inputs[{i}]")
            tensor["data"] = values
        inputs.append(tensor)
    outputs = [{"name": o.name, "parameters": parameters_of(o.parameters)} for o in request.outputs]
    body: dict[str, Any] = {"inputs": inputs, "parameters": parameters_of(request.parameters)}
    if request.id:
        body["id"] = request.id
    if outputs:
        body["outputs"] = outputs
    return parse_v2(body, max_instances, b"".join(raw))


def _texts(values: list[bytes], where: str) -> list[str]:
    try:
        return [v.decode("utf-8") for v in values]
    except UnicodeDecodeError as exc:
        raise FramingError(
            f"{where}: a BYTES element is not UTF-8 text ({exc.reason})",
            fix="send text as UTF-8",
            field=where,
            rule="utf-8",
        ) from None


def encode_infer(body: dict[str, Any], chunks: list[bytes]) -> Any:
    """A V2 response body whose every output is binary (``format_v2``) → ``ModelInferResponse`` with
    ``raw_output_contents``."""
    response = pb.ModelInferResponse(
        model_name=body["model_name"], model_version=body["model_version"], id=body.get("id", "")
    )
    for t in body["outputs"]:
        response.outputs.add(name=t["name"], datatype=t["datatype"], shape=t["shape"])
    response.raw_output_contents.extend(chunks)
    for key, value in body.get("parameters", {}).items():
        _set_parameter(response.parameters, key, value)
    return response


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    """The V2 gRPC service over one gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.max_instances = gateway.settings.max_instances
        self._prefix = "g" + uuid.uuid4().hex[:11]
        self._ids = itertools.count()

    async def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802 (the protocol's names)
        """The process answers."""
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        """Every live version's warm-up passed."""
        return pb.ServerReadyResponse(ready=self.gateway.ready)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        """Name, version and the extensions this transport implements."""
        return pb.ServerMetadataResponse(name="trilho", version=__version__, extensions=GRPC_EXTENSIONS)

    async def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        """Whether the model's live versions are warm."""
        mr = await self._model(request.name, context)
        return pb.ModelReadyResponse(ready=mr.ready)

    async def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        """Versions and tensors in the protocol's datatype names."""
        meta = model_metadata(await self._model(request.name, context))
        response = pb.ModelMetadataResponse(
            name=meta["name"], versions=meta["versions"], platform=meta["platform"]
        )
        for role in ("inputs", "outputs"):
            for t in meta[role]:
                getattr(response, role).add(name=t["name"], datatype=t["datatype"], shape=t["shape"])
        return response

    async def _model(self, name: str, context: Any) -> Any:
        try:
            return self.gateway.model(name)
        except UnknownModel as exc:
            self.gateway.count_client_error("", 404, "grpc")
            await context.abort(grpc.StatusCode.NOT_FOUND, exc.message)

    async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        """One inference through ``Gateway.predict``: the HTTP path's routing, checks and accounting."""
        start = time.perf_counter()
        gw = self.gateway
        name = request.model_name
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        request_id = (metadata.get("x-request-id") or "")[:128] or f"{self._prefix}-{next(self._ids):x}"
        mr = await self._model(name, context)
        try:
            v2 = decode_infer(request, self.max_instances)
            tensors = contract_tensors(mr)
            check_datatypes(v2.datatypes, tensors.kinds)
            unit = metadata.get("x-trilho-unit") or v2_unit(v2)
            answer = await gw.predict(
                name, v2.records, unit=unit, request_id=request_id, deadline_ms=_deadline(metadata, context)
            )
            requested = dict.fromkeys(v2.outputs, True) if v2.outputs is not None else None
            body, chunks = format_v2(
                answer.outputs,
                name,
                answer.version,
                v2.id,
                declared=tensors.declared,
                requested=requested,
                binary_output=True,
            )
        except (SchemaViolation, InputError) as exc:  # BadRequest and FramingError are InputErrors
            status = 422 if isinstance(exc, SchemaViolation) or exc.fields.get("field") else 400
            gw.count_client_error(name, status, "grpc")
            self._log(name, status, start, request_id, error=type(exc).__name__)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _message(exc))
        except QueueFull as exc:
            version, variant = str(exc.fields.get("version", "")), str(exc.fields.get("variant", ""))
            gw.shed(name, version, variant, "queue_full")
            gw.account(name, version, variant, 503, time.perf_counter() - start, shed=True, transport="grpc")
            await context.abort(grpc.StatusCode.UNAVAILABLE, _message(exc))
        except RecordUnanswered as exc:  # the caller's record made the model fail: not worth a retry
            gw.count_client_error(name, 422, "grpc")
            self._log(name, 422, start, request_id, error=type(exc).__name__)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _message(exc))
        except Unavailable as exc:
            version, variant = str(exc.fields.get("version", "")), str(exc.fields.get("variant", ""))
            reason = exc.fields.get("reason")
            gw.account(
                name,
                version,
                variant,
                503,
                time.perf_counter() - start,
                fallback_reason=reason,
                transport="grpc",
            )
            await context.abort(grpc.StatusCode.UNAVAILABLE, _message(exc))
        except UnknownModel as exc:  # the deployment went away while the call waited
            gw.count_client_error("", 404, "grpc")
            await context.abort(grpc.StatusCode.NOT_FOUND, exc.message)
        except Exception as exc:
            log.error("unhandled error", model=name, protocol="grpc", error=f"{type(exc).__name__}: {exc}")
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
        if answer.fallback_reason is not None:
            body["parameters"] = {
                "fallback_reason": answer.fallback_reason,
                "fallback_source": answer.fallback_source or "",
            }
        response = encode_infer(body, chunks)
        context.set_trailing_metadata(
            (
                ("x-trilho-model-version", answer.version),
                ("x-trilho-variant", answer.variant),
                ("x-request-id", request_id),
            )
        )
        seconds = time.perf_counter() - start
        gw.account(
            name,
            answer.chosen_version,
            answer.variant,
            200,
            seconds,
            fallback_reason=answer.fallback_reason,
            transport="grpc",
        )
        self._log(name, 200, start, request_id, version=answer.version, variant=answer.variant)
        if answer.shadow is not None:  # once this call has returned its answer
            asyncio.get_running_loop().call_soon(gw.offer_shadow, answer.shadow)
        return response

    def _log(self, model: str, status: int, start: float, request_id: str, **fields: Any) -> None:
        if self.gateway.sample_access_log():
            log.info(
                "request",
                model=model,
                status=status,
                duration_ms=round((time.perf_counter() - start) * 1000, 3),
                request_id=request_id,
                protocol="grpc",
                **fields,
            )


def _message(exc: Any) -> str:
    """The error as one line a gRPC client shows (the same line as OIP V2's HTTP ``error`` string)."""
    return error_line(type(exc).__name__, exc.message, exc.fields, getattr(exc, "fix", None))


def _deadline(metadata: dict[str, str], context: Any) -> float | None:
    raw = metadata.get("x-trilho-deadline-ms")
    if raw is not None:
        return deadline_ms(raw, "x-trilho-deadline-ms")
    remaining = context.time_remaining()
    if remaining is None or remaining > 600:
        return None
    return max(1.0, remaining * 1000.0)


class GrpcTransport:
    """The V2 gRPC server of one gateway, started and stopped with it (in the same event loop).
    ``reuse_port``: bind with SO_REUSEPORT, so the workers of ``trilho serve --workers N`` share the port
    (the kernel spreads connections over them); off, a port another process listens on is refused."""

    def __init__(self, gateway: Gateway, host: str, port: int, *, reuse_port: bool = False) -> None:
        limit = gateway.settings.max_body_bytes
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),  # the HTTP body limit, for the same requests
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 1 if reuse_port else 0),  # gRPC's default is on: say it either way
            ]
        )
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceService(gateway), self.server)
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            self.port = self.server.add_insecure_port(bind)
        except RuntimeError as exc:  # grpc's "Failed to bind": the port is taken
            raise InputError(
                f"cannot listen for gRPC on {bind}: {exc}",
                fix="pick a free port for --grpc-port",
                field="--grpc-port",
                value=port,
                rule="free port",
            ) from None
        self.host = host

    async def start(self) -> None:
        """Start answering."""
        await self.server.start()
        log.info("grpc transport listening", target=f"{self.host}:{self.port}")

    async def stop(self, grace: float = 2.0) -> None:
        """Finish calls in flight (up to ``grace`` seconds), then stop."""
        await self.server.stop(grace)
