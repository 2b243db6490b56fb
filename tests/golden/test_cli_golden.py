"""`trilho golden run | compare | snapshot` via the CLI: verdicts, JUnit XML, signed records, exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from tests.golden.conftest import write_contract, write_model, write_suite


@pytest.fixture
def models(cli, home, tmp_path):
    contract = write_contract(tmp_path / "contract.yaml")
    for folder, wrong in (("v1", ()), ("v2", (19.0,))):
        r = cli(
            "model",
            "register",
            "doubler",
            "--artifact",
            str(write_model(tmp_path / folder, wrong)),
            "--flavor",
            "python",
            "--contract",
            str(contract),
            "--entry",
            "doubler:predict",
        )
        assert r.exit_code == 0, r.output
    assert cli("model", "alias", "doubler", "champion", "1").exit_code == 0
    return write_suite(tmp_path / "golden", model="doubler@champion")


def test_run_verdicts_junit_and_exit_codes(cli, models, tmp_path):
    junit = tmp_path / "reports" / "golden.xml"
    ok = cli("golden", "run", str(models), "--junit", str(junit))
    assert ok.exit_code == 0 and "20/20 cases passed" in ok.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "20" and suite.get("failures") == "0"
    bad = cli("golden", "run", str(models), "--model", "doubler@2", "--junit", str(junit), "--json")
    assert bad.exit_code == 1
    body = json.loads(bad.stdout)
    assert body["failures"] == 1 and [c["id"] for c in body["cases"] if not c["passed"]] == ["c19"]
    failed = [t for t in ET.parse(junit).getroot().iter("testcase") if t.find("failure") is not None]
    assert [t.get("name") for t in failed] == ["c19"]
    tagged = cli("golden", "run", str(models), "--model", "doubler@2", "--tag", "even", "--json")
    assert tagged.exit_code == 0 and json.loads(tagged.stdout)["total"] == 10


def test_compare_and_record(cli, models, home):
    r = cli("golden", "compare", str(models), "--candidate", "doubler@2", "--baseline", "doubler@champion")
    assert r.exit_code == 1 and "regressed" in r.stdout and "fail" in r.stdout
    r = cli(
        "golden",
        "compare",
        str(models),
        "--candidate",
        "doubler@1",
        "--baseline",
        "doubler@2",
        "--record",
        "--json",
    )
    assert r.exit_code == 0
    body = json.loads(r.stdout)
    assert body["decision"] == "pass" and body["record"]["signature"] and body["record"]["ref"] == "doubler@1"
    assert (home / "signing.key").exists()
    shown = json.loads(cli("model", "show", "doubler@1", "--json").stdout)
    assert [g["kind"] for g in shown["gates"]] == ["golden"] and shown["gates"][0]["verified"] is True


def test_snapshot_prints_a_diff_and_writes_only_when_asked(cli, models):
    cases = models.parent / "suite_cases.jsonl"
    before = cases.read_text()
    r = cli("golden", "snapshot", str(models), "--model", "doubler@2")
    assert r.exit_code == 0 and "+++ b/suite_cases.jsonl" in r.stdout and "--write" in r.stdout
    assert cases.read_text() == before
    r = cli("golden", "snapshot", str(models), "--model", "doubler@2", "--write", "--json")
    assert json.loads(r.stdout)["changed"] == ["c19"] and cases.read_text() != before
    assert cli("golden", "run", str(models), "--model", "doubler@2").exit_code == 0


def test_bad_suite_and_corrupt_artifact_are_exit_2(cli, models, home, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ncases: [\n")
    r = cli("golden", "run", str(broken), "--model", "doubler@1")
    assert r.exit_code == 2 and f"{broken}:" in r.stderr and "malformed YAML" in r.stderr
    blob = next((home / "artifacts" / "sha256").rglob("*"), None)
    for path in (home / "artifacts" / "sha256").rglob("*"):
        if path.is_file():
            path.write_bytes(b"tampered")
    assert blob is not None
    r = cli("golden", "run", str(models))
    assert r.exit_code == 2 and "corrupt" in r.stderr
    r = cli("golden", "run", str(write_suite(tmp_path / "nomodel")))
    assert r.exit_code == 2 and "--model" in r.stderr


def test_run_can_record_a_signed_gate(cli, models):
    r = cli("golden", "run", str(models), "--model", "doubler@2", "--record", "--json")
    assert r.exit_code == 1
    rec = json.loads(r.stdout)["record"]
    assert rec["decision"] == "fail" and rec["evidence"]["failures"] == ["c19"] and rec["signature"]
    r = cli("golden", "run", str(models), "--record", "--tag", "odd")
    assert r.exit_code == 2 and "--record needs the whole suite" in r.stderr
    shown = json.loads(cli("model", "show", "doubler@2", "--json").stdout)
    assert [(g["kind"], g["decision"], g["verified"]) for g in shown["gates"]] == [("golden", "fail", True)]
