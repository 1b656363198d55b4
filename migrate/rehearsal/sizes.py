"""How big a source is now: what a rehearsal's step timings are scaled by for an ETA.

A file source is measured in bytes (a stat, nothing read); a database source in rows (one
COUNT on a read-only connection)."""

from __future__ import annotations

from migrate.errors import SourceError
from migrate.project import Project


def source_size(project: Project, name: str, *, rows: int | None = None) -> tuple[int, str]:
    """(size, unit) of a declared source: bytes of its file, or rows of its table/query
    (`rows` when the caller has just counted them)."""
    spec = project.source(name)
    if spec.kind != "sql":
        path = project.path(spec.path or "")
        try:
            return path.stat().st_size, "bytes"
        except OSError as exc:
            raise SourceError(f"source {name}: cannot read {spec.path}: {exc.strerror}.") from None
    if rows is not None:
        return rows, "rows"
    from migrate.extract.readers.database import count_rows

    return count_rows(spec, name, project.root), "rows"
