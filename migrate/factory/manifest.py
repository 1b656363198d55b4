"""The manifest: every source's data-row counts, every injected defect and where it is.

A defect entry predicts exactly one reject by map: the factory never lets another
generated row refer to a defective row (no cascades) and never puts two defects in one
row. A conflicting duplicate group gives one entry per member (every member is rejected).

`manifest.json` (keys sorted, UTF-8):

- `sources.<name>`: `entity`, `kind`, `file` (relative to the output folder), `table`
  (SQL sources), `sheets` ({sheet name: data rows}; "" for a CSV, the table name for SQL)
  and `rows`. Data rows are what a correct extract stages: no title, header, blank or
  合计 rows.
- `entities.<entity>`: `sources`, `source_rows`, `rejects` ({reason: n}), `rejected`,
  `mapped` (= source_rows - rejected, when map applies `value_maps` and strict codes).
- `defects`: `{id, kind, entity, source, file, sheet, row, column, value, reason}` (+
  `group` for duplicates, `table` for SQL). `row` is physical: the 1-based sheet row, the
  CSV line (header = line 1), or the position by primary key (= the id) in a table;
  `sheet` is None for CSV and SQL. `column` is the source's own header or column name.
- `variants.<source>`: counts of messy-but-valid values (unit spellings, full-width
  digits, trailing spaces, leading zeros, serial/text dates, "12.5 kg"), not rejects.
- `value_maps`: legacy code -> unified code for every coded column (units, statuses...).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate import store

REASONS = frozenset(store.REASONS)


@dataclass(frozen=True)
class Defect:
    """What is wrong with one row: the column at fault and the value written there."""

    kind: str
    reason: str
    column: str
    value: Any
    group: str | None = None  # duplicate groups share one

    def __post_init__(self) -> None:
        assert self.reason in REASONS, self.reason


@dataclass
class Rows:
    """The data rows of one sheet, CSV or table being built, defects planted among them."""

    columns: list[str]
    values: list[list[Any]] = field(default_factory=list)
    defects: list[Defect | None] = field(default_factory=list)

    def add(self, row: list[Any], defect: Defect | None = None) -> None:
        assert len(row) == len(self.columns), (row, self.columns)
        self.values.append(row)
        self.defects.append(defect)

    def plant(self, rng: random.Random, row: list[Any], defect: Defect) -> None:
        """Insert a defective row at a random position, so defects are not all at the end."""
        assert len(row) == len(self.columns), (row, self.columns)
        at = rng.randrange(len(self.values) + 1)
        self.values.insert(at, row)
        self.defects.insert(at, defect)

    def __len__(self) -> int:
        return len(self.values)


class Manifest:
    """Collects what the generator wrote; `as_dict` is what `manifest.json` holds."""

    def __init__(self, seed: int, scale: str | int) -> None:
        self.seed = seed
        self.scale = scale
        self.sources: dict[str, dict[str, Any]] = {}
        self.defects: list[dict[str, Any]] = []
        self.variants: dict[str, Counter] = {}
        self.value_maps: dict[str, dict[str, str]] = {}

    def declare(self, source: str, entity: str, kind: str, file: str, table: str | None = None) -> None:
        entry: dict[str, Any] = {"entity": entity, "kind": kind, "file": file, "sheets": {}, "rows": 0}
        if table:
            entry["table"] = table
        self.sources[source] = entry

    def record(self, source: str, sheet: str | None, rows: Rows, first_row: int) -> None:
        """Count a sheet's data rows and locate its defects (`first_row`: physical row of the first)."""
        for offset, defect in enumerate(rows.defects):
            if defect is not None:
                self.defect(source, sheet, first_row + offset, defect)
        self.count(source, sheet, len(rows))

    def count(self, source: str, sheet: str | None, n: int) -> None:
        entry = self.sources[source]
        key = sheet if sheet is not None else entry.get("table", "")
        entry["sheets"][key] = entry["sheets"].get(key, 0) + n
        entry["rows"] += n

    def defect(self, source: str, sheet: str | None, row: int, defect: Defect) -> None:
        entry = self.sources[source]
        item = {
            "id": f"D{len(self.defects) + 1:05d}",
            "kind": defect.kind,
            "entity": entry["entity"],
            "source": source,
            "file": entry["file"],
            "sheet": sheet,
            "row": row,
            "column": defect.column,
            "value": defect.value,
            "reason": defect.reason,
        }
        if "table" in entry:
            item["table"] = entry["table"]
        if defect.group:
            item["group"] = defect.group
        self.defects.append(item)

    def variant(self, source: str, kind: str, n: int = 1) -> None:
        self.variants.setdefault(source, Counter())[kind] += n

    def entities(self) -> dict[str, dict[str, Any]]:
        """Per entity: source rows, expected rejects by reason, expected mapped rows."""
        out: dict[str, dict[str, Any]] = {}
        for name, src in self.sources.items():
            ent = out.setdefault(src["entity"], {"sources": [], "source_rows": 0, "rejects": {}})
            ent["sources"].append(name)
            ent["source_rows"] += src["rows"]
        for item in self.defects:
            rejects = out[item["entity"]]["rejects"]
            rejects[item["reason"]] = rejects.get(item["reason"], 0) + 1
        for ent in out.values():
            ent["rejected"] = sum(ent["rejects"].values())
            ent["mapped"] = ent["source_rows"] - ent["rejected"]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "generator": "migrate.factory",
            "seed": self.seed,
            "scale": self.scale,
            "sources": self.sources,
            "entities": self.entities(),
            "variants": {s: dict(sorted(c.items())) for s, c in sorted(self.variants.items())},
            "value_maps": self.value_maps,
            "defects": self.defects,
        }

    def write(self, path: Path) -> dict[str, Any]:
        data = self.as_dict()
        text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True, default=str)
        path.write_text(text + "\n", encoding="utf-8")
        return json.loads(text)
