"""The two sides of a row-level comparison, read from SQL in key order and chunk-aligned.

Expected rows are `map_<entity>` in the work store (canonical text). Actual rows are the
target table with each foreign key read back as the referenced natural key, every value
rendered by the database itself in the same canonical text, so equal values are equal
strings and the comparison's fast path is plain equality. Both sides are ordered by the
first key column in code-point order (SQLite's BINARY; PostgreSQL's "C" collation), which
is what lets `aligned_chunks` cut both streams at the same key.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Date, Engine, Integer

from migrate.model import ENTITIES, ExactDecimal, UtcDateTime
from migrate.reconcile.compare import Kind
from migrate.store import mapped_table


def column_kind(entity: str, column: str) -> Kind:
    """How a mapped column's values compare: references and strings are text."""
    ent = ENTITIES[entity]
    if column in {r.column for r in ent.references}:
        return "text"
    col_type = ent.table.c[column].type
    if isinstance(col_type, ExactDecimal):
        return "decimal"
    if isinstance(col_type, UtcDateTime):
        return "timestamp"
    if isinstance(col_type, Boolean):
        return "bool"
    if isinstance(col_type, Date):
        return "date"
    if isinstance(col_type, Integer):
        return "int"
    return "text"


def _quote(engine: Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote(name)


def canonical_sql(engine: Engine, expr: str, kind: Kind) -> str:
    """SQL rendering a stored value as the work store's canonical text (see migrate.store)."""
    pg = engine.dialect.name == "postgresql"
    if kind == "decimal" or kind == "int":
        return f"CAST({expr} AS TEXT)" if pg or kind == "int" else expr
    if kind == "bool":
        return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN 'true' ELSE 'false' END"
    if kind == "date":
        return f"to_char({expr}, 'YYYY-MM-DD')" if pg else expr
    if kind == "timestamp":
        return _timestamp_sql(expr, pg)
    return expr


def _timestamp_sql(expr: str, pg: bool) -> str:
    # Python's isoformat() prints microseconds only when they are not zero; so does this.
    if pg:
        utc = f"({expr} AT TIME ZONE 'UTC')"
        return (
            f"CASE WHEN {expr} IS NULL THEN NULL WHEN to_char({utc}, 'US') = '000000' "
            f"THEN to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || '+00:00' "
            f"ELSE to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00' END"
        )
    day, time, micro = f"substr({expr}, 1, 10)", f"substr({expr}, 12, 8)", f"substr({expr}, 21, 6)"
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL WHEN {micro} IN ('', '000000') "
        f"THEN {day} || 'T' || {time} || '+00:00' "
        f"ELSE {day} || 'T' || {time} || '.' || {micro} || '+00:00' END"
    )


def order_by(engine: Engine, expr: str) -> str:
    return f'{expr} COLLATE "C"' if engine.dialect.name == "postgresql" else expr


def from_clause(engine: Engine, entity: str) -> str:
    """The target table `t` with each referenced table joined as r0, r1... (for natural keys)."""
    ent, q = ENTITIES[entity], (lambda n: _quote(engine, n))
    joins = [
        f"LEFT JOIN {q(ENTITIES[ref.entity].table.name)} AS r{i} ON r{i}.{q('id')} = t.{q(ref.fk_column)}"
        for i, ref in enumerate(ent.references)
    ]
    return f"{q(ent.table.name)} AS t {' '.join(joins)}"


def raw_expr(engine: Engine, entity: str, column: str) -> str:
    """A mapped column as stored in the target: a reference becomes the referenced natural key."""
    ent = ENTITIES[entity]
    for i, ref in enumerate(ent.references):
        if ref.column == column:
            return f"r{i}.{_quote(engine, ENTITIES[ref.entity].key_column)}"
    return f"t.{_quote(engine, column)}"


def actual_sql(engine: Engine, entity: str, columns: tuple[str, ...], ordered: bool = True) -> str:
    """SELECT of the target's rows as mapped rows: references joined back to natural keys."""
    exprs = [canonical_sql(engine, raw_expr(engine, entity, c), column_kind(entity, c)) for c in columns]
    listed = ", ".join(f"{e} AS {_quote(engine, c)}" for e, c in zip(exprs, columns, strict=True))
    order = f" ORDER BY {order_by(engine, exprs[0])}" if ordered else ""
    return f"SELECT {listed} FROM {from_clause(engine, entity)}{order}"


def expected_sql(engine: Engine, entity: str, columns: tuple[str, ...], ordered: bool = True) -> str:
    """SELECT of the mapped rows (already canonical text), in key order if `ordered`."""
    q = lambda n: _quote(engine, n)  # noqa: E731
    cols = ", ".join(q(c) for c in columns)
    order = f" ORDER BY {order_by(engine, q(columns[0]))}" if ordered else ""
    return f"SELECT {cols} FROM {q(mapped_table(entity))}{order}"


def stream(engine: Engine, sql: str, batch: int, prepare=None) -> Iterator[pd.DataFrame]:
    """A query's rows in batches of `batch`, as object-dtype frames (values as the database gave them).

    `prepare(dbapi_connection)` runs first (push-down registers its SQLite functions)."""
    with engine.connect().execution_options(stream_results=True, yield_per=batch) as conn:
        if prepare is not None:
            prepare(conn.connection.driver_connection)
        result = conn.exec_driver_sql(sql)
        names = list(result.keys())
        # SQLite: the DBAPI cursor itself (the hot loop; values need no processing). A server-side
        # cursor (PostgreSQL) is pre-buffered by SQLAlchemy, so it is read through the result.
        fetch = result.cursor.fetchmany if engine.dialect.name == "sqlite" else result.fetchmany
        while rows := fetch(batch):
            yield pd.DataFrame(rows, columns=names, dtype=object)
        result.close()


class _Buffer:
    def __init__(self, batches: Iterator[pd.DataFrame], column: str, columns: list[str]) -> None:
        self.batches, self.column = batches, column
        self.frame = pd.DataFrame(columns=columns, dtype=object)
        self.exhausted = False

    def grow(self) -> None:
        nxt = next(self.batches, None)
        if nxt is None:
            self.exhausted = True
        else:
            self.frame = nxt if self.frame.empty else pd.concat([self.frame, nxt], ignore_index=True)

    def fill(self) -> None:
        while self.frame.empty and not self.exhausted:
            self.grow()

    @property
    def last_key(self):
        return self.frame[self.column].iat[-1]

    def take_below(self, bound) -> pd.DataFrame:
        keys = self.frame[self.column].to_numpy(dtype=object)
        cut = int(np.searchsorted(keys, bound, side="left"))
        head, self.frame = self.frame.iloc[:cut], self.frame.iloc[cut:].reset_index(drop=True)
        return head

    def take_all(self) -> pd.DataFrame:
        head, self.frame = self.frame, self.frame.iloc[:0]
        return head


def aligned_chunks(
    left: Iterator[pd.DataFrame], right: Iterator[pd.DataFrame], column: str, columns: list[str]
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Pair two key-ordered streams chunk by chunk so that every value of `column` lands in one pair.

    Rows below the smaller of the two buffers' last keys are complete on both sides (the
    streams are sorted), so they are cut off and compared while the rest waits for more."""
    lbuf, rbuf = _Buffer(left, column, columns), _Buffer(right, column, columns)
    while True:
        lbuf.fill()
        rbuf.fill()
        open_ = [b for b in (lbuf, rbuf) if not b.exhausted and not b.frame.empty]
        if not open_:
            if not (lbuf.frame.empty and rbuf.frame.empty):
                yield lbuf.take_all(), rbuf.take_all()
            return
        bound = min(b.last_key for b in open_)
        pair = lbuf.take_below(bound), rbuf.take_below(bound)
        if pair[0].empty and pair[1].empty:
            for b in open_:  # everything buffered is the bound's own key: read further
                if b.last_key == bound:
                    b.grow()
            continue
        yield pair
