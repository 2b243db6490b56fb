"""Gate signatures: canonical JSON, HMAC-SHA256, a key generated once, tampering detected."""

import os
import stat

from hypothesis import given
from hypothesis import strategies as st

from trilho.registry.signing import SigningKey, canonical_json, sign, signing_key, verify_signature

payloads = st.dictionaries(
    st.text(max_size=5), st.integers() | st.text(max_size=5) | st.floats(allow_nan=False), max_size=5
)


@given(payloads)
def test_canonical_json_ignores_key_order(p):
    assert canonical_json(p) == canonical_json(dict(reversed(list(p.items()))))


@given(payloads, st.binary(min_size=1, max_size=32))
def test_sign_then_verify_and_detect_tampering(p, secret):
    key = SigningKey(secret)
    sig = sign(p, key)
    assert verify_signature(p, sig, key)
    assert not verify_signature({**p, "decision": "tampered"}, sig, key)
    assert not verify_signature(p, sig, SigningKey(secret + b"x"))
    assert not verify_signature(p, None, key)


def test_key_file_is_generated_once_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("TRILHO_SIGNING_KEY", raising=False)
    a = signing_key(tmp_path)
    b = signing_key(tmp_path)
    assert a == b and len(a.secret) == 64
    assert stat.S_IMODE(os.stat(tmp_path / "signing.key").st_mode) == 0o600
    monkeypatch.setenv("TRILHO_SIGNING_KEY", "from-env")
    assert signing_key(tmp_path).secret == b"from-env" and signing_key(tmp_path).key_id != a.key_id
