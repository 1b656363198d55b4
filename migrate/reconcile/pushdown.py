"""Push-down: per-segment checksums computed by the databases, rows fetched only where they differ.

Rows fall into segments by a hash of their key (the same function on every backend, so a
key lands in the same segment on both sides whatever the databases' collations). Each
database returns, per segment, its row count and the sum of a 40-bit hash of each row's
canonical text; only segments whose (count, sum) differ are read back and compared row by
row (`compare.compare_chunks`, with the real tolerances). Memory holds the per-segment
sums and one batch of differing segments, never a whole table.

Numbers with an absolute tolerance are quantised to it (truncated to a multiple) before
hashing, so values within tolerance usually hash alike; two values straddling a multiple
only make their segment be compared row by row, where the tolerance decides exactly. A
value past the tolerance always lands on another multiple, so no difference can hide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from migrate.reconcile.compare import ColumnRule, CompareResult, compare_chunks

SEPARATOR = "\x1f"  # unit separator: cannot occur in canonical values
NULL = "\u2400"  # the NULL marker inside a row's text


@dataclass(frozen=True)
class Side:
    """One side of a push-down comparison: a FROM clause and, per column, its canonical SQL text."""

    engine: Engine
    from_sql: str
    columns: dict[str, str]  # column -> SQL expression giving canonical text


def applicable(rules: dict[str, ColumnRule]) -> bool:
    """Push-down hashes text exactly or numbers quantised to an absolute tolerance; other rules
    (normalisations, relative tolerances, time windows) are applied row by row only."""
    for rule in rules.values():
        tol = rule.tolerance
        if rule.normalise or (tol is not None and (tol.rel or tol.seconds)):
            return False
        if tol is not None and tol.abs and rule.kind not in ("decimal", "int"):
            return False
    return True


def _md5_int(text: str | None, digits: int) -> int | None:
    if text is None:
        return None
    return int(hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:digits], 16)


def _register(dbapi_connection) -> None:
    """SQLite has no hash function: register md5-based ones matching the PostgreSQL SQL below."""
    dbapi_connection.create_function("mig_h32", 1, lambda t: _md5_int(t, 8), deterministic=True)
    dbapi_connection.create_function("mig_h40", 1, lambda t: _md5_int(t, 10), deterministic=True)


def _hash_sql(engine: Engine, text_sql: str, bits: int) -> str:
    if engine.dialect.name == "postgresql":
        return f"('x' || substr(md5({text_sql}), 1, {bits // 4}))::bit({bits})::bigint"
    return f"mig_h{bits}({text_sql})"


def _row_text(engine: Engine, exprs: list[str]) -> str:
    parts = [f"COALESCE({e}, '{NULL}')" for e in exprs]
    return f" || '{SEPARATOR}' || ".join(parts)


def _quantised(engine: Engine, expr: str, rule: ColumnRule) -> str:
    tol = rule.tolerance
    if tol is None or not tol.abs:
        return expr
    step = format(tol.abs, "f")
    if engine.dialect.name == "postgresql":
        return f"CAST(trunc(CAST({expr} AS NUMERIC) / {step}) AS TEXT)"
    return f"CAST(CAST(CAST({expr} AS REAL) / {step} AS INTEGER) AS TEXT)"


def _segment_sql(
    side: Side, key: tuple[str, ...], rules: dict[str, ColumnRule], segments: int
) -> tuple[str, str]:
    engine = side.engine
    key_text = _row_text(engine, [side.columns[k] for k in key])
    row_exprs = [side.columns[k] for k in key] + [
        _quantised(engine, side.columns[c], r) for c, r in rules.items()
    ]
    key_hash = _hash_sql(engine, key_text, 32)
    # psycopg reads a bare % as a placeholder: PostgreSQL gets mod()
    pg = engine.dialect.name == "postgresql"
    segment = f"mod({key_hash}, {segments})" if pg else f"({key_hash} % {segments})"
    return segment, _hash_sql(engine, _row_text(engine, row_exprs), 40)


def checksums(side: Side, key, rules, segments: int) -> dict[int, tuple[int, int]]:
    """Per segment: (row count, sum of row hashes), computed inside the database."""
    segment, row_hash = _segment_sql(side, key, rules, segments)
    sql = (
        f"SELECT s, COUNT(*), SUM(h) FROM (SELECT {segment} AS s, {row_hash} AS h FROM {side.from_sql}) AS x "
        "GROUP BY s"
    )
    with side.engine.connect() as conn:
        if side.engine.dialect.name == "sqlite":
            _register(conn.connection.driver_connection)
        return {int(s): (int(n), int(h)) for s, n, h in conn.exec_driver_sql(sql)}


def _rows(side: Side, key, rules, segments: int, chosen: list[int]) -> pd.DataFrame:
    segment, _ = _segment_sql(side, key, rules, segments)
    listed = ", ".join(
        f"{side.columns[c]} AS {side.engine.dialect.identifier_preparer.quote(c)}" for c in side.columns
    )
    sql = f"SELECT {listed} FROM {side.from_sql} WHERE {segment} IN ({', '.join(map(str, chosen))})"
    with side.engine.connect() as conn:
        if side.engine.dialect.name == "sqlite":
            _register(conn.connection.driver_connection)
        result = conn.exec_driver_sql(sql)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()), dtype=object)


def compare_pushdown(
    expected: Side,
    actual: Side,
    key: tuple[str, ...],
    rules: dict[str, ColumnRule],
    *,
    key_rules: dict[str, ColumnRule] | None = None,
    segment_rows: int = 2_000,
    batch_rows: int = 100_000,
    max_details: int = 1000,
) -> CompareResult:
    """Compare two SQL sides by segment checksums, then row by row in the segments that differ."""
    total = _count(expected)
    segments = max(1, total // segment_rows)
    left, right = checksums(expected, key, rules, segments), checksums(actual, key, rules, segments)
    differing = sorted(s for s in {*left, *right} if left.get(s) != right.get(s))
    same = [s for s in left if s not in differing]
    pairs = _batches(expected, actual, key, rules, segments, differing, left, right, batch_rows)
    result = compare_chunks(pairs, key, rules, key_rules=key_rules, max_details=max_details)
    identical = sum(left[s][0] for s in same)
    result.expected_rows += identical
    result.actual_rows += identical
    result.matched_rows += identical
    result.method, result.segments, result.segments_compared = "pushdown", segments, len(differing)
    return result


def _batches(expected, actual, key, rules, segments, differing, left, right, batch_rows) -> Iterator:
    batch, size = [], 0
    for s in differing:
        batch.append(s)
        size += max(left.get(s, (0, 0))[0], right.get(s, (0, 0))[0])
        if size >= batch_rows:
            yield _rows(expected, key, rules, segments, batch), _rows(actual, key, rules, segments, batch)
            batch, size = [], 0
    if batch:
        yield _rows(expected, key, rules, segments, batch), _rows(actual, key, rules, segments, batch)


def _count(side: Side) -> int:
    with side.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {side.from_sql}").scalar_one())
