"""`rollback readiness` and `rollback rehearse`: will a rollback to a point be exact?

Not ready when (1) rows the rollback keeps (rows the toolkit did not write, or wrote before
the point and someone changed since) refer to rows it would delete — named with table, id,
natural key and column; or (2) a rehearsal — the real replay inside one transaction that
is then rolled back — ends with a table whose content hash is not the point's: something
other than the toolkit changed it since (an edited or deleted row, a foreign row added);
or (3) the rehearsal met rows in a load's inserted id range that the load did not write
as they are now (a foreign row with a reused id, a hand edit), which a rollback keeps:
each named with table, id and natural key (`foreign`).
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
from migrate.load.written import register
from migrate.model import ENTITIES, MODEL_TABLES
from migrate.rollback.foreign import KeptRow, natural_key_sql
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


def _ranges(conn: Connection, seq: int, entity: str, ops: str) -> list[tuple[int, int]]:
    """Merged id ranges of `entity`'s ledger entries after `seq` with op in `ops` (SQL list)."""
    rows = conn.execute(
        text(
            f"SELECT id_lo, id_hi FROM migrate_load_ledger WHERE seq > :seq AND entity = :e AND op IN ({ops}) "
            "ORDER BY id_lo"
        ),
        {"seq": seq, "e": entity},
    ).all()
    merged: list[tuple[int, int]] = []
    for lo, hi in rows:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _temp_ranges(conn: Connection, name: str, ranges: list[tuple[int, int]]) -> None:
    conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    conn.execute(text(f"CREATE TEMP TABLE {name} (lo BIGINT PRIMARY KEY, hi BIGINT NOT NULL)"))
    if ranges:
        conn.execute(
            text(f"INSERT INTO {name} (lo, hi) VALUES (:lo, :hi)"), [{"lo": a, "hi": b} for a, b in ranges]
        )


def _covering(ranges: str, value: str) -> str:
    """The upper end of the (disjoint, merged) range starting at or below `value`, or -1:
    `value` lies in a range iff it is at most this. One index probe per row."""
    return f"COALESCE((SELECT r.hi FROM {ranges} r WHERE r.lo <= {value} ORDER BY r.lo DESC LIMIT 1), -1)"


def _blockers_of(conn: Connection, child: str, ref, seq: int, limit: int) -> list[Blocker]:
    """Child rows whose reference falls in the parent's deleted ranges, kept by the rollback
    (not inserted after the point, not restored from a before-image). The ranges go to temp
    tables first: a scan of a large child then meets a handful of ranges, not the ledger."""
    _temp_ranges(conn, "_rb_deleted", _ranges(conn, seq, ref.entity, "'insert'"))
    _temp_ranges(conn, "_rb_undone", _ranges(conn, seq, child, "'insert', 'update'"))
    spec = ENTITIES[child]
    exprs, joins = natural_key_sql(child)
    fk = q(ref.fk_column)
    rows = conn.execute(
        text(
            f"SELECT c.id, c.{fk}, EXISTS (SELECT 1 FROM migrate_load_ledger o WHERE o.entity = :child "
            f"AND o.op = 'insert' AND c.id BETWEEN o.id_lo AND o.id_hi), {', '.join(exprs)} "
            f"FROM {q(spec.table.name)} c {joins} "
            f"WHERE c.{fk} <= {_covering('_rb_deleted', f'c.{fk}')} AND c.id > {_covering('_rb_undone', 'c.id')} "
            f"ORDER BY c.id LIMIT {int(limit)}"
        ),
        {"child": child},
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
            inserted = {
                r[0]
                for r in conn.execute(
                    text("SELECT DISTINCT entity FROM migrate_load_ledger WHERE seq > :s AND op = 'insert'"),
                    {"s": point.ledger_seq},
                )
            }
            for child, spec in ENTITIES.items():
                for ref in spec.references:
                    if ref.entity in inserted:  # only rows the rollback deletes can be referred to
                        out += _blockers_of(conn, child, ref, point.ledger_seq, limit)
            conn.rollback()  # the temp tables go with it
    finally:
        engine.dispose()
    return out


class _Borrowed(TargetConnection):
    """The DBAPI connection under a SQLAlchemy connection, so the replay and the hashes
    share one transaction (the rehearsal's), which is then rolled back."""

    def __init__(self, raw, dialect: str) -> None:
        self.raw, self.dialect = raw, dialect
        if dialect == "sqlite":
            register(raw)  # the insert undo compares digests

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
    kept: tuple[KeptRow, ...] = ()  # rows the replay would keep in undone insert ranges

    @property
    def would_match(self) -> bool:
        return not self.differs and self.error is None and not self.kept

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
            "kept": [k.to_dict() for k in self.kept],
        }


def _rehearse_on(
    engine: Engine, point: CutoverPoint
) -> tuple[int, dict, tuple[str, ...], str | None, tuple[KeptRow, ...]]:
    from migrate.rollback.engine import ROW_WORD

    with engine.connect() as conn:
        conn.begin()
        try:
            borrowed = _Borrowed(conn.connection.dbapi_connection, engine.dialect.name)
            if engine.dialect.name == "postgresql":  # content digests render timestamps as the load did
                borrowed.execute("SET LOCAL TIME ZONE 'UTC'")
            kept: list[KeptRow] = []
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
                    kept += undo(borrowed, group)
            except Exception as exc:  # noqa: BLE001 - a refused undo is the rehearsal's finding
                return len(entries), rows, (), redact(str(exc)).strip()[:300], tuple(kept)
            now = table_hashes(conn)
            differs = tuple(t.name for t in MODEL_TABLES if point.hashes.get(t.name) != now[t.name])
            return len(entries), rows, differs, None, tuple(kept)
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
            entries, rows, differs, error, kept = _rehearse_on(engine, point)
        finally:
            engine.dispose()
    finally:
        lease.release()
    return RehearsalResult(
        point.name, mask_url(url), entries, rows, differs, time.monotonic() - started, error, kept
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
        problems += [k.describe() + " by a rollback" for k in rehearsal.kept]
        if rehearsal.error:
            problems.append(f"the rehearsal could not undo the ledger: {rehearsal.error}")
        for table in rehearsal.differs:
            problems.append(
                f"{table} would not return to the point's content: rows were changed, deleted or added "
                "behind the toolkit's back since"
            )
    return ReadinessReport(point.name, mask_url(url), blockers, rehearsal, tuple(problems))
