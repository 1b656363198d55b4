"""`rollback run`: replay the ledger backwards to a cutover point, chunked and resumable.

Each chunk is one transaction holding the undo of up to `chunk_size` ledger entries (newest
first), the move of those entries from the ledger to `migrate_rollback_undone`, the reset
of the undone entities' load checkpoints, the rollback run's counters and the lease
renewal (RELIABILITY design rule 4). The ledger itself is therefore the resume point: a
killed rollback leaves it either before or after a whole chunk, and running the rollback
again undoes exactly what is left after the point.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass

from sqlalchemy.engine import URL

from migrate import audit
from migrate.db import make_engine
from migrate.errors import CheckFailed, MigrateError, TargetError
from migrate.load.connection import TargetConnection, connect
from migrate.load.faults import Faults
from migrate.load.lease import Lease
from migrate.load.refusals import classify, refused
from migrate.model import MODEL_TABLES, utcnow
from migrate.progress import NO_PROGRESS, Progress
from migrate.rollback.foreign import KeptRow
from migrate.rollback.points import CutoverPoint, find_point, table_hashes
from migrate.rollback.replay import Entry, groups, undo
from migrate.urls import mask_url, redact

FAULT_ENTITY = "rollback"  # the entity name rollback's fault points answer to (MIGRATE_LOAD_FAULT)


@dataclass(frozen=True)
class RollbackResult:
    run_id: int
    point: str
    target: str
    undone: int  # ledger entries undone by this call
    rows: dict[str, dict[str, int]]  # entity -> {deleted, restored, reinserted}
    chunks: int
    seconds: float
    differs: tuple[str, ...]  # tables whose content hash is not the point's
    kept: tuple[KeptRow, ...] = ()  # rows in undone insert ranges the load did not write as they are

    @property
    def exact(self) -> bool:
        return not self.differs

    def to_dict(self) -> dict:
        return {
            "ok": self.exact,
            "run_id": self.run_id,
            "point": self.point,
            "target": self.target,
            "undone": self.undone,
            "rows": self.rows,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "exact": self.exact,
            "differs": list(self.differs),
            "kept": [k.to_dict() for k in self.kept],
        }


ROW_WORD = {"insert": "deleted", "update": "restored", "delete": "reinserted"}


def pending(conn: TargetConnection, point: CutoverPoint, limit: int | None = None) -> list[Entry]:
    """Ledger entries after the point, newest first (the order they are undone in)."""
    sql = "SELECT seq, entity, op, id_lo, id_hi FROM migrate_load_ledger WHERE seq > ? ORDER BY seq DESC"
    rows = conn.execute(sql + (f" LIMIT {int(limit)}" if limit else ""), (point.ledger_seq,)).fetchall()
    return [Entry(*r) for r in rows]


def _start(conn: TargetConnection, point: CutoverPoint, operator: str, command: str) -> int:
    conn.begin()
    run_id = conn.scalar(
        "INSERT INTO migrate_rollback_run (point_id, point, started_at, operator, host, pid, command, status, "
        "undone, chunks) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', 0, 0) RETURNING id",
        (
            point.id,
            point.name,
            conn.ts(utcnow()),
            operator[:120],
            socket.gethostname(),
            os.getpid(),
            command[:500],
        ),
    )
    conn.commit()
    return int(run_id)


def _chunk(
    conn: TargetConnection, run_id: int, entries: list[Entry], lease: Lease, faults: Faults, no: int
) -> list[KeptRow]:
    """One transaction: undo, archive, reset checkpoints, count, supersede later points."""
    lo, hi = entries[-1].seq, entries[0].seq
    faults.at("before_begin", FAULT_ENTITY, no)
    conn.begin()
    kept: list[KeptRow] = []
    try:
        lease.renew(conn)
        for group in groups(entries):
            kept += undo(conn, group)
        faults.pause()
        faults.at("after_data", FAULT_ENTITY, no)
        conn.execute(
            "INSERT INTO migrate_rollback_undone (rollback_id, seq, run_id, entity, chunk_no, op, id_lo, id_hi, "
            "before) SELECT ?, seq, run_id, entity, chunk_no, op, id_lo, id_hi, before FROM migrate_load_ledger "
            "WHERE seq BETWEEN ? AND ?",
            (run_id, lo, hi),
        )
        conn.execute("DELETE FROM migrate_load_ledger WHERE seq BETWEEN ? AND ?", (lo, hi))
        faults.at("after_ledger", FAULT_ENTITY, no)
        entities = sorted({e.entity for e in entries})
        # the next load must start these entities' passes afresh, not resume undone chunks
        conn.executemany("DELETE FROM migrate_load_checkpoint WHERE entity = ?", [(e,) for e in entities])
        conn.executemany("DELETE FROM migrate_load_chunk WHERE entity = ?", [(e,) for e in entities])
        conn.execute(
            "UPDATE migrate_cutover_point SET superseded_by = ? WHERE superseded_by IS NULL AND ledger_seq >= ?",
            (run_id, lo),
        )
        conn.execute(
            "UPDATE migrate_rollback_run SET undone = undone + ?, chunks = chunks + 1 WHERE id = ?",
            (len(entries), run_id),
        )
        faults.at("after_checkpoint", FAULT_ENTITY, no)
        faults.kill_during(FAULT_ENTITY, no)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    faults.at("after_commit", FAULT_ENTITY, no)
    return kept


def _refused(exc: Exception, entries: list[Entry], point: CutoverPoint) -> TargetError:
    if not classify(exc).about_rows:  # the target, not the rows: fix it and run the rollback again
        return refused(
            exc,
            f"undoing ledger entries {entries[-1].seq}..{entries[0].seq}",
            f"migrate rollback run --to {point.name}",
            "That chunk rolled back whole; earlier chunks stay undone, and running the rollback "
            "again continues after them.",
        )
    return TargetError(
        f"the target refused to undo ledger entries {entries[-1].seq}..{entries[0].seq}: "
        f"{redact(str(exc)).strip()[:300]}. That chunk rolled back whole; earlier chunks stay undone.",
        hint="Run `migrate rollback readiness --to POINT` to see rows written behind the toolkit's back.",
    )


def replay(
    url: URL,
    point: CutoverPoint,
    run_id: int,
    lease: Lease,
    chunk_size: int,
    faults: Faults,
    progress: Progress,
) -> tuple[int, int, dict[str, dict[str, int]], list[KeptRow]]:
    """Undo every entry after the point, chunk by chunk; (entries, chunks, rows per entity, kept rows)."""
    conn = connect(url)
    undone, chunks, rows, kept, total = 0, 0, {}, [], 0
    try:
        conn.begin()
        total = int(
            conn.scalar("SELECT COUNT(*) FROM migrate_load_ledger WHERE seq > ?", (point.ledger_seq,))
        )
        conn.rollback()
        task = progress.task(f"rollback to {point.name}", total=total, unit="ledger entries")
        while entries := pending(conn, point, chunk_size):
            conn.rollback()  # the read above opened a transaction on PostgreSQL
            try:
                kept += _chunk(conn, run_id, entries, lease, faults, chunks)
            except MigrateError:
                raise
            except Exception as exc:
                raise _refused(exc, entries, point) from None
            for e in entries:
                counts = rows.setdefault(e.entity, {"deleted": 0, "restored": 0, "reinserted": 0})
                counts[ROW_WORD[e.op]] += e.rows
            undone, chunks = undone + len(entries), chunks + 1
            task.advance(len(entries))
        conn.rollback()
    except KeyboardInterrupt:  # the chunk under way rolled back in _chunk; say where that leaves the target
        raise _stopped(point, undone, total) from None
    finally:
        conn.close()
    return undone, chunks, rows, kept


def _stopped(point: CutoverPoint, undone: int, total: int) -> TargetError:
    return TargetError(
        f"rollback to {point.name} stopped (Ctrl-C) after undoing {undone:,} of {total:,} ledger entries; "
        "the chunk under way rolled back whole, the ones before it stay undone.",
        hint=f"Run `migrate rollback run --to {point.name}` again to finish it: it continues after them.",
        exit_code=130,  # 128 + SIGINT, what shells expect
    )


def compare(url: URL, point: CutoverPoint) -> tuple[str, ...]:
    """Model tables whose content hash differs from the point's."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:  # committed: the hashes computed here are kept (hashcache)
            now = table_hashes(conn)
    finally:
        engine.dispose()
    return tuple(t.name for t in MODEL_TABLES if point.hashes.get(t.name) != now[t.name])


def _finish(url: URL, run_id: int, status: str, summary: dict) -> None:
    """Close the run row. Called from `finally`: on a target that is gone it gives up quietly,
    so the error that ended the rollback is the one reported (its row just stays `running`)."""
    try:
        conn = connect(url)
    except Exception:  # noqa: BLE001
        return
    try:
        conn.begin()
        conn.execute(
            "UPDATE migrate_rollback_run SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
            (conn.ts(utcnow()), status, json.dumps(summary, sort_keys=True), run_id),
        )
        conn.commit()
    except Exception:  # noqa: BLE001
        conn.rollback()
    finally:
        conn.close()


def rollback(
    target: URL,
    to: str,
    *,
    operator: str = "unknown",
    command: str = "migrate rollback run",
    chunk_size: int = 1_000,
    progress: Progress = NO_PROGRESS,
    faults: Faults | None = None,
) -> RollbackResult:
    """Return the target to cutover point `to` and say whether every table's hash matches."""
    from migrate.rollback.readiness import blocking_references

    started = time.monotonic()
    lease = Lease(target, operator, command)
    lease.acquire()
    try:
        engine = make_engine(target)
        try:
            point = find_point(engine, to)
        finally:
            engine.dispose()
        blocked = blocking_references(target, point)
        if blocked:
            raise CheckFailed(
                "rows the toolkit did not write refer to rows this rollback would delete: "
                + "; ".join(b.describe() for b in blocked[:5])
                + (f" (and {len(blocked) - 5} more)" if len(blocked) > 5 else "")
                + ". Nothing was rolled back.",
                hint="Remove or re-point those rows, then roll back; `migrate rollback readiness` lists them.",
            )
        conn = connect(target)
        try:
            run_id = _start(conn, point, operator, command)
        finally:
            conn.close()
        status, summary = "failed", {}
        try:
            undone, chunks, rows, kept = replay(
                target, point, run_id, lease, chunk_size, faults or Faults(), progress
            )
            differs = compare(target, point)
            status = "completed" if not differs else "mismatch"
            summary = {
                "undone": undone,
                "rows": rows,
                "differs": list(differs),
                "kept": [k.to_dict() for k in kept],
            }
        finally:
            _finish(target, run_id, status, summary)
    finally:
        lease.release()
    result = RollbackResult(
        run_id,
        point.name,
        mask_url(target),
        undone,
        rows,
        chunks,
        time.monotonic() - started,
        differs,
        tuple(kept),
    )
    _audit(target, operator, result)
    return result


def _audit(url: URL, operator: str, result: RollbackResult) -> None:
    engine = make_engine(url)
    try:
        details = {k: v for k, v in result.to_dict().items() if k not in ("target", "seconds")}
        audit.record(engine, operator, "rollback run", details)
    finally:
        engine.dispose()
