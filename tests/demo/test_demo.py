"""The end-to-end demo runs at reduced scale, every act tells its story, `--json` reports it, and it runs
again on the same home."""

import json


def test_demo_quick_runs_every_act_and_again_on_the_same_home(cli, home):
    from trilho.demo.acts import ACTS

    r = cli("demo", "--quick", "--json")
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["ok"] is True
    assert len(body["acts"]) == len(ACTS)
    assert all(act["ok"] for act in body["acts"])
    assert body["acts"][0]["figures"]["breaking rule fired"].startswith("TC")
    # rich may wrap the long path anywhere (even inside a word): compare with every space and break removed
    assert f"demo home: {home / 'demo'}".replace(" ", "") in "".join(r.stderr.split())
    # a second run on the same home: act 1 expects exactly version 1, act 3 rollout ids 1-3 (both read the
    # store), so they are the two that met what the first run left there
    again = cli("demo", "--quick", "--act", "1", "--act", "3", "--json")
    assert again.exit_code == 0, again.output
    acts = json.loads(again.stdout)["acts"]
    assert [a["ok"] for a in acts] == [True, True]
    assert acts[0]["figures"]["versions in registry"] == "1"


def test_demo_refuses_an_act_that_does_not_exist(cli, home):
    r = cli("demo", "--quick", "--act", "9")
    assert r.exit_code == 2 and "there is no act 9" in r.stderr
