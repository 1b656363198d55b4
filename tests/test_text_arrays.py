"""`arrowread.text_array`, the one way values become an Arrow text column: values from a pandas
frame (map's writes) treat NaN as missing; values read from a database (reconcile's and map's
reads) keep a NaN as a value, so a NaN and a NULL stay different."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from migrate.arrowread import read_batches, text_array
from migrate.db import make_engine
from migrate.mapping.tables import _arrow_batch

MIXED = ["a", None, float("nan"), 12, Decimal("1.50")]


def test_nan_is_missing_in_a_frame_and_a_value_in_a_database_row():
    assert text_array(MIXED, nan_is_null=True).to_pylist() == ["a", None, None, "12", "1.50"]
    assert text_array(MIXED, nan_is_null=False).to_pylist() == ["a", None, "nan", "12", "1.50"]
    texts = ["a", None, float("nan")]  # no other kind: Arrow's own conversion, the same rule
    assert text_array(texts, nan_is_null=True).to_pylist() == ["a", None, None]
    assert text_array(texts, nan_is_null=False).to_pylist() == ["a", None, "nan"]


def test_a_mapped_frames_missing_values_are_written_as_null():
    frame = pd.DataFrame({"_row_id": [1, 2, 3], "note": pd.Series(["x", float("nan"), pd.NA], dtype=object)})
    assert _arrow_batch(frame, ["_row_id", "note"]).column("note").to_pylist() == ["x", None, None]


@pytest.mark.postgres
def test_a_databases_nan_is_read_as_its_text_not_as_null(pg_url):
    engine = make_engine(pg_url)
    try:
        sql = "SELECT 'NaN'::float8, NULL::float8, 'NaN'::numeric, NULL::numeric, 2.5::float8"
        (batch,) = read_batches(engine, sql, ["f", "f_null", "n", "n_null", "x"], 10)
    finally:
        engine.dispose()
    assert batch.to_pylist() == [{"f": "nan", "f_null": None, "n": "NaN", "n_null": None, "x": "2.5"}]
