"""The OpenAPI 3.1 document the gateway serves at ``/openapi.json``: every route, its bodies and every status
it can answer (the schemathesis fuzz test holds the app to it)."""

from __future__ import annotations

from typing import Any

from trilho.serving.oip_v2 import DATATYPES

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "fix": {"type": "string"}},
    "additionalProperties": True,
}
#: OIP V2's error body: ``{"error": "<message>"}`` (the spec's), trilho's type and fields beside it.
V2_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "type": {"type": "string"}, "fix": {"type": "string"}},
    "additionalProperties": True,
}
RECORD = {"type": "object", "additionalProperties": True}
#: A KServe V1 instance: a record, or the contract's input values as a list in the contract's field order.
INSTANCE = {"oneOf": [RECORD, {"type": "array"}]}
FALLBACK = {
    "type": "object",
    "required": ["reason", "source"],
    "properties": {"reason": {"type": "string"}, "source": {"type": "string"}},
}
TENSOR_IN = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "description": "Values in 'data' (JSON), or parameters.binary_data_size bytes after the JSON header.",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
        "datatype": {"enum": sorted(DATATYPES)},
        "data": {"type": "array"},
        "parameters": {"type": "object"},
    },
}
TENSOR_OUT = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string"},
        "data": {"type": "array"},
        "parameters": {"type": "object"},
    },
}
V2_BINARY = {
    "type": "string",
    "format": "binary",
    "description": "Binary tensor data extension: a JSON header (its length in "
    "Inference-Header-Content-Length) "
    "followed by the tensors' raw bytes, little-endian, BYTES elements each prefixed by a 4-byte length.",
}


#: The binary tensor data extension, which a JSON Schema cannot describe (a JSON header of a length given in a
#: header, then raw bytes): named on each concrete V2 path in words, not as a request body, so that every body
#: the document describes is one the gateway accepts.
BINARY_EXTENSION = (
    "Also accepts the binary tensor data extension: Content-Type application/octet-stream, the JSON header "
    "first (its length in the Inference-Header-Content-Length header), then each tensor's raw bytes "
    "(little-endian; BYTES elements each prefixed by a 4-byte length) for inputs that give "
    "parameters.binary_data_size instead of data."
)


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int, schema: str = "Error") -> dict[str, Any]:
    text = {
        400: "Malformed JSON or a body that is not the protocol's shape.",
        404: "Unknown model.",
        413: "Body larger than the configured limit.",
        415: "Content type is not application/json (nor application/octet-stream with binary tensor data).",
        422: "A record violates the model's contract (field, value and rule named).",
        503: "Shed (queue over capacity) or no version nor fallback could answer; the reason is named.",
    }
    return {str(c): _json({"$ref": f"#/components/schemas/{schema}"}, text[c]) for c in codes}


def _name_param(models: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9_.-]+$"}
    if models:
        schema = {"type": "string", "enum": models}
    return {"name": "name", "in": "path", "required": True, "schema": schema}


def _headers() -> list[dict[str, Any]]:
    return [
        {
            "name": "X-Trilho-Unit",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "Sticky assignment unit id (e.g. a user id).",
        },
        {
            "name": "X-Trilho-Deadline-Ms",
            "in": "header",
            "required": False,
            "schema": {"type": "number", "minimum": 1, "maximum": 600000},
            "description": "Latency budget in milliseconds, 1 to 600000 (default: the route's).",
        },
    ]


def _v2_header() -> dict[str, Any]:
    return {
        "name": "Inference-Header-Content-Length",
        "in": "header",
        "required": False,
        "schema": {"type": "integer", "minimum": 0},
        "description": "Length of the JSON header when binary tensor data follows it.",
    }


def _instances_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    items: dict[str, Any] = INSTANCE
    if schema:
        record = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
        fields = list(record.get("properties", {}))
        values = [{k: v for k, v in s.items() if k != "default"} for s in record["properties"].values()]
        n = len(fields)
        positional = {"type": "array", "prefixItems": values, "minItems": n, "maxItems": n}
        items = {"oneOf": [record, positional]} if fields else record
    return {
        "type": "object",
        "required": ["instances"],
        "properties": {"instances": {"type": "array", "minItems": 1, "items": items}},
    }


def _v2_inputs_schema(tensors: list[dict[str, Any]], record: dict[str, Any]) -> dict[str, Any] | None:
    """A V2 request body for one model: one tensor per contract input, in the contract's order, one row each,
    in the field's own datatype (None when an input is not a scalar: the generic path documents it)."""
    fields = record.get("properties", {})
    items = []
    for t in tensors:
        if [d for d in t.get("shape", [-1]) if d != -1]:
            return None
        value = {k: v for k, v in fields.get(t["name"], {}).items() if k != "default"}
        items.append(
            {
                "type": "object",
                "required": ["name", "shape", "datatype", "data"],
                "properties": {
                    "name": {"const": t["name"]},
                    "shape": {"type": "array", "items": {"const": 1}, "minItems": 1, "maxItems": 1},
                    "datatype": {"const": t["datatype"]},
                    "data": {"type": "array", "items": value, "minItems": 1, "maxItems": 1},
                },
                "additionalProperties": False,
            }
        )
    if not items:
        return None
    inputs = {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    properties = {"id": {"type": "string"}, "inputs": inputs}
    return {"type": "object", "required": ["inputs"], "properties": properties}


def build_openapi(
    models: list[str],
    input_schemas: dict[str, dict[str, Any] | None] | None = None,
    input_tensors: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The document for the models currently served. A model whose contract gives a JSON Schema for its
    input gets its own concrete V1 path (and, with scalar inputs, V2 path) whose body schema is the
    contract's, so every request the document allows is one the gateway accepts; the generic ``{name}`` paths
    list only the models without one (and are left out when none is left)."""
    concrete_v1 = {m for m, s in (input_schemas or {}).items() if s}
    v2_bodies = {
        m: body
        for m in concrete_v1
        if (body := _v2_inputs_schema((input_tensors or {}).get(m, []), (input_schemas or {})[m] or {}))
    }
    name = _name_param(sorted(models))
    ready = {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}
    predict_errors = _errors(400, 404, 413, 415, 422, 503)
    v2_predict_errors = _errors(400, 404, 413, 415, 422, 503, schema="V2Error")
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "trilho serving gateway",
            "version": "1",
            "description": "KServe V1 and Open Inference Protocol V2 over the trilho routing table.",
        },
        "paths": {
            "/v1/models/{name}:predict": {
                "post": {
                    "operationId": "v1_predict",
                    "summary": "KServe V1 prediction",
                    "parameters": [name, *_headers()],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["instances"],
                                    "properties": {
                                        "instances": {"type": "array", "minItems": 1, "items": INSTANCE}
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["predictions"],
                                "properties": {
                                    "predictions": {"type": "array", "items": RECORD},
                                    "fallback": FALLBACK,
                                },
                            },
                            "One prediction per instance.",
                        ),
                        **predict_errors,
                    },
                }
            },
            "/v1/models": {
                "get": {
                    "operationId": "v1_models",
                    "summary": "KServe V1 list of models",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["models"],
                                "properties": {"models": {"type": "array", "items": {"type": "string"}}},
                            },
                            "The models served.",
                        )
                    },
                }
            },
            "/v1/models/{name}": {
                "get": {
                    "operationId": "v1_model",
                    "summary": "KServe V1 model status",
                    "parameters": [name],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["name", "ready"],
                                "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
                            },
                            "Model status.",
                        ),
                        **_errors(404),
                    },
                }
            },
            "/v2/models/{name}/infer": {
                "post": {
                    "operationId": "v2_infer",
                    "summary": "Open Inference Protocol V2 inference",
                    "parameters": [name, *_headers(), _v2_header()],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["inputs"],
                                    "properties": {
                                        "id": {"type": "string"},
                                        "parameters": {"type": "object"},
                                        "inputs": {"type": "array", "minItems": 1, "items": TENSOR_IN},
                                        "outputs": {"type": "array", "items": {"type": "object"}},
                                    },
                                }
                            },
                            "application/octet-stream": {"schema": V2_BINARY},
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["model_name", "outputs"],
                                "properties": {
                                    "model_name": {"type": "string"},
                                    "model_version": {"type": "string"},
                                    "id": {"type": "string"},
                                    "parameters": {"type": "object"},
                                    "outputs": {"type": "array", "items": TENSOR_OUT},
                                },
                            },
                            "Output tensors (binary ones after the JSON header: application/octet-stream).",
                        ),
                        **v2_predict_errors,
                    },
                }
            },
            "/v2": {
                "get": {
                    "operationId": "v2_server_metadata",
                    "summary": "Server metadata",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["name", "version", "extensions"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "version": {"type": "string"},
                                    "extensions": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                            "Server metadata.",
                        )
                    },
                }
            },
            "/v2/health/live": {
                "get": {
                    "operationId": "v2_live",
                    "summary": "Liveness",
                    "responses": {"200": _json(ready, "Live.")},
                }
            },
            "/v2/health/ready": {
                "get": {
                    "operationId": "v2_ready",
                    "summary": "Readiness",
                    "responses": {"200": _json(ready, "Ready."), "400": _json(ready, "Not ready yet.")},
                }
            },
            "/v2/models/{name}": {
                "get": {
                    "operationId": "v2_model_metadata",
                    "summary": "Model metadata",
                    "parameters": [name],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["name", "versions", "platform"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "versions": {"type": "array", "items": {"type": "string"}},
                                    "platform": {"type": "string"},
                                    "inputs": {"type": "array"},
                                    "outputs": {"type": "array"},
                                },
                            },
                            "Model metadata.",
                        ),
                        **_errors(404, schema="V2Error"),
                    },
                }
            },
            "/v2/models/{name}/ready": {
                "get": {
                    "operationId": "v2_model_ready",
                    "summary": "Model readiness",
                    "parameters": [name],
                    "responses": {
                        "200": _json(ready, "Ready."),
                        "400": _json(ready, "Not ready yet."),
                        **_errors(404, schema="V2Error"),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Liveness",
                    "responses": {"200": _json({"type": "object"}, "Alive.")},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "summary": "Readiness (warm-ups passed)",
                    "responses": {
                        "200": _json({"type": "object"}, "Ready."),
                        "503": _json({"type": "object"}, "Not ready."),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Text exposition format.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {"schemas": {"Error": ERROR, "V2Error": V2_ERROR}},
    }
    v2_ok = doc["paths"]["/v2/models/{name}/infer"]["post"]["responses"]["200"]["content"]
    v2_ok["application/octet-stream"] = {"schema": V2_BINARY}
    generic = doc["paths"]["/v1/models/{name}:predict"]["post"]
    for model, schema in sorted((input_schemas or {}).items()):
        if not schema:
            continue
        op = {
            **generic,
            "operationId": f"v1_predict_{model}",
            "summary": f"KServe V1 prediction: {model}",
            "parameters": _headers(),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _instances_schema(schema)}},
            },
        }
        doc["paths"][f"/v1/models/{model}:predict"] = {"post": op}
    v2_generic = doc["paths"]["/v2/models/{name}/infer"]["post"]
    for model, body in sorted(v2_bodies.items()):
        op = {
            **v2_generic,
            "operationId": f"v2_infer_{model}",
            "summary": f"Open Inference Protocol V2 inference: {model}",
            "description": BINARY_EXTENSION,
            "x-trilho-binary-tensor-data": {
                "contentType": "application/octet-stream",
                "headerLength": "Inference-Header-Content-Length",
            },
            "parameters": _headers(),
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        }
        doc["paths"][f"/v2/models/{model}/infer"] = {"post": op}
    _narrow_generic(doc, "/v1/models/{name}:predict", sorted(set(models) - concrete_v1))
    _narrow_generic(doc, "/v2/models/{name}/infer", sorted(set(models) - set(v2_bodies)))
    return doc


def _narrow_generic(doc: dict[str, Any], path: str, models: list[str]) -> None:
    """The generic ``{name}`` predict path serves only ``models`` (those without a concrete path); with none
    left it is dropped (a request the document allowed there would be one the contract refuses)."""
    if not models:
        del doc["paths"][path]
        return
    op = doc["paths"][path]["post"]
    op["parameters"] = [_name_param(models) if p.get("name") == "name" else p for p in op["parameters"]]
