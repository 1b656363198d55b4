"""Named transforms: vectorised, exact, and strict about what they refuse."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pytest

from migrate.mapping import transforms as t
from migrate.store import to_canonical


def text(*values) -> pd.Series:
    return t.as_text(pd.Series(list(values), dtype=object))


def listed(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series.astype(object)]


def test_decimal_is_exact_and_canonical():
    result = t.decimal(
        text("12.5", "007.25", "-3", "+4.", "1,234.5", "1e3", "0.1234567", "99999999999.999999", None)
    )
    assert listed(result.values) == [
        "12.500000",
        "7.250000",
        "-3.000000",
        "4.000000",
        "1234.500000",
        "1000.000000",
        "0.123457",
        "99999999999.999999",
        None,
    ]
    assert not result.bad.any()
    assert listed(result.values)[:3] == [to_canonical(Decimal(v)) for v in ("12.5", "7.25", "-3")]


@pytest.mark.parametrize("bad", ["12,5", "abc", "nan", "inf", "1.2.3", "12 kg", "1" * 20])
def test_decimal_refuses_what_is_not_a_number(bad):
    result = t.decimal(text(bad))
    assert result.bad.tolist() == [True] and listed(result.values) == [None]


def test_integer():
    result = t.integer(text("007", "12.000", "-0", "12.5"))
    assert listed(result.values) == ["7", "12", "0", None]
    assert result.bad.tolist() == [False, False, False, True]


def test_dates_formats_serials_and_impossible_days():
    result = t.date(
        text("2024-03-01", "2024/3/1", "2024年3月1日", "45352", "2024-02-30", "2024/2/31", "yesterday")
    )
    assert listed(result.values) == ["2024-03-01"] * 4 + [None] * 3
    assert result.bad.tolist() == [False] * 4 + [True] * 3


def test_datetime_local_zone_to_utc_like_to_canonical():
    ctx = t.StepContext(timezone="Asia/Shanghai")
    result = t.datetime_(
        text("2024-03-01 08:30:00", "2024-03-01 08:30:00.250000", "45352.5"),
        ctx,
        formats=["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f"],
    )
    expected = [
        to_canonical(datetime(2024, 3, 1, 0, 30, tzinfo=UTC)),
        to_canonical(datetime(2024, 3, 1, 0, 30, 0, 250000, tzinfo=UTC)),
        to_canonical(datetime(2024, 3, 1, 4, 0, tzinfo=UTC)),  # serial noon, Shanghai
    ]
    assert listed(result.values) == expected


def test_datetime_with_offset_and_dst_gap():
    ctx = t.StepContext(timezone="Europe/Berlin")
    result = t.datetime_(
        text("2024-03-01T10:00:00+0100", "2024-03-31 02:30:00"),
        ctx,
        formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"],
    )
    assert listed(result.values)[0] == "2024-03-01T09:00:00+00:00"
    assert result.bad.tolist() == [False, True]  # 02:30 does not exist in Berlin that night


def test_boolean_words():
    result = t.boolean(text("是", "否", "Y", "n", "合格", "不合格", "maybe"))
    assert listed(result.values) == ["true", "false", "true", "false", "true", "false", None]
    assert result.bad.tolist()[-1]


def test_text_cleaning():
    assert listed(t.nfkc(text("Ｒ２４０１－０１", "ＡＢＣ\u3000"))) == ["R2401-01", "ABC "]
    assert listed(t.collapse_spaces(text(" a \u00a0 b  c "))) == ["a b c"]
    assert listed(t.zero_pad(text("42", "1234567"), width=6)) == ["000042", "1234567"]
    assert listed(t.null_if(text("NA", "-", "x"), value=["NA", "-"])) == [None, None, "x"]


def test_number_and_unit_parts_and_conversion():
    values = text("12.5 kg", "500g", "3", "kg")
    assert listed(t.number_part(values).values) == ["12.5", "500", "3", None]
    assert listed(t.unit_part(values, default="pcs").values) == ["kg", "g", "pcs", None]
    converted = t.to_unit(
        text("500 g", "1.5 t", "2", "3 furlong"),
        factors={"g": "0.001", "t": 1000},
        to="kg",
        default_unit="kg",
    )
    assert listed(converted.values)[:3] == ["0.500", "1500.0", "2"]
    assert converted.bad.tolist() == [False, False, False, True]


def test_regex_extract():
    result = t.regex_extract(text("LOT:A123;", "nothing"), pattern=r"LOT:(\w+)")
    assert listed(result.values) == ["A123", None] and result.bad.tolist() == [False, True]
    whole = t.regex_extract(text("batch 2024-03", "none"), pattern=r"\d{4}-\d{2}")
    assert listed(whole.values) == ["2024-03", None]


def test_vectorised_on_a_large_column():
    """100k values through the decimal and datetime parsers in well under a second each."""
    import time

    values = t.as_text(pd.Series([f"{i % 997}.{i % 1000:03d}" for i in range(100_000)]))
    start = time.perf_counter()
    t.decimal(values)
    stamps = t.as_text(pd.Series([f"2024-03-01 {i % 24:02d}:{i % 60:02d}:00" for i in range(100_000)]))
    t.datetime_(stamps, t.StepContext(), formats=["%Y-%m-%d %H:%M:%S"])
    assert time.perf_counter() - start < 3
