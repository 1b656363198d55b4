"""docs/model.md: every entity of the unified model, from migrate/model.py."""

from __future__ import annotations

from sqlalchemy import CheckConstraint

from migrate import model
from migrate.docs.specs import doc_paragraphs
from migrate.model import ENTITIES, LOAD_ORDER, MappedColumn, mapped_column_info


def _column_row(column: MappedColumn) -> str:
    refers = f"[{column.reference.entity}](#{column.reference.entity})" if column.reference else ""
    allowed = ", ".join(f"`{v}`" for v in column.allowed) if column.allowed else ""
    required = "yes" if column.required else "no"
    key = "yes" if column.in_key else ""
    return f"| `{column.name}` | {column.type} | {required} | {key} | {refers} | {allowed} |"


def _checks(name: str) -> list[str]:
    """CHECK constraints other than allowed-value lists, as written in the model."""
    out = []
    for constraint in ENTITIES[name].table.constraints:
        if isinstance(constraint, CheckConstraint):
            text = str(constraint.sqltext)
            if " IN (" not in text:
                out.append(f"`{text}`")
    return sorted(out)


def _entity_section(name: str) -> str:
    entity = ENTITIES[name]
    columns = mapped_column_info(name)
    lines = [f"## {name}\n\n"]
    lines.append(f"Natural key: {', '.join(f'`{c}`' for c in entity.natural_key)} (unique).")
    if entity.depends_on:
        lines.append(" Loaded after: " + ", ".join(f"[{d}](#{d})" for d in entity.depends_on) + ".")
    lines.append("\n\n| column | type | required | natural key | refers to | allowed values |")
    lines.append("\n|---|---|---|---|---|---|\n")
    lines.append("\n".join(_column_row(c) for c in columns) + "\n")
    for column in columns:
        if column.allowed:
            lines.append(f"\nAllowed values of `{column.name}`:\n\n")
            lines.append("\n".join(f"- `{v}`: {meaning}" for v, meaning in column.allowed.items()) + "\n")
    checks = _checks(name)
    if checks:
        lines.append("\nAlso checked by the database: " + "; ".join(checks) + ".\n")
    return "".join(lines)


def render() -> str:
    intro = doc_paragraphs(model)[1:]
    summary = ["| entity | natural key | refers to |", "|---|---|---|"]
    for name in LOAD_ORDER:
        entity = ENTITIES[name]
        refs = ", ".join(f"{r.column} -> {r.entity}" for r in entity.references)
        summary.append(f"| [{name}](#{name}) | {', '.join(entity.natural_key)} | {refs} |")
    return "\n".join(
        [
            "# The unified model\n",
            *(f"{p}\n" for p in intro),
            "Columns are listed as a mapping fills them: a reference by the natural key of the "
            "row it refers to (`material_code`), which load resolves to the id. Types: `text(n)` "
            "holds at most n characters; `decimal(18,6)` is exact (never a float); `timestamp` "
            "is stored in UTC (legacy times without an offset are read in the mapping's time "
            "zone); `date` has no time. A required column must be filled by every mapped row.\n",
            "Entities in load order (each after those it refers to):\n",
            "\n".join(summary) + "\n",
            *(_entity_section(name) for name in LOAD_ORDER),
        ]
    )
