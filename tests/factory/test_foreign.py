"""The foreign-ERP estate: deterministic, and its file export holds the database's rows."""

from __future__ import annotations

import sqlite3

import pandas as pd

from migrate.factory.foreign import TABLES, XLSX_TABLES, generate_foreign


def test_same_seed_same_bytes_and_files_match_the_database(tmp_path):
    counts = generate_foreign(tmp_path / "a", orders=6)
    generate_foreign(tmp_path / "b", orders=6)
    assert (tmp_path / "a/erp.db").read_bytes() == (tmp_path / "b/erp.db").read_bytes()
    conn = sqlite3.connect(tmp_path / "a/erp.db")
    try:
        for name, columns in TABLES.items():
            stored = pd.DataFrame(conn.execute(f'SELECT * FROM "{name}"').fetchall(), dtype=object)
            if name in XLSX_TABLES:
                exported = pd.read_excel(tmp_path / f"a/export/{name}.xlsx", dtype=object)
            else:
                exported = pd.read_csv(tmp_path / f"a/export/{name}.csv", dtype=object, keep_default_na=False)
            assert tuple(exported.columns) == columns and len(exported) == len(stored) == counts[name]
            as_text = stored.map(lambda v: "" if v is None else str(v))
            other = exported.map(lambda v: "" if v is None or v != v else str(v))
            assert as_text.values.tolist() == other.values.tolist(), name
    finally:
        conn.close()


def test_ledger_references_mean_different_orders_by_type(tmp_path):
    generate_foreign(tmp_path, orders=6)
    conn = sqlite3.connect(tmp_path / "erp.db")
    try:
        kinds = dict(
            conn.execute(
                "SELECT TransactionType, COUNT(*) FROM TransactionHistory t WHERE CASE TransactionType"
                " WHEN 'P' THEN ReferenceOrderID IN (SELECT PurchaseOrderID FROM PurchaseOrderHeader)"
                " WHEN 'W' THEN ReferenceOrderID IN (SELECT WorkOrderID FROM WorkOrder)"
                " ELSE ReferenceOrderID IN (SELECT SalesOrderID FROM SalesOrderHeader) END GROUP BY 1"
            ).fetchall()
        )
        total = dict(
            conn.execute("SELECT TransactionType, COUNT(*) FROM TransactionHistory GROUP BY 1").fetchall()
        )
    finally:
        conn.close()
    assert kinds == total and set(total) == {"P", "W", "S"}
