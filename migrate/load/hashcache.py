"""Content hashes of the model tables, each read again only when something wrote it.

Cutover points, rollback checks, rollback readiness and phase evidence each hash every
table they name: at 10M rows a table is a minute of PostgreSQL's time, spent again by every
`sign`, `approve` and `rollback readiness` although nothing wrote the table since.

On PostgreSQL (alembic 0008) a statement trigger on every model table notes each write in
`migrate_table_write`, in the writer's own transaction, and `migrate_table_hash` keeps each
table's last hash. A table's kept hash is used only when, in one snapshot:

- no write to it is noted;
- its trigger is there and fires ALWAYS (a table made again by hand, or `ALTER TABLE ...
  DISABLE TRIGGER`, loses that);
- its file and write counters (`pg_class.relfilenode`, `pg_stat` inserted/updated/deleted)
  are those seen when it was hashed: a write made while the trigger was disabled, a TRUNCATE
  or a rewrite moves them.

Otherwise the table is hashed as always (`hashing.connection_hash`), and in the same
transaction its notes are deleted and its new hash kept: a rolled-back caller (a rollback
rehearsal) keeps nothing. Nobody waits: notes a running writer holds are skipped and stay
(so the next hash reads the table again), and a table another caller is hashing right now
is hashed here too without being kept. A read-only connection uses kept hashes and keeps none.

SQLite has no statement triggers, and a row trigger costs its loader about a fifth of its
speed (bench/hash.md), so on SQLite every table is hashed every time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Table, text

from migrate.load.hashing import connection_hash
from migrate.model import MODEL_TABLES, table_hash, table_write, utcnow

TRIGGER = "migrate_note_write"  # alembic 0008

# One statement, so one snapshot: the kept hash, the notes and the counters agree.
_KEPT = text(
    f"""
    SELECT n.name, h.hash, h.stamp, t.tgenabled,
           EXISTS (SELECT 1 FROM {table_write.name} w WHERE w.table_name = n.name) AS written,
           c.relfilenode::text || ':' || pg_stat_get_tuples_inserted(c.oid) || ':'
               || pg_stat_get_tuples_updated(c.oid) || ':' || pg_stat_get_tuples_deleted(c.oid) AS stamp_now
    FROM unnest(CAST(:names AS text[])) AS n(name)
    JOIN pg_class c ON c.oid = to_regclass(quote_ident(n.name))
    LEFT JOIN {table_hash.name} h ON h.table_name = n.name
    LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgname = '{TRIGGER}'
    """
)
_WRITABLE = text(
    "SELECT current_setting('transaction_read_only') = 'off' "
    f"AND has_table_privilege('{table_hash.name}', 'UPDATE') "
    f"AND has_table_privilege('{table_write.name}', 'DELETE')"
)


@dataclass(frozen=True)
class _Kept:
    hash: str | None
    stamp_now: str
    valid: bool


def table_hashes(conn: Connection, tables: Iterable[Table] = MODEL_TABLES) -> dict[str, str]:
    """Each table's content hash as `conn` sees it (its own transaction included): the kept
    one where nothing wrote the table since (module doc), computed and kept otherwise."""
    tables = tuple(tables)
    kept = _kept(conn, tables)
    if kept is None:
        return {t.name: connection_hash(conn, t) for t in tables}
    writable = conn.execute(_WRITABLE).scalar_one()
    out: dict[str, str] = {}
    for t in tables:
        k = kept.get(t.name)
        if k is not None and k.valid and k.hash is not None:
            out[t.name] = k.hash
        else:
            out[t.name] = _rehash(conn, t, k.stamp_now if k else None, writable)
    return out


def _kept(conn: Connection, tables: tuple[Table, ...]) -> dict[str, _Kept] | None:
    """What is kept for each table, or None where nothing can be (SQLite, a target before 0008)."""
    if conn.dialect.name != "postgresql":
        return None
    if conn.execute(text(f"SELECT to_regclass('{table_hash.name}') IS NOT NULL")).scalar_one() is False:
        return None
    rows = conn.execute(_KEPT, {"names": [t.name for t in tables]}).all()
    return {
        r.name: _Kept(r.hash, r.stamp_now, not r.written and r.tgenabled == "A" and r.stamp == r.stamp_now)
        for r in rows
    }


def _rehash(conn: Connection, table: Table, stamp: str | None, writable: bool) -> str:
    """Hash `table`; keep the hash when this caller may, and no other caller is keeping one."""
    if not (writable and stamp is not None and _lock(conn, table.name)):
        return connection_hash(conn, table)
    # the notes first, then the hash: a write that commits in between is in the hash, and its
    # note (taken after the delete, or held and so skipped) stays for the next hash
    conn.execute(
        text(
            f"DELETE FROM {table_write.name} WHERE id IN (SELECT id FROM {table_write.name} "
            "WHERE table_name = :t FOR UPDATE SKIP LOCKED)"
        ),
        {"t": table.name},
    )
    digest = connection_hash(conn, table)
    conn.execute(
        table_hash.update()
        .where(table_hash.c.table_name == table.name)
        .values(hash=digest, stamp=stamp, hashed_at=utcnow())
    )
    return digest


def _lock(conn: Connection, name: str) -> bool:
    """Lock the table's kept-hash row for this transaction; False if another caller holds it."""
    lock = text(f"SELECT 1 FROM {table_hash.name} WHERE table_name = :t FOR UPDATE SKIP LOCKED")
    if conn.execute(lock, {"t": name}).first() is not None:
        return True
    conn.execute(
        text(f"INSERT INTO {table_hash.name} (table_name) VALUES (:t) ON CONFLICT DO NOTHING"), {"t": name}
    )
    return conn.execute(lock, {"t": name}).first() is not None
