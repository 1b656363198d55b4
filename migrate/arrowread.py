"""A query's rows as Arrow tables, read the fastest way the store allows.

A large SQLite read goes through the ADBC SQLite driver, which builds Arrow arrays in C (no
Python object per value), in a process of its own (`sqlite_arrow.py` says why); any other read
goes through its DBAPI cursor and is turned into Arrow per batch. Used by map (staged rows in)
and by reconcile (both sides of a comparison), so it sits below both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

from migrate.urls import mask_url, redact

# ADBC infers a column's type from its first batch (an all-NULL start would become INT64 and
# then fail on text): every value is read as text, NULL as this marker, turned back into NULL.
NULL_MARK = "\x00\u2400"
NULL_MARK_SQL = "char(0, 9216)"
# Below this many rows Python's sqlite3 reads faster than starting the ADBC reader's process.
ADBC_MIN_ROWS = 100_000


def adbc_usable(engine: Engine) -> bool:
    """An SQLite file (not :memory:) and the ADBC driver installed."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return False
    try:
        import adbc_driver_sqlite.dbapi  # noqa: F401
    except ImportError:  # optional at run time: the DBAPI path below gives the same result
        return False
    return True


def read_batches(
    engine: Engine, sql: str, columns: list[str], batch: int, params: tuple = (), rows: int = 0
) -> Iterator[pa.Table]:
    """A query's rows as Arrow tables of about `batch` rows (text columns, NULL as null).
    `rows`: about how many the query returns; a large SQLite read goes through ADBC."""
    if rows >= ADBC_MIN_ROWS and adbc_usable(engine):
        return _adbc_batches(engine, sql, columns, batch, params)
    return _dbapi_batches(engine, sql, columns, batch, params)


def _adbc_batches(
    engine: Engine, sql: str, columns: list[str], batch: int, params: tuple
) -> Iterator[pa.Table]:
    """The ADBC driver in a process of its own (`sqlite_arrow.py` says why), its Arrow stream
    read from a pipe (the GIL is released while waiting, so both sides are read at once)."""
    quote = engine.dialect.identifier_preparer.quote
    listed = ", ".join(
        f"COALESCE(CAST(q.{quote(c)} AS TEXT), {NULL_MARK_SQL}) AS {quote(c)}" for c in columns
    )
    job = {
        "path": str(engine.url.database),
        "sql": f"SELECT {listed} FROM ({sql}) AS q",
        "params": list(params),
        "batch": batch,
    }
    reader = Path(__file__).with_name("sqlite_arrow.py")
    with subprocess.Popen(
        [sys.executable, str(reader)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        try:
            child.stdin.write(json.dumps(job).encode())
            child.stdin.close()
            with pa.ipc.open_stream(child.stdout) as stream:
                for record_batch in stream:
                    yield _unmarked(pa.Table.from_batches([record_batch]), columns)
        except (pa.ArrowInvalid, OSError):
            pass  # the child failed before or while streaming: its own message is read below
        finally:
            child.stdout.close()
            error = child.stderr.read().decode(errors="replace").strip()
            code = child.wait()
        if code != 0:
            detail = error.splitlines()[-1] if error else f"exit {code}"
            raise RuntimeError(f"reading {mask_url(engine.url)} failed: {redact(detail)}")


def _unmarked(table: pa.Table, columns: list[str]) -> pa.Table:
    arrays = []
    for array in table.columns:
        marked = pc.equal(array, NULL_MARK)
        arrays.append(
            pc.if_else(marked, pa.scalar(None, pa.string()), array) if pc.any(marked).as_py() else array
        )
    return pa.table(arrays, names=columns)


def _dbapi_batches(
    engine: Engine, sql: str, columns: list[str], batch: int, params: tuple
) -> Iterator[pa.Table]:
    with engine.connect().execution_options(stream_results=True, yield_per=batch) as conn:
        result = conn.exec_driver_sql(sql, params)
        fetch = result.cursor.fetchmany if engine.dialect.name == "sqlite" else result.fetchmany
        while rows := fetch(batch):
            texts = [text_array(values, nan_is_null=False) for values in zip(*rows, strict=True)]
            yield pa.table(texts, names=columns)
        result.close()


def text_array(values, *, nan_is_null: bool) -> pa.Array:
    """Values as an Arrow text column: texts as they are, None as null, any other value as its
    text (a database column that is not text, a number a lax writer staged).

    `nan_is_null`: what a NaN is. True for values from a pandas frame, where NaN (like None,
    pd.NA and NaT) means "missing": null. False for values read from a database, where a NaN
    (a float or numeric column's 'NaN') is a value, not the column's NULL: its text, so that a
    comparison sees NaN and NULL differ.
    """
    try:
        return pa.array(values, type=pa.string(), from_pandas=nan_is_null)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a value that is not text: its text
        if nan_is_null:
            import pandas as pd  # the values come from a frame: pandas is loaded already

            values = pd.Series(values, dtype=object)
            values = values.where(values.notna(), None).tolist()
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
