"""A chunk's cost must not grow with the target: its rows are matched by index probes, never by
scanning the whole target table; the digest records of new ids replace any left behind."""

from __future__ import annotations

import json

import pytest

from migrate import db
from migrate.load import load
from migrate.load.connection import connect
from migrate.load.sql import EntitySql
from migrate.load.written import ROWS, TABLE, copy_records, digests
from migrate.model import ENTITIES
from migrate.urls import parse_url
from tests.load.mapped import make_store, process_parameters

PP = "process_parameter"


def _upgraded(url: str) -> str:
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    return url


def _scans(plan: dict) -> list[str]:
    """Relations read by a sequential scan anywhere in an EXPLAIN (FORMAT JSON) plan."""
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


def _explain(conn, statement: str) -> list[str]:
    (doc,) = conn.execute(f"EXPLAIN (FORMAT JSON) {statement}").fetchone()
    doc = json.loads(doc) if isinstance(doc, str) else doc
    return _scans(doc[0]["Plan"])


@pytest.mark.postgres
def test_a_chunk_is_matched_to_the_target_by_index_probes(pg_url, tmp_path):
    """Resolving and comparing a chunk never reads the whole target table (a hash join over it
    made each chunk of a 1M-row load cost more than the one before). Fails with the old joins:
    the planner hashes process_parameter for both statements."""
    url = _upgraded(pg_url)
    load(url, make_store(tmp_path / "s.db", 3_000))
    conn = connect(parse_url(url))
    try:
        sql = EntitySql(ENTITIES[PP], conn.dialect)
        mapped = ENTITIES[PP].mapped_columns
        rows = [(i, *(r[c] for c in mapped)) for i, r in enumerate(process_parameters(3_500)[2_500:])]
        conn.execute(sql.raw_ddl())
        conn.stage("_raw", ["_row_id", *mapped], rows, ["int8"] + ["text"] * len(mapped))
        assert PP not in _explain(conn, sql.typed_ddl())
        conn.execute(sql.typed_ddl())
        assert PP not in _explain(conn, sql.changed_ddl())
        conn.execute(sql.changed_ddl())
        assert conn.scalar("SELECT COUNT(*) FROM _typed WHERE _id IS NOT NULL") == 500
        assert conn.scalar("SELECT COUNT(*) FROM _changed") == 0
    finally:
        conn.rollback()
        conn.close()


def test_a_record_left_at_a_new_id_is_replaced(target_url, tmp_path):
    """Digest records are written by a plain INSERT after deleting any record already held for
    the new ids, in either form (no ON CONFLICT upsert: it cost PostgreSQL 2.8x the CPU): a
    per-row record as loads before alembic 0009 wrote, and a range record at the same first
    id. Fails without the deletes: the insert breaks the primary key and the chunk is
    refused, or the stale per-row record stays and the undo would keep a row it wrote."""
    url = _upgraded(target_url)
    load(url, make_store(tmp_path / "a.db", 100))
    conn = connect(parse_url(url))
    top = conn.scalar(f"SELECT MAX(id) FROM {PP}")
    conn.begin()
    conn.execute(
        f"INSERT INTO {ROWS} (entity, id, natural_key, row_digest) VALUES (?, ?, 'stale', 'stale')",
        (PP, top + 2),
    )
    conn.execute(
        f"INSERT INTO {TABLE} (entity, id_lo, id_hi, records) VALUES (?, ?, ?, '[]')", (PP, top + 1, top + 1)
    )
    conn.commit()
    result = load(url, make_store(tmp_path / "b.db", 103))
    assert next(e for e in result.entities if e.entity == PP).inserted == 3
    conn.begin()
    conn.execute("CREATE TEMP TABLE _w (id BIGINT, natural_key TEXT, row_digest TEXT)")
    copy_records(conn, PP, top + 1, top + 3, "_w")
    key, row = digests(PP, conn.dialect, "t")
    assert conn.scalar("SELECT COUNT(*) FROM _w") == 3
    matching = conn.scalar(
        f"SELECT COUNT(*) FROM _w w JOIN {PP} t ON t.id = w.id WHERE w.natural_key = {key} AND w.row_digest = {row}"
    )
    assert matching == 3
    assert conn.scalar(f"SELECT COUNT(*) FROM {ROWS}") == 0
    assert conn.scalar(f"SELECT COUNT(*) FROM {TABLE} WHERE records = '[]'") == 0
    # one shape on both backends: [id, the key's JSON text as a string, digest]
    records = json.loads(
        conn.scalar(f"SELECT records FROM {TABLE} WHERE entity = ? AND id_lo = ?", (PP, top + 1))
    )
    assert [r[0] for r in records] == [top + 1, top + 2, top + 3]
    assert all(isinstance(r[1], str) and isinstance(json.loads(r[1]), list) for r in records)
    conn.rollback()
    conn.close()


def test_the_next_chunk_is_read_while_this_one_loads_and_the_source_closes():
    """`read_ahead` reads chunk n+1 in its worker while the caller holds chunk n, and closes the
    source (in the worker's thread) when the caller stops early. Fails with a plain pass-through
    (nothing read ahead) or without the close."""
    import threading

    from migrate.load.engine import read_ahead

    produced, closed_in = [], []
    reader = threading.get_ident()

    def source():
        try:
            for i in range(5):
                produced.append(i)
                yield [(i,)]
        finally:
            closed_in.append(threading.get_ident())

    chunks = read_ahead(source())
    assert next(chunks) == [(0,)]
    for _ in range(100):  # the worker reads chunk 1 by itself, within moments
        if len(produced) == 2:
            break
        threading.Event().wait(0.01)
    assert produced == [0, 1]
    chunks.close()
    assert produced == [0, 1] and len(closed_in) == 1 and closed_in[0] != reader
    assert list(read_ahead(source())) == [[(i,)] for i in range(5)]
