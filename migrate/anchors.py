"""Anchors for the audit chain: what a hash chain alone cannot catch.

A chain verifies link by link, so deleting every entry (and the head), or cutting the tail
and rewriting the head to match, leaves something that still "verifies". Two outside facts
catch it: anchors (the chain's length and head recorded with each cutover point, signature
and evidence pack: a chain shorter than an anchor, or a different entry at its position, was
cut or rewritten) and the toolkit's own records (finished load and rollback runs, cutover
points and signatures each have their audit entry: one without was erased from the log).
"""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import Connection, insert, select

from migrate.model import (
    audit_anchor,
    audit_head,
    audit_log,
    cutover_point,
    load_run,
    rollback_run,
    signature,
    utcnow,
)

START_POINT = "start"  # recorded inside the first load: the load's own entry accounts for it


def anchor(conn: Connection, kind: str, ref: str) -> None:
    """Record where the chain stands now, in the caller's transaction (after its audit entry)."""
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    seq, digest = (head.seq, head.hash) if head else (0, "0" * 64)
    conn.execute(insert(audit_anchor).values(kind=kind, ref=ref[:200], at=utcnow(), seq=seq, hash=digest))


def anchor_problem(conn: Connection, hashes: dict[int, str]) -> str | None:
    """The first anchor the chain (`hashes`: seq -> hash, already verified link by link) breaks."""
    for a in conn.execute(select(audit_anchor).order_by(audit_anchor.c.seq.desc(), audit_anchor.c.id)):
        if a.seq == 0:
            continue
        where = f"the {a.kind} anchor {a.ref!r} ({a.at:%Y-%m-%d %H:%M} UTC)"
        if a.seq > len(hashes):
            return f"the log has {len(hashes)} entries, but {where} recorded {a.seq} (entries were deleted)"
        if hashes.get(a.seq) != a.hash:
            return f"entry {a.seq} is not the one {where} recorded (the log was rewritten)"
    return None


def unlogged_problem(conn: Connection, details: list[tuple[str, str]]) -> str | None:
    """The first toolkit record without its audit entry (`details`: (command, details JSON))."""
    parsed = [(command, _json(text)) for command, text in details]
    logged_runs = {d.get("run_id") for c, d in parsed if c == "load"}
    logged_rollbacks = {d.get("run_id") for c, d in parsed if c == "rollback run"}
    logged_points = Counter(d.get("point") for c, d in parsed if "point" in d and c != "rollback run")
    logged_signatures = {d.get("signature_id") for c, d in parsed if c == "sign"}
    finished = load_run.c.status != "running"  # a run killed mid-way never wrote its entry
    for (run_id,) in conn.execute(select(load_run.c.id).where(finished).order_by(load_run.c.id)):
        if run_id not in logged_runs:
            return f"load run {run_id} has no audit entry (entries were deleted)"
    done = rollback_run.c.status.in_(("completed", "mismatch"))  # a failed rollback raised before its entry
    for (run_id,) in conn.execute(select(rollback_run.c.id).where(done).order_by(rollback_run.c.id)):
        if run_id not in logged_rollbacks:
            return f"rollback run {run_id} has no audit entry (entries were deleted)"
    points = Counter(name for (name,) in conn.execute(select(cutover_point.c.name)) if name != START_POINT)
    for name, count in sorted(points.items()):
        if logged_points[name] < count:
            return f"cutover point {name!r} has no audit entry (entries were deleted)"
    for sig_id, signer in conn.execute(select(signature.c.id, signature.c.signer).order_by(signature.c.id)):
        if sig_id not in logged_signatures:
            return f"signature {sig_id} by {signer} has no audit entry (entries were deleted)"
    return None


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


AUDIT_TABLES = (audit_log, audit_head, audit_anchor)
