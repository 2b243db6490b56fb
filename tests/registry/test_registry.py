"""The registry on SQLite and PostgreSQL: versions, refs, aliases, lineage, gate records, failing closed."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, func, select, update
from tests.registry.conftest import EXAMPLES, LINEAR_MODEL, write_contract, write_jsonl, write_python_model

from trilho.errors import ArtifactCorrupt, BreakingChange, RegistryError, SchemaViolation
from trilho.registry import Registry, SigningKey, verify_gate
from trilho.store.tables.registry import gate_records, model_versions, models


def count_rows(store, table) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_register_versions_references_and_aliases(registry, linear, tmp_path):
    art, contract = linear
    data = tmp_path / "train.csv"
    data.write_text("x1,x2,y\n1,2,4\n")
    v1 = registry.register(
        "lin",
        art,
        "python",
        contract,
        entry="model:predict",
        params={"lr": 0.1, "clip": float("inf")},
        metrics={"rmse": 0.5},
        data_paths=[data],
    )
    assert v1.version == 1 and v1.ref == "lin@1"
    assert v1.params == {"lr": 0.1, "clip": "Infinity"} and v1.metrics == {"rmse": 0.5}
    assert v1.lineage["data"][str(data)].startswith("sha256:")
    assert "git" in v1.lineage
    assert v1.examples["outputs"] == [{"y": 4.0}, {"y": -0.75}]
    v2 = registry.register("lin", art, "python", contract, entry="model:predict")
    assert v2.version == 2 and v2.artifact_sha256 == v1.artifact_sha256  # same content, same address
    assert registry.get("lin").version == 2 and registry.get("lin@latest").version == 2
    assert registry.get("lin@1").version == 1
    registry.set_alias("lin", "champion", 1)
    assert registry.get("lin@champion").version == 1
    assert registry.get("lin@1").aliases == ("champion",)
    registry.set_alias("lin", "champion", 2)
    assert registry.get("lin@champion").version == 2 and registry.aliases("lin") == {"champion": 2}
    assert registry.list_models() == [{"name": "lin", "versions": 2, "latest": 2, "aliases": {"champion": 2}}]
    assert [v.version for v in registry.versions("lin")] == [1, 2]
    p = registry.load_predictor("lin@champion")
    assert p.predict([{"x1": 3.0, "x2": 1.0}]) == [{"y": 7.0}] and p.model_version.version == 2
    assert p.contract.name == "scorer"


def test_unknown_references_say_what_exists(registry, linear):
    art, contract = linear
    registry.register("lin", art, "python", contract, entry="model:predict")
    for ref, fragment in [("nope", "no model named"), ("lin@9", "from 1 to 1"), ("lin@champion", "no alias")]:
        with pytest.raises(RegistryError, match=fragment):
            registry.get(ref)
    with pytest.raises(RegistryError):
        registry.set_alias("lin", "champion", 5)
    with pytest.raises(RegistryError, match="reserved"):
        registry.set_alias("lin", "latest", 1)


def test_examples_from_a_jsonl_file(registry, tmp_path):
    art = write_python_model(tmp_path / "src")
    contract = write_contract(tmp_path / "c.yaml")  # no examples inside
    with pytest.raises(RegistryError, match="no example inputs"):
        registry.register("lin", art, "python", contract, entry="model:predict")
    ex = write_jsonl(tmp_path / "ex.jsonl", [{"input": EXAMPLES[0]}, EXAMPLES[1]])
    mv = registry.register("lin", art, "python", contract, entry="model:predict", examples=ex)
    assert mv.examples["inputs"] == EXAMPLES


def test_fails_closed_and_writes_nothing(registry, store, tmp_path):
    art = write_python_model(tmp_path / "src")
    bad_inputs = write_contract(tmp_path / "a.yaml", examples=[{"x1": "one", "x2": 2.0}])
    with pytest.raises(SchemaViolation, match="example input 0"):
        registry.register("lin", art, "python", bad_inputs, entry="model:predict")
    narrow = write_contract(tmp_path / "b.yaml", examples=EXAMPLES, output_range=(0.0, 1.0))
    with pytest.raises(SchemaViolation, match="example output 0"):
        registry.register("lin", art, "python", narrow, entry="model:predict")
    crash = write_python_model(
        tmp_path / "crash", "def predict(records):\n    raise ValueError('nan weights')\n"
    )
    good = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    with pytest.raises(RegistryError, match="nan weights"):
        registry.register("lin", crash, "python", good, entry="model:predict")
    with pytest.raises(RegistryError, match="does not exist"):
        registry.register("lin", tmp_path / "missing.py", "python", good, entry="model:predict")
    with pytest.raises(RegistryError, match="unknown flavor") as info:
        registry.register("lin", art, "pickle", good)
    assert "sklearn" in info.value.fix
    with pytest.raises(RegistryError, match="has no attribute"):
        registry.register("lin", art, "python", good, entry="model:nothing")
    with pytest.raises(RegistryError, match="not a finite number"):
        registry.register("lin", art, "python", good, entry="model:predict", metrics={"auc": float("nan")})
    assert count_rows(store, models) == 0 and count_rows(store, model_versions) == 0


def test_a_crash_inside_the_insert_leaves_nothing_half_made(registry, store, linear):
    art, contract = linear

    def crash(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO MODEL_VERSIONS"):
            raise RuntimeError("power cut")

    event.listen(store.engine, "before_cursor_execute", crash)
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            registry.register("lin", art, "python", contract, entry="model:predict")
    finally:
        event.remove(store.engine, "before_cursor_execute", crash)
    assert count_rows(store, models) == 0  # the models row of the same transaction was rolled back
    assert registry.register("lin", art, "python", contract, entry="model:predict").version == 1


def test_breaking_contract_against_the_champion_is_refused_unless_allowed(registry, store, tmp_path):
    art = write_python_model(tmp_path / "src")
    v1c = write_contract(tmp_path / "v1.yaml", examples=EXAMPLES)
    registry.register("lin", art, "python", v1c, entry="model:predict")
    registry.set_alias("lin", "champion", 1)
    # v2 makes an input narrower (float64 -> float32 on x1) and adds a required input: breaking for callers
    v2c = write_contract(
        tmp_path / "v2.yaml", version="1.1.0", inputs={"x1": "float32", "x2": "float64"}, examples=EXAMPLES
    )
    with pytest.raises(BreakingChange) as info:
        registry.register("lin", art, "python", v2c, entry="model:predict")
    err = info.value
    assert err.exit_code == 1 and err.fields["rule"] and err.fields["rule"] in str(err)
    assert err.fields["against"] == "lin@1"
    assert count_rows(store, model_versions) == 1
    with pytest.raises(RegistryError, match="needs a reason"):
        registry.register("lin", art, "python", v2c, entry="model:predict", allow_breaking="  ")
    v2 = registry.register(
        "lin", art, "python", v2c, entry="model:predict", allow_breaking="callers migrated"
    )
    assert v2.breaking_reason == "callers migrated" and v2.lineage["breaking"]["against"] == "lin@1"
    # the champion still has v1's contract, so the same change is refused again until v2 is promoted
    registry.set_alias("lin", "champion", 2)
    v3c = write_contract(
        tmp_path / "v3.yaml", version="1.1.1", inputs={"x1": "float32", "x2": "float64"}, examples=EXAMPLES
    )
    assert registry.register("lin", art, "python", v3c, entry="model:predict").version == 3


def test_concurrent_registrations_and_loads_get_distinct_versions(registry, linear):
    from concurrent.futures import ThreadPoolExecutor

    art, contract = linear

    def register(_):
        return registry.register("lin", art, "python", contract, entry="model:predict").version

    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(register, range(4)))
        outputs = list(pool.map(lambda v: registry.load_predictor(f"lin@{v}").predict(EXAMPLES), versions))
    assert sorted(versions) == [1, 2, 3, 4]
    assert all(o == [{"y": 4.0}, {"y": -0.75}] for o in outputs)


def test_corrupt_artifact_is_refused_on_load(registry, linear):
    art, contract = linear
    mv = registry.register("lin", art, "python", contract, entry="model:predict")
    blob = registry.artifacts.blob_path(mv.artifact_sha256)
    with registry.artifacts.fs.open(blob, "wb") as fh:
        fh.write(LINEAR_MODEL.replace("2.0", "3.0").encode())
    with pytest.raises(ArtifactCorrupt, match="corrupt"):
        registry.load_predictor("lin@1")


def test_memory_fsspec_artifacts(store, tmp_path, linear):
    art, contract = linear
    reg = Registry(store, f"memory://trilho-{uuid.uuid4().hex}", cache_dir=tmp_path / "cache")
    reg.register("lin", art, "python", contract, entry="model:predict")
    assert reg.load_predictor("lin").predict([{"x1": 1.0, "x2": 1.0}]) == [{"y": 3.0}]


def _folder_model(root, scale):
    (root / "helpers").mkdir(parents=True)
    (root / "helpers" / "__init__.py").write_text(f"SCALE = {scale}\n")
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "offset.py").write_text("OFFSET = 1.0\n")
    (root / "pkg" / "model.py").write_text(
        "from helpers import SCALE\n"
        "from .offset import OFFSET\n"
        "class Model:\n"
        "    def predict(self, records):\n"
        "        return [{'y': SCALE * r['x1'] + OFFSET} for r in records]\n"
    )
    return root


def test_python_flavour_loads_classes_and_folders_without_name_clashes(registry, tmp_path):
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    registry.register("cls", _folder_model(tmp_path / "a", 10.0), "python", contract, entry="pkg.model:Model")
    registry.register(
        "cls", _folder_model(tmp_path / "b", 100.0), "python", contract, entry="pkg.model:Model"
    )
    other = write_python_model(tmp_path / "other")  # a module called `model` too
    registry.register("fn", other, "python", contract, entry="model:predict")
    a = registry.load_predictor("cls@1").predict_one({"x1": 1.0, "x2": 0.0})
    b = registry.load_predictor("cls@2").predict_one({"x1": 1.0, "x2": 0.0})
    c = registry.load_predictor("fn").predict_one({"x1": 1.0, "x2": 0.0})
    assert (a, b, c) == ({"y": 11.0}, {"y": 101.0}, {"y": 2.0})
    import sys

    assert "helpers" not in sys.modules  # siblings do not leak into the process-wide module table


def test_gate_records_are_signed_and_tampering_is_detected(registry, store, linear):
    art, contract = linear
    registry.register("lin", art, "python", contract, entry="model:predict")
    key = SigningKey(b"secret")
    rec = registry.record_gate("lin@1", "golden", "pass", {"metrics": {"pass_rate": 1.0}}, key=key)
    unsigned = registry.record_gate("lin", "eval", "fail", {"why": "toxicity"})
    assert verify_gate(rec, key) and not verify_gate(rec, SigningKey(b"other"))
    assert not verify_gate(unsigned, key)
    stored = registry.gate_records("lin@1", kind="golden")
    assert [r.id for r in stored] == [rec.id] and verify_gate(stored[0], key)
    assert len(registry.gate_records("lin@latest")) == 2
    with store.transaction() as conn:
        conn.execute(update(gate_records).where(gate_records.c.id == rec.id).values(decision="fail"))
    assert not verify_gate(registry.gate_records("lin@1", kind="golden")[0], key)


def test_times_come_from_the_injected_clock_in_utc(store, tmp_path, linear):
    from datetime import UTC, datetime

    from trilho.clock import ManualClock

    art, contract = linear
    reg = Registry(store, tmp_path / "a", clock=ManualClock())
    mv = reg.register("lin", art, "python", contract, entry="model:predict")
    assert mv.created_at == datetime(2026, 1, 1, tzinfo=UTC) and mv.created_at.tzinfo is not None
    rec = reg.record_gate("lin", "golden", "pass", {})
    assert reg.gate_records("lin")[0].created_at == rec.created_at
