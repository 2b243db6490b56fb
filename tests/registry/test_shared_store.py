"""Two homes on one PostgreSQL share an artifact store (a shared folder, or an S3-compatible server started on
loopback) and a signing key: what one host registers and signs, the other loads and verifies; a host pointed
at another store is told the blob is missing from that store, and a damaged blob is reported corrupt."""

from __future__ import annotations

import json

import pytest
from tests.registry.conftest import EXAMPLES, write_contract, write_python_model

from trilho.config import resolve_settings
from trilho.errors import ArtifactCorrupt, ArtifactMissing
from trilho.registry import Registry, signing_key
from trilho.registry.artifacts import ArtifactStore
from trilho.rollout.scenario import pg_url_with_schema
from trilho.store import open_store

pytestmark = pytest.mark.postgres


def _host(name, tmp_path, db_url, artifacts_url=None):
    settings = resolve_settings(tmp_path / name, db_url, artifacts_url)
    store = open_store(settings)
    return settings, store, Registry(store, settings.artifacts_url)


def test_a_second_home_loads_and_verifies_what_the_first_registered(
    cli, pg_schema, shared_artifacts_url, tmp_path, clean_env
):
    artifacts_url = shared_artifacts_url
    db_url = pg_url_with_schema(*pg_schema)
    key_file = tmp_path / "shared.key"
    key_file.write_text("a secret every host mounts\n")
    clean_env.setenv("TRILHO_SIGNING_KEY_FILE", str(key_file))
    art = write_python_model(tmp_path / "src")
    contract = write_contract(tmp_path / "c.yaml", examples=EXAMPLES)
    home_a = str(tmp_path / "host-a")
    r = cli(
        "--home", home_a, "--database-url", db_url, "--artifacts-url", artifacts_url,
        "model", "register", "lin", "--artifact", str(art), "--flavor", "python",
        "--contract", str(contract), "--entry", "model:predict", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    settings_a, store_a, reg_a = _host("host-a", tmp_path, db_url, artifacts_url)
    reg_a.record_gate("lin@1", "golden", "pass", {"suite": "s"}, key=signing_key(settings_a.home))

    # Host B: another home, the same database, artifact store and key.
    settings_b, store_b, reg_b = _host("host-b", tmp_path, db_url, artifacts_url)
    assert reg_b.load_predictor("lin@1").predict(EXAMPLES) == reg_a.load_predictor("lin@1").predict(EXAMPLES)
    shown = cli("--home", str(settings_b.home), "--database-url", db_url, "model", "show", "lin@1", "--json")
    assert shown.exit_code == 0, shown.output
    assert [g["verified"] for g in json.loads(shown.stdout)["gates"]] == [True]
    assert not (settings_b.home / "signing.key").exists()  # the shared key is used, none generated

    # Host C forgot the artifact store: its own folder does not hold the blob, and it says so.
    settings_c, store_c, reg_c = _host("host-c", tmp_path, db_url)
    with pytest.raises(ArtifactMissing) as missing:
        reg_c.load_predictor("lin@1")
    assert f"missing from artifact store {settings_c.artifacts_url}" in str(missing.value)
    assert "TRILHO_ARTIFACTS_URL" in str(missing.value)

    # A damaged blob in the shared store is corrupt (not missing), for every host.
    shared = ArtifactStore(artifacts_url)
    sha = reg_a.get("lin@1").artifact_sha256
    with shared.fs.open(shared.blob_path(sha), "wb") as fh:
        fh.write(b"def predict(records):\n    return []\n")
    with pytest.raises(ArtifactCorrupt, match="corrupt"):
        reg_b.load_predictor("lin@1")
    for store in (store_a, store_b, store_c):
        store.dispose()


def test_a_named_key_file_must_exist_and_is_never_generated(tmp_path, clean_env):
    from trilho.errors import ConfigError

    clean_env.setenv("TRILHO_SIGNING_KEY_FILE", str(tmp_path / "absent.key"))
    with pytest.raises(ConfigError, match="TRILHO_SIGNING_KEY_FILE") as err:
        signing_key(tmp_path / "home")
    assert err.value.fields["field"] == "signing_key_file"
    assert not (tmp_path / "absent.key").exists() and not (tmp_path / "home" / "signing.key").exists()


def test_an_artifact_url_with_an_unknown_scheme_is_a_config_error(tmp_path, clean_env):
    from trilho.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown scheme 'nosuch'") as err:
        resolve_settings(tmp_path, artifacts_url="nosuch://bucket/x")
    assert err.value.fields["field"] == "artifacts_url"
    clean_env.setenv("TRILHO_ARTIFACTS_URL", "/srv/shared/trilho")
    assert resolve_settings(tmp_path).artifacts_url == "/srv/shared/trilho"
