"""Push-down bisection (the data-diff / reladiff idea): checksums of key ranges computed by
the databases, recursing into the ranges that differ, rows read only for small ranges.

A segment is a range of the first key column, [lo, hi) in code-point order (SQLite's BINARY,
PostgreSQL's "C" collation). Each level splits every differing segment into up to `fanout`
sub-ranges at keys sampled from the database (`ROW_NUMBER() OVER (ORDER BY key)`, only the
boundary keys cross the wire) and asks both databases, in one query each, for every
sub-range's row count and sum of 40-bit md5 row hashes. Equal (count, sum): the range is the
same on both sides (up to a hash collision) and is never read. A differing range of at most
`segment_rows` rows is a leaf: its rows are read from both sides and compared row by row
(`columnar`, with the real tolerances). A level whose differing ranges hold most of its rows
stops recursing: hashing those rows again would cost more than reading them.

Hashes: PostgreSQL computes md5 in the server; SQLite has none, so one registered Python
function gives each row its segment and its hash in a single call (one call per row and level).
Numbers with an absolute tolerance are quantised to it (truncated to a multiple) before
hashing, so values within tolerance usually hash alike; two values straddling a multiple only
make their range be compared row by row, where the tolerance decides exactly. A value past the
tolerance always lands on another multiple, so no difference can hide.

A key repeated identically on both sides sits in a range whose checksums agree and is not
reported here (the `rows` method reports it); a target's natural keys are unique, and a repeat
in the mapped rows alone changes its range's count, so reconcile still sees it.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
from sqlalchemy import Engine

from migrate.arrowread import read_batches
from migrate.reconcile.columnar import (
    DEFAULT_BUCKET,
    compare_tables_arrow,
    hashed_pairs,
    normalise_batches,
)
from migrate.reconcile.compare import ColumnRule, CompareResult
from migrate.reconcile.sides import order_by

SEPARATOR = "\x1f"  # unit separator: cannot occur in canonical values
NULL = "\u2400"  # the NULL marker inside a row's text
DEFAULT_FANOUT = 128  # a level's cost is one scan whatever its number of ranges: split wide
DEFAULT_SEGMENT_ROWS = 2_000
RANGES_PER_QUERY = 200  # ranges in one WHERE (2 bound parameters each; SQLite's parser depth)


@dataclass(frozen=True)
class Side:
    """One side of a push-down comparison: a FROM clause and, per column, its canonical SQL text."""

    engine: Engine
    from_sql: str
    columns: dict[str, str]  # column -> SQL expression giving canonical text


@dataclass(frozen=True)
class Segment:
    """Keys in [lo, hi) of the first key column; None is unbounded."""

    lo: str | None
    hi: str | None
    counts: tuple[int, int] = (0, 0)  # rows on the expected and the actual side, once counted

    @property
    def rows(self) -> int:
        return max(self.counts)


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


def compare_pushdown(
    expected: Side,
    actual: Side,
    key: tuple[str, ...],
    rules: dict[str, ColumnRule],
    *,
    key_rules: dict[str, ColumnRule] | None = None,
    segment_rows: int = DEFAULT_SEGMENT_ROWS,
    fanout: int = DEFAULT_FANOUT,
    batch_rows: int = 100_000,
    bucket_rows: int = DEFAULT_BUCKET,
    max_details: int = 1000,
) -> CompareResult:
    """Compare two SQL sides by bisecting key ranges on checksums, then row by row in the
    small ranges that still differ."""
    bisection = _Bisection(expected, actual, key, rules, max(1, segment_rows), max(2, fanout))
    leaves = bisection.run()
    pairs = _leaf_pairs(expected, actual, key, rules, leaves, batch_rows, bucket_rows, key_rules)
    result = compare_tables_arrow(pairs, key, rules, max_details=max_details)
    identical = bisection.identical_rows
    result.expected_rows += identical
    result.actual_rows += identical
    result.matched_rows += identical
    result.method, result.segments, result.segments_compared = "pushdown", bisection.checksummed, len(leaves)
    return result


class _Bisection:
    """The recursion, level by level; `identical_rows` counts the rows of ranges found equal."""

    def __init__(self, expected: Side, actual: Side, key, rules, segment_rows: int, fanout: int) -> None:
        self.sides, self.key, self.rules = (expected, actual), key, rules
        self.segment_rows, self.fanout = segment_rows, fanout
        self.identical_rows = 0
        self.checksummed = 0

    def run(self) -> list[Segment]:
        root = Segment(None, None, (_count(self.sides[0]), _count(self.sides[1])))
        if root.rows <= self.segment_rows:
            return [root]  # small enough to read whole
        leaves: list[Segment] = []
        parents = [root]
        while parents:
            split = [(p, self._split(p)) for p in parents]
            # a range whose rows all share one first-key value cannot be split: read it as it is
            leaves += [p for p, c in split if len(c) < 2]
            children = [c for _, cs in split if len(cs) > 1 for c in cs]
            if not children:
                break
            sums = [checksums(side, self.key, self.rules, children) for side in self.sides]
            self.checksummed += len(children)
            differing = []
            for i, child in enumerate(children):
                left, right = sums[0].get(i, (0, 0)), sums[1].get(i, (0, 0))
                if left == right:
                    self.identical_rows += left[0]
                else:
                    differing.append(Segment(child.lo, child.hi, (left[0], right[0])))
            checked = sum(p.rows for p in parents)
            # most rows differ: hashing them again would cost more than reading them
            dense = 2 * sum(s.rows for s in differing) > checked
            leaves += [s for s in differing if dense or s.rows <= self.segment_rows]
            parents = [s for s in differing if not (dense or s.rows <= self.segment_rows)]
        if 2 * sum(s.rows for s in leaves) > root.rows:
            # most of the table differs: one scan in storage order beats reading it range by range
            self.identical_rows = 0
            return [root]
        return leaves

    def _split(self, parent: Segment) -> list[Segment]:
        """Up to `fanout` sub-ranges at keys sampled from the side with more rows in the range."""
        side = self.sides[0] if parent.counts[0] >= parent.counts[1] else self.sides[1]
        bounds = _sample_bounds(side, self.key[0], parent, self.fanout)
        edges = [parent.lo, *bounds, parent.hi]
        return [Segment(lo, hi) for lo, hi in zip(edges, edges[1:], strict=False)]


def _sample_bounds(side: Side, key: str, parent: Segment, fanout: int) -> list[str]:
    """Keys splitting the range into about `fanout` equal parts (computed in the database)."""
    expr = side.columns[key]
    where, params = _ranges_sql(side, key, [parent])
    step = max(1, -(-parent.rows // fanout))
    window = f"ROW_NUMBER() OVER (ORDER BY {order_by(side.engine, expr)})"
    inner = f"SELECT {expr} AS k, {window} AS rn FROM {side.from_sql} WHERE ({where})"
    sql = f"SELECT k FROM ({inner}) AS x WHERE mod(rn, {step}) = 0 AND k IS NOT NULL"
    if side.engine.dialect.name == "sqlite":
        sql = sql.replace(f"mod(rn, {step})", f"rn % {step}")
    with side.engine.connect() as conn:
        keys = sorted({str(r[0]) for r in conn.exec_driver_sql(sql, params)})
    return [k for k in keys if (parent.lo is None or k > parent.lo) and (parent.hi is None or k < parent.hi)]


def _placeholder(engine: Engine) -> str:
    return "?" if engine.dialect.name == "sqlite" else "%s"


def _ranges_sql(side: Side, key: str, segments: list[Segment]) -> tuple[str, tuple]:
    """WHERE text for rows in any of the ranges, with bound parameters (keys are data)."""
    expr, mark = side.columns[key], _placeholder(side.engine)
    if side.engine.dialect.name == "postgresql":
        expr = f'{expr} COLLATE "C"'
    parts, params = [], []
    for s in segments:
        conds = []
        if s.lo is not None:
            conds.append(f"{expr} >= {mark}")
            params.append(s.lo)
        if s.hi is not None:
            conds.append(f"{expr} < {mark}")
            params.append(s.hi)
        parts.append("(" + " AND ".join(conds) + ")" if conds else "1 = 1")
    return " OR ".join(parts) or "1 = 0", tuple(params)


def _merged(segments: list[Segment]) -> list[Segment]:
    """The same rows as fewer ranges: adjacent ranges joined (a level's children tile their parents)."""
    out: list[Segment] = []
    for segment in sorted(segments, key=_lo_order):
        if out and out[-1].hi is not None and out[-1].hi == segment.lo:
            last = out.pop()
            segment = Segment(
                last.lo, segment.hi, tuple(a + b for a, b in zip(last.counts, segment.counts, strict=True))
            )
        out.append(segment)
    return out


def _count(side: Side) -> int:
    with side.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {side.from_sql}").scalar_one())


def _md5_40(text: str) -> int:
    """The first 40 bits of the text's md5, as PostgreSQL's `_pg_hash(text, 40)` computes them."""
    return int.from_bytes(hashlib.md5(text.encode("utf-8"), usedforsecurity=False).digest()[:5], "big")


def _edges(segments: list[Segment]) -> tuple[list[str], list[int]]:
    """Sorted range edges and, per interval between them (one more than edges), the index of
    the segment it belongs to (-1: none). Segments are disjoint ranges."""
    edges: list[str] = []
    ids = [-1]
    for index in sorted(range(len(segments)), key=lambda j: _lo_order(segments[j])):
        segment = segments[index]
        if segment.lo is not None and (not edges or edges[-1] != segment.lo):
            edges.append(segment.lo)
            ids.append(-1)
        ids[-1] = index  # the interval starting at lo
        if segment.hi is not None:
            edges.append(segment.hi)
            ids.append(-1)
    return edges, ids


def _lo_order(segment: Segment) -> tuple[int, str]:
    return (0, "") if segment.lo is None else (1, segment.lo)


def checksums(side: Side, key, rules, segments: list[Segment]) -> dict[int, tuple[int, int]]:
    """Per segment index: (row count, sum of 40-bit row hashes), computed inside the database."""
    _, row_text = _texts(side, key, rules)
    edges, ids = _edges(segments)
    first = side.columns[key[0]]
    merged = _merged(segments)
    # rows outside the level's ranges get no segment anyway: the WHERE only spares the scan, and
    # past a few hundred ranges it would cost the database more to parse than to scan
    where, params = _ranges_sql(
        side, key[0], merged if len(merged) <= RANGES_PER_QUERY else [Segment(None, None)]
    )
    where = f"({where}) AND {first} IS NOT NULL"  # a NULL key is in no range (as in the leaf reads)
    if side.engine.dialect.name == "postgresql":
        # width_bucket: how many edges are <= the key, compared in the "C" collation
        if edges:
            segment = f'(CAST(%s AS int[]))[width_bucket({first} COLLATE "C", CAST(%s AS text[])) + 1]'
            params = (ids, edges, *params)
        else:
            segment = str(ids[0])
        inner = f"SELECT {segment} AS s, {_pg_hash(row_text, 40)} AS h FROM {side.from_sql} WHERE {where}"
        sql = f"SELECT s, COUNT(*), SUM(h) FROM ({inner}) AS x WHERE s >= 0 GROUP BY s"
        with side.engine.connect() as conn:
            return {int(s): (int(n), int(h)) for s, n, h in conn.exec_driver_sql(sql, params)}
    # SQLite: one aggregate over the rows, one Python call per row (a scalar function used in
    # GROUP BY, WHERE and SUM would be called once per use: three times per row)
    sql = f"SELECT mig_sums({first}, {row_text}) FROM {side.from_sql} WHERE {where}"
    with side.engine.connect() as conn:
        _register(conn.connection.driver_connection, edges, ids)
        sums = json.loads(conn.exec_driver_sql(sql, params).scalar_one() or "{}")
    return {int(s): (n, h) for s, (n, h) in sums.items()}


def _register(dbapi_connection, edges: list[str], ids: list[int]) -> None:
    """SQLite has no hash function: an aggregate that puts each row in its segment (by its key
    among the range edges) and adds up the segment's row count and md5 row hashes."""

    class SegmentSums:
        def __init__(self) -> None:
            self.sums: dict[int, list[int]] = {}

        def step(self, key: str | None, row_text: str) -> None:
            if key is None:
                return  # a NULL key is in no range
            segment = ids[bisect.bisect_right(edges, key)]
            if segment < 0:
                return  # between the level's ranges
            sums = self.sums.get(segment)
            if sums is None:
                self.sums[segment] = [1, _md5_40(row_text)]
            else:
                sums[0] += 1
                sums[1] += _md5_40(row_text)

        def finalize(self) -> str:
            return json.dumps(self.sums)

    dbapi_connection.create_aggregate("mig_sums", 2, SegmentSums)


def _pg_hash(text_sql: str, bits: int) -> str:
    return f"CAST(CAST(('x' || substr(md5({text_sql}), 1, {bits // 4})) AS bit({bits})) AS bigint)"


def _row_text(exprs: list[str]) -> str:
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
    key_exprs = [side.columns[k] for k in key]
    values = [_quantised(side.engine, side.columns[c], r) for c, r in rules.items()]
    return _row_text(key_exprs), _row_text(key_exprs + values)


def _leaf_pairs(
    expected: Side,
    actual: Side,
    key,
    rules,
    leaves: list[Segment],
    batch_rows: int,
    bucket_rows: int,
    key_rules,
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """The rows of the leaf ranges, both sides, a group of ranges at a time; a group holds about
    `bucket_rows` rows, or is split into hash buckets on disk (`columnar.hashed_pairs`)."""
    columns = [*key, *rules]
    key_normalise = {k: r.normalise for k, r in (key_rules or {}).items() if r.normalise}
    group: list[Segment] = []
    for leaf in sorted(leaves, key=_lo_order):
        if group and (len(group) >= RANGES_PER_QUERY or sum(s.rows for s in group) + leaf.rows > bucket_rows):
            yield from _group_pairs(expected, actual, columns, group, batch_rows, bucket_rows, key_normalise)
            group = []
        group.append(leaf)
    if group:
        yield from _group_pairs(expected, actual, columns, group, batch_rows, bucket_rows, key_normalise)


def _group_pairs(expected, actual, columns, group, batch_rows, bucket_rows, key_normalise):
    sides = []
    for side in (expected, actual):
        where, params = _ranges_sql(side, columns[0], _merged(group))
        listed = ", ".join(f"{side.columns[c]} AS {_quote(side, c)}" for c in columns)
        sql = f"SELECT {listed} FROM {side.from_sql} WHERE ({where})"
        batches = read_batches(side.engine, sql, columns, batch_rows, params, rows=sum(s.rows for s in group))
        sides.append(normalise_batches(batches, key_normalise))
    buckets = -(-sum(s.rows for s in group) // max(1, bucket_rows))
    yield from hashed_pairs(*sides, columns[0], columns, buckets)


def _quote(side: Side, name: str) -> str:
    return side.engine.dialect.identifier_preparer.quote(name)
