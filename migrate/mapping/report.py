"""The rejects workbook (`migrate map --out`): a worklist for the consultant, one row per reject.

Per entity a sheet: the row's natural key, its reason code and message, every reason the row
failed for, its lineage (source, file, sheet, row) and the original values the source held.
A knock-on reject (a reference to a row that was itself rejected) says what its parent's own
reason was: "supplier 'V016' was itself rejected: duplicate_key". Styled by `worksheets`:
bold frozen header, autofilter, fitted widths, formula-safe cells.

`safe_cell` / `safe_row` keep legacy text such as `=HYPERLINK(...)` or `-5 kg` as text in the
other workbooks map writes (value-map exports), which are edited in normal mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select

from migrate.mapping.tables import rejects_schema
from migrate.model import ENTITIES
from migrate.store import LINEAGE, WorkStore, staged_table

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

FORMULA_START = ("=", "+", "-", "@")
LEAD = ("reason", "message", "all reasons", "column", "value", "source", "file", "sheet", "row")
_FROM = ("reason", "message", "reasons", "column", "value", "_source", "_file", "_sheet", "_row")
LOOKUP_BATCH = 500  # staged rows fetched per query when joining the original values


def safe_cell(sheet: Worksheet, row: int, column: int, value: Any) -> None:
    cell = sheet.cell(row=row, column=column)
    cell.value = value
    if isinstance(value, str) and value.startswith(FORMULA_START):
        cell.data_type = "s"  # stored as a string, never evaluated as a formula


def safe_row(sheet: Worksheet, row: int, values: Iterable[Any]) -> None:
    for column, value in enumerate(values, start=1):
        safe_cell(sheet, row, column, value)


def read_rejects(store: WorkStore, entity: str, name: str = "map_rejects") -> pd.DataFrame:
    if not store.has_table(name):
        return pd.DataFrame()
    t = rejects_schema(name)
    with store.engine.connect() as conn:
        return pd.DataFrame(
            conn.execute(select(t).where(t.c.entity == entity).order_by(t.c._row_id)).mappings().all()
        )


def write_quarantine(
    path: Path, store: WorkStore, entities: Iterable[str], table: str = "map_rejects"
) -> int:
    """One sheet per entity with rejects (or one sheet saying there are none); returns the count."""
    from openpyxl import Workbook  # openpyxl only when a quarantine file is written, not for every map

    from migrate.worksheets import frame_rows, write_table

    book = Workbook(write_only=True)
    written = 0
    for entity in entities:
        frame = read_rejects(store, entity, table)
        if frame.empty:
            continue
        frame = with_parent_reasons(store, entity, frame, table)
        frame, source_columns = with_source_values(store, frame)
        key = " | ".join(ENTITIES[entity].natural_key)
        header = (key, *LEAD, *(f"{source}: {column}" for source, column in source_columns))
        picked = ["key", *_FROM, *(f"{s}\0{c}" for s, c in source_columns)]
        written += write_table(book, entity, header, frame_rows(frame, picked))
    if written == 0:
        write_table(book, "rejects", ("no rejected rows",), [])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return written


def with_parent_reasons(store: WorkStore, entity: str, frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """A reject for an unknown reference whose parent row was itself rejected says why."""
    frame = frame.copy()
    for ref in ENTITIES[entity].references:
        hits = (frame["reason"] == "unknown_reference") & (frame["rule"] == f"reference.{ref.entity}")
        if not hits.any():
            continue
        parents = read_rejects(store, ref.entity, table)
        if parents.empty or "key" not in parents:
            continue
        first = parents.dropna(subset=["key"]).drop_duplicates("key").set_index("key")["reason"]
        own = frame.loc[hits, "value"].map(first)
        known = own.notna()
        if known.any():
            rows = own[known].index
            values = frame.loc[rows, "value"].map(repr)
            frame.loc[rows, "message"] = (
                frame.loc[rows, "message"]
                + f"; {ref.entity} "
                + values
                + " was itself rejected: "
                + own[known]
            )
    return frame


def with_source_values(store: WorkStore, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The rejects with the staged (original) values of their rows, columns `source\\0column`."""
    parts, columns = [], []
    for source, rejected in frame.groupby("_source", sort=False, dropna=False):
        staged = _staged_rows(store, str(source), rejected)
        if staged.empty:
            parts.append(rejected)
            continue
        values = [c for c in staged.columns if not c.startswith("_")]
        columns += [(str(source), c) for c in values if (str(source), c) not in columns]
        staged = staged.rename(columns={c: f"{source}\0{c}" for c in values})
        parts.append(rejected.merge(staged, on=list(LINEAGE), how="left"))
    merged = pd.concat(parts).sort_values("_row_id") if parts else frame
    for source, column in columns:
        if f"{source}\0{column}" not in merged:
            merged[f"{source}\0{column}"] = None
    return merged, columns


def _staged_rows(store: WorkStore, source: str, rejected: pd.DataFrame) -> pd.DataFrame:
    """The staged rows of these rejects (by lineage), fetched in batches of row numbers."""
    name = staged_table(source)
    if not store.has_table(name):
        return pd.DataFrame()
    quote = store.engine.dialect.identifier_preparer.quote
    rows = sorted({int(r) for r in rejected["_row"].dropna()})
    found = []
    with store.engine.connect() as conn:
        for start in range(0, len(rows), LOOKUP_BATCH):
            batch = rows[start : start + LOOKUP_BATCH]
            sql = f"SELECT * FROM {quote(name)} WHERE _row IN ({', '.join(str(r) for r in batch)})"
            found.append(pd.read_sql_query(sql, conn))
    staged = pd.concat(found) if found else pd.DataFrame()
    if staged.empty:
        return staged
    keep = [c for c in staged.columns if c in LINEAGE or not c.startswith("_")]
    staged = staged[keep]
    staged["_row"] = staged["_row"].astype("int64")
    return staged.drop_duplicates(list(LINEAGE))
