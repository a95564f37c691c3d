"""Frame schemas are checked at the boundary, with errors that name the side and the column."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from core.drift import (
    AMS_LINES,
    DRIFT,
    LEDGER,
    RETURNLY_LINES,
    FrameSchemaError,
    classify,
    coerce_frame,
    empty_frame,
    validate_frame,
)
from tests.unit.drift.builders import NOW, ams, ams_line, ledger, returnly, returnly_line


@pytest.mark.parametrize("schema", [RETURNLY_LINES, AMS_LINES, LEDGER], ids=["r", "a", "l"])
def test_empty_frame_has_the_schema_dtypes(schema: dict[str, str]) -> None:
    frame = empty_frame(schema)
    assert list(frame.columns) == list(schema)
    assert validate_frame(frame, schema, "any") is frame


def _broken(column: str, values: object) -> pd.DataFrame:
    frame = returnly(returnly_line("1"))
    frame[column] = values
    return frame


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        pytest.param(
            returnly(returnly_line("1")).drop(columns=["sku", "rma"]),
            "returnly frame: missing column(s) rma, sku",
            id="missing-columns",
        ),
        pytest.param(
            _broken("status", pd.Series(["authorized"], dtype=object)),
            "returnly frame: column 'status' has dtype object, expected str",
            id="object-strings",
        ),
        pytest.param(
            _broken("units_returned", np.array([1.0])),
            "returnly frame: column 'units_returned' has dtype float64, expected int64",
            id="float-units",
        ),
        pytest.param(
            _broken("created_at", pd.Series([NOW.tz_localize(None)])),
            "returnly frame: column 'created_at' has dtype datetime64[us], "
            "expected datetime64[ns, UTC]",
            id="naive-timestamps",
        ),
        pytest.param(
            _broken("updated_at", pd.Series([NOW]).astype("datetime64[us, UTC]")),
            "returnly frame: column 'updated_at' has dtype datetime64[us, UTC], "
            "expected datetime64[ns, UTC]",
            id="microsecond-timestamps",
        ),
        pytest.param(
            _broken("return_id", pd.Series([None], dtype="str")),
            "returnly frame: column 'return_id' has missing values",
            id="missing-key",
        ),
        pytest.param(
            _broken("units_refunded", np.array([-1], dtype=np.int64)),
            "returnly frame: column 'units_refunded' has negative values",
            id="negative-units",
        ),
    ],
)
def test_validate_frame_names_the_column(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(FrameSchemaError) as info:
        validate_frame(frame, RETURNLY_LINES, "returnly")
    assert str(info.value) == message


def test_classify_validates_every_side() -> None:
    bad_ams = ams(ams_line("1"))
    bad_ams["not_on_original_rma"] = bad_ams["not_on_original_rma"].astype(object)
    with pytest.raises(FrameSchemaError, match="ams frame: column 'not_on_original_rma'"):
        classify(returnly(), bad_ams, ledger(), now=NOW)


def test_classify_rejects_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        classify(returnly(), ams(), ledger(), now=NOW.tz_localize(None))


def test_extra_columns_and_both_string_dtypes_are_accepted() -> None:
    frame = returnly(returnly_line("1"))
    frame["note"] = "kept"
    frame["sku"] = frame["sku"].astype("string")
    assert validate_frame(frame, RETURNLY_LINES, "returnly") is frame


def test_coerce_frame_casts_records_to_the_schema() -> None:
    raw = pd.DataFrame(
        [{**returnly_line("1"), "created_at": "2026-11-19T01:00:00Z", "units_returned": 1.0}]
    )
    frame = coerce_frame(raw, RETURNLY_LINES)
    validate_frame(frame, RETURNLY_LINES, "returnly")
    assert frame["created_at"].iloc[0] == pd.Timestamp("2026-11-19T01:00:00Z")


def test_classify_output_matches_the_drift_schema() -> None:
    drift = classify(returnly(returnly_line("1", status="refunded")), ams(), ledger(), now=NOW)
    assert len(drift) == 1
    validate_frame(drift, DRIFT, "drift")
    assert list(drift.columns) == list(DRIFT)
    assert drift["severity"].cat.ordered
    assert list(drift["severity"].cat.categories) == ["low", "medium", "high", "critical"]


def test_classify_of_empty_frames_is_an_empty_drift_frame() -> None:
    drift = classify(returnly(), ams(), ledger(), now=NOW)
    assert drift.empty
    validate_frame(drift, DRIFT, "drift")
