"""The row comparison's fast path: both sides as Arrow, keys matched by hash, values by Arrow kernels.

Reading (`migrate/arrowread.py`): a large SQLite side is read by the ADBC SQLite driver in a
process of its own, so the two sides are read in parallel; any other side through its DBAPI
cursor, turned into Arrow per batch.
Rows are read in storage order (no ORDER BY: sorting, or walking an index at random, was most
of the old key-ordered path's time) and split by a 64-bit hash of the first key column into
buckets (`hashed_pairs`, a grace hash join: one bucket in memory, or Arrow IPC files on disk).
Comparing a bucket pair: keys matched by their hashes with numpy (and checked equal), each
column compared with `pyarrow.compute.equal`. Only the rows that differ become Python values:
to apply a tolerance (`compare._within_tolerance`) and to list the details. A bucket whose key
repeats (or whose two sides have different value types) goes to the pandas path
(`compare._compare_chunk`), which pairs repeats by occurrence as datacompy does; so both paths
give the same result by construction.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from migrate.arrowread import NULL_MARK
from migrate.reconcile.compare import (
    ColumnRule,
    CompareResult,
    Difference,
    _compare_chunk,
    _delta,
    _prepared,
    _within_tolerance,
    normalised,
    typed,
)

KEY_SEPARATOR = "\x1f"
HASH = "__key_hash"  # the bucketing hash of the first key column, carried with the rows
DEFAULT_BUCKET = 100_000  # rows per side held in memory at once (one hash bucket)
PARALLEL_SPILL_BUCKETS = 16  # up to ~1.6M rows a side the two sides are read in parallel


def compare_tables_arrow(
    pairs: Iterator[tuple[pa.Table, pa.Table]],
    key: tuple[str, ...],
    rules: dict[str, ColumnRule],
    *,
    max_details: int = 1000,
) -> CompareResult:
    """`compare.compare_chunks` for Arrow chunk pairs (from `hashed_pairs`): the same counts and
    details. Key columns arrive normalised (they were hashed so); compared columns are
    normalised here."""
    result = CompareResult(key, tuple(rules), max_details=max_details, rules=rules)
    result.unequal_by_column = dict.fromkeys(rules, 0)
    normalise = {c: r.normalise for c, r in rules.items() if r.normalise}
    for left, right in pairs:
        left, right = _normalised(left, normalise), _normalised(right, normalise)
        matched = None if _mixed_types(left, right, key, rules) else _match(left, right, key)
        if matched is None:
            _compare_chunk(_frame(left, key, rules), _frame(right, key, rules), key, rules, result)
        else:
            _compare_arrow_chunk(left, right, key, rules, matched, result)
    return result


def normalise_batches(
    batches: Iterator[pa.Table], normalise: dict[str, tuple[str, ...]]
) -> Iterator[pa.Table]:
    return (_normalised(t, normalise) for t in batches) if normalise else batches


def _normalised(table: pa.Table, normalise: dict[str, tuple[str, ...]]) -> pa.Table:
    for column, ops in normalise.items():
        if column in table.column_names and len(table):
            values = normalised(pd.Series(table[column].to_pylist(), dtype=object), ops)
            index = table.column_names.index(column)
            table = table.set_column(index, column, pa.array(values.tolist(), type=pa.string()))
    return table


def _mixed_types(left: pa.Table, right: pa.Table, key, rules) -> bool:
    for column in (*key, *rules):
        if left[column].type != right[column].type or not pa.types.is_string(left[column].type):
            return True
    return False


def _frame(table: pa.Table, key, rules) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(table[c].to_pylist(), dtype=object) for c in (*key, *rules)})
    return _prepared(frame, key, rules, {})


def _keys(table: pa.Table, key: tuple[str, ...]) -> pa.Array:
    if len(key) == 1:
        return table[key[0]].combine_chunks()
    parts = [table[k].combine_chunks() for k in key]
    return pc.binary_join_element_wise(
        *parts, KEY_SEPARATOR, null_handling="replace", null_replacement=NULL_MARK
    )


def key_hashes(table: pa.Table, key: tuple[str, ...]) -> np.ndarray:
    """64-bit hashes of each row's key (kept from bucketing when the key is one column)."""
    if HASH in table.column_names and len(key) == 1:
        return table[HASH].to_numpy()
    return _hash(_keys(table, key))


def _hash(keys: pa.Array) -> np.ndarray:
    values = keys.to_numpy(zero_copy_only=False).astype(object)
    return pd.util.hash_array(values, categorize=False)


def _match(left: pa.Table, right: pa.Table, key) -> tuple[np.ndarray, ...] | None:
    """Row positions (matched left, matched right, only left, only right), keys matched by
    their 64-bit hashes with numpy. None when a key repeats on a side, or two different keys
    share a hash (checked on the matched pairs): the pandas path decides those chunks."""
    lh, rh = key_hashes(left, key), key_hashes(right, key)
    if _repeats(lh) or _repeats(rh):
        return None
    order = np.argsort(rh, kind="stable")
    sorted_rh = rh[order]
    pos = np.minimum(np.searchsorted(sorted_rh, lh), max(len(rh) - 1, 0))
    found = sorted_rh[pos] == lh if len(rh) else np.zeros(len(lh), dtype=bool)
    li, ri = np.flatnonzero(found), order[pos[found]]
    lkeys, rkeys = _keys(left, key).take(li), _keys(right, key).take(ri)
    same = pc.or_(pc.fill_null(pc.equal(lkeys, rkeys), False), pc.and_(pc.is_null(lkeys), pc.is_null(rkeys)))
    if not pc.all(same).as_py():
        return None
    hit = np.zeros(len(rh), dtype=bool)
    hit[ri] = True
    return li, ri, np.flatnonzero(~found), np.flatnonzero(~hit)


def _repeats(hashes: np.ndarray) -> bool:
    ordered = np.sort(hashes)
    return bool(np.any(ordered[1:] == ordered[:-1]))


def _compare_arrow_chunk(left: pa.Table, right: pa.Table, key, rules, matched, result: CompareResult) -> None:
    li, ri, only_li, only_ri = matched
    result.expected_rows += len(left)
    result.actual_rows += len(right)
    result.missing += len(only_li)
    result.only_in_target += len(only_ri)
    result._note(Difference("missing", k) for k in _sorted_keys(left.take(only_li), key, result))
    result._note(Difference("only_in_target", k) for k in _sorted_keys(right.take(only_ri), key, result))
    result.matched_rows += len(li)
    if len(only_li):
        left = left.take(li)
    # only the right side is moved: into the left side's row order
    _compare_values(left, right.take(ri), key, rules, result)


def _sorted_keys(table: pa.Table, key, result: CompareResult) -> Iterator[dict[str, Any]]:
    room = result.max_details - len(result.details)
    if room <= 0 or not len(table):
        return iter(())
    head = table.select(list(key)).sort_by([(k, "ascending") for k in key]).slice(0, room)
    return iter(head.to_pylist())


def _compare_values(left: pa.Table, right: pa.Table, key, rules, result: CompareResult) -> None:
    unequal_any = np.zeros(len(left), dtype=bool)
    per_column: list[tuple[str, np.ndarray]] = []
    for column, rule in rules.items():
        unequal = _unequal(left[column].combine_chunks(), right[column].combine_chunks(), rule)
        result.unequal_by_column[column] += int(unequal.sum())
        unequal_any |= unequal
        per_column.append((column, unequal))
    result.unequal_rows += int(unequal_any.sum())
    room = result.max_details - len(result.details)
    if unequal_any.any() and room > 0:
        rows = np.flatnonzero(unequal_any)
        # listed in key order, as the pandas path lists them; a row gives at least one difference
        by_key = pc.sort_indices(left.take(rows).select(list(key)), [(k, "ascending") for k in key])
        picked = rows[by_key.to_numpy()[:room]]
        picked_left, picked_right = left.take(picked), right.take(picked)
        details = _value_details(picked_left, picked_right, key, rules, per_column, picked, result.row_values)
        result._note(details)


def _value_details(
    left: pa.Table, right: pa.Table, key, rules, per_column, picked, rows_out: list
) -> Iterator[Difference]:
    keys = left.select(list(key)).to_pylist()
    columns = [(c, rules[c], m[picked], left[c].to_pylist(), right[c].to_pylist()) for c, m in per_column]
    for i, key_values in enumerate(keys):
        rows_out.append(  # the whole row, for its structured difference (deepdiff) in the report
            (
                key_values,
                {c: typed(expected[i], rule.kind) for c, rule, _, expected, _ in columns},
                {c: typed(actual[i], rule.kind) for c, rule, _, _, actual in columns},
            )
        )
        for column, rule, mask, expected, actual in columns:
            if mask[i]:
                e, a = expected[i], actual[i]
                yield Difference(
                    "value", key_values, column, typed(e, rule.kind), typed(a, rule.kind), _delta(e, a, rule)
                )


def _unequal(exp: pa.Array, act: pa.Array, rule: ColumnRule) -> np.ndarray:
    """As `compare._unequal`: NULL equals only NULL; tolerances applied to the few that differ."""
    same = pc.fill_null(pc.equal(exp, act), False)
    same = pc.or_(same, pc.and_(pc.is_null(exp), pc.is_null(act)))
    unequal = pc.invert(same).to_numpy(zero_copy_only=False)
    if not unequal.any() or rule.kind not in ("decimal", "int", "timestamp"):
        return unequal
    candidates = unequal & pc.is_valid(exp).to_numpy(zero_copy_only=False)
    candidates &= pc.is_valid(act).to_numpy(zero_copy_only=False)
    idx = np.flatnonzero(candidates)
    if len(idx):
        e = pd.Series(exp.take(idx).to_pylist(), dtype=object)
        a = pd.Series(act.take(idx).to_pylist(), dtype=object)
        unequal[idx[_within_tolerance(e, a, rule)]] = False
    return unequal


def hashed_pairs(
    left: Iterator[pa.Table], right: Iterator[pa.Table], column: str, columns: list[str], buckets: int
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Pair two unordered streams by a hash of `column` (a grace hash join): every value of
    `column` lands in one pair. One bucket: both sides whole in memory. More: each side is
    split into `buckets` Arrow IPC files on disk as it is read, then the files are paired, so
    memory holds one batch while splitting and one bucket pair while comparing.

    Neither side needs sorting: the databases scan their tables in storage order, which is
    the cheapest read there is (an ORDER BY sorts, or walks an index at random)."""
    # both databases read at once, unless the sides are large: then they are spilled one after
    # the other, so one reader process and one batch are in memory at a time (memory first)
    with ThreadPoolExecutor(max_workers=2 if buckets <= PARALLEL_SPILL_BUCKETS else 1) as pool:
        if buckets <= 1:
            whole = [pool.submit(_whole, side, column, columns) for side in (left, right)]
            yield whole[0].result(), whole[1].result()
            return
        with tempfile.TemporaryDirectory(prefix="migrate-reconcile-") as tmp:
            spilled = [
                pool.submit(_spill, side, column, columns, buckets, Path(tmp) / name)
                for side, name in ((left, "expected"), (right, "actual"))
            ]
            lfiles, rfiles = spilled[0].result(), spilled[1].result()
            for lfile, rfile in zip(lfiles, rfiles, strict=True):
                yield _read_ipc(lfile, columns), _read_ipc(rfile, columns)


def _whole(batches: Iterator[pa.Table], column: str, columns: list[str]) -> pa.Table:
    tables = [_hashed(t, column) for t in batches]
    return pa.concat_tables(tables).combine_chunks() if tables else _empty(columns)


def _hashed(table: pa.Table, column: str) -> pa.Table:
    """The table with the hash of `column`: the same on both sides whatever database each came from."""
    return table.append_column(HASH, pa.array(_hash(table[column].combine_chunks()), pa.uint64()))


def _empty(columns: list[str]) -> pa.Table:
    return pa.table({**{c: pa.array([], pa.string()) for c in columns}, HASH: pa.array([], pa.uint64())})


def _spill(
    batches: Iterator[pa.Table], column: str, columns: list[str], buckets: int, folder: Path
) -> list[Path]:
    folder.mkdir()
    files = [folder / f"{b}.arrow" for b in range(buckets)]
    schema = _empty(columns).schema
    writers = [pa.ipc.new_file(str(f), schema) for f in files]
    try:
        for table in batches:
            table = _hashed(table, column).cast(schema)
            ids = (table[HASH].to_numpy() % np.uint64(buckets)).astype(np.int64)
            order = np.argsort(ids, kind="stable")
            grouped = table.take(order)
            bounds = np.searchsorted(ids[order], np.arange(buckets + 1))
            for b in np.flatnonzero(np.diff(bounds)):
                writers[b].write_table(grouped.slice(bounds[b], bounds[b + 1] - bounds[b]))
    finally:
        for writer in writers:
            writer.close()
    return files


def _read_ipc(path: Path, columns: list[str]) -> pa.Table:
    with pa.OSFile(str(path)) as source:  # read, not mapped: mapped pages would count as resident too
        table = pa.ipc.open_file(source).read_all()
    path.unlink()  # the bucket is in memory now: free its disk space as we go
    return table.combine_chunks() if len(table) else _empty(columns)
