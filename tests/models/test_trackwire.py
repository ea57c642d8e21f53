"""The tracking contract: what a replica encodes is what the server decodes, edge cases
included, and the contract costs a training process no heavy import."""

from __future__ import annotations

import base64
import json
import math
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import submarine.models
from submarine.models.trackwire import (
    LARGEST,
    MAX_KEY,
    MAX_STEP,
    MAX_TEXT,
    MAX_WORKER,
    NO_STEP,
    ColumnBatch,
    MetricRecord,
    ParamRecord,
    RecordError,
    encode_columns,
    encode_metrics,
    encode_params,
    is_text,
    metric_wire,
    param_wire,
    read_batch,
    wire_value,
)

EXPERIMENT = "experiment-1700000000000-0001"
NOW = 1_700_000_000_123


def _metrics(records: list[MetricRecord], worker: str = "worker-0") -> list[list[Any]]:
    """Encode as the sender does, decode as the server does: the stored rows."""
    document = json.loads(encode_metrics(EXPERIMENT, worker, records))
    experiment_id, batch, count = read_batch(document, "metric", NOW)
    assert experiment_id == EXPERIMENT
    assert isinstance(batch, ColumnBatch)
    assert count == len(records)
    return batch.rows()


def _params(records: list[ParamRecord], worker: str = "worker-0") -> list[Any]:
    document = json.loads(encode_params(EXPERIMENT, worker, records))
    experiment_id, rows, count = read_batch(document, "param", NOW)
    assert experiment_id == EXPERIMENT
    assert isinstance(rows, list)
    assert count == len(records)
    return [list(row) for row in rows]


def test_metrics_come_back_as_they_were_sent() -> None:
    records = [("loss", 0.5, 0, 1_700_000_000_000), ("acc", 0.25, 0, 1_700_000_000_001)]
    records.append(("loss", -0.0, MAX_STEP, 1_700_000_000_002))
    assert _metrics(records, "ps-1") == [
        ["loss", 0.5, "ps-1", 1_700_000_000_000, 0, False],
        ["acc", 0.25, "ps-1", 1_700_000_000_001, 0, False],
        ["loss", -0.0, "ps-1", 1_700_000_000_002, MAX_STEP, False],
    ]


def test_no_step_is_step_0_and_no_timestamp_is_when_it_came() -> None:
    rows = _metrics([("loss", 1.0, NO_STEP, 0), ("loss", 2.0, NO_STEP + 1, 5)])
    assert [(row[3], row[4]) for row in rows] == [(NOW, 0), (5, NO_STEP + 1)]


def test_nan_is_recorded_as_nan_and_infinities_as_themselves() -> None:
    rows = _metrics([("x", math.nan, 1, 1), ("x", math.inf, 2, 1), ("x", -math.inf, 3, 1)])
    assert [(row[1], row[5]) for row in rows] == [
        (None, True),
        (math.inf, False),
        (-math.inf, False),
    ]


def test_answers_hold_nan_and_infinities_as_0_8_0_stores_them() -> None:
    rows = _metrics([("x", math.nan, 1, 1), ("x", math.inf, 2, 1), ("x", -math.inf, 3, 1)])
    answered = [metric_wire(EXPERIMENT, row) for row in rows]
    assert [(m["value"], m["isNan"]) for m in answered] == [
        (0.0, True),
        (LARGEST, False),
        (-LARGEST, False),
    ]
    assert LARGEST == 1.7976931348623157e308
    assert [wire_value(row[1]) for row in rows] == [None, LARGEST, -LARGEST]


@pytest.mark.parametrize(
    "key", ["损失", "loss/ü", "📉 loss", 'tab\tand"quote\\', "k" * MAX_KEY, "ü" * MAX_KEY]
)
def test_keys_of_any_text_up_to_the_limit(key: str) -> None:
    rows = _metrics([(key, 1.0, 1, 1), ("other", 2.0, 2, 2), (key, 3.0, 3, 3)])
    assert [row[0] for row in rows] == [key, "other", key]
    assert _params([(key, "value")]) == [[key, "value", "worker-0"]]


def test_a_key_past_the_limit_is_refused_naming_it() -> None:
    document = json.loads(encode_metrics(EXPERIMENT, "worker-0", [("k" * (MAX_KEY + 1), 1, 1, 1)]))
    with pytest.raises(RecordError, match=rf"\[0\]\.key: must be .* at most {MAX_KEY}"):
        read_batch(document, "metric", NOW)


def test_an_empty_batch_encodes_and_is_refused_as_holding_no_record() -> None:
    assert json.loads(encode_columns([])) == {
        "keys": [],
        "key": "",
        "value": "",
        "step": "",
        "timestamp": "",
    }
    with pytest.raises(RecordError, match=r"columns\.keys: must be a non-empty list"):
        read_batch(json.loads(encode_metrics(EXPERIMENT, "worker-0", [])), "metric", NOW)
    with pytest.raises(RecordError, match="params: must be a non-empty list"):
        read_batch(json.loads(encode_params(EXPERIMENT, "worker-0", [])), "param", NOW)


def test_columns_are_little_endian_on_every_host() -> None:
    columns = json.loads(encode_columns([("a", 1.0, 1, 2), ("b", 1.0, -1, 2)]))
    assert base64.b64decode(columns["key"]) == bytes([0, 0, 0, 0, 1, 0, 0, 0])
    assert base64.b64decode(columns["step"]) == bytes([1] + [0] * 7 + [0xFF] * 8)


def test_params_up_to_the_limit_come_back() -> None:
    rows = _params([("lr", "0.01"), ("note", "ü" * MAX_TEXT)], "worker-2")
    assert rows == [["lr", "0.01", "worker-2"], ["note", "ü" * MAX_TEXT, "worker-2"]]
    too_long = {"id": EXPERIMENT, "params": [["note", "x" * (MAX_TEXT + 1)]]}
    with pytest.raises(RecordError, match=rf"\[0\]\.value: must be at most {MAX_TEXT}"):
        read_batch(too_long, "param", NOW)
    unanswerable = {"id": EXPERIMENT, "params": [["note", "\udfff"]]}
    with pytest.raises(RecordError, match=r"\[0\]\.value: must be text without lone"):
        read_batch(unanswerable, "param", NOW)


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"id": EXPERIMENT, "key": "a", "value": 10**400}, "[0].value: must be a number"),
        ({"id": EXPERIMENT, "key": "a", "value": True}, "[0].value: must be a number"),
        ({"id": EXPERIMENT, "key": "a", "value": 1, "step": 2**63}, "[0].step: must be a whole"),
        ({"id": EXPERIMENT, "key": "a", "value": 1, "step": 1.5}, "[0].step: must be a whole"),
        ([{"id": EXPERIMENT, "key": "a", "value": 1}, {"id": "x", "key": "a", "value": 1}], "id"),
        ([], "the body is an empty list"),
        ({"id": EXPERIMENT, "metrics": [["a", 1.0, 1]]}, "metrics[0]: must be a list of 4"),
        ({"id": 7, "columns": {}}, "id: must be an experiment id"),
        ({"id": EXPERIMENT, "key": "a\ud800", "value": 1}, "[0].key: must be text without"),
        ({"id": EXPERIMENT, "workerIndex": "\udc00", "metrics": [["a", 1, 1, 1]]}, "workerIndex"),
        ({"id": "experiment-1-\ud800", "key": "a", "value": 1}, "id: every record needs"),
        ({"id": "\ud800", "metrics": [["a", 1, 1, 1]]}, "id: must be an experiment id"),
        ({"id": EXPERIMENT, "key": "a", "value": 1, "workerIndex": "w" * 65}, "at most 64"),
    ],
)
def test_records_that_break_the_rules_are_refused_naming_the_field(
    document: Any, named: str
) -> None:
    with pytest.raises(RecordError) as refused:
        read_batch(document, "metric", NOW)
    assert named in str(refused.value)


def test_a_worker_index_is_short_so_that_answers_stay_in_proportion() -> None:
    assert _metrics([("a", 1.0, 1, 1)], "w" * MAX_WORKER)[0][2] == "w" * MAX_WORKER
    too_long = json.loads(encode_metrics(EXPERIMENT, "w" * (MAX_WORKER + 1), [("a", 1, 1, 1)]))
    with pytest.raises(RecordError, match=rf"workerIndex: .* at most {MAX_WORKER} characters"):
        read_batch(too_long, "metric", NOW)
    params = {"id": EXPERIMENT, "workerIndex": "w" * (MAX_WORKER + 1), "params": [["a", "b"]]}
    with pytest.raises(RecordError, match="workerIndex"):
        read_batch(params, "param", NOW)


@pytest.mark.parametrize(
    ("text", "valid"), [("loss", True), ("损失 📉", True), ("a\ud800", False), ("\udfff", False)]
)
def test_text_is_unicode_without_lone_surrogates(text: str, valid: bool) -> None:
    assert is_text(text) is valid


def test_rows_of_a_column_batch_come_one_at_a_time_as_well() -> None:
    records = [("a", 1.0, 1, 1), ("b", math.nan, NO_STEP, 0)]
    batch = read_batch(json.loads(encode_metrics(EXPERIMENT, "w", records)), "metric", NOW)[1]
    assert isinstance(batch, ColumnBatch)
    assert list(batch.iter_rows()) == batch.rows()
    assert batch.rows()[1] == ["b", None, "w", NOW, 0, True]


def test_records_of_0_8_0_and_compact_batches_give_the_same_rows() -> None:
    record = {"id": EXPERIMENT, "key": "a", "value": 2, "step": 3, "timestamp": 4}
    compact = {"id": EXPERIMENT, "workerIndex": "worker-0", "metrics": [["a", 2, 3, 4]]}
    expected = [("a", 2.0, "worker-0", 4, 3, False)]
    assert read_batch(record, "metric", NOW)[1] == expected
    assert read_batch([record], "metric", NOW)[1] == expected
    assert read_batch(compact, "metric", NOW)[1] == expected
    flagged = {**record, "isNan": True}
    assert read_batch(flagged, "metric", NOW)[1] == [("a", None, "worker-0", 4, 3, True)]
    as_0_8_0_stores_it = {**record, "value": 0, "isNan": True}
    assert read_batch(as_0_8_0_stores_it, "metric", NOW)[1] == [("a", None, "worker-0", 4, 3, True)]
    stepless = {"id": EXPERIMENT, "key": "a", "value": 2, "step": None, "timestamp": 4}
    assert read_batch(stepless, "metric", NOW)[1] == [("a", 2.0, "worker-0", 4, 0, False)]


def test_rows_answer_in_0_8_0_shapes() -> None:
    # A row an older server stored: a NaN and no step.
    assert metric_wire(EXPERIMENT, ["a", None, "worker-1", 4, None, True]) == {
        "id": EXPERIMENT,
        "key": "a",
        "value": 0.0,
        "workerIndex": "worker-1",
        "timestamp": 4,
        "step": 0,
        "isNan": True,
    }
    assert param_wire(EXPERIMENT, ["lr", "0.1", "worker-0"]) == {
        "id": EXPERIMENT,
        "key": "lr",
        "value": "0.1",
        "workerIndex": "worker-0",
    }


_keys = st.text(min_size=1, max_size=MAX_KEY)
_records = st.lists(
    st.tuples(
        _keys,
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(NO_STEP, MAX_STEP),
        st.integers(0, 2**63 - 1),
    ),
    min_size=1,
    max_size=50,
)


@given(_records)
def test_any_batch_round_trips(records: list[MetricRecord]) -> None:
    rows = _metrics(records)
    for (key, value, step, stamp), row in zip(records, rows, strict=True):
        nan = math.isnan(value)
        assert row == [
            key,
            None if nan else value,
            "worker-0",
            stamp or NOW,
            0 if step == NO_STEP else step,
            nan,
        ]


@pytest.mark.slow  # a fresh interpreter
def test_the_contract_imports_no_pydantic_nor_numpy() -> None:
    code = (
        "import sys, submarine.tracking, submarine.models.trackwire; "
        "print(','.join(m for m in ('pydantic', 'numpy', 'submarine.server') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_the_models_export_what_they_list() -> None:
    assert sorted(submarine.models._LAZY) == sorted(submarine.models.__all__)
    for name in submarine.models.__all__:
        assert getattr(submarine.models, name) is not None
