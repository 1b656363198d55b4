"""Cutover points: a named ledger position and the content hash of every model table there.

A point is recorded under the one-writer lease, so no load moves the ledger between
reading its last seq and hashing the tables. The start point (`START`, "C0") is recorded
by the first load into a target, before it writes anything, with the hashes of whatever
the target held: rolling back to it undoes everything the toolkit ever loaded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, inspect, select
from sqlalchemy.engine import URL

from migrate import anchors, audit
from migrate.db import make_engine
from migrate.errors import ConfigError, did_you_mean
from migrate.load import hashcache
from migrate.load.lease import Lease
from migrate.model import MODEL_TABLES, cutover_point, load_ledger, utcnow
from migrate.yamlio import excerpt

START = "start"
POINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")


@dataclass(frozen=True)
class CutoverPoint:
    id: int
    name: str
    phase: str | None
    created_at: datetime
    operator: str
    ledger_seq: int
    hashes: dict[str, str]
    superseded_by: int | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "phase": self.phase,
            "created_at": self.created_at.isoformat(),
            "operator": self.operator,
            "ledger_seq": self.ledger_seq,
            "superseded_by": self.superseded_by,
            "hashes": self.hashes,
        }


def table_hashes(conn: Connection) -> dict[str, str]:
    """Every model table's content hash, as `conn` sees it (its own transaction included); a
    PostgreSQL table nothing wrote since its last hash is not read again (`hashcache`)."""
    return hashcache.table_hashes(conn, MODEL_TABLES)


def _point(row) -> CutoverPoint:
    return CutoverPoint(
        row.id,
        row.name,
        row.phase,
        row.created_at,
        row.operator,
        row.ledger_seq,
        json.loads(row.hashes),
        row.superseded_by,
    )


def list_points(engine: Engine) -> list[CutoverPoint]:
    """Every point ever recorded, oldest first (superseded ones say by which rollback)."""
    with engine.connect() as c:
        rows = c.execute(select(cutover_point).order_by(cutover_point.c.id)).all()
    return [_point(r) for r in rows]


def find_point(engine: Engine, name: str) -> CutoverPoint:
    """The live point called `name`; a clear error naming the live points otherwise."""
    points = list_points(engine)
    live = [p for p in points if p.superseded_by is None]
    for point in reversed(live):
        if point.name == name:
            return point
    gone = [p for p in points if p.name == name]
    names = ", ".join(p.name for p in live) or "none"
    if gone:
        raise ConfigError(
            f"cutover point {name!r} was undone by rollback run {gone[-1].superseded_by}: the state it "
            f"recorded no longer has a way back. Live points: {names}.",
            hint="Record the point again once the target holds that state (`migrate rollback mark`).",
        )
    guess = did_you_mean(name, [p.name for p in live])
    raise ConfigError(f"there is no cutover point {excerpt(name)!r}{guess}; live points: {names}.")


def _insert(conn: Connection, name: str, phase: str | None, operator: str) -> CutoverPoint:
    seq = conn.execute(select(load_ledger.c.seq).order_by(load_ledger.c.seq.desc()).limit(1)).scalar() or 0
    hashes = table_hashes(conn)
    at = utcnow()
    point_id = conn.execute(
        cutover_point.insert().values(
            name=name,
            phase=phase,
            created_at=at,
            operator=operator,
            ledger_seq=seq,
            hashes=json.dumps(hashes),
        )
    ).inserted_primary_key[0]
    return CutoverPoint(point_id, name, phase, at, operator, seq, hashes)


def check_name(name: str) -> str:
    if not POINT_NAME.match(name):
        raise ConfigError(
            f"{name!r} is not a usable cutover point name: letters, digits, '_', '-', '.', up to 63 characters."
        )
    return name


def record_point(
    url: URL,
    name: str,
    *,
    phase: str | None = None,
    operator: str = "unknown",
    command: str = "",
    audit_command: str = "rollback mark",
) -> CutoverPoint:
    """Record the target's present state as point `name`, under the one-writer lease."""
    check_name(name)
    engine = make_engine(url)
    try:
        if any(p.name == name and p.superseded_by is None for p in list_points(engine)):
            raise ConfigError(f"cutover point {name!r} already exists; pick another name.")
        lease = Lease(url, operator, command or f"migrate rollback mark {name}")
        lease.acquire()
        try:
            with engine.begin() as conn:
                point = _insert(conn, name, phase, operator)
                details = {"point": name, "phase": phase, "ledger_seq": point.ledger_seq}
                audit.append(conn, operator, audit_command, details)
                anchors.anchor(conn, "point", name)  # the chain may never again be shorter than this
        finally:
            lease.release()
        return point
    finally:
        engine.dispose()


def refuse_while_written(url: URL, operator: str, command: str) -> None:
    """Refuse at once (within the lease's grace, under 2 s) while another run writes the
    target: take the one-writer lease and give it back. For commands that check a lot before
    they record a point, so a busy target is named first, not after the checks."""
    lease = Lease(url, operator, command)
    lease.acquire()
    lease.release()


def ensure_start_point(url: URL, operator: str) -> CutoverPoint | None:
    """Before a target's first load (its ledger empty, no start point yet), record the start
    point. The caller holds the lease. A target from before cutover points has none."""
    engine = make_engine(url)
    try:
        if not inspect(engine).has_table(cutover_point.name):
            return None
        with engine.begin() as conn:
            if conn.execute(select(load_ledger.c.seq).limit(1)).first() is not None:
                return None
            live = select(cutover_point.c.id).where(
                cutover_point.c.name == START, cutover_point.c.superseded_by.is_(None)
            )
            if conn.execute(live).first() is not None:
                return None
            return _insert(conn, START, None, operator)
    finally:
        engine.dispose()
