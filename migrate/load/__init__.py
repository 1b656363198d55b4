"""Load mapped rows into the target: checkpointed, exactly-once, resumable, one writer at a time.

    result = load(target_url, store_url, ["material", "process_parameter"], operator="li.wei")

See `engine` for the chunk loop, `lease` for the one-writer rule, `control` for the
tables resume and rollback read, and `hashing.content_hash` for the table hash that
reconcile and rollback compare.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from migrate import audit
from migrate.db import make_engine
from migrate.errors import ConfigError
from migrate.load.connection import connect
from migrate.load.control import finish_run, read_pass, start_run
from migrate.load.engine import EntityLoader, EntityResult, LoadContext, LoadInterrupted, stop_on_signals
from migrate.load.faults import Faults
from migrate.load.hashing import content_hash, input_fingerprint
from migrate.load.lease import Lease
from migrate.load.parallel import ParallelLoader, check_jobs
from migrate.model import ENTITIES, LOAD_ORDER, entity
from migrate.progress import NO_PROGRESS, Progress
from migrate.store import WorkStore, mapped_table, stored_fingerprint
from migrate.urls import mask_url, parse_url

__all__ = ["load", "LoadResult", "EntityResult", "LoadInterrupted", "content_hash", "MODES"]

MODES = ("upsert", "replace")


@dataclass(frozen=True)
class LoadResult:
    run_id: int
    mode: str
    target: str
    entities: tuple[EntityResult, ...]

    @property
    def nothing_to_do(self) -> bool:
        return all(e.changed == 0 for e in self.entities)

    def to_dict(self) -> dict:
        return {
            "ok": True,
            "run_id": self.run_id,
            "mode": self.mode,
            "target": self.target,
            "nothing_to_do": self.nothing_to_do,
            "entities": [e.to_dict() for e in self.entities],
        }


def project_fingerprint(root: Path) -> str:
    """SHA-256 of the project's declarations (project.yaml, mappings), recorded with each run."""
    digest = hashlib.sha256()
    files = [root / "project.yaml", *sorted((root / "mappings").rglob("*"))] if root.exists() else []
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _fingerprints(store: WorkStore, entities: Sequence[str]) -> dict[str, tuple[str, int]]:
    out = {}
    for name in entities:
        if not store.has_table(mapped_table(name)):
            raise ConfigError(
                f"there are no mapped rows for {name} (no table {mapped_table(name)} in the work store).",
                hint=f"Run `migrate map {name}` first.",
            )
        # recorded by map as it wrote the table, unless the table changed since (then read again)
        out[name] = stored_fingerprint(store.engine, mapped_table(name)) or input_fingerprint(
            store.engine, mapped_table(name), list(ENTITIES[name].mapped_columns)
        )
    return out


def _refuse_changed_inputs(url: URL, fingerprints: dict[str, tuple[str, int]], restart: bool) -> None:
    """An interrupted pass must resume on the very input it started with (design rule 2)."""
    if restart:
        return
    conn = connect(url)
    try:
        for name, (fp, _) in fingerprints.items():
            cp = read_pass(conn, name)
            if cp and cp.status == "loading" and cp.fingerprint != fp:
                raise ConfigError(
                    f"{mapped_table(name)} changed since run {cp.pass_run_id} was interrupted after chunk "
                    f"{cp.next_chunk - 1}: it was {cp.fingerprint}, it is now {fp}. Resuming would mix two "
                    "versions of the source; nothing was written.",
                    key=name,
                    hint="Restore the source and run `migrate load --resume`, or load the new source "
                    "from the start with `migrate load --restart`.",
                )
    finally:
        conn.close()


def load(
    target: URL | str,
    store: WorkStore | str,
    entities: Sequence[str] = LOAD_ORDER,
    *,
    chunk_size: int = 50_000,
    mode: str = "upsert",
    restart: bool = False,
    delete_missing: Collection[str] = (),
    operator: str = "unknown",
    command: str = "migrate load",
    project_fingerprint: str | None = None,
    progress: Progress = NO_PROGRESS,
    faults: Faults | None = None,
    max_retries: int = 3,
    jobs: int = 1,
) -> LoadResult:
    """Write mapped rows in chunks; each chunk commits with its checkpoint and ledger rows.

    An interrupted pass (crash, kill, lost connection) is continued from its checkpoint by
    the next call, `--resume` or not; `restart=True` starts it over (safe: rows match on
    their natural keys). `delete_missing` names entities whose toolkit-loaded rows absent
    from the mapped rows are deleted. `mode="replace"` swaps a table's whole content in
    one transaction: until it commits the old content stays whole; then rows absent from
    the new content are gone whoever wrote them (each with its before-image in the ledger).
    `jobs` > 1 (PostgreSQL, upsert mode) loads each entity's chunks on that many connections at
    once, each chunk still one transaction with its own checkpoint record (`parallel`).
    """
    url = parse_url(target) if isinstance(target, str) else target
    store = WorkStore(store) if not isinstance(store, WorkStore) else store
    if mode not in MODES:
        raise ConfigError(f"unknown load mode {mode!r}; use one of: {', '.join(MODES)}.")
    if chunk_size < 1:
        raise ConfigError(f"--chunk-size must be at least 1, not {chunk_size}.")
    check_jobs(jobs, url.get_backend_name())
    chosen = {entity(name).name for name in entities}  # unknown names: ConfigError listing the model's
    ordered = [e for e in LOAD_ORDER if e in chosen]
    options = LoadOptions(
        chunk_size=chunk_size,
        mode=mode,
        restart=restart,
        delete_missing=frozenset(delete_missing),
        operator=operator,
        command=command,
        project_fingerprint=project_fingerprint,
        max_retries=max_retries,
        jobs=jobs,
    )
    # The lease first: a second writer is refused at once, before any pass over the inputs.
    lease = Lease(url, operator, command)
    lease.acquire()
    try:
        fingerprints = _fingerprints(store, ordered)
        _refuse_changed_inputs(url, fingerprints, restart)
        _record_start_point(url, operator)
        return _run(url, store, ordered, fingerprints, lease, options, progress, faults or Faults())
    finally:
        lease.release()


def _record_start_point(url: URL, operator: str) -> None:
    """Before a target's first load, under the lease: the cutover point "start" (C0) that
    `migrate rollback run --to start` returns to."""
    from migrate.rollback.points import ensure_start_point  # rollback builds on load: import late

    ensure_start_point(url, operator)


@dataclass(frozen=True)
class LoadOptions:
    chunk_size: int
    mode: str
    restart: bool
    delete_missing: frozenset[str]
    operator: str
    command: str
    project_fingerprint: str | None
    max_retries: int
    jobs: int = 1


def _run(
    url: URL,
    store: WorkStore,
    ordered: list[str],
    fingerprints: dict[str, tuple[str, int]],
    lease: Lease,
    o: LoadOptions,
    progress: Progress,
    faults: Faults,
) -> LoadResult:
    conn = connect(url)
    run_id = start_run(
        conn,
        operator=o.operator,
        command=o.command,
        mode=o.mode,
        chunk_size=o.chunk_size,
        fingerprints={k: v[0] for k, v in fingerprints.items()},
        project_fingerprint=o.project_fingerprint,
    )
    conn.begin()
    lease.attach_run(conn, run_id)
    conn.commit()
    conn.close()
    results: list[EntityResult] = []
    status = "failed"
    with stop_on_signals() as stop:
        ctx = LoadContext(
            url=url,
            store=store,
            run_id=run_id,
            mode=o.mode,
            chunk_size=o.chunk_size,
            lease=lease,
            faults=faults,
            stop=stop,
            progress=progress,
            delete_missing=o.delete_missing,
            restart=o.restart,
            max_retries=o.max_retries,
            fingerprints=fingerprints,
        )
        try:
            for name in ordered:
                results.append(_loader(ctx, name, o.jobs).run())
            status = "completed"
        except LoadInterrupted:
            status = "interrupted"
            raise
        finally:
            ctx.drop_connection()
            _record_end(url, run_id, status, results, o)
    return LoadResult(run_id, o.mode, mask_url(url), tuple(results))


def _loader(ctx: LoadContext, name: str, jobs: int) -> EntityLoader:
    """One connection, or several: an interrupted pass continues in the form it started in
    (its checkpoints are in that form), whatever `jobs` says now."""
    if ctx.mode == "replace" or ctx.url.get_backend_name() != "postgresql":
        return EntityLoader(ctx, name)
    open_pass = None
    if not ctx.restart:
        cp = read_pass(ctx.connection(), name)
        ctx.connection().rollback()
        if cp is not None and cp.status == "loading" and cp.mode == ctx.mode:
            open_pass = cp
    if open_pass is not None:
        return ParallelLoader(ctx, name, jobs, open_pass) if open_pass.chunked else EntityLoader(ctx, name)
    return ParallelLoader(ctx, name, jobs) if jobs > 1 else EntityLoader(ctx, name)


def _record_end(url: URL, run_id: int, status: str, results: list[EntityResult], o: LoadOptions) -> None:
    """Close the run row and append to the audit log (docs/guarantees.md#tamper-evident-audit)."""
    summary = {r.entity: r.to_dict() for r in results}
    try:
        conn = connect(url)
        try:
            finish_run(conn, run_id, status, summary)
        finally:
            conn.close()
        engine = make_engine(url)
        try:
            details = {"run_id": run_id, "status": status, "mode": o.mode, "command": o.command}
            details["changed"] = {r.entity: [r.inserted, r.updated, r.deleted] for r in results if r.changed}
            audit.record(engine, o.operator, "load", details)
        finally:
            engine.dispose()
    except Exception:  # noqa: BLE001 - the load's own outcome (or error) matters more than this note
        pass
