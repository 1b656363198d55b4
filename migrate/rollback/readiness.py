"""`rollback readiness` and `rollback rehearse`: will a rollback to a point be exact?

Not ready when (1) rows the rollback keeps (rows the toolkit did not write, or wrote before
the point and someone changed since) refer to rows it would delete — named with table, id,
natural key and column; or (2) a rehearsal — the real replay inside one transaction that
is then rolled back — ends with a table whose content hash is not the point's: something
other than the toolkit changed it since (an edited or deleted row, a foreign row added).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from migrate.db import make_engine
from migrate.errors import TargetError
from migrate.load.connection import TargetConnection
from migrate.load.lease import Lease
from migrate.load.sql import q
from migrate.model import ENTITIES, MODEL_TABLES
from migrate.rollback.points import CutoverPoint, find_point, list_points, table_hashes
from migrate.rollback.replay import Entry, groups, undo
from migrate.urls import mask_url, redact


@dataclass(frozen=True)
class Blocker:
    """A row the rollback keeps that refers to a row it deletes."""

    table: str
    id: int
    natural_key: dict[str, object]
    column: str
    refers_to: str
    refers_to_id: int
    written_by_toolkit: bool

    def describe(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.natural_key.items())
        who = "changed behind the toolkit's back" if self.written_by_toolkit else "not written by the toolkit"
        return (
            f"{self.table} id {self.id} ({key}, {who}) column {self.column} refers to "
            f"{self.refers_to} id {self.refers_to_id}"
        )

    def to_dict(self) -> dict:
        return {**self.__dict__, "natural_key": {k: str(v) for k, v in self.natural_key.items()}}


def _natural_key(child: str) -> tuple[list[str], str]:
    """(select expressions, joins) naming a row of `child` by its natural key."""
    spec = ENTITIES[child]
    by_column = {r.column: r for r in spec.references}
    exprs, joins = [], []
    for i, key in enumerate(spec.natural_key):
        ref = by_column.get(key)
        if ref is None:
            exprs.append(f"c.{q(key)}")
            continue
        parent = ENTITIES[ref.entity]
        joins.append(f"LEFT JOIN {q(parent.table.name)} nk{i} ON nk{i}.id = c.{q(ref.fk_column)}")
        exprs.append(f"nk{i}.{q(parent.key_column)}")
    return exprs, " ".join(joins)


def _blockers_of(conn: Connection, child: str, ref, seq: int, limit: int) -> list[Blocker]:
    spec = ENTITIES[child]
    exprs, joins = _natural_key(child)
    fk = q(ref.fk_column)
    rows = conn.execute(
        text(
            f"SELECT c.id, c.{fk}, EXISTS (SELECT 1 FROM migrate_load_ledger o WHERE o.entity = :child "
            f"AND o.op = 'insert' AND c.id BETWEEN o.id_lo AND o.id_hi), {', '.join(exprs)} "
            f"FROM {q(spec.table.name)} c {joins} "
            "WHERE EXISTS (SELECT 1 FROM migrate_load_ledger l WHERE l.seq > :seq AND l.entity = :parent "
            f"AND l.op = 'insert' AND c.{fk} BETWEEN l.id_lo AND l.id_hi) "
            "AND NOT EXISTS (SELECT 1 FROM migrate_load_ledger m WHERE m.seq > :seq AND m.entity = :child "
            "AND m.op IN ('insert', 'update') AND c.id BETWEEN m.id_lo AND m.id_hi) "
            f"ORDER BY c.id LIMIT {int(limit)}"
        ),
        {"seq": seq, "parent": ref.entity, "child": child},
    ).all()
    return [
        Blocker(
            spec.table.name,
            r[0],
            dict(zip(spec.natural_key, r[3:], strict=True)),
            ref.fk_column,
            ENTITIES[ref.entity].table.name,
            r[1],
            bool(r[2]),
        )
        for r in rows
    ]


def blocking_references(url: URL, point: CutoverPoint, limit: int = 100) -> list[Blocker]:
    """Rows the rollback keeps that refer to rows it deletes (at most `limit` per reference)."""
    engine = make_engine(url)
    out: list[Blocker] = []
    try:
        with engine.connect() as conn:
            for child, spec in ENTITIES.items():
                for ref in spec.references:
                    out += _blockers_of(conn, child, ref, point.ledger_seq, limit)
    finally:
        engine.dispose()
    return out


class _Borrowed(TargetConnection):
    """The DBAPI connection under a SQLAlchemy connection, so the replay and the hashes
    share one transaction (the rehearsal's), which is then rolled back."""

    def __init__(self, raw, dialect: str) -> None:
        self.raw, self.dialect = raw, dialect

    def begin(self) -> None:
        pass

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.dialect == "postgresql" else text


@dataclass(frozen=True)
class RehearsalResult:
    point: str
    target: str
    entries: int
    rows: dict[str, dict[str, int]]
    differs: tuple[str, ...]
    seconds: float
    error: str | None = None

    @property
    def would_match(self) -> bool:
        return not self.differs and self.error is None

    def to_dict(self) -> dict:
        return {
            "ok": self.would_match,
            "point": self.point,
            "target": self.target,
            "entries": self.entries,
            "rows": self.rows,
            "would_match": self.would_match,
            "differs": list(self.differs),
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


def _rehearse_on(engine: Engine, point: CutoverPoint) -> tuple[int, dict, tuple[str, ...], str | None]:
    from migrate.rollback.engine import ROW_WORD

    with engine.connect() as conn:
        conn.begin()
        try:
            borrowed = _Borrowed(conn.connection.dbapi_connection, engine.dialect.name)
            entries = [
                Entry(*r)
                for r in borrowed.execute(
                    "SELECT seq, entity, op, id_lo, id_hi FROM migrate_load_ledger WHERE seq > ? ORDER BY seq DESC",
                    (point.ledger_seq,),
                ).fetchall()
            ]
            rows: dict[str, dict[str, int]] = {}
            for e in entries:
                counts = rows.setdefault(e.entity, {"deleted": 0, "restored": 0, "reinserted": 0})
                counts[ROW_WORD[e.op]] += e.rows
            try:
                for group in groups(entries):
                    undo(borrowed, group)
            except Exception as exc:  # noqa: BLE001 - a refused undo is the rehearsal's finding
                return len(entries), rows, (), redact(str(exc)).strip()[:300]
            now = table_hashes(conn)
            differs = tuple(t.name for t in MODEL_TABLES if point.hashes.get(t.name) != now[t.name])
            return len(entries), rows, differs, None
        finally:
            conn.rollback()  # the rehearsal never changes the target


def rehearse(
    url: URL, to: str, *, operator: str = "unknown", command: str = "migrate rollback rehearse"
) -> RehearsalResult:
    """Run the real replay in a transaction that is rolled back; would the hashes match?"""
    started = time.monotonic()
    lease = Lease(url, operator, command)  # no load may move the ledger under the rehearsal
    lease.acquire()
    try:
        engine = make_engine(url)
        try:
            point = find_point(engine, to)
            entries, rows, differs, error = _rehearse_on(engine, point)
        finally:
            engine.dispose()
    finally:
        lease.release()
    return RehearsalResult(
        point.name, mask_url(url), entries, rows, differs, time.monotonic() - started, error
    )


@dataclass(frozen=True)
class ReadinessReport:
    point: str
    target: str
    blockers: tuple[Blocker, ...]
    rehearsal: RehearsalResult | None
    problems: tuple[str, ...] = field(default=())

    @property
    def ready(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "ok": self.ready,
            "ready": self.ready,
            "point": self.point,
            "target": self.target,
            "problems": list(self.problems),
            "blockers": [b.to_dict() for b in self.blockers],
            "rehearsal": self.rehearsal.to_dict() if self.rehearsal else None,
        }


def default_point(engine: Engine) -> str:
    """The latest live point behind the target's present state (else the latest point)."""
    with engine.connect() as conn:
        last = conn.execute(text("SELECT MAX(seq) FROM migrate_load_ledger")).scalar() or 0
    live = [p for p in list_points(engine) if p.superseded_by is None]
    if not live:
        raise TargetError(
            f"the target {mask_url(engine.url)} has no cutover point yet.",
            hint="The first load records the start point; `migrate rollback mark NAME` records one.",
        )
    behind = [p for p in live if p.ledger_seq < last]
    return (behind or live)[-1].name


def readiness(url: URL, to: str | None = None, *, operator: str = "unknown") -> ReadinessReport:
    """Say whether a rollback to `to` would be exact, naming what stands in its way."""
    engine = make_engine(url)
    try:
        point = find_point(engine, to or default_point(engine))
    finally:
        engine.dispose()
    blockers = tuple(blocking_references(url, point))
    problems = [b.describe() for b in blockers]
    rehearsal = None
    if not blockers:
        rehearsal = rehearse(url, point.name, operator=operator, command="migrate rollback readiness")
        if rehearsal.error:
            problems.append(f"the rehearsal could not undo the ledger: {rehearsal.error}")
        for table in rehearsal.differs:
            problems.append(
                f"{table} would not return to the point's content: rows were changed, deleted or added "
                "behind the toolkit's back since"
            )
    return ReadinessReport(point.name, mask_url(url), blockers, rehearsal, tuple(problems))
