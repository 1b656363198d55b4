"""`join:` of a source with another (inner/left, on columns, validity-date ranges): the rows
an entity is built from, checked against the same join done with pandas."""

from __future__ import annotations

import pandas as pd
import pytest

from migrate.errors import ConfigError
from tests.map.estate import accounted, build, read, rejects, run

KITS = [
    {"KitNo": "K1", "Date": "2024-03-01"},
    {"KitNo": "K2", "Date": "2024-03-01"},  # its only line starts later
    {"KitNo": "K3", "Date": "not a date"},
    {"KitNo": "K4", "Date": "2024-03-01"},  # no line at all
    {"KitNo": " K5 ", "Date": "45352"},  # an Excel serial (2024-03-01), a padded key
]
LINES = [
    {"Kit": "K1", "Comp": "A", "From": "2024-01-01", "To": "2024-12-31"},
    {"Kit": "K1", "Comp": "B", "From": "2024/01/01", "To": ""},  # open end
    {"Kit": "K1", "Comp": "C", "From": "2023-01-01", "To": "2023-12-31"},  # expired
    {"Kit": "K1", "Comp": "D", "From": "", "To": "2024-03-01"},  # open start, last day inclusive
    {"Kit": "K1", "Comp": "E", "From": "2024-01-01", "To": "someday"},  # a bound that is no date
    {"Kit": "K2", "Comp": "X", "From": "2025-01-01", "To": ""},
    {"Kit": "K5", "Comp": "Z", "From": "", "To": ""},
]


def mapping(**join) -> dict:
    spec = {
        "source": "kit_lines",
        "on": {"KitNo": "Kit"},
        "valid": {"date": "Date", "from": "From", "to": "To"},
    }
    return {
        "sources": [{"source": "kits", "join": [spec | join]}],
        "columns": {
            "material_code": {"from": ["KitNo", "kit_lines.Comp"], "sep": "-"},
            "name": {"from": "kit_lines.Comp"},
            "material_type": {"const": "semi"},
            "base_uom": {"const": "pcs"},
        },
    }


def joined_with_pandas(how: str) -> pd.DataFrame:
    kits = pd.DataFrame(KITS).assign(_row=range(2, 7), key=lambda f: f.KitNo.str.strip())
    day = pd.to_datetime(kits.Date, format="%Y-%m-%d", errors="coerce")
    kits["day"] = day.fillna(
        pd.Timestamp("1899-12-30") + pd.to_timedelta(pd.to_numeric(kits.Date, errors="coerce"), unit="D")
    )
    lines = pd.DataFrame(LINES)
    for bound in ("From", "To"):
        lines[bound] = pd.to_datetime(lines[bound].str.replace("/", "-"), format="%Y-%m-%d", errors="coerce")
    lines = lines[lines.Comp != "E"]  # its end is no date: never valid
    pairs = kits.merge(lines, how="inner", left_on="key", right_on="Kit")
    ok = (pairs.From.isna() | (pairs.From <= pairs.day)) & (pairs.To.isna() | (pairs.day <= pairs.To))
    pairs = pairs[ok & pairs.day.notna()]
    if how == "left":
        lonely = kits[~kits._row.isin(pairs._row)]
        pairs = pd.concat([pairs, lonely]).sort_values("_row", kind="stable")
    return pd.DataFrame({"_row": pairs._row, "name": pairs.Comp}).reset_index(drop=True)


def test_inner_join_with_validity_against_pandas(tmp_path):
    project = build(tmp_path, {"kits": KITS, "kit_lines": LINES}, {"material": mapping()})
    result = run(project)["material"]
    got = read(project, "map_material")
    expected = joined_with_pandas("inner")
    assert got[["_row", "name"]].astype(object).values.tolist() == expected.astype(object).values.tolist()
    assert got.material_code.tolist() == [
        "K1-A",
        "K1-B",
        "K1-D",
        "K5 -Z",
    ]  # keys compared trimmed, values as read
    # one source row, several rows: stated in the accounting
    assert [(s.read, s.rows, s.mapped, s.rejected) for s in result.by_source] == [(5, 7, 4, 3)]
    assert accounted(result)
    bad = rejects(project, "material").set_index("_row")
    assert set(bad.reason) == {"unknown_reference"} and set(bad.rule) == {"join.kit_lines"}
    assert bad.loc[3, "message"] == "no kit_lines row with KitNo 'K2' valid on 2024-03-01"
    assert bad.loc[4, "message"] == "no kit_lines row with KitNo 'K3' valid on (no date)"
    assert bad.loc[5, "value"] == "K4" and (bad._source == "kits").all()


def test_left_join_keeps_lonely_rows(tmp_path):
    project = build(tmp_path, {"kits": KITS, "kit_lines": LINES}, {"material": mapping(how="left")})
    result = run(project)["material"]
    expected = joined_with_pandas("left")
    assert result.source_rows == len(expected) == 7
    # the lonely rows have no joined name: the mandatory column rejects them, in source order
    bad = rejects(project, "material")
    assert bad._row.tolist() == expected[expected.name.isna()]._row.tolist() == [3, 4, 5]
    assert set(bad.reason) == {"missing_value"}
    assert read(project, "map_material")._row.tolist() == expected[expected.name.notna()]._row.tolist()


def test_unmatched_rows_filtered_when_declared(tmp_path):
    project = build(tmp_path, {"kits": KITS, "kit_lines": LINES}, {"material": mapping(unmatched="filter")})
    result = run(project)["material"]
    assert result.filtered_by_filter == {"join_kit_lines": 3} and result.rejected == 0
    assert accounted(result)


def test_join_without_validity_and_two_keys_in_small_chunks(tmp_path):
    """Keys over two columns; chunks of 2 rows: the same rows as one pandas merge."""
    orders = [{"Ord": str(i % 4), "Site": "S" + str(i % 2), "N": str(i)} for i in range(11)]
    sites = [{"O": str(i), "S": "S" + str(j), "Who": f"{i}{j}"} for i in range(3) for j in range(2)]
    spec = {
        "sources": [{"source": "orders", "join": [{"source": "sites", "on": {"Ord": "O", "Site": "S"}}]}],
        "columns": {
            "material_code": {"from": "N"},
            "name": {"from": "sites.Who"},
            "material_type": {"const": "raw"},
            "base_uom": {"const": "pcs"},
        },
    }
    project = build(tmp_path, {"orders": orders, "sites": sites}, {"material": spec})
    text = (project.root / "project.yaml").read_text()
    (project.root / "project.yaml").write_text(text + "defaults: {chunk_size: 2}\n")
    result = run(type(project)(project.root))["material"]
    frame = pd.DataFrame(orders).merge(pd.DataFrame(sites), left_on=["Ord", "Site"], right_on=["O", "S"])
    got = read(project, "map_material")
    assert got.material_code.tolist() == frame.N.tolist() and got.name.tolist() == frame.Who.tolist()
    assert result.rejected == 11 - len(frame)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"source": "ghost"}, "sources.0.join.0.source", "not declared"),
        ({"on": {"Nope": "Kit"}}, "sources.0.join.0.on", "no column 'Nope'"),
        ({"on": {"KitNo": "Nope"}}, "sources.0.join.0", "no column 'Nope'"),
        ({"valid": {"date": "Date"}}, "sources.0.join.0.valid", "needs `from`, `to`"),
        ({"how": "outer"}, "sources.0.join.0.how", "inner"),
    ],
)
def test_bad_join_names_file_and_key(tmp_path, change, key, words):
    project = build(tmp_path, {"kits": KITS, "kit_lines": LINES}, {"material": mapping(**change)})
    with pytest.raises(ConfigError) as caught:
        run(project)
    assert (caught.value.file, caught.value.key) == ("mappings/material.yaml", key)
    assert words in str(caught.value)


def test_second_join_on_a_column_of_the_first(tmp_path):
    comps = [{"Code": "A", "Label": "Alpha"}, {"Code": "B", "Label": "Beta"}, {"Code": "Z", "Label": "Zed"}]
    spec = mapping()
    spec["sources"][0]["join"].append({"source": "comps", "on": {"kit_lines.Comp": "Code"}, "how": "left"})
    spec["columns"]["name"] = {"from": "comps.Label"}
    project = build(tmp_path, {"kits": KITS, "kit_lines": LINES, "comps": comps}, {"material": spec})
    result = run(project)["material"]
    assert read(project, "map_material").name.tolist() == ["Alpha", "Beta", "Zed"]
    assert rejects(project, "material").set_index("_row").loc[2, "reason"] == "missing_value"  # D: no label
    assert accounted(result) and result.source_rows == 7


def test_filters_on_own_columns_run_before_the_join(tmp_path):
    """A row filtered out is counted as filtered, not rejected by a join meant for the others;
    a filter on a joined column runs after the join."""
    kits = [{**k, "Kind": "kit"} for k in KITS] + [{"KitNo": "K9", "Date": "2024-03-01", "Kind": "note"}]
    spec = mapping()
    spec["filters"] = [
        {"name": "not_a_kit", "column": "Kind", "not": True, "equals": "kit"},
        {"name": "component_b", "column": "kit_lines.Comp", "equals": "B"},
    ]
    project = build(tmp_path, {"kits": kits, "kit_lines": LINES}, {"material": spec})
    result = run(project)["material"]
    assert result.filtered_by_filter == {"not_a_kit": 1, "component_b": 1}
    assert result.rejected_by_reason == {"unknown_reference": 3}  # K2, K3, K4 as before; not K9
    assert read(project, "map_material").name.tolist() == ["A", "D", "Z"]
    assert accounted(result)
