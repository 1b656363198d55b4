"""Reading and writing the load control tables through a raw connection.

What rollback (next issue) can rely on, all in the target:

- `migrate_load_run`: one row per invocation (operator, host, pid, command, mode, chunk size,
  project fingerprint, per-entity input fingerprints as JSON, status, summary JSON).
- `migrate_load_ledger`, in `seq` order = the order changes were made, each row tagged with
  its run and chunk (committed with that chunk, so a ledger row exists iff its change does):
  `insert` id_lo..id_hi (ids this run inserted into `entity`'s table); `update` / `delete`
  one id and `before`, the full row as JSON (`json_object` on SQLite: values as stored,
  decimals and timestamps as text; `json_build_object` on PostgreSQL: NUMERIC as a JSON
  number with its exact digits, timestamps ISO 8601 in UTC). Undo = walk `seq` backwards:
  delete inserted ids, write before-images back (re-insert deleted rows with their ids).
- `migrate_load_checkpoint`: where each entity's current pass stands; a rollback that undoes
  a run should delete or reset these rows, or the next load resumes a pass that no longer is.
- `migrate_load_chunk`: one row per chunk a load on several connections committed (inserted
  in the chunk's own transaction); only while that pass is open: its last transaction folds
  them into the checkpoint and deletes them. A rollback must delete them with the checkpoints.
- `migrate_lease`: the one-writer lease; a rollback takes it the same way (`Lease`).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, replace

from migrate.load.connection import TargetConnection
from migrate.model import utcnow

_CP_COLUMNS = (
    "entity, pass_run_id, run_id, fingerprint, mode, chunk_size, total_rows, next_chunk, "
    "last_row_id, inserted, updated, unchanged, deleted, status"
)


@dataclass(frozen=True)
class Checkpoint:
    """Where an entity's load pass stands; what resume reads back from the target."""

    entity: str
    pass_run_id: int
    run_id: int
    fingerprint: str
    mode: str
    chunk_size: int
    total_rows: int
    next_chunk: int = 0
    last_row_id: int = -1
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    status: str = "loading"
    chunked: bool = False  # a pass on several connections: its chunks are in migrate_load_chunk

    def advanced(
        self, run_id: int, last_row_id: int, inserted: int, updated: int, unchanged: int
    ) -> Checkpoint:
        return replace(
            self,
            run_id=run_id,
            next_chunk=self.next_chunk + 1,
            last_row_id=last_row_id,
            inserted=self.inserted + inserted,
            updated=self.updated + updated,
            unchanged=self.unchanged + unchanged,
        )

    @property
    def rows_done(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @property
    def changed_rows(self) -> int:
        return self.inserted + self.updated + self.deleted


def read_checkpoint(conn: TargetConnection, entity: str) -> Checkpoint | None:
    row = conn.execute(
        f"SELECT {_CP_COLUMNS} FROM migrate_load_checkpoint WHERE entity = ?", (entity,)
    ).fetchone()
    return None if row is None else Checkpoint(*row)


def write_checkpoint(conn: TargetConnection, cp: Checkpoint) -> None:
    names = [c.strip() for c in _CP_COLUMNS.split(",")]
    values = [getattr(cp, n) for n in names]
    updates = ", ".join(f"{n} = excluded.{n}" for n in names[1:])
    conn.execute(
        f"INSERT INTO migrate_load_checkpoint ({_CP_COLUMNS}, at) VALUES ({', '.join('?' * (len(names) + 1))}) "
        f"ON CONFLICT (entity) DO UPDATE SET {updates}, at = excluded.at",
        (*values, conn.ts(utcnow())),
    )


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk committed by a pass on several connections (migrate_load_chunk)."""

    chunk_no: int
    first_row_id: int
    last_row_id: int
    inserted: int
    updated: int
    unchanged: int


def read_chunks(conn: TargetConnection, entity: str, pass_run_id: int) -> dict[int, ChunkRecord]:
    rows = conn.execute(
        "SELECT chunk_no, first_row_id, last_row_id, inserted, updated, unchanged FROM migrate_load_chunk "
        "WHERE entity = ? AND pass_run_id = ?",
        (entity, pass_run_id),
    ).fetchall()
    return {r[0]: ChunkRecord(*r) for r in rows}


def write_chunk(conn: TargetConnection, cp: Checkpoint, chunk: ChunkRecord) -> None:
    """Inside the chunk's transaction: its record, with the pass it belongs to."""
    conn.execute(
        "INSERT INTO migrate_load_chunk (entity, pass_run_id, chunk_no, run_id, fingerprint, mode, chunk_size, "
        "total_rows, first_row_id, last_row_id, inserted, updated, unchanged, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            cp.entity,
            cp.pass_run_id,
            chunk.chunk_no,
            cp.run_id,
            cp.fingerprint,
            cp.mode,
            cp.chunk_size,
            cp.total_rows,
            chunk.first_row_id,
            chunk.last_row_id,
            chunk.inserted,
            chunk.updated,
            chunk.unchanged,
            conn.ts(utcnow()),
        ),
    )


def _chunked_pass(conn: TargetConnection, entity: str) -> Checkpoint | None:
    """The latest pass on several connections that has chunk records (so is not finished)."""
    row = conn.execute(
        "SELECT pass_run_id, MAX(run_id), fingerprint, mode, chunk_size, total_rows, COUNT(*) "
        "FROM migrate_load_chunk WHERE entity = ? GROUP BY pass_run_id, fingerprint, mode, chunk_size, "
        "total_rows ORDER BY pass_run_id DESC LIMIT 1",
        (entity,),
    ).fetchone()
    if row is None:
        return None
    pass_run_id, run_id, fingerprint, mode, chunk_size, total_rows, chunks = row
    return Checkpoint(
        entity,
        pass_run_id,
        run_id,
        fingerprint,
        mode,
        chunk_size,
        total_rows,
        next_chunk=chunks,
        chunked=True,
    )


def read_pass(conn: TargetConnection, entity: str) -> Checkpoint | None:
    """Where the entity's latest pass stands: its checkpoint row, or, when a later pass on
    several connections is still open, that pass (status loading, `chunked`)."""
    cp = read_checkpoint(conn, entity)
    if conn.dialect != "postgresql":
        return cp
    chunked = _chunked_pass(conn, entity)
    if chunked is not None and (cp is None or chunked.pass_run_id > cp.pass_run_id):
        return chunked
    return cp


def start_run(
    conn: TargetConnection,
    *,
    operator: str,
    command: str,
    mode: str,
    chunk_size: int,
    fingerprints: dict[str, str],
    project_fingerprint: str | None,
) -> int:
    conn.begin()
    run_id = conn.scalar(
        "INSERT INTO migrate_load_run (started_at, operator, host, pid, command, mode, chunk_size, "
        "project_fingerprint, input_fingerprints, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running') "
        "RETURNING id",
        (
            conn.ts(utcnow()),
            operator[:120],
            socket.gethostname(),
            os.getpid(),
            command[:500],
            mode,
            chunk_size,
            project_fingerprint,
            json.dumps(fingerprints, sort_keys=True),
        ),
    )
    conn.commit()
    return int(run_id)


def finish_run(conn: TargetConnection, run_id: int, status: str, summary: dict) -> None:
    conn.begin()
    conn.execute(
        "UPDATE migrate_load_run SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
        (conn.ts(utcnow()), status, json.dumps(summary, sort_keys=True), run_id),
    )
    conn.commit()
