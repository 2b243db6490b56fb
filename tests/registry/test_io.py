"""Records ↔ arrays follow the contract's field order, in both directions."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trilho.errors import RegistryError
from trilho.registry.io import columns_to_records, matrix_to_records, records_to_matrix


def test_columns_follow_field_order_not_record_order():
    m = records_to_matrix([{"b": 2, "a": 1}, {"a": 3, "b": 4}], ["a", "b"])
    assert m.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_single_vector_field_is_stacked():
    assert records_to_matrix([{"x": [1, 2, 3]}], ["x"], dtype="float32").shape == (1, 3)


def test_missing_field_names_record_and_field():
    with pytest.raises(RegistryError) as info:
        records_to_matrix([{"a": 1}], ["a", "b"])
    assert info.value.fields["field"] == "b" and info.value.fields["row"] == 0


def test_outputs_map_by_shape():
    assert matrix_to_records(np.array([1, 0]), ["label"], 2) == [{"label": 1}, {"label": 0}]
    assert matrix_to_records(np.array([[0.1, 0.9]]), ["proba"], 1) == [{"proba": [0.1, 0.9]}]
    assert matrix_to_records(np.array([[1.0, 2.0]]), ["a", "b"], 1) == [{"a": 1.0, "b": 2.0}]
    assert matrix_to_records(np.array([[7.0]]), ["y"], 1) == [{"y": 7.0}]
    assert columns_to_records([np.array([1]), np.array([[0.2, 0.8]])], ["label", "p"], 1) == [
        {"label": 1, "p": [0.2, 0.8]}
    ]
    with pytest.raises(RegistryError):
        matrix_to_records(np.array([1, 2, 3]), ["a"], 2)
    with pytest.raises(RegistryError):
        matrix_to_records(np.array([1, 2]), ["a", "b"], 2)


@given(st.lists(st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=3), min_size=1, max_size=20))
def test_round_trip(rows):
    fields = ["x", "y", "z"]
    records = [dict(zip(fields, r, strict=True)) for r in rows]
    assert matrix_to_records(records_to_matrix(records, fields), fields, len(records)) == records
