"""The end-to-end demo runs at reduced scale, every act tells its story, and `--json` reports it."""

import json


def test_demo_quick_runs_every_act(cli, home):
    from trilho.demo.acts import ACTS

    r = cli("demo", "--quick", "--json")
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["ok"] is True
    assert len(body["acts"]) == len(ACTS)
    assert all(act["ok"] for act in body["acts"])
    assert body["acts"][0]["figures"]["breaking rule fired"].startswith("TC")
