"""Registry benchmark: registration, verified loading and the predictor's records↔arrays cost, per flavour.

Run: ``python -m benchmarks.bench_registry [--quick]`` (``make bench-registry [QUICK=1]``).

The same linear model over 8 float inputs is registered in four flavours (python callable, scikit-learn via
skops, TorchScript, ONNX). For each, side by side in one process:

* ``register_s``: fail-closed registration (contract checks, store artifact, load, run examples, insert);
* ``load_s``: ``load_predictor`` (fetch + sha256 verify + deserialize);
* ``p50 predictor`` vs ``p50 raw`` at batch 1: the registry's Predictor vs calling the bare model on a
  prebuilt array, and their difference (the records↔arrays mapping plus metrics);
* batch-256 throughput through the Predictor (records/s).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks._results import print_table, print_targets, target, write_results

N_FEATURES = 8
FIELDS = [f"f{i}" for i in range(N_FEATURES)]
WEIGHTS = np.arange(1, N_FEATURES + 1, dtype=np.float32) / 10


def _contract(path: Path) -> Path:
    props = [
        {"name": f, "logicalType": "number", "physicalType": "float64", "required": True} for f in FIELDS
    ]
    doc = {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "bench-io",
        "name": "bench",
        "version": "1.0.0",
        "schema": [
            {
                "name": "request",
                "x-trilho": {"role": "input", "examples": [dict.fromkeys(FIELDS, 1.0)]},
                "properties": props,
            },
            {
                "name": "response",
                "x-trilho": {"role": "output"},
                "properties": [
                    {"name": "y", "logicalType": "number", "physicalType": "float64", "required": True}
                ],
            },
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _python(folder: Path) -> tuple[Path, str | None, Any]:
    folder.mkdir()
    (folder / "lin.py").write_text(
        f"W = {WEIGHTS.tolist()!r}\nF = {FIELDS!r}\n"
        "def predict(records):\n"
        "    return [{'y': sum(w * r[f] for w, f in zip(W, F))} for r in records]\n"
    )
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_lin", folder / "lin.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    raw_record = [dict.fromkeys(FIELDS, 0.5)]
    return folder / "lin.py", "lin:predict", lambda: mod.predict(raw_record)


def _sklearn(folder: Path) -> tuple[Path, str | None, Any]:
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, N_FEATURES))
    model = LinearRegression().fit(X, X @ WEIGHTS)
    path = folder / "lin.skops"
    sio.dump(model, path)
    x = np.full((1, N_FEATURES), 0.5)
    return path, None, lambda: model.predict(x)


def _torch(folder: Path) -> tuple[Path, str | None, Any]:
    import torch

    net = torch.nn.Linear(N_FEATURES, 1)
    with torch.no_grad():
        net.weight.copy_(torch.from_numpy(WEIGHTS).reshape(1, -1))
        net.bias.zero_()
    traced = torch.jit.trace(net, torch.zeros(1, N_FEATURES))
    path = folder / "lin.pt"
    traced.save(str(path))
    x = torch.full((1, N_FEATURES), 0.5)

    def raw() -> Any:
        with torch.inference_mode():
            return traced(x).numpy()

    return path, None, raw


def _onnx(folder: Path) -> tuple[Path, str | None, Any]:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(WEIGHTS.reshape(-1, 1), name="W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "lin",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, N_FEATURES])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = folder / "lin.onnx"
    onnx.save(model, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.full((1, N_FEATURES), 0.5, dtype=np.float32)
    return path, None, lambda: sess.run(["Y"], {"X": x})


def _p50_us(fn: Any, n: int) -> float:
    for _ in range(min(200, n)):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about 20 s)")
    args = parser.parse_args(argv)
    reps = 500 if args.quick else 5000
    batches = 20 if args.quick else 200

    from trilho.registry import Registry
    from trilho.store import Store

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="trilho-bench-registry-") as tmp:
        root = Path(tmp)
        store = Store(f"sqlite:///{root / 'bench.db'}")
        store.migrate()
        registry = Registry(store, root / "artifacts")
        contract = _contract(root / "contract.yaml")
        record = [dict.fromkeys(FIELDS, 0.5)]
        batch = [dict.fromkeys(FIELDS, float(i) / 256) for i in range(256)]
        for flavor, build in (("python", _python), ("sklearn", _sklearn), ("torch", _torch), ("onnx", _onnx)):
            folder = root / flavor
            folder.mkdir(exist_ok=True)
            artifact, entry, raw = build(folder if flavor != "python" else folder / "src")
            t0 = time.perf_counter()
            registry.register(f"lin-{flavor}", artifact, flavor, contract, entry=entry)
            register_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            predictor = registry.load_predictor(f"lin-{flavor}")
            load_s = time.perf_counter() - t0
            expected = float(0.5 * WEIGHTS.sum())
            assert abs(predictor.predict(record)[0]["y"] - expected) < 1e-4, flavor
            p50_pred = _p50_us(lambda p=predictor: p.predict(record), reps)
            p50_raw = _p50_us(raw, reps)
            t0 = time.perf_counter()
            for _ in range(batches):
                predictor.predict(batch)
            throughput = batches * len(batch) / (time.perf_counter() - t0)
            rows.append(
                {
                    "flavor": flavor,
                    "register_s": round(register_s, 4),
                    "load_s": round(load_s, 4),
                    "p50_predictor_us": round(p50_pred, 1),
                    "p50_raw_us": round(p50_raw, 1),
                    "overhead_us": round(p50_pred - p50_raw, 1),
                    "batch256_records_per_s": round(throughput),
                }
            )
        store.dispose()

    array_overheads = [r["overhead_us"] for r in rows if r["flavor"] != "python"]
    targets = [
        target(
            "records↔arrays overhead at batch 1 (worst array flavour)",
            "≤ 50 µs",
            max(array_overheads),
            max(array_overheads) <= 50,
        ),
        target("verified load of a small model (worst flavour)", "≤ 1 s", max(r["load_s"] for r in rows),
               max(r["load_s"] for r in rows) <= 1.0),
    ]  # fmt: skip
    print_table("registry: per-flavour registration, load and predict cost", rows)
    print_targets(targets)
    path = write_results("registry", rows, targets, quick=args.quick, extra={"features": N_FEATURES})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
