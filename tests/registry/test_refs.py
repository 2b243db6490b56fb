"""References parse into name + version or alias; bad ones are one clear error."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trilho.errors import RegistryError
from trilho.registry.refs import ModelRef, parse_ref


def test_forms():
    assert parse_ref("iris") == ModelRef("iris")
    assert parse_ref("iris@latest").is_latest
    assert parse_ref("iris@3") == ModelRef("iris", version=3)
    assert parse_ref("iris@champion") == ModelRef("iris", alias="champion")
    assert str(parse_ref("iris")) == "iris@latest"


@pytest.mark.parametrize("bad", ["", "@1", "iris@0", "iris@1@2", "ir is", "iris@-x", "iris@" + "a" * 80])
def test_bad_refs(bad):
    with pytest.raises(RegistryError) as info:
        parse_ref(bad)
    assert info.value.exit_code == 2


@given(st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True), st.integers(1, 10**6))
def test_round_trip(name, version):
    assert parse_ref(str(parse_ref(f"{name}@{version}"))) == ModelRef(name, version=version)
