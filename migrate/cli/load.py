"""`migrate load`: mapped rows into the target, chunk by chunk, resumable."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from migrate import load as loading
from migrate.cli.context import app_context, emit_json, progress_for, reported_errors
from migrate.cli.output import number, table
from migrate.db import make_engine, require_schema
from migrate.errors import ConfigError
from migrate.store import WorkStore, mapped_table
from migrate.urls import redact


def _selection(app, entities: list[str], phase: str | None, store: WorkStore) -> tuple[str, ...]:
    """Named entities must have mapped rows; `--all`/`--phase` take those that do."""
    names = app.project.entities(tuple(entities), phase)
    if entities:
        return names
    ready = tuple(n for n in names if store.has_table(mapped_table(n)))
    if not ready:
        raise ConfigError("there are no mapped rows to load.", hint="Run `migrate map` first.")
    return ready


def load(
    ctx: typer.Context,
    entities: list[str] = typer.Argument(None, help="Entities to load (default: all with mapped rows)."),
    phase: str | None = typer.Option(None, "--phase", help="Load the entities of this phase."),
    all_: bool = typer.Option(False, "--all", help="Load every entity with mapped rows."),
    chunk_size: int | None = typer.Option(
        None, "--chunk-size", help="Rows per chunk, one transaction each (default: project.yaml defaults)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted load after its last committed chunk (a plain re-run does too).",
    ),
    restart: bool = typer.Option(
        False, "--restart", help="Start an interrupted load over, e.g. after its source changed."
    ),
    mode: str = typer.Option(
        "upsert", "--mode", help="upsert (match on natural keys) or replace (swap whole tables)."
    ),
    delete_missing: list[str] = typer.Option(
        None,
        "--delete-missing",
        help="Delete rows this toolkit loaded that ENTITY's mapped rows no longer have.",
    ),
    jobs: int | None = typer.Option(
        None,
        "--jobs",
        help="Load each entity's chunks on N PostgreSQL connections at once (upsert mode), each chunk "
        "still one transaction with its own checkpoint; an interrupted load resumes as it began. "
        "A SQLite target refuses N > 1 (one writer at a time). Default: project.yaml's "
        "defaults.load_jobs (1).",
    ),
) -> None:
    """Load mapped rows into the target in checkpointed chunks: exactly once, resumable, one writer at a time."""
    app = app_context(ctx)
    with reported_errors(ctx):
        if resume and restart:
            raise ConfigError("give --resume or --restart, not both.")
        project = app.project
        store = WorkStore(project.staging_url)
        names = _selection(app, entities or [], phase, store)
        engine = make_engine(project.target_url)
        require_schema(engine)
        engine.dispose()
        with progress_for(ctx) as progress:
            result = loading.load(
                project.target_url,
                store,
                names,
                chunk_size=chunk_size or project.spec.defaults.chunk_size,
                mode=mode,
                restart=restart,
                delete_missing=delete_missing or (),
                operator=app.operator,
                command=redact(" ".join(["migrate", *sys.argv[1:]]))[:500],
                project_fingerprint=loading.project_fingerprint(project.root),
                progress=progress,
                jobs=jobs or project.spec.defaults.jobs_for(project.target_url),
            )
    if app.json:
        emit_json(app, result.to_dict())
        return
    app.show(render(result))
    app.result(
        "nothing to do: the target already holds these rows."
        if result.nothing_to_do
        else f"run {result.run_id} done."
    )


LOAD_NUMBERS = ("inserted", "updated", "unchanged", "deleted", "rejected earlier", "chunks", "duration")


def render(result: loading.LoadResult) -> Table:
    grid = table(
        "entity",
        *LOAD_NUMBERS,
        title=f"load run {result.run_id} ({result.mode}) into {result.target}",
        numeric=LOAD_NUMBERS,
        secondary=("rejected earlier", "chunks", "duration"),
    )
    for e in result.entities:
        resumed = f" (resumed at chunk {number(e.resumed_from)})" if e.resumed_from is not None else ""
        grid.add_row(
            e.entity + resumed,
            *(
                number(n)
                for n in (e.inserted, e.updated, e.unchanged, e.deleted, e.rejected_earlier, e.chunks)
            ),
            f"{e.seconds:.1f} s",
        )
    return grid
