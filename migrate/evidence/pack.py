"""`migrate evidence PHASE_OR_POINT --out DIR|FILE.zip`: the pack an auditor receives.

```
manifest.json            SHA-256 of every other file; the phase, point and audit head; sealed
evidence.json            the canonical evidence record the signatures sign (sources' fingerprints,
                         project file hashes, row accounting, table hashes)
gates.json               every gate with its measured value and threshold; signatures present/missing
point.json               the cutover point: ledger position and every table's content hash
rejects/summary.json     rejects per entity and reason;  rejects/rejects.xlsx  every reject
reconcile/reconcile.json, reconcile.xlsx, traceability.json
signatures/              each statement (.json) and its SSHSIG (.json.sig); allowed_signers; people.json
audit/entries.jsonl      the audit log up to the point, as stored; audit/head.json its head
index.html               the same, for a person: one self-contained page
```

The target records the pack (an audit entry and an anchor), so a pack handed out fixes a
length under which the target's log can never be cut unnoticed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

from migrate import __version__, anchors, audit
from migrate.db import make_engine
from migrate.errors import ConfigError
from migrate.evidence.record import canonical, file_sha256, phase_evidence, sha256
from migrate.model import audit_anchor, audit_log
from migrate.project import Project
from migrate.rollback.points import CutoverPoint, list_points

PACK_FORMAT = "migrate-evidence-pack/1"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class PackResult:
    path: Path
    phase: str
    point: str | None
    files: int
    signatures: int
    audit_seq: int
    audit_head: str
    manifest_sha256: str

    def to_dict(self) -> dict:
        return {"ok": True, **{k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items()}}


def seal(manifest: dict) -> bytes:
    """The manifest as written: canonical JSON whose `check` is the hash of the rest, so any
    byte changed in it is found (the files it lists are checked against their hashes)."""
    body = {k: v for k, v in manifest.items() if k != "check"}
    return canonical(body | {"check": sha256(canonical(body))})


def _resolve(project: Project, engine: Engine, what: str) -> tuple[str, CutoverPoint | None]:
    live = {p.name: p for p in list_points(engine) if p.superseded_by is None}
    point = live.get(what)
    if point is not None:
        if point.phase is None:
            raise ConfigError(f"cutover point {what!r} was marked by hand and belongs to no phase.")
        return point.phase, point
    phase = project.plan.phase(what).name  # ConfigError naming the phases
    return phase, live.get(phase)


def _audit_rows(engine: Engine, point: CutoverPoint | None) -> list:
    """The log up to the point (its anchor), or all of it for a phase not yet approved."""
    with engine.connect() as c:
        limit = None
        if point is not None:
            limit = c.execute(
                select(func.max(audit_anchor.c.seq)).where(
                    audit_anchor.c.kind == "point", audit_anchor.c.ref == point.name
                )
            ).scalar()
        query = select(audit_log).order_by(audit_log.c.seq)
        if limit is not None:
            query = query.where(audit_log.c.seq <= limit)
        return c.execute(query).all()


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _json(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n"


def _write_audit(out: Path, rows: list) -> tuple[int, str]:
    lines = [
        json.dumps(
            {
                "seq": r.seq,
                "at": r.at.isoformat(timespec="microseconds"),
                "operator": r.operator,
                "command": r.command,
                "details": r.details,
                "prev_hash": r.prev_hash,
                "hash": r.hash,
            },
            ensure_ascii=False,
        )
        for r in rows
    ]
    head = (rows[-1].seq, rows[-1].hash) if rows else (0, audit.GENESIS)
    _write(out / "audit" / "entries.jsonl", "".join(line + "\n" for line in lines))
    _write(out / "audit" / "head.json", _json({"seq": head[0], "hash": head[1]}))
    return head


def _write_signatures(project: Project, engine: Engine, out: Path, evidence, rows: list) -> list[dict]:
    """The signatures over this evidence whose audit entries the pack holds (older ones signed
    evidence that is no longer the phase's), with the allowed signers."""
    from migrate.people import allowed_signers, load_people
    from migrate.signing import signatures

    logged = {json.loads(r.details).get("signature_id") for r in rows if r.command == "sign"}
    listed = []
    for s in signatures(engine, evidence.record["phase"]):
        if s.id not in logged or s.evidence_sha256 != evidence.sha256:
            continue
        stem = f"signatures/{s.id:04d}-{s.signer}-{s.role}-{s.meaning}.json"
        _write(out / stem, s.statement)
        _write(out / f"{stem}.sig", s.signature)
        listed.append({"id": s.id, "signer": s.signer, "statement": stem, "signature": f"{stem}.sig"})
    try:
        people = load_people(project)
    except ConfigError:
        if listed:
            raise
        return listed
    _write(out / "signatures" / "allowed_signers", allowed_signers(people))
    _write(out / "signatures" / "people.json", _json(people.spec.model_dump()))
    return listed


def _write_reports(project: Project, out: Path, phase: str) -> dict:
    """Rejects, reconcile and traceability of the phase; returns the gates and signatures."""
    from migrate import phase as phases
    from migrate import signoff
    from migrate.mapping.report import read_rejects, write_quarantine
    from migrate.reconcile import reconcile
    from migrate.reconcile.report import write_xlsx
    from migrate.store import WorkStore

    entities = project.plan.phase(phase).entities
    store = WorkStore(project.staging_url)
    try:
        frames = [(e, read_rejects(store, e)) for e in entities]
        (out / "rejects").mkdir(parents=True, exist_ok=True)
        write_quarantine(out / "rejects" / "rejects.xlsx", store, entities)
    finally:
        store.dispose()
    summary = {e: f.groupby("reason").size().to_dict() if not f.empty else {} for e, f in frames}
    _write(out / "rejects" / "summary.json", _json(summary))
    report = reconcile(project, phase=phase)
    _write(out / "reconcile" / "reconcile.json", _json(report.to_dict()))
    _write(out / "reconcile" / "traceability.json", _json(report.to_dict()["traceability"]))
    write_xlsx(report, out / "reconcile" / "reconcile.xlsx")
    gates, _ = phases.check_gates(project, phase, every=True, reconciled=report)
    signed = signoff.evaluate(project, phase)
    result = {"gates": [g.to_dict() for g in gates], "signatures": signed.to_dict()}
    _write(out / "gates.json", _json(result))
    return result


def _fill(project: Project, engine: Engine, out: Path, what: str) -> dict:
    """Every file of the pack into `out`; returns the manifest (without its files)."""
    from migrate.evidence.page import write_page

    phase, point = _resolve(project, engine, what)
    evidence = phase_evidence(project, phase)
    _write(out / "evidence.json", evidence.data)
    _write(out / "point.json", _json(point.to_dict() if point else None))
    gates = _write_reports(project, out, phase)
    rows = _audit_rows(engine, point)
    seq, head = _write_audit(out, rows)
    listed = _write_signatures(project, engine, out, evidence, rows)
    manifest = {
        "format": PACK_FORMAT,
        "project": project.spec.name,
        "phase": phase,
        "point": point.name if point else None,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "migrate": __version__,
        "evidence_sha256": evidence.sha256,
        "audit": {"seq": seq, "head": head},
        "signatures": listed,
    }
    write_page(out / "index.html", manifest, evidence.record, gates, point, rows)
    return manifest


def _record(engine: Engine, operator: str, manifest: dict, manifest_sha: str) -> None:
    """The pack in the target's log, anchored: the log can never again be shorter than this."""
    details = {k: manifest[k] for k in ("phase", "point")}
    details |= {"evidence": manifest_sha[:16], "audit_seq": manifest["audit"]["seq"]}
    with engine.begin() as conn:
        audit.append(conn, operator, "evidence", details)
        anchors.anchor(conn, "evidence", manifest_sha)


def build(project: Project, what: str, out: Path, *, operator: str = "unknown") -> PackResult:
    """Write the evidence pack of a phase or cutover point into folder `out`, or `out` as a .zip."""
    zipped = out.suffix.lower() == ".zip"
    if out.exists() and (zipped or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not empty; evidence packs are never overwritten.")
    engine = make_engine(project.target_url)
    try:
        with tempfile.TemporaryDirectory(prefix="migrate-evidence-") as tmp:
            folder = Path(tmp) / "pack"
            manifest = _fill(project, engine, folder, what)
            files = sorted(p for p in folder.rglob("*") if p.is_file())
            manifest["files"] = {p.relative_to(folder).as_posix(): file_sha256(p) for p in files}
            sealed = seal(manifest)
            _write(folder / MANIFEST, sealed)
            _place(folder, out, zipped)
        _record(engine, operator, manifest, sha256(sealed))
    finally:
        engine.dispose()
    return PackResult(
        out,
        manifest["phase"],
        manifest["point"],
        len(manifest["files"]) + 1,
        len(manifest["signatures"]),
        manifest["audit"]["seq"],
        manifest["audit"]["head"],
        sha256(sealed),
    )


def _place(folder: Path, out: Path, zipped: bool) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if not zipped:
        shutil.copytree(folder, out, dirs_exist_ok=True)
        return
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            z.write(path, path.relative_to(folder).as_posix())
