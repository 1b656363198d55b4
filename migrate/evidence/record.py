"""The canonical record of a phase's evidence: what `migrate sign` signs.

It pins everything the phase's result follows from and consists of: the project files used
(hashes), the sources' fingerprints, the row accounting per entity, and the content hash of
every table the phase loaded. It holds no times and no audit position, so the same state
gives the same bytes: a signature stays valid exactly as long as the evidence is unchanged.
Serialised as canonical JSON (sorted keys, no spaces, UTF-8, one newline).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from migrate.db import make_engine
from migrate.load import hashcache
from migrate.model import ENTITIES
from migrate.project import PLAN_FILE, PROJECT_FILE, PhaseSpec, Project
from migrate.store import WorkStore

FORMAT = "migrate-evidence/1"


def canonical(data: dict) -> bytes:
    return (json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """A file's SHA-256, read in blocks (a rejects workbook may be large)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass(frozen=True)
class Evidence:
    record: dict
    data: bytes  # the canonical bytes, as signed

    @property
    def sha256(self) -> str:
        return sha256(self.data)


def used_files(project: Project, phase: PhaseSpec) -> list[Path]:
    """The project files a phase's result follows from: declarations, its mappings, every value
    map (mappings name them freely), its reconcile rules and its rollback plan."""
    root = project.root
    files = [root / PROJECT_FILE, root / PLAN_FILE]
    for entity in phase.entities:
        files += [root / "mappings" / f"{entity}.yaml", root / "reconcile" / f"{entity}.yaml"]
    values = root / "mappings" / "values"
    files += sorted(values.rglob("*")) if values.is_dir() else []
    files.append(root / "rollback" / f"{phase.name}.yaml")
    return [f for f in files if f.is_file()]


def file_hashes(project: Project, phase: PhaseSpec) -> dict[str, str]:
    return {f.relative_to(project.root).as_posix(): file_sha256(f) for f in used_files(project, phase)}


def source_fingerprints(project: Project, phase: PhaseSpec, store: WorkStore) -> dict[str, dict | None]:
    """Each source of the phase as last extracted (None: never extracted)."""
    from migrate.extract import sources_for_phase
    from migrate.extract.staging import last_ok_run

    out: dict[str, dict | None] = {}
    for name in sources_for_phase(project, phase.name):
        run = last_ok_run(store, name)
        keep = ("kind", "fingerprint", "spec_hash", "rows")
        out[name] = {k: run[k] for k in keep} if run else None
    return out


def accounting(store: WorkStore, entities: tuple[str, ...]) -> dict[str, dict | None]:
    """map's latest counts per entity: source rows = mapped + rejected + filtered."""
    out: dict[str, dict | None] = {e: None for e in entities}
    if not store.has_table("map_runs"):
        return out
    query = text(
        'SELECT "source_rows", "mapped", "rejected", "filtered" FROM "map_runs" '
        'WHERE "entity" = :e ORDER BY "run_at" DESC, "_row_id" DESC LIMIT 1'
    )
    with store.engine.connect() as c:
        for entity in entities:
            row = c.execute(query, {"e": entity}).first()
            if row is not None:
                out[entity] = dict(
                    zip(("source_rows", "mapped", "rejected", "filtered"), map(int, row), strict=True)
                )
    return out


def table_hashes(engine: Engine, entities: tuple[str, ...]) -> dict[str, str]:
    """The phase's tables' content hashes; committed, so those computed are kept (hashcache)."""
    with engine.begin() as conn:
        return hashcache.table_hashes(conn, [ENTITIES[e].table for e in entities])


def phase_evidence(project: Project, name: str) -> Evidence:
    """The phase's evidence as it stands now in the project, the work store and the target."""
    phase = project.plan.phase(name)
    store = WorkStore(project.staging_url)
    engine = make_engine(project.target_url)
    try:
        record = {
            "format": FORMAT,
            "project": project.spec.name,
            "phase": phase.name,
            "entities": list(phase.entities),
            "project_files": file_hashes(project, phase),
            "sources": source_fingerprints(project, phase, store),
            "accounting": accounting(store, phase.entities),
            "tables": table_hashes(engine, phase.entities),
        }
    finally:
        store.dispose()
        engine.dispose()
    return Evidence(record, canonical(record))
