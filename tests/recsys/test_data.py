import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilho.errors import RecsysError
from trilho.recsys.csr import build_csr, gather_rows
from trilho.recsys.data import (
    Interactions,
    load_dataset,
    load_log_dataset,
    read_lightgcn_txt,
    save_dataset,
    split_log,
)


def test_reads_lightgcn_lines(tmp_path):
    p = tmp_path / "train.txt"
    p.write_text("0 1 2 3\n1 2\n\n2\n3 0 4\n")
    users, items = read_lightgcn_txt(p)
    assert users.tolist() == [0, 0, 0, 1, 3, 3]
    assert items.tolist() == [1, 2, 3, 2, 0, 4]


@pytest.mark.parametrize(
    ("text", "line", "value"), [("0 1\n1 x 2\n", 2, "x"), ("0 1\n1 2\n2 3.5\n", 3, "3.5")]
)
def test_malformed_line_names_file_and_line(tmp_path, text, line, value):
    p = tmp_path / "train.txt"
    p.write_text(text)
    with pytest.raises(RecsysError) as err:
        read_lightgcn_txt(p)
    assert f"train.txt:{line}" in str(err.value)
    assert err.value.fields["line"] == line and err.value.fields["value"] == value


def test_negative_ids_rejected(tmp_path):
    p = tmp_path / "test.txt"
    p.write_text("0 -1\n")
    with pytest.raises(RecsysError, match="test.txt:1"):
        read_lightgcn_txt(p)


def test_dataset_round_trip(tiny_ds, tmp_path):
    save_dataset(tmp_path, tiny_ds)
    back = load_dataset(tmp_path)
    assert (back.n_users, back.n_items) == (tiny_ds.n_users, tiny_ds.n_items)
    for name in ("train", "valid", "test"):
        a, b = getattr(tiny_ds, name), getattr(back, name)
        assert set(zip(a.users.tolist(), a.items.tolist(), strict=True)) == set(
            zip(b.users.tolist(), b.items.tolist(), strict=True)
        )


def test_missing_valid_is_carved_from_train_not_test(tmp_path):
    (tmp_path / "train.txt").write_text(
        "".join(f"{u} " + " ".join(str(i) for i in range(10)) + "\n" for u in range(5))
    )
    (tmp_path / "test.txt").write_text("0 11\n1 12\n")
    ds = load_dataset(tmp_path, valid_fraction=0.2)
    assert len(ds.valid) == 10 and len(ds.train) == 40 and len(ds.test) == 2
    train = set(zip(ds.train.users.tolist(), ds.train.items.tolist(), strict=True))
    assert not train & set(zip(ds.valid.users.tolist(), ds.valid.items.tolist(), strict=True))
    assert ds.meta["valid_carved_from_train"] == 0.2


def test_missing_folder_and_file(tmp_path):
    with pytest.raises(RecsysError, match="not a folder"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(RecsysError, match="does not exist"):
        load_dataset(tmp_path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_interaction_log(tmp_path, suffix):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"user": [f"u{u}" for u in rng.integers(0, 20, 600)], "item": rng.integers(100, 160, 600)}
    )
    path = tmp_path / f"log{suffix}"
    df.to_csv(path, index=False) if suffix == ".csv" else df.to_parquet(path)
    ds, ids = load_log_dataset(path, user_col="user", item_col="item")
    pairs = {(u, i) for u, i in zip(df.user, df.item, strict=True)}
    assert len(ds.train) + len(ds.valid) + len(ds.test) == len(pairs)
    assert ds.n_users == len(ids.user_ids) == df.user.nunique()
    back = {(ids.user_ids[u], ids.item_ids[i]) for u, i in zip(ds.test.users, ds.test.items, strict=True)}
    assert back <= pairs


def test_interaction_log_missing_column(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(RecsysError, match="column 'user_id' is missing") as err:
        load_log_dataset(path)
    assert "a, b" in err.value.fix


def test_split_fractions_validated():
    inter = Interactions(np.zeros(5, np.int64), np.arange(5), 1, 5)
    with pytest.raises(RecsysError):
        split_log(inter, valid=0.5, test=0.6)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 7), st.integers(0, 11)), max_size=60),
    st.lists(st.integers(0, 7), max_size=10),
)
def test_gather_rows_matches_python(pairs, rows):
    users = np.array([p[0] for p in pairs], dtype=np.int64)
    items = np.array([p[1] for p in pairs], dtype=np.int64)
    ptr, idx = build_csr(users, items, 8)
    pos, got = gather_rows(ptr, idx, np.array(rows, dtype=np.int64))
    want = [(b, i) for b, r in enumerate(rows) for i in sorted({p[1] for p in pairs if p[0] == r})]
    assert list(zip(pos.tolist(), got.tolist(), strict=True)) == want
