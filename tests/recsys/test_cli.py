import json

from trilho.recsys.data import load_dataset


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_synth_train_evaluate_recommend(cli, home, tmp_path):
    data, model = tmp_path / "data", tmp_path / "model"
    syn = _json(
        cli(
            "recsys",
            "synth",
            "--shape",
            "gowalla",
            "--scale",
            "0.01",
            "--seed",
            "2",
            "--out",
            str(data),
            "--json",
        )
    )
    assert syn["users"] == 299 and syn["train"] == 8101
    assert load_dataset(data).summary()["train"] == 8101
    tr = _json(
        cli(
            "recsys",
            "train",
            str(data),
            "--epochs",
            "6",
            "--lr",
            "0.01",
            "--batch-size",
            "1024",
            "--threads",
            "1",
            "--seed",
            "5",
            "--out",
            str(model),
            "--register",
            "recs",
            "--json",
        )
    )
    assert tr["config"]["seed"] == 5 and tr["threads"] == 1 and tr["registered"] == "recs@1"
    ev = _json(cli("recsys", "evaluate", str(model), "--json"))
    assert ev["split"] == "test" and ev["model"]["users"] == 299 and 0 < ev["model"]["recall@20"] <= 1
    assert ev["popularity"]["recall@20"] > 0
    rec = _json(cli("recsys", "recommend", str(model), '{"user_id": 4, "k": 5}', "--json"))
    assert len(rec["items"]) == 5 and rec["source"] == "model"


def test_errors_exit_2(cli, home, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.txt").write_text("0 1 2\n1 2 oops\n")
    (bad / "test.txt").write_text("0 3\n")
    res = cli("recsys", "train", str(bad), "--out", str(tmp_path / "m"), "--json")
    assert res.exit_code == 2
    body = json.loads(res.stdout)
    assert body["error"] == "RecsysError" and body["line"] == 2 and "train.txt:2" in body["message"]
    assert cli("recsys", "synth", "--scale", "0.00001", "--out", str(tmp_path / "x")).exit_code == 2
    assert cli("recsys", "evaluate", str(tmp_path)).exit_code == 2
