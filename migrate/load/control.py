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
