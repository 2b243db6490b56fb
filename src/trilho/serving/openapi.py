"""The OpenAPI 3.1 document the gateway serves at ``/openapi.json``: every route, its bodies and every status
it can answer (the schemathesis fuzz test holds the app to it)."""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "fix": {"type": "string"}},
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
        "datatype": {"type": "string"},
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


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed JSON or a body that is not the protocol's shape.",
        404: "Unknown model.",
        413: "Body larger than the configured limit.",
        415: "Content type is not application/json (nor application/octet-stream with binary tensor data).",
        422: "A record violates the model's contract (field, value and rule named).",
        503: "Shed (queue over capacity) or no version nor fallback could answer; the reason is named.",
    }
    return {str(c): _json({"$ref": "#/components/schemas/Error"}, text[c]) for c in codes}


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
        positional = {"type": "array", "minItems": len(fields), "maxItems": len(fields)}
        items = {"oneOf": [record, positional]} if fields else record
    return {
        "type": "object",
        "required": ["instances"],
        "properties": {"instances": {"type": "array", "minItems": 1, "items": items}},
    }


def build_openapi(
    models: list[str], input_schemas: dict[str, dict[str, Any] | None] | None = None
) -> dict[str, Any]:
    """The document for the models currently served; a model whose contract gives a JSON Schema for its
    input gets its own concrete V1 path with that schema for ``instances``."""
    name = _name_param(sorted(models))
    ready = {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}
    predict_errors = _errors(400, 404, 413, 415, 422, 503)
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
                        **predict_errors,
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
                        **_errors(404),
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
                        **_errors(404),
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
        "components": {"schemas": {"Error": ERROR}},
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
    return doc
