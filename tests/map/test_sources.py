"""Several sources, one entity, each its own shape: per-source `columns:` and `filters:`,
rows stacked with their own lineage, accounting per source and for the whole."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from migrate.errors import ConfigError
from tests.map.estate import accounted, build, read, rejects, run

SHOP = [  # web shop customers: code and name in separate columns, a test account to filter
    {"Kunde": "W1", "Firma": "Webby", "Land": "de"},
    {"Kunde": "W2", "Firma": "", "Land": "fr"},
    {"Kunde": "TEST", "Firma": "Test", "Land": "xx"},
    {"Kunde": "C1", "Firma": "Dup of Acme", "Land": "de"},
]
DEALERS = [  # dealers: a combined "code - name" cell, blocked ones to filter
    {"Dealer": "D1 - Bikes", "Blocked": "", "Country": "US"},
    {"Dealer": "D2 - Spokes", "Blocked": "Y", "Country": "US"},
    {"Dealer": "D3 - ", "Blocked": "", "Country": "CA"},
]
MAPPING = {
    "sources": [
        "clients",
        {
            "source": "shop",
            "columns": {
                "customer_code": {"from": "Kunde"},
                "name": {"from": "Firma"},
                "country": {"from": "Land", "steps": ["upper"]},
            },
            "filters": [{"name": "test_account", "column": "Kunde", "equals": "TEST"}],
        },
        {
            "source": "dealers",
            "columns": {
                "customer_code": {"from": "Dealer", "steps": [{"regex_extract": {"pattern": r"^(\S+) -"}}]},
                "name": {"from": "Dealer", "steps": [{"regex_extract": {"pattern": r"^\S+ - (.+)$"}}]},
                "country": {"from": "Country"},
            },
            "filters": [{"name": "blocked", "column": "Blocked", "not": True, "empty": True}],
        },
    ],
    "columns": {"customer_code": {"from": "Code"}, "name": {"from": "Name"}},
}


@pytest.fixture
def project(tmp_path):
    return build(tmp_path, {"shop": SHOP, "dealers": DEALERS}, {"customer": MAPPING})


def expected_with_pandas() -> pd.DataFrame:
    """The same result computed directly with pandas, source by source, stacked."""
    clients = pd.DataFrame({"_source": "clients", "_row": [2], "customer_code": ["C1"], "name": ["Acme"]})
    shop = pd.DataFrame(SHOP).assign(_source="shop", _row=range(2, 6))
    shop = shop[shop.Kunde != "TEST"].replace("", None)
    shop = pd.DataFrame(
        {
            "_source": "shop",
            "_row": shop._row,
            "customer_code": shop.Kunde,
            "name": shop.Firma,
            "country": shop.Land.str.upper(),
        }
    )
    dealers = pd.DataFrame(DEALERS).assign(_row=range(2, 5))
    dealers = dealers[dealers.Blocked == ""]
    parts = dealers.Dealer.str.extract(r"^(\S+) - ?(.*)$")
    dealers = pd.DataFrame(
        {
            "_source": "dealers",
            "_row": dealers._row,
            "customer_code": parts[0],
            "name": parts[1].replace("", None),
            "country": dealers.Country,
        }
    )
    every = pd.concat([clients, shop, dealers], ignore_index=True)
    every = every[every.name.notna()]  # name is mandatory
    return every[~every.customer_code.duplicated(keep=False)].reset_index(drop=True)


def test_blocks_stack_with_lineage_and_per_source_accounting(project):
    result = run(project, "customer")["customer"]
    mapped = read(project, "map_customer")
    expected = expected_with_pandas()
    got = mapped[["_source", "_row", "customer_code", "name", "country"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got.astype(object), expected[got.columns].astype(object), check_dtype=False)
    by = {s.source: s.to_dict() for s in result.by_source}
    assert by["clients"] == {
        "source": "clients",
        "read": 1,
        "rows": 1,
        "mapped": 0,
        "rejected": 1,
        "filtered": 0,
    }
    assert by["shop"] == {"source": "shop", "read": 4, "rows": 4, "mapped": 1, "rejected": 2, "filtered": 1}
    assert by["dealers"] == {
        "source": "dealers",
        "read": 3,
        "rows": 3,
        "mapped": 1,
        "rejected": 1,
        "filtered": 1,
    }
    assert result.filtered_by_filter == {"test_account": 1, "blocked": 1}
    assert result.rejected_by_reason == {"missing_value": 1, "invalid_format": 1, "duplicate_key": 2}
    assert accounted(result)
    bad = rejects(project, "customer").set_index(["_source", "_row"])
    assert bad.loc[("shop", 3), "reason"] == "missing_value"  # W2 without a name
    assert bad.loc[("dealers", 4), "reason"] == "invalid_format"  # "D3 - " has no name part
    assert bad.loc[("dealers", 4), "rule"] == "name.regex_extract"
    assert bad.loc[("clients", 2), "reason"] == bad.loc[("shop", 5), "reason"] == "duplicate_key"


def test_same_source_twice_counts_each_block(tmp_path):
    """One ledger feeding two blocks (receipts, issues) is accounted block by block."""
    rows = [{"Code": f"K{i}", "Name": f"n{i}", "Kind": "A" if i % 3 else "B"} for i in range(10)]
    mapping = {
        "sources": [
            {
                "source": "ledger",
                "filters": [{"name": "not_a", "column": "Kind", "not": True, "equals": "A"}],
            },
            {
                "source": "ledger",
                "columns": {"customer_code": {"from": ["Code", "Kind"], "sep": "-"}},
                "filters": [{"name": "not_b", "column": "Kind", "not": True, "equals": "B"}],
            },
        ],
        "columns": {"customer_code": {"from": "Code"}, "name": {"from": "Name"}},
    }
    project = build(tmp_path, {"ledger": rows}, {"customer": mapping})
    result = run(project, "customer")["customer"]
    assert [(s.read, s.mapped, s.filtered) for s in result.by_source] == [(10, 6, 4), (10, 4, 6)]
    assert result.source_rows == 20 and accounted(result)
    codes = read(project, "map_customer").customer_code.tolist()
    assert codes == [f"K{i}" for i in range(10) if i % 3] + [f"K{i}-B" for i in range(10) if not i % 3]


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (
            lambda m: m["sources"][1]["columns"].update(nope={"from": "x"}),
            "sources.1.columns.nope",
            "no column",
        ),
        (lambda m: m["sources"][2].update(source="ghost"), "sources.2.source", "not declared"),
        (
            lambda m: m["sources"][1]["columns"]["name"].update({"from": "Gone"}),
            "sources.1.columns.name.from",
            "no column 'Gone'",
        ),
        (
            lambda m: m["sources"][1]["filters"][0].update(column="Gone"),
            "filters.0.column",
            "no column 'Gone'",
        ),
        (lambda m: m["columns"].pop("customer_code"), "sources.0.columns", "customer_code"),
    ],
)
def test_bad_blocks_name_file_and_key(tmp_path, change, key, words):
    mapping = copy.deepcopy(MAPPING)
    change(mapping)
    project = build(tmp_path, {"shop": SHOP, "dealers": DEALERS}, {"customer": mapping})
    with pytest.raises(ConfigError) as caught:
        run(project, "customer")
    assert caught.value.file == "mappings/customer.yaml"
    assert caught.value.key == key
    assert words in str(caught.value)
