"""The protocols section of the serving benchmark (runs alone: ``python -m benchmarks.bench_serving --only
protocols``): one ``trilho serve --grpc-port`` process, one 20-feature model, a 1,000 × 20 float batch sent as

* KServe V1 (``instances``: 1,000 JSON objects),
* OIP V2 JSON (20 FP64 tensors of 1,000 values in ``data``),
* OIP V2 binary (the same tensors as raw bytes after the JSON header; binary outputs),
* OIP V2 over gRPC (``raw_input_contents``),

each in closed loop (bytes on the wire, the gateway process's CPU seconds per request from /proc, requests/s),
then HTTP binary V2 and gRPC side by side in open loop at half of the lower of their two saturations. The load
generator is asyncio in this process (pre-built requests; gRPC through grpc.aio with bytes in and out), pinned
to the CPUs the server does not use."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import yaml

from benchmarks.serving.wide_model import FEATURES

ROWS = 1000
INFER = "/inference.GRPCInferenceService/ModelInfer"


def prepare_home(work: Path) -> Path:
    """A TRILHO_HOME serving ``wide`` (20 float64 inputs → score, label) with room for 1,000-row batches."""
    from trilho.registry import Registry
    from trilho.store import Store
    from trilho.store.routing import BatchingConfig, Deployment, Route, set_deployment

    home = work / "home-protocols"
    shutil.rmtree(home, ignore_errors=True)
    (home / "src").mkdir(parents=True)
    num = {"logicalType": "number", "physicalType": "float64", "required": True}
    contract = {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "wide-io",
        "name": "wide",
        "version": "1.0.0",
        "schema": [
            {
                "name": "request",
                "x-trilho": {"role": "input"},
                "properties": [{"name": f, **num} for f in FEATURES],
            },
            {
                "name": "response",
                "x-trilho": {"role": "output"},
                "properties": [
                    {"name": "score", **num},
                    {"name": "label", "logicalType": "integer", "physicalType": "int64", "required": True},
                ],
            },
        ],
    }
    (home / "contract.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
    module = home / "src" / "wide_model.py"
    shutil.copy(Path(__file__).parent / "wide_model.py", module)
    store = Store(f"sqlite:///{home / 'trilho.db'}")
    store.migrate()
    reg = Registry(store, home / "artifacts")
    example = {f: 0.1 for f in FEATURES}
    reg.register(
        "wide", module, "python", home / "contract.yaml", entry="wide_model:predict", examples=[example]
    )
    batching = BatchingConfig(max_queue=200_000)  # whole 1,000-row requests from every connection fit
    set_deployment(store, Deployment("wide", routes=(Route("1"),), batching=batching, deadline_ms=30_000.0))
    store.dispose()
    return home


def payloads(rows: int = ROWS) -> dict[str, tuple[bytes, dict[str, str]]]:
    """The same batch as each protocol's HTTP body (and its extra headers), plus the gRPC message."""
    from trilho.serving.proto import open_inference_grpc_pb2 as pb

    x = np.random.default_rng(0).normal(size=(rows, len(FEATURES)))
    v1 = json.dumps({"instances": [dict(zip(FEATURES, r.tolist(), strict=True)) for r in x]}).encode()
    tensors = [{"name": f, "shape": [rows], "datatype": "FP64"} for f in FEATURES]
    v2_json = json.dumps(
        {"inputs": [{**t, "data": x[:, i].tolist()} for i, t in enumerate(tensors)]}
    ).encode()
    header = json.dumps(
        {
            "inputs": [{**t, "parameters": {"binary_data_size": rows * 8}} for t in tensors],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    v2_binary = header + b"".join(
        np.ascontiguousarray(x[:, i]).astype("<f8").tobytes() for i in range(len(FEATURES))
    )
    request = pb.ModelInferRequest(model_name="wide")
    for i, f in enumerate(FEATURES):
        request.inputs.add(name=f, datatype="FP64", shape=[rows])
        request.raw_input_contents.append(np.ascontiguousarray(x[:, i]).astype("<f8").tobytes())
    return {
        "v1": (v1, {"Content-Type": "application/json"}),
        "v2-json": (v2_json, {"Content-Type": "application/json"}),
        "v2-binary": (
            v2_binary,
            {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))},
        ),
        "grpc": (request.SerializeToString(), {}),
    }


def _http_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _HttpConn:
    """One keep-alive connection sending a pre-built request and reading the answer by Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def call(self, request: bytes) -> tuple[bool, int]:
        """(status was 200, response bytes)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return head.startswith(b"HTTP/1.1 200"), len(head) + length


class _Client:
    """Calls one protocol: HTTP over a pool of connections, or gRPC over one channel."""

    def __init__(self, kind: str, url: str, grpc_target: str, path: str, body: bytes, headers: dict) -> None:
        self.kind = kind
        host, port = url.split("//", 1)[1].split(":")
        self.host, self.port = host, int(port)
        self.request = body if kind == "grpc" else _http_request(host, int(port), path, body, headers)
        self.grpc_target = grpc_target
        self.idle: asyncio.Queue[_HttpConn] = asyncio.Queue()
        self.channel = None
        self.method = None

    async def open(self, conns: int) -> None:
        """Open ``conns`` HTTP connections (or the gRPC channel)."""
        if self.kind == "grpc":
            self.channel = grpc.aio.insecure_channel(
                self.grpc_target, options=[("grpc.max_receive_message_length", -1)]
            )
            self.method = self.channel.unary_unary(INFER)
            return
        for _ in range(conns):
            self.idle.put_nowait(_HttpConn(*await asyncio.open_connection(self.host, self.port)))

    async def call(self) -> tuple[bool, int]:
        """One request: (ok, response bytes)."""
        if self.kind == "grpc":
            try:
                reply = await self.method(self.request)
            except grpc.aio.AioRpcError:
                return False, 0
            return True, len(reply)
        conn = await self.idle.get()
        try:
            return await conn.call(self.request)
        finally:
            self.idle.put_nowait(conn)

    async def close(self) -> None:
        """Close the connections."""
        if self.channel is not None:
            await self.channel.close()
        while not self.idle.empty():
            self.idle.get_nowait().writer.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (every thread) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _closed(client: _Client, conns: int, seconds: float) -> dict:
    await client.open(conns)
    for _ in range(conns):  # warm the connections and the server's paths
        await client.call()
    done = errors = 0
    size = 0
    latencies: list[float] = []
    until = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, errors, size
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            ok, n = await client.call()
            latencies.append(time.perf_counter() - t0)
            done += ok
            errors += not ok
            size = n or size

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    elapsed = time.perf_counter() - start
    await client.close()
    lat = np.array(latencies) * 1000
    return {
        "rps": done / elapsed,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "errors": errors,
        "response_bytes": size,
        "requests": done + errors,
    }


async def _open(client: _Client, rate: float, seconds: float, conns: int) -> dict:
    await client.open(conns)
    await client.call()
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    total = int(rate * seconds)

    async def one(due: float) -> None:
        nonlocal errors
        ok, _ = await client.call()
        latencies.append(time.perf_counter() - due)  # from the schedule: queueing for a connection counts
        errors += not ok

    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    await client.close()
    lat = np.array(latencies) * 1000
    return {
        "offered_rps": rate,
        "achieved_rps": len(latencies) / (time.perf_counter() - start),
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "errors": errors,
    }


def codec_cpu_ms(home: Path, repeats: int = 20) -> dict[str, float]:
    """CPU milliseconds (best of 5 rounds) of each protocol's own work on the batch, in this process:
    body → records and records → response bytes; and ``... request+validation``: the body decoded and the
    wide model's input contract checked as the gateway does it (``_validate_inputs``: record by record for V1
    and JSON V2, column-wise for binary tensors, which decode to a ``ColumnBatch``)."""
    from types import SimpleNamespace

    import msgspec

    from trilho.contracts import load_contract
    from trilho.contracts.columns import ColumnBatch
    from trilho.serving.gateway import _validate_inputs
    from trilho.serving.grpc_server import decode_infer, encode_infer
    from trilho.serving.models import LoadedVersion
    from trilho.serving.oip_v2 import decode_request, encode_response, format_v2
    from trilho.serving.proto import open_inference_grpc_pb2 as pb
    from trilho.serving.protocols import parse_v1

    bodies = payloads()
    v1, v2, message = bodies["v1"][0], bodies["v2-json"][0], bodies["grpc"][0]
    binary, headers = bodies["v2-binary"]
    header = headers["Inference-Header-Content-Length"]
    outputs = [{"score": 0.5 + i * 1e-4, "label": i % 2} for i in range(ROWS)]
    declared = {"score": "FP64", "label": "INT64"}
    loaded = LoadedVersion("wide", "1", lambda r: r, load_contract(home / "contract.yaml"))
    version = SimpleNamespace(loaded=loaded)  # what _validate_inputs reads of a version in service

    def checked(records):
        out = _validate_inputs(version, records)  # type: ignore[arg-type]
        assert len(out) == ROWS
        return out

    columnar = decode_request(binary, header, 2 * ROWS).records
    assert isinstance(columnar, ColumnBatch) and isinstance(checked(columnar), ColumnBatch)

    def v2_out(binary_output: bool) -> bytes:
        return encode_response(
            *format_v2(outputs, "wide", "1", None, declared=declared, binary_output=binary_output)
        )[0]

    def grpc_out() -> bytes:
        return encode_infer(
            *format_v2(outputs, "wide", "1", None, declared=declared, binary_output=True)
        ).SerializeToString()

    work = {
        "v1 request": lambda: parse_v1(msgspec.json.decode(v1), 2 * ROWS),
        "v2-json request": lambda: decode_request(v2, None, 2 * ROWS),
        "v2-binary request": lambda: decode_request(binary, header, 2 * ROWS),
        "grpc request": lambda: decode_infer(pb.ModelInferRequest.FromString(message), 2 * ROWS),
        "v1 response": lambda: msgspec.json.encode({"predictions": outputs}),
        "v2-json response": lambda: v2_out(False),
        "v2-binary response": lambda: v2_out(True),
        "grpc response": grpc_out,
        "v1 request+validation": lambda: checked(parse_v1(msgspec.json.decode(v1), 2 * ROWS)),
        "v2-json request+validation": lambda: checked(decode_request(v2, None, 2 * ROWS).records),
        "v2-binary request+validation": lambda: checked(decode_request(binary, header, 2 * ROWS).records),
        "grpc request+validation": lambda: checked(
            decode_infer(pb.ModelInferRequest.FromString(message), 2 * ROWS).records
        ),
    }
    best: dict[str, float] = {}
    for _ in range(5):
        for name, fn in work.items():
            start = time.process_time()
            for _ in range(repeats):
                fn()
            best[name] = min(best.get(name, float("inf")), (time.process_time() - start) / repeats * 1000)
    return {k: round(v, 3) for k, v in best.items()}


def run(servers, work: Path, generator_cpus: str | None, quick: bool) -> tuple[list[dict], list[dict], dict]:
    """Measure the section on a gateway started by ``servers`` (``bench_serving.Servers``); returns (rows,
    targets, notes)."""
    from benchmarks._results import target
    from trilho.net import free_port

    rounds, seconds, ol_seconds, conns = (1, 3.0, 3.0, 4) if quick else (3, 4.0, 6.0, 4)
    home = prepare_home(work)
    grpc_port = free_port()
    url = servers.start_gateway(
        "gateway-protocols", home, "--grpc-port", str(grpc_port), "--max-body-bytes", "8388608"
    )
    servers.focus("gateway-protocols")
    pid = servers.procs["gateway-protocols"].pid
    target_grpc = f"127.0.0.1:{grpc_port}"
    if generator_cpus:
        os.sched_setaffinity(0, {int(c) for c in generator_cpus.split(",")})
    bodies = payloads()
    paths = {
        "v1": "/v1/models/wide:predict",
        "v2-json": "/v2/models/wide/infer",
        "v2-binary": "/v2/models/wide/infer",
    }
    for kind, (body, headers) in bodies.items():  # every path answers 200 before anything is timed
        if kind != "grpc":
            r = httpx.post(url + paths[kind], content=body, headers=headers, timeout=30)
            assert r.status_code == 200, (kind, r.status_code, r.text[:500])
    rows, sat = [], {}
    runs: dict[str, list[dict]] = {}
    for _ in range(rounds):  # interleaved, so the shared machine's bursts of load hit every protocol alike
        for kind, (body, headers) in bodies.items():
            client = _Client(kind, url, target_grpc, paths.get(kind, ""), body, headers)
            cpu0 = _cpu_seconds(pid)
            r = asyncio.run(_closed(client, conns, seconds))
            r["cpu_ms"] = (_cpu_seconds(pid) - cpu0) / max(r["requests"], 1) * 1000
            r["request_bytes"] = len(body) if kind == "grpc" else len(client.request)
            runs.setdefault(kind, []).append(r)
    for kind, rs in runs.items():
        r = {k: float(np.median([x[k] for x in rs])) for k in ("rps", "p50_ms", "p99_ms", "cpu_ms")}
        sat[kind] = r["rps"]
        rows.append(
            {
                "protocol": kind,
                "load": f"closed loop, {conns} connections",
                "request_bytes": rs[0]["request_bytes"],
                "response_bytes": rs[0]["response_bytes"],
                "gateway_cpu_ms_per_request": round(r["cpu_ms"], 2),
                "requests_per_s": round(r["rps"], 1),
                "rows_per_s": round(r["rps"] * ROWS),
                "p50_ms": round(r["p50_ms"], 2),
                "p99_ms": round(r["p99_ms"], 2),
                "errors": sum(x["errors"] for x in rs),
                "runs": len(rs),
            }
        )
    half = round(0.5 * min(sat["v2-binary"], sat["grpc"]), 1)
    for kind in ("v2-binary", "grpc"):
        body, headers = bodies[kind]
        client = _Client(kind, url, target_grpc, paths.get(kind, ""), body, headers)
        cpu0 = _cpu_seconds(pid)
        r = asyncio.run(_open(client, half, ol_seconds, conns * 4))
        cpu_ms = (_cpu_seconds(pid) - cpu0) / max(r["achieved_rps"] * ol_seconds, 1) * 1000
        rows.append(
            {
                "protocol": kind,
                "load": f"open loop at half of saturation ({half} req/s)",
                "request_bytes": len(body) if kind == "grpc" else len(client.request),
                "response_bytes": None,
                "gateway_cpu_ms_per_request": round(cpu_ms, 2),
                "requests_per_s": round(r["achieved_rps"], 1),
                "rows_per_s": round(r["achieved_rps"] * ROWS),
                "p50_ms": round(r["p50_ms"], 2),
                "p99_ms": round(r["p99_ms"], 2),
                "errors": r["errors"],
                "runs": 1,
            }
        )
    servers.stop("gateway-protocols")
    if generator_cpus:  # the codec timings below run in this process: give it every CPU back
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    ratio = sat["v2-binary"] / sat["v2-json"]
    codec = codec_cpu_ms(home)
    # what the protocol decides per request: decode + contract checks + encode (the model, routing and
    # HTTP/2 or HTTP/1.1 handling come after and are the same whichever body carried the batch)
    per = {k: codec[f"{k} request+validation"] + codec[f"{k} response"] for k in ("v2-json", "v2-binary")}
    codec_ratio = per["v2-json"] / per["v2-binary"]
    targets = [
        target(
            "binary V2 vs JSON V2 throughput (1,000 x 20 floats)",
            ">= 3x",
            f"{ratio:.2f}x",
            ratio >= 3,
        ),
        target(
            "binary V2 vs JSON V2 decode + contract checks + encode CPU per request (1,000 x 20 floats)",
            ">= 3x less CPU",
            f"{codec_ratio:.1f}x ({per['v2-json']:.3f} ms JSON, {per['v2-binary']:.3f} ms binary)",
            codec_ratio >= 3,
        ),
    ]
    notes = {
        "codec_cpu_ms": codec,
        "protocols": (
            f"{ROWS} x {len(FEATURES)} FP64 batch per request; one `trilho serve --grpc-port` process "
            "(pinned like the other servers) serving both transports; closed loop (interleaved rounds, "
            "medians), then open loop at half of the lower of the binary-V2 and gRPC saturations; load from "
            "asyncio in the benchmark process (on the generator CPUs), pre-built requests; gateway CPU per "
            "request from /proc/<pid>/stat (every thread); request_bytes counts the HTTP head and body "
            "(gRPC: the message, without HTTP/2 framing); codec_cpu_ms: each protocol's own decode and "
            "encode of the batch, in process (the contract checks, model and routing that follow are the "
            "same for every protocol)"
        ),
    }
    return rows, targets, notes
