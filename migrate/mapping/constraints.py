"""The model's own limits, checked at map time so that a load is never the first to refuse a value.

- Enumerations: a column with a `CHECK (col IN (...))` in the model (its `info["allowed"]`)
  takes only those codes; any other value is rejected `not_allowed`, the message listing them.
- Lengths: text longer than the model's `String(n)` is rejected `too_long`.
- NOT NULL columns are checked earlier (`missing_value`, see chunk.py), as a rule would be.

`value_map_targets` tells `values import` which allowed codes a value map's unified values
must be, from the mappings that end a column with that value map.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.model import ENTITIES

if TYPE_CHECKING:  # frames come from map; load's refused-row check imports this module without pandas
    import pandas as pd

REFERENCE_KEY_LENGTH = 60  # natural-key references (not target columns): the model's longest key


@cache
def allowed_values(entity: str) -> dict[str, tuple[str, ...]]:
    """Column -> allowed codes, for every enumerated column of the entity's table."""
    found = {}
    for constraint in ENTITIES[entity].table.constraints:
        allowed = getattr(constraint, "info", {}).get("allowed")
        if allowed:
            column, values = allowed
            found[column] = tuple(values)
    return found


def allowed_text(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def check_model(entity: str, out: pd.DataFrame, failures: Any) -> None:
    """Reject rows whose values the target's constraints would refuse (vectorised, per column)."""
    for name, values in allowed_values(entity).items():
        if name not in out.columns:
            continue
        column = out[name]
        bad = column.notna() & ~column.isin(values)
        if bad.any():
            message = f"{name} {{value}} is not allowed; allowed: {allowed_text(values)}"
            failures.add(bad, "not_allowed", f"{name}.allowed", name, column, message)
    _check_lengths(entity, out, failures)


def _check_lengths(entity: str, out: pd.DataFrame, failures: Any) -> None:
    table = ENTITIES[entity].table
    for name in out.columns:
        if name in table.c:
            length = getattr(table.c[name].type, "length", None)
        else:
            length = REFERENCE_KEY_LENGTH
        if length and out[name].notna().any():
            too_long = out[name].str.len().fillna(0) > length
            message = f"{name} is longer than the model's {length} characters"
            failures.add(too_long, "too_long", f"{name}.length", name, out[name], message)


def value_map_targets(root: Path) -> dict[str, list[tuple[str, str, tuple[str, ...]]]]:
    """Value map -> (entity, column, allowed codes) for each enumerated column it fills last.

    Only a value map that is a column's last step decides the stored code; a later step
    (upper, replace...) would change it, so such a column is left to map's own check."""
    from migrate.mapping.spec import mapping_path, read_mapping

    targets: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
    for entity in ENTITIES:
        path = mapping_path(root, entity)
        if not path.is_file():
            continue
        enumerated = allowed_values(entity)
        spec = read_mapping(path, root)
        # every source block sees its own columns over the top-level ones
        seen = {(name, id(column)): column for i in range(len(spec.sources))
                for name, column in spec.for_source(i).columns.items()}  # fmt: skip
        for (name, _), column in seen.items():
            last = column.steps[-1] if column.steps else None
            if last is None or last.name != "value_map" or name not in enumerated:
                continue
            value_map = str(last.args.get("name") or last.args.get("value"))
            if (entity, name, enumerated[name]) not in targets.get(value_map, []):
                targets.setdefault(value_map, []).append((entity, name, enumerated[name]))
    return targets
