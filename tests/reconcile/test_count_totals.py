"""A count control total is counted by the work store's SQL: rows per trimmed group, less the
rows whose whole lineage map rejected (a row number alone is not enough), on SQLite and
PostgreSQL work stores."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from migrate.reconcile import ControlTotal
from migrate.reconcile.totals import _whole_source_side
from migrate.store import WorkStore

STAGED = [  # (sheet, row, group)
    ("A", 2, " G1"),
    ("A", 3, "G1 "),  # rejected
    ("A", 4, "G1"),  # its row number is rejected in another file: kept
    ("A", 5, None),
    ("B", 2, "G3"),  # rejected: G3 has no row left
    ("B", 3, "G2"),
]
REJECTS = [("src", "f.xlsx", "A", 3), ("src", "f.xlsx", "B", 2), ("src", "other.xlsx", "A", 4)]


def test_count_by_group_less_rejected_lineage(target_url):
    store = WorkStore(target_url)
    try:
        frame = pd.DataFrame(
            [("src", "f.xlsx", sheet, row, 1, group) for sheet, row, group in STAGED],
            columns=["_source", "_file", "_sheet", "_row", "_run", "grp"],
        )
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="_row_id")
        frame.to_sql("stg_src", store.engine, index=True)
        rejects = pd.DataFrame(REJECTS, columns=["_source", "_file", "_sheet", "_row"])
        rejects.insert(0, "entity", "material_lot")
        rejects.to_sql("map_rejects", store.engine, index=False)
        grouped = ControlTotal(
            name="n", source="src", aggregate="count", group_by_source="grp", group_by_target="material_code"
        )
        sums, unparsed, _, excluded, _ = _whole_source_side(store, "material_lot", grouped)
        assert sums == {"G1": Decimal(2), "": Decimal(1), "G2": Decimal(1)}
        assert (unparsed, excluded) == (0, 2)
        whole = ControlTotal(name="n", source="src", aggregate="count")
        assert _whole_source_side(store, "material_lot", whole)[0] == {"(all)": Decimal(4)}
        kept = whole.model_copy(update={"exclude_rejected": False})
        assert _whole_source_side(store, "material_lot", kept)[0] == {"(all)": Decimal(6)}
    finally:
        store.dispose()
