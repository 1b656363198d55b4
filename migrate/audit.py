"""The tamper-evident audit log (docs/guarantees.md#tamper-evident-audit).

Every state-changing command appends one entry in the target: who, when, what, with
redacted details. Entry n's hash covers its content and entry n-1's hash, so editing,
deleting or reordering an entry breaks the chain at that entry; the head row catches a
deleted tail. What a chain without an outside anchor cannot catch is someone who rewrites
every hash from the tampered entry on: `verify` prints the head hash so a sign-off can
record it, and `verify --expect-head` checks it later.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, inspect, select, update

from migrate.errors import CheckFailed
from migrate.model import audit_head, audit_log, utcnow  # noqa: F401 (audit_head re-exported for tests)
from migrate.urls import redact

GENESIS = "0" * 64
# Test-only switch proving the T10 tests can fail: a chain whose hashes skip the previous hash.
_SEEDED_BUG = os.environ.get("MIGRATE_SEEDED_BUG", "") == "audit_skips_prev_hash"


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    operator: str
    command: str
    details: dict
    prev_hash: str
    hash: str

    def to_dict(self) -> dict:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "operator": self.operator,
            "command": self.command,
            "details": self.details,
            "what": describe(self.command, self.details),
            "hash": self.hash,
        }


def describe(command: str, details: dict) -> str:
    """What an entry did, in one line: phase, point, run, entities and their counts."""
    parts = [
        f"{k} {details[k]}" for k in ("phase", "point", "run_id", "status") if details.get(k) is not None
    ]
    if command == "sign":
        parts.append(f"{details.get('signer')} signed as {details.get('role')}: {details.get('meaning')}")
    for key in ("changed", "entities"):
        value = details.get(key)
        if isinstance(value, dict) and value:
            parts.append(f"{key}: " + ", ".join(f"{e} {_counts(c)}" for e, c in value.items()))
    for key in ("rows", "undone", "ok", "exact", "sources", "from", "to", "evidence"):
        if details.get(key) not in (None, "", [], {}):
            parts.append(f"{key} {_counts(details[key])}")
    text = "; ".join(parts)
    return text if len(text) <= 240 else text[:239] + "…"


def _counts(value) -> str:
    if isinstance(value, list):
        return (
            "+{} ~{} -{}".format(*value)
            if len(value) == 3 and all(isinstance(v, int) for v in value)
            else (", ".join(map(str, value)))
        )
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
        }


def entry_hash(seq: int, at: datetime, operator: str, command: str, details: str, prev_hash: str) -> str:
    content = json.dumps(
        [seq, at.isoformat(timespec="microseconds"), operator, command, details], ensure_ascii=False
    )
    chained = content if _SEEDED_BUG else prev_hash + content
    return hashlib.sha256(chained.encode("utf-8")).hexdigest()


def append(connection: Connection, operator: str, command: str, details: dict | None = None) -> AuditEntry:
    """Append an entry inside the caller's transaction, so it commits with the change it records."""
    text = redact(json.dumps(details or {}, ensure_ascii=False, sort_keys=True, default=str))
    # Take the head first: it serialises appenders before anyone reads the last hash.
    moved = connection.execute(
        update(audit_head).where(audit_head.c.id == 1).values(seq=audit_head.c.seq + 1)
    )
    if moved.rowcount == 0:
        connection.execute(insert(audit_head).values(id=1, seq=1, hash=GENESIS))
    seq = connection.execute(select(audit_head.c.seq).where(audit_head.c.id == 1)).scalar_one()
    prev = connection.execute(select(audit_log.c.hash).where(audit_log.c.seq == seq - 1)).scalar()
    prev_hash = prev or GENESIS
    at = utcnow()
    digest = entry_hash(seq, at, operator, command, text, prev_hash)
    connection.execute(
        insert(audit_log).values(
            seq=seq, at=at, operator=operator, command=command, details=text, prev_hash=prev_hash, hash=digest
        )
    )
    connection.execute(update(audit_head).where(audit_head.c.id == 1).values(hash=digest))
    return AuditEntry(seq, at, operator, command, json.loads(text), prev_hash, digest)


def record(engine: Engine, operator: str, command: str, details: dict | None = None) -> AuditEntry:
    """Append an entry in a transaction of its own (for commands whose change is already committed)."""
    with engine.begin() as connection:
        return append(connection, operator, command, details)


def record_if_ready(url, operator: str, command: str, details: dict | None = None) -> AuditEntry | None:
    """Record a command that changed the work store or the schema, when the target has an
    audit log (its schema at or past the audit revision); before `db upgrade` there is none."""
    with _log_engine(url) as engine:
        if engine is None or not inspect(engine).has_table(audit_log.name):
            return None
        return record(engine, operator, command, details)


def require_reachable(url) -> None:
    """Before a command changes the work store: its audit entry will need the target, so a
    target that cannot be reached is named now, before the work, not after it."""
    with _log_engine(url) as engine:
        if engine is not None:
            engine.connect().close()


@contextmanager
def _log_engine(url) -> Iterator[Engine | None]:
    """An engine on the target whose connection faults are named (None: no target file yet,
    and connecting would create an empty one)."""
    from pathlib import Path

    from migrate.db import database_faults, make_engine
    from migrate.urls import parse_url

    url = parse_url(url) if isinstance(url, str) else url
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        yield None
        return
    engine = make_engine(url)
    try:
        with database_faults(url):
            yield engine
    finally:
        engine.dispose()


def entries(engine: Engine, *, last: int | None = None) -> list[AuditEntry]:
    query = select(audit_log).order_by(audit_log.c.seq.desc() if last else audit_log.c.seq)
    if last:
        query = query.limit(last)
    with engine.connect() as c:
        rows = c.execute(query).all()
    out = [
        AuditEntry(r.seq, r.at, r.operator, r.command, json.loads(r.details), r.prev_hash, r.hash)
        for r in rows
    ]
    return sorted(out, key=lambda e: e.seq)


def verify(engine: Engine, *, expect_head: str | None = None) -> VerifyResult:
    """Walk the chain; the first entry that does not hold names where the log was tampered with.
    Then the anchors and the toolkit's own records (migrate.anchors): a chain emptied, or cut
    with its head rewritten, still links up but is shorter than what was recorded elsewhere."""
    from migrate import anchors

    present = set(inspect(engine).get_table_names())
    missing = [t.name for t in anchors.AUDIT_TABLES if t.name not in present]
    if missing:
        return VerifyResult(
            False,
            0,
            GENESIS,
            None,
            f"the audit tables are missing ({', '.join(missing)}): the log was dropped",
        )
    with engine.connect() as c:
        head = c.execute(select(audit_head.c.seq, audit_head.c.hash)).first()
        rows = c.execute(select(audit_log).order_by(audit_log.c.seq)).all()
        result = verify_rows(rows, (head.seq, head.hash) if head else None, expect_head=expect_head)
        if not result.ok:
            return result
        problem = anchors.anchor_problem(c, {r.seq: r.hash for r in rows}) or anchors.unlogged_problem(
            c, [(r.command, r.details) for r in rows]
        )
    if problem:
        return VerifyResult(False, result.entries, result.head_hash, None, problem)
    return result


def verify_rows(rows, head: tuple[int, str] | None, *, expect_head: str | None = None) -> VerifyResult:
    """Check a chain of entries (objects with the audit_log columns, `details` as stored text)
    against its head (seq, hash); also used on the copy of the log inside an evidence pack."""
    expected_prev, count = GENESIS, 0
    head_seq, head_hash = head if head else (0, GENESIS)
    for position, row in enumerate(rows, start=1):
        problem = None
        if row.seq != position:
            problem = f"entry {position} is missing (the next entry has sequence {row.seq})"
        elif not _SEEDED_BUG and row.prev_hash != expected_prev:
            problem = "its link to the previous entry is broken (entries deleted, swapped or edited)"
        elif row.hash != entry_hash(row.seq, row.at, row.operator, row.command, row.details, row.prev_hash):
            problem = "its content does not match its hash (the entry was edited)"
        if problem:
            return VerifyResult(False, len(rows), head_hash, position, problem)
        expected_prev, count = row.hash, position
    if (head_seq, head_hash) != (count, expected_prev):
        return VerifyResult(
            False,
            count,
            head_hash,
            count + 1,
            f"the log ends at entry {count} but its head says {head_seq} (entries at the end were deleted)"
            if head_seq != count
            else "the head hash does not match the last entry",
        )
    if expect_head is not None and expect_head != head_hash:
        return VerifyResult(
            False, count, head_hash, None, f"the head hash is {head_hash}, not the expected {expect_head}"
        )
    return VerifyResult(True, count, head_hash)


def require_intact(engine: Engine) -> VerifyResult:
    result = verify(engine)
    if not result.ok:
        raise CheckFailed(f"the audit log is not intact at entry {result.first_bad_seq}: {result.problem}.")
    return result
