"""Build a small cutover project with staged tables in the extract contract's shape."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from migrate.db import make_engine
from migrate.store import normalize_header, staged_table


def write_project(root: Path, sources: dict[str, list[str]], **extra) -> Path:
    """project.yaml declaring csv sources (paths are never opened: staging is written directly)."""
    spec = {
        "name": "test",
        "target": f"sqlite:///{root / '.migrate' / 'target.db'}",
        "staging": f"sqlite:///{root / '.migrate' / 'staging.db'}",
        "sources": {name: {"kind": "csv", "path": f"{name}.csv"} for name in sources},
        **extra,
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "project.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    (root / "mappings" / "values").mkdir(parents=True, exist_ok=True)
    return root


def stage(root: Path, source: str, rows: list[dict], sheet: str | None = None) -> None:
    """Write `stg_<source>` as extract would: lineage, then one TEXT column per normalized header."""
    frame = pd.DataFrame(rows).astype(object)
    frame.columns = [normalize_header(c) for c in frame.columns]
    frame = frame.where(frame.notna(), None)
    lineage = pd.DataFrame(
        {
            "_source": source,
            "_file": f"{source}.csv",
            "_sheet": sheet,
            "_row": range(2, len(frame) + 2),
            "_run": 1,
        }
    )
    staged = pd.concat([lineage, frame], axis=1)
    staged.insert(0, "_row_id", range(1, len(staged) + 1))
    engine = make_engine(f"sqlite:///{root / '.migrate' / 'staging.db'}")
    staged.to_sql(staged_table(source), engine, if_exists="replace", index=False)
    engine.dispose()


def write_mapping(root: Path, entity: str, spec: dict | str) -> None:
    text = spec if isinstance(spec, str) else yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)
    (root / "mappings" / f"{entity}.yaml").write_text(text, encoding="utf-8")


def write_values(root: Path, name: str, spec: dict) -> None:
    path = root / "mappings" / "values" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
