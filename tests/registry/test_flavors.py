"""Every flavour for real: a trained scikit-learn model through skops, TorchScript, a state dict + factory,
and an ONNX graph, all mapped records ↔ arrays by the contract's field order."""

from __future__ import annotations

import operator
import textwrap

import numpy as np
import pytest
from tests.registry.conftest import EXAMPLES, write_contract

from trilho.errors import RegistryError
from trilho.registry import Registry
from trilho.store import Store


@pytest.fixture
def reg(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'flavors.db'}")
    store.migrate()
    yield Registry(store, tmp_path / "artifacts")
    store.dispose()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


def test_sklearn_through_skops(reg, tmp_path, data):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    X, y = data
    model = LogisticRegression().fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    contract = write_contract(tmp_path / "c.yaml", outputs={"label": "int64"}, examples=EXAMPLES)
    reg.register("clf", path, "sklearn", contract)
    records = [{"x1": float(a), "x2": float(b)} for a, b in X[:50]]
    got = reg.load_predictor("clf").predict(records)
    assert [r["label"] for r in got] == model.predict(X[:50]).tolist()
    assert all(isinstance(r["label"], int) for r in got)

    proba = write_contract(tmp_path / "p.yaml", name="proba", outputs={"proba": "array"}, examples=EXAMPLES)
    reg.register("clf-proba", path, "sklearn", proba, entry="predict_proba")
    out = reg.load_predictor("clf-proba").predict(records[:3])
    assert np.allclose([r["proba"] for r in out], model.predict_proba(X[:3]))


def test_sklearn_with_feature_names_uses_contract_columns(reg, tmp_path, data):
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    X, _ = data
    frame = pd.DataFrame(X, columns=["x2", "x1"])  # trained with the other column order
    model = LinearRegression().fit(frame, 2 * frame["x1"] + frame["x2"])
    sio.dump(model, tmp_path / "m.skops")
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    reg.register("reg", tmp_path / "m.skops", "sklearn", contract)
    assert reg.load_predictor("reg").predict_one({"x1": 1.0, "x2": 2.0})["y"] == pytest.approx(4.0)


def test_skops_refuses_untrusted_types_unless_trusted(reg, tmp_path, data):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = data
    pipe = make_pipeline(FunctionTransformer(operator.neg), LogisticRegression()).fit(X, y)
    sio.dump(pipe, tmp_path / "p.skops")
    contract = write_contract(tmp_path / "c.yaml", outputs={"label": "int64"}, examples=EXAMPLES)
    with pytest.raises(RegistryError, match="does not trust: _operator.neg") as info:
        reg.register("pipe", tmp_path / "p.skops", "sklearn", contract)
    assert "--trust" in info.value.fix
    mv = reg.register("pipe", tmp_path / "p.skops", "sklearn", contract, trusted_types=["_operator.neg"])
    assert mv.options["trusted_types"] == ["_operator.neg"]
    assert reg.load_predictor("pipe").predict_one({"x1": 2.0, "x2": 2.0})["label"] == int(
        pipe.predict(np.array([[2.0, 2.0]]))[0]
    )


def _linear_torch():
    import torch

    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[2.0, 1.0]]))
        net.bias.zero_()
    return net


def test_torchscript(reg, tmp_path):
    import torch

    traced = torch.jit.trace(_linear_torch(), torch.zeros(1, 2))
    traced.save(str(tmp_path / "net.pt"))
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    reg.register("ts", tmp_path / "net.pt", "torch", contract)
    assert reg.load_predictor("ts").predict([{"x1": 1.0, "x2": 2.0}, {"x1": 0.5, "x2": 0.0}]) == [
        {"y": 4.0},
        {"y": 1.0},
    ]


def test_torch_state_dict_with_factory(reg, tmp_path):
    import torch

    folder = tmp_path / "art"
    folder.mkdir()
    torch.save(_linear_torch().state_dict(), folder / "weights.pt")
    (folder / "net.py").write_text(
        textwrap.dedent(
            """
            import torch

            def make():
                return torch.nn.Linear(2, 1)
            """
        )
    )
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    with pytest.raises(RegistryError, match="module:object"):
        reg.register("sd", folder, "torch", contract, entry="make")
    reg.register("sd", folder, "torch", contract, entry="net:make")
    assert reg.load_predictor("sd").predict_one({"x1": 1.0, "x2": 2.0}) == {"y": 4.0}


def _onnx_linear(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.array([[2.0], [1.0]], dtype=np.float32), name="W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def test_onnx(reg, tmp_path):
    _onnx_linear(tmp_path / "linear.onnx")
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    reg.register("ox", tmp_path / "linear.onnx", "onnx", contract)
    got = reg.load_predictor("ox").predict([{"x2": 2.0, "x1": 1.0}, {"x1": -1.0, "x2": 0.5}])
    assert got == [{"y": 4.0}, {"y": -1.5}]


def test_wrong_flavour_for_the_file_is_one_clear_error(reg, tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    with pytest.raises(RegistryError, match="loading the onnx artifact 'junk.onnx' failed"):
        reg.register("junk", tmp_path / "junk.onnx", "onnx", contract)
