"""Property: for every flavour (python callable, scikit-learn classifier and regressor, torch, ONNX) and every
comparator, a candidate whose artifact is byte-identical to stable agrees with it on 100 % of shadow pairs.

The primary side is what the gateway answers (the version's outputs through its output contract); the shadow
side is the real shadow step (``InProcessShadows.step``, which the shadow thread and child run). Each
flavour is registered twice, same bytes, and both versions are loaded separately from the registry."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.registry.conftest import EXAMPLES, write_contract

from trilho.registry import Registry
from trilho.serving.isolation import InProcessShadows
from trilho.serving.models import RegistryProvider
from trilho.serving.shadow_compare import ShadowBatch
from trilho.store import Store

SCALAR = ("exact", "numeric", "numeric:1e-12:{f}", "label:{f}")
VECTOR = ("exact", "numeric", "topk:2:{f}", "topk:1:{f}:1.0", "cosine:{f}", "cosine:{f}:0.999999")

PYTHON_MODEL = textwrap.dedent(
    """
    import numpy as np

    def predict(records):  # numpy and int types where the contract says float64
        return [{"score": int(r["x1"] > 0), "vec": [np.float32(r["x1"]), np.float32(r["x2"] / 3)]}
                for r in records]
    """
)

TORCH_FACTORY = textwrap.dedent(
    """
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def forward(self, x):
            return self.lin(x), torch.softmax(x, dim=1)

    def make():
        return Net()
    """
)


def _sklearn(tmp, estimator):
    import skops.io as sio

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) if estimator == "classifier" else X @ [2.0, 1.0] + 0.1
    if estimator == "classifier":
        from sklearn.linear_model import LogisticRegression as Model
    else:
        from sklearn.linear_model import LinearRegression as Model
    path = tmp / f"{estimator}.skops"
    sio.dump(Model().fit(X, y), path)
    return path


def _torch(tmp):
    import torch

    folder = tmp / "torch"
    folder.mkdir()
    (folder / "net.py").write_text(TORCH_FACTORY)
    torch.manual_seed(0)
    lin = torch.nn.Linear(2, 1)
    torch.save({f"lin.{k}": v for k, v in lin.state_dict().items()}, folder / "weights.pt")
    return folder


def _onnx(tmp):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.array([[0.3], [-1.7]], dtype=np.float32), name="W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"]), helper.make_node("Softmax", ["X"], ["P"], axis=1)],
        "two-outputs",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
        [
            helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("P", TensorProto.FLOAT, [None, 2]),
        ],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp / "model.onnx"
    onnx.save(model, path)
    return path


# name → (artifact builder, flavour, entry, output fields {name: physical type})
FLAVOURS = {
    "python": (
        lambda t: _write(t, PYTHON_MODEL),
        "python",
        "model:predict",
        {"score": "float64", "vec": "array"},
    ),
    "sklearn-classifier": (lambda t: _sklearn(t, "classifier"), "sklearn", None, {"score": "float64"}),
    "sklearn-proba": (lambda t: _sklearn(t, "classifier"), "sklearn", "predict_proba", {"proba": "array"}),
    "sklearn-regressor": (lambda t: _sklearn(t, "regressor"), "sklearn", None, {"y": "float64"}),
    "torch": (_torch, "torch", "net:make", {"score": "float64", "vec": "array"}),
    "onnx": (_onnx, "onnx", None, {"score": "float64", "vec": "array"}),
}


def _write(tmp, source):
    folder = tmp / "py"
    folder.mkdir()
    (folder / "model.py").write_text(source)
    return folder / "model.py"


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Every flavour registered twice (versions 1 and 2, same bytes) in one registry, each version loaded
    once: ``{flavour: (stable, candidate)}``."""
    tmp = tmp_path_factory.mktemp("identical")
    store = Store(f"sqlite:///{tmp / 'trilho.db'}")
    store.migrate()
    reg = Registry(store, tmp / "artifacts")
    for name, (build, flavour, entry, outputs) in FLAVOURS.items():
        work = tmp / name
        work.mkdir()
        artifact = build(work)
        contract = write_contract(work / "c.yaml", name=name, outputs=outputs, examples=EXAMPLES)
        for _ in range(2):
            reg.register(name, artifact, flavour, contract, entry=entry)
    provider = RegistryProvider(store, tmp / "artifacts")
    yield {name: (provider.load(name, "1"), provider.load(name, "2")) for name in FLAVOURS}
    store.dispose()


def _comparators(outputs: dict[str, str]) -> tuple[str, ...]:
    specs: list[str] = []
    for field, physical in outputs.items():
        specs += [s.format(f=field) for s in (VECTOR if physical == "array" else SCALAR)]
    return tuple(dict.fromkeys(specs))


records = st.lists(
    st.fixed_dictionaries(
        {"x1": st.floats(-50, 50, allow_nan=False), "x2": st.floats(-50, 50, allow_nan=False)}
    ),
    min_size=1,
    max_size=12,
)


@pytest.mark.parametrize("name", list(FLAVOURS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=records, size=st.integers(1, 5))
def test_a_byte_identical_candidate_agrees_on_every_pair(versions, name, raw, size):
    stable, candidate = versions[name]
    inputs = [stable.validate_input(r) for r in raw]
    answered = [stable.validate_output(o) for o in stable.predict(inputs)]  # what the gateway answers
    specs = _comparators(FLAVOURS[name][3])
    batch = ShadowBatch(name, "2", specs, (("1", len(inputs)),), inputs, answered, size)
    outcome = InProcessShadows(lambda model, version: candidate).step(batch)
    assert outcome.error is None
    assert {t.comparator for t in outcome.tallies} == set(specs)
    assert all(t.compared == t.agreed == len(inputs) for t in outcome.tallies), outcome.tallies
