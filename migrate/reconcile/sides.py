"""The two sides of a row-level comparison as SQL.

Expected rows are `map_<entity>` in the work store (canonical text). Actual rows are the
target table with each foreign key read back as the referenced natural key, every value
rendered by the database itself in the same canonical text, so equal values are equal
strings and the comparison's fast path is plain equality. Where an order is needed (push-down
key ranges) it is code-point order: SQLite's BINARY, PostgreSQL's "C" collation.
"""

from __future__ import annotations

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
