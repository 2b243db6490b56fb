"""KServe V1 / Open Inference Protocol V2 translation, and windowed aggregates."""

from __future__ import annotations

import pytest

from trilho.clock import ManualClock
from trilho.serving.aggregates import WindowAggregator
from trilho.serving.oip_v2 import format_v2, parse_v2
from trilho.serving.protocols import BadRequest, parse_v1


def test_v1_parse_and_errors():
    assert parse_v1({"instances": [{"a": 1}]}, 10) == [{"a": 1}]
    for body, field in [
        ([], "body"),
        ({"instances": []}, "instances"),
        ({"instances": [1]}, "instances[0]"),
        ({"instances": [{}] * 11}, "instances"),
    ]:
        with pytest.raises(BadRequest) as err:
            parse_v1(body, 10)
        assert err.value.fields["field"] == field


def test_v1_list_style_instances_follow_the_contract_order():
    fields = ["a", "b"]
    assert parse_v1({"instances": [[1, 2], {"a": 3, "b": 4}]}, 10, fields) == [
        {"a": 1, "b": 2},
        {"a": 3, "b": 4},
    ]
    for body in ({"instances": [[1]]}, {"instances": [[1, 2]]}):
        with pytest.raises(BadRequest) as err:
            parse_v1(body, 10, fields if body["instances"][0] == [1] else None)
        assert err.value.fields["field"] == "instances[0]"


def test_v2_round_trip_shapes():
    body = {
        "id": "r1",
        "inputs": [
            {"name": "x", "shape": [2], "datatype": "FP64", "data": [1.5, 2.5]},
            {"name": "v", "shape": [2, 3], "datatype": "INT64", "data": [1, 2, 3, 4, 5, 6]},
            {"name": "s", "shape": [2, 1], "datatype": "BYTES", "data": [["a"], ["b"]]},
        ],
    }
    request = parse_v2(body, 10)
    records, rid = request.records, request.id
    assert rid == "r1"
    assert records == [{"x": 1.5, "v": [1, 2, 3], "s": "a"}, {"x": 2.5, "v": [4, 5, 6], "s": "b"}]
    out, chunks = format_v2(
        [{"y": 1, "p": [0.1, 0.9], "c": "a", "ok": True}, {"y": 2, "p": [0.5, 0.5], "c": "b", "ok": False}],
        "m",
        "3",
        rid,
    )
    tensors = {t["name"]: t for t in out["outputs"]}
    assert tensors["y"] == {"name": "y", "shape": [2], "datatype": "INT64", "data": [1, 2]}
    assert tensors["p"]["shape"] == [2, 2] and tensors["p"]["datatype"] == "FP64"
    assert tensors["c"]["datatype"] == "BYTES" and tensors["ok"]["datatype"] == "BOOL"
    assert out["model_version"] == "3" and out["id"] == "r1" and chunks == []


@pytest.mark.parametrize(
    "inputs, field",
    [
        ([{"name": "x", "shape": [2], "datatype": "FP64", "data": [1.0]}], "inputs[0].data"),
        ([{"name": "x", "shape": [2], "datatype": "FLOAT", "data": [1.0, 2.0]}], "inputs[0].datatype"),
        ([{"name": "", "shape": [1], "datatype": "FP64", "data": [1.0]}], "inputs[0].name"),
        ([{"name": "x", "shape": [-1], "datatype": "FP64", "data": [1.0]}], "inputs[0].shape"),
        (
            [
                {"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]},
                {"name": "y", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]},
            ],
            "inputs[1].shape",
        ),
        ([{"name": "x", "shape": [0], "datatype": "FP64", "data": []}], "inputs[0].shape"),
    ],
)
def test_v2_errors_name_the_field(inputs, field):
    with pytest.raises(BadRequest) as err:
        parse_v2({"inputs": inputs}, 10)
    assert err.value.fields["field"] == field


def test_windows_drain_and_reset():
    clock = ManualClock()
    agg = WindowAggregator("g", clock=clock, bounds=(0.001, 0.01))
    agg.record("m", "1", "stable", 0.0005)
    agg.record("m", "1", "stable", 0.005, error=True, fallback=True)
    agg.record("m", "2", "canary", 0.5, shed=True)
    agg.record_shadow("m", "1", "3", "exact", compared=2, agreed=1, score_sum=1.0, calls=((0.004, 2),))
    agg.record_drop("m", "1", "3", "exact")
    agg.record_batch("m", "1", "stable", 0.004, 2)  # a call of 2 records: 2 observations of 2 ms per record
    clock.advance(5)
    rows, shadow_rows = agg.drain()
    by = {(r["version"]): r for r in rows}
    assert by["1"]["requests"] == 2 and by["1"]["errors"] == 1 and by["1"]["fallbacks"] == 1
    assert by["1"]["latency_histogram"] == {"bounds": [0.001, 0.01], "counts": [1, 1, 0]}
    assert by["2"]["shed"] == 1 and by["2"]["latency_histogram"]["counts"] == [0, 0, 1]
    assert (by["1"]["window_end"] - by["1"]["window_start"]).total_seconds() == 5
    (s,) = shadow_rows
    assert (s["compared"], s["agreed"], s["dropped"]) == (2, 1, 1)
    assert by["1"]["model_latency_histogram"] == s["shadow_latency_histogram"] == {
        "bounds": [0.001, 0.01], "counts": [0, 2, 0]}  # fmt: skip
    assert by["1"]["model_latency_sum_s"] == pytest.approx(0.004) == s["shadow_latency_sum_s"]
    assert by["2"]["model_latency_histogram"]["counts"] == [0, 0, 0]
    assert agg.drain() == ([], [])


def test_summarize_merges_windows_into_rates_percentiles_and_agreement():
    from trilho.serving.aggregates import summarize

    clock = ManualClock()
    agg = WindowAggregator("g", clock=clock, bounds=(0.001, 0.01, 0.1))
    for _ in range(2):
        for i in range(100):
            agg.record("m", "1", "stable", 0.0005 if i < 98 else 0.05, error=i == 0)
        agg.record("m", "2", "canary", 0.005, fallback=True)
        agg.record_shadow("m", "1", "3", "exact", compared=10, agreed=9, score_sum=9.0, calls=((0.02, 10),))
        clock.advance(5)
        rows, shadow_rows = agg.drain()
        if _ == 0:
            first = (rows, shadow_rows)
    s = summarize(first[0] + rows, first[1] + shadow_rows)
    stable = next(v for v in s["versions"] if v["version"] == "1")
    assert stable["requests"] == 200 and stable["errors"] == 2 and stable["error_rate"] == 0.01
    # 196 of 200 in (0, 1 ms], 4 in (10, 100 ms]: interpolated as everywhere (trilho.obs.histograms)
    assert stable["p50_ms"] == pytest.approx(200 / 196 * 0.5) and stable["p99_ms"] == pytest.approx(55.0)
    (pair,) = s["shadow"]
    assert pair["compared"] == 20 and pair["agreement"] == 0.9
