"""Push-down: per-segment checksums computed by the databases, rows fetched only where they differ.

Rows fall into segments by a hash of their key (the same function on every backend, so a
key lands in the same segment on both sides whatever the databases' collations). Each
database returns, per segment, its row count and the sum of a 40-bit hash of each row's
canonical text; only segments whose (count, sum) differ are read back and compared row by
row (`compare.compare_chunks`, with the real tolerances), in one scan per side ordered by
segment and cut into aligned chunks. Memory holds the per-segment sums and one chunk,
never a whole table.

Numbers with an absolute tolerance are quantised to it (truncated to a multiple) before
hashing, so values within tolerance usually hash alike; two values straddling a multiple
only make their segment be compared row by row, where the tolerance decides exactly. A
value past the tolerance always lands on another multiple, so no difference can hide.

A key repeated identically on both sides sits in a segment whose checksums agree and is not
reported here (the `rows` method reports it); a target's natural keys are unique, and a
repeat in the mapped rows alone changes its segment's count, so reconcile still sees it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from migrate.reconcile.compare import ColumnRule, CompareResult, compare_chunks
from migrate.reconcile.sides import aligned_chunks, stream

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


_MASK40 = (1 << 40) - 1


def _register(dbapi_connection, segments: int) -> None:
    """SQLite has no hash function: register md5-based ones giving what the PostgreSQL SQL gives.

    `mig_sh` returns segment and row hash in one integer (segment << 40 | hash): one Python
    call per row instead of two, which is most of the push-down's cost on SQLite."""

    def segment(key_text: str) -> int:
        return _md5_int(key_text, 8) % segments

    def both(key_text: str, row_text: str) -> int:
        return (segment(key_text) << 40) | _md5_int(row_text, 10)

    dbapi_connection.create_function("mig_seg", 1, segment, deterministic=True)
    dbapi_connection.create_function("mig_sh", 2, both, deterministic=True)


def _pg_hash(text_sql: str, bits: int) -> str:
    return f"('x' || substr(md5({text_sql}), 1, {bits // 4}))::bit({bits})::bigint"


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


def _texts(side: Side, key: tuple[str, ...], rules: dict[str, ColumnRule]) -> tuple[str, str]:
    """SQL for a row's key text and its whole text (key, then compared values, quantised)."""
    engine = side.engine
    key_exprs = [side.columns[k] for k in key]
    values = [_quantised(engine, side.columns[c], r) for c, r in rules.items()]
    return _row_text(engine, key_exprs), _row_text(engine, key_exprs + values)


def _segment_of(side: Side, key_text: str, segments: int) -> str:
    if side.engine.dialect.name == "postgresql":
        return f"mod({_pg_hash(key_text, 32)}, {segments})"  # psycopg reads a bare % as a placeholder
    return f"mig_seg({key_text})"


def checksums(side: Side, key, rules, segments: int) -> dict[int, tuple[int, int]]:
    """Per segment: (row count, sum of 40-bit row hashes), computed inside the database."""
    key_text, row_text = _texts(side, key, rules)
    if side.engine.dialect.name == "postgresql":
        inner = f"SELECT {_segment_of(side, key_text, segments)} AS s, {_pg_hash(row_text, 40)} AS h"
        sql = f"SELECT s, COUNT(*), SUM(h) FROM ({inner} FROM {side.from_sql}) AS x GROUP BY s"
    else:
        inner = f"SELECT mig_sh({key_text}, {row_text}) AS sh FROM {side.from_sql}"
        sql = f"SELECT sh >> 40, COUNT(*), SUM(sh & {_MASK40}) FROM ({inner}) AS x GROUP BY sh >> 40"
    with side.engine.connect() as conn:
        if side.engine.dialect.name == "sqlite":
            _register(conn.connection.driver_connection, segments)
        return {int(s): (int(n), int(h)) for s, n, h in conn.exec_driver_sql(sql)}


SEGMENT = "_segment"


def _segment_rows(
    side: Side, key, rules, segments: int, chosen: list[int], batch: int
) -> Iterator[pd.DataFrame]:
    """The rows of the chosen segments, in one scan, ordered by segment (so both sides align)."""
    key_text, _ = _texts(side, key, rules)
    quote = side.engine.dialect.identifier_preparer.quote
    listed = ", ".join(f"{expr} AS {quote(c)}" for c, expr in side.columns.items())
    inner = f"SELECT {_segment_of(side, key_text, segments)} AS {SEGMENT}, {listed} FROM {side.from_sql}"
    sql = (
        f"SELECT * FROM ({inner}) AS x WHERE {SEGMENT} IN ({', '.join(map(str, chosen))}) ORDER BY {SEGMENT}"
    )
    prepare = (lambda c: _register(c, segments)) if side.engine.dialect.name == "sqlite" else None
    return stream(side.engine, sql, batch, prepare)


def compare_pushdown(
    expected: Side,
    actual: Side,
    key: tuple[str, ...],
    rules: dict[str, ColumnRule],
    *,
    key_rules: dict[str, ColumnRule] | None = None,
    segment_rows: int = 200,
    batch_rows: int = 100_000,
    max_details: int = 1000,
) -> CompareResult:
    """Compare two SQL sides by segment checksums, then row by row in the segments that differ."""
    total = _count(expected)
    segments = max(1, total // segment_rows)
    left, right = checksums(expected, key, rules, segments), checksums(actual, key, rules, segments)
    differing = sorted(s for s in {*left, *right} if left.get(s) != right.get(s))
    differ = set(differing)
    same = [s for s in left if s not in differ]
    if differing:
        both = [_segment_rows(s, key, rules, segments, differing, batch_rows) for s in (expected, actual)]
        pairs = aligned_chunks(*both, SEGMENT, [SEGMENT, *expected.columns])
    else:
        pairs = iter(())
    result = compare_chunks(pairs, key, rules, key_rules=key_rules, max_details=max_details)
    identical = sum(left[s][0] for s in same)
    result.expected_rows += identical
    result.actual_rows += identical
    result.matched_rows += identical
    result.method, result.segments, result.segments_compared = "pushdown", segments, len(differing)
    return result


def _count(side: Side) -> int:
    with side.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {side.from_sql}").scalar_one())
