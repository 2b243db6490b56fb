"""Artifacts are content-addressed and idempotent, on a folder and on memory://, and corruption is caught."""

import uuid

import fsspec
import pytest

from trilho.errors import ArtifactCorrupt, ArtifactMissing, RegistryError
from trilho.registry.artifacts import ArtifactStore, digest_path, sha256_file


@pytest.fixture(params=["local", "memory"])
def artifacts(request, tmp_path):
    if request.param == "local":
        return ArtifactStore(tmp_path / "artifacts")
    return ArtifactStore(f"memory://trilho-{uuid.uuid4().hex}", cache_dir=tmp_path / "cache")


def test_file_round_trip_and_idempotence(artifacts, tmp_path):
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights" * 1000)
    a = artifacts.put(src)
    b = artifacts.put(src)
    assert a == b and a.sha256 == sha256_file(src) and a.kind == "file"
    local = artifacts.materialize(a)
    assert local.name == "model.bin" and local.read_bytes() == src.read_bytes()


def test_folder_hash_is_canonical(artifacts, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for root, order in ((one, ["b.py", "a.py"]), (two, ["a.py", "b.py"])):
        (root / "pkg").mkdir(parents=True)
        for name in order:
            (root / "pkg" / name).write_text(f"# {name}\n")
        (root / "__pycache__").mkdir()
        (root / "__pycache__" / "junk.pyc").write_bytes(uuid.uuid4().bytes)
    assert digest_path(one) == digest_path(two)
    info = artifacts.put(one)
    assert info.sha256 == digest_path(one) and info.kind == "dir"
    out = artifacts.materialize(info)
    assert (out / "pkg" / "a.py").read_text() == "# a.py\n"
    (two / "pkg" / "a.py").write_text("changed")
    assert digest_path(two) != digest_path(one)


def test_corrupt_or_missing_blob_is_refused(artifacts, tmp_path):
    src = tmp_path / "m.onnx"
    src.write_bytes(b"abc")
    info = artifacts.put(src)
    with artifacts.fs.open(artifacts.blob_path(info.sha256), "wb") as fh:
        fh.write(b"abd")
    with pytest.raises(ArtifactCorrupt) as info_err:
        artifacts.materialize(info)
    assert "corrupt" in str(info_err.value) and info_err.value.exit_code == 2
    artifacts.fs.rm(artifacts.blob_path(info.sha256))
    with pytest.raises(ArtifactMissing, match="missing from artifact store"):
        artifacts.read_bytes(info.sha256)
    # storing it again heals the address
    assert artifacts.put(src).sha256 == info.sha256 and artifacts.read_bytes(info.sha256) == b"abc"


def test_missing_source_is_an_input_error(artifacts, tmp_path):
    with pytest.raises(RegistryError, match="does not exist"):
        artifacts.put(tmp_path / "nope.pt")


def test_no_temporary_files_are_left(tmp_path):
    store = ArtifactStore(tmp_path / "a")
    f = tmp_path / "x"
    f.write_text("x")
    store.put(f)
    fs = fsspec.filesystem("file")
    assert fs.ls(str(tmp_path / "a" / "tmp")) == []


def test_a_damaged_local_copy_is_replaced_and_an_intact_one_reused(tmp_path):
    store = ArtifactStore(tmp_path / "a")
    src = tmp_path / "w.bin"
    src.write_bytes(b"good")
    info = store.put(src)
    first = store.materialize(info)
    inode = first.stat().st_ino
    assert store.materialize(info).stat().st_ino == inode  # reused, not rewritten under a reader
    first.write_bytes(b"evil")
    again = store.materialize(info)
    assert again.read_bytes() == b"good"


def test_same_bytes_under_two_names_get_a_copy_each(artifacts, tmp_path):
    (tmp_path / "stable.py").write_text("X = 1\n")
    (tmp_path / "shadow.py").write_text("X = 1\n")
    one, two = artifacts.put(tmp_path / "stable.py"), artifacts.put(tmp_path / "shadow.py")
    assert one.sha256 == two.sha256 and one.name != two.name
    first = artifacts.materialize(one)
    second = artifacts.materialize(two)
    assert first.read_text() == second.read_text() == "X = 1\n"  # the first copy was not moved away
    assert first.name == "stable.py" and second.name == "shadow.py"


def test_concurrent_loads_never_move_a_copy_from_under_each_other(artifacts, tmp_path):
    import threading

    names = [f"m{i % 3}.py" for i in range(12)]
    infos = []
    for name in names[:3]:
        (tmp_path / name).write_text("def predict(records):\n    return records\n")
        infos.append(artifacts.put(tmp_path / name))
    seen, errors = [], []
    start = threading.Barrier(len(names))

    def load(i: int) -> None:
        try:
            start.wait()
            path = artifacts.materialize(infos[i % 3])
            seen.append((path, path.read_text()))  # still there right after this load returned it
        except Exception as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(seen) == len(names)
    assert all(path.exists() and text.startswith("def predict") for path, text in seen)


def test_a_damaged_local_copy_is_replaced_on_the_next_load(artifacts, tmp_path):
    (tmp_path / "m.py").write_text("X = 1\n")
    info = artifacts.put(tmp_path / "m.py")
    local = artifacts.materialize(info)
    local.write_text("X = 2\n")  # damaged on disk
    assert artifacts.materialize(info).read_text() == "X = 1\n"
