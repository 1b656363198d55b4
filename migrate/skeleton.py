"""Mapping skeletons written from the unified model, so nobody hunts column names in code.

`migrate init` writes one per entity into `mappings/skeletons/` (every line commented: the
folder is not read by `map`); `migrate new mapping ENTITY --source S` writes
`mappings/ENTITY.yaml` for a declared source, with `from:` filled in where a source
column's normalised name matches a target column, and the source's columns listed.

Each target column is one line, `name: {from: ..., steps: [...]}`, followed by a comment
saying its type, whether it is required, its reference and allowed values. Uncommenting
a line gives valid mapping YAML (a test parses every skeleton uncommented).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from migrate.errors import ConfigError, SourceError
from migrate.mapping.spec import mapping_path
from migrate.model import ENTITIES, MappedColumn, mapped_column_info
from migrate.model import entity as model_entity
from migrate.project import Project
from migrate.store import normalize_header

SKELETONS_DIR = "mappings/skeletons"
PLACEHOLDER = "?"  # `from: "?"`: the source column's header goes here
# The first step a column of each type needs: staged values are text.
_STEPS = {"decimal(18,6)": "decimal", "integer": "integer", "date": "date", "timestamp": "datetime"}
_SHOWN_HEADER = 60  # a source header longer than this is cut in the comment listing


def mapping_skeleton(entity: str, source: str | None = None, source_columns: Sequence[str] = ()) -> str:
    """The mapping file text: active lines for matched columns, commented ones for the rest."""
    columns = mapped_column_info(entity)
    matches = match_columns([c.name for c in columns], source_columns)
    lead = "" if source else "# "
    lines = [*_header(entity, source, source_columns), f"{lead}entity: {entity}"]
    lines.append(f"{lead}sources: [{source or 'SOURCE'}]   # declared in project.yaml")
    lines.append(f"{lead}columns:")
    for column in columns:
        origin = matches.get(column.name)
        mark = ("  " if origin is not None else "  # ") if source else "#   "
        lines.append(f"{mark}{column.name}: {_origin(column, origin)}   # {_facts(column)}")
        if column.allowed:
            lines.append(f"{'  #' if source else '#  '}   one of: {', '.join(column.allowed)}")
    lines += _optional_sections(entity)
    return "\n".join(lines) + "\n"


def match_columns(targets: Sequence[str], source_columns: Sequence[str]) -> dict[str, str]:
    """Target column -> the source header whose normalised name equals it (first one wins)."""
    found: dict[str, str] = {}
    for header in source_columns:
        found.setdefault(_matching_name(header), header)
    return {t: found[t] for t in targets if t in found}


def _matching_name(header: str) -> str:
    """`Supplier Code`, `supplier-code` and `ＳＵＰＰＬＩＥＲ_CODE` all match `supplier_code`."""
    return re.sub(r"[\s\-./]+", "_", normalize_header(header)).strip("_")


def _origin(column: MappedColumn, header: str | None) -> str:
    step = _STEPS.get(column.type, "trim")
    return f"{{from: {_scalar(header if header is not None else PLACEHOLDER)}, steps: [{step}]}}"


def _facts(column: MappedColumn) -> str:
    facts = [column.type, "required" if column.required else "optional"]
    if column.in_key:
        facts.append("natural key")
    if column.reference:
        facts.append(f"-> {column.reference.entity}")
    if column.allowed:
        facts.append("a value_map step turns legacy codes into these")
    return ", ".join(facts)


def _scalar(text: str) -> str:
    """A YAML scalar for a header: plain when it reads back as itself, else JSON-quoted
    (escapes newlines and quotes: a hostile header cannot add lines to the file)."""
    if re.fullmatch(r"[^\W\d]\w*", text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _header(entity: str, source: str | None, source_columns: Sequence[str]) -> list[str]:
    spec = ENTITIES[entity]
    lines = [f"# mappings/{entity}.yaml: how {entity} is filled from the legacy sources."]
    if source:
        lines.append(f"# Written by `migrate new mapping {entity} --source {source}` from the unified model:")
        lines.append("# matched columns are filled in; uncomment and complete the others.")
    else:
        lines.append(f"# Written by `migrate init` from the unified model: copy it to mappings/{entity}.yaml")
        lines.append(f"# (or run `migrate new mapping {entity} --source S`), uncomment and fill in.")
    lines.append('# `from:` is a source column\'s header; `"?"` marks one still to choose.')
    lines.append(
        f"# Every key: `migrate docs mapping`; columns and allowed values: `migrate docs model {entity}`."
    )
    lines.append(f"# Natural key: {', '.join(spec.natural_key)} (rows sharing it follow `duplicates:`).")
    refs = [f"{r.column} -> {r.entity}" for r in spec.references]
    if refs:
        lines.append(f"# References (natural keys, resolved to ids at load): {', '.join(refs)}.")
    if source:
        shown = [_scalar(c[:_SHOWN_HEADER]) for c in source_columns]
        lines.append(f"# Columns of source {source} ({len(shown)}, as `migrate sources check` reads them):")
        lines += [f"#   {', '.join(shown[i : i + 6])}" for i in range(0, len(shown), 6)] or ["#   (none)"]
    return [*lines, "#"]


def _optional_sections(entity: str) -> list[str]:
    first = ENTITIES[entity].natural_key[0]
    return [
        "",
        "# Rows dropped on purpose, counted by name (a raw source column):",
        "# filters:",
        '#   - {name: voided, column: "?", in: [void]}',
        "# Rows sharing a natural key: reject_all (default), keep_first or keep_last (with order_by).",
        "# duplicates: {policy: reject_all}",
        "# Quality rules: a failing row is rejected with the reason code.",
        "# rules:",
        f"#   - {{regex: {{column: {first}, pattern: '^\\S+$'}}, reason: invalid_format}}",
    ]


def write_skeletons(root: Path) -> list[Path]:
    """`migrate init`: one commented skeleton per entity in mappings/skeletons/."""
    folder = root / SKELETONS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for entity in ENTITIES:
        path = folder / f"{entity}.yaml"
        path.write_text(mapping_skeleton(entity), encoding="utf-8")
        written.append(path)
    return written


@dataclass(frozen=True)
class NewMapping:
    path: Path
    matched: dict[str, str]  # target column -> source header
    source_columns: tuple[str, ...]
    columns: int  # target columns of the entity

    def to_dict(self) -> dict:
        return {
            "ok": True,
            "file": str(self.path),
            "matched": self.matched,
            "columns": self.columns,
            "source_columns": list(self.source_columns),
        }


def new_mapping(project: Project, entity: str, source: str, *, force: bool = False) -> NewMapping:
    """`migrate new mapping`: mappings/ENTITY.yaml for a declared source, its columns read as
    `sources check` reads them; never overwrites a mapping unasked."""
    from migrate.extract import check_sources

    name = model_entity(entity).name
    checked = check_sources(project, names=(source,)).sources[0]
    if checked.problem:
        raise SourceError(checked.problem, hint="`migrate sources check` shows every source's state.")
    path = mapping_path(project.root, name)
    if path.exists() and not force:
        raise ConfigError(
            "the file already exists.",
            file=f"mappings/{name}.yaml",
            hint="Edit it, or pass --force to replace it with a new skeleton.",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(mapping_skeleton(name, source, checked.columns), encoding="utf-8")
    targets = ENTITIES[name].mapped_columns
    return NewMapping(path, match_columns(targets, checked.columns), checked.columns, len(targets))
