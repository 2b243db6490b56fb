"""trilho.contracts: one contract document, three compiled validators, and a breaking-change checker.

A contract is an Open Data Contract Standard v3 document (YAML) plus a small trilho extension for model and
service I/O (roles, vector shapes, numeric tolerances). From it trilho compiles a per-request validator for
the serving hot path, a vectorised dataframe validator (pandas and polars through narwhals) and a JSON
Schema; all three accept exactly the same records. ``diff_contracts`` says which changes break consumers.
"""

from trilho.contracts.contract import Contract
from trilho.contracts.diff import RULES, Change, DiffReport, diff_contracts
from trilho.contracts.frame import Failure, FrameReport
from trilho.contracts.infer import infer_contract
from trilho.contracts.loader import load_contract
from trilho.contracts.model import DatasetCheck, Field, SchemaObject, Tolerance
from trilho.contracts.request import RequestValidator
from trilho.contracts.types import TYPES, PhysicalType

__all__ = [
    "RULES",
    "TYPES",
    "Change",
    "Contract",
    "DatasetCheck",
    "DiffReport",
    "Failure",
    "Field",
    "FrameReport",
    "PhysicalType",
    "RequestValidator",
    "SchemaObject",
    "Tolerance",
    "diff_contracts",
    "infer_contract",
    "load_contract",
]
