"""Value maps (`mappings/values/<name>.yaml` or `.xlsx`): legacy code -> unified code.

YAML form::

    description: lot status in the old ERP
    strict: true          # an unmapped value rejects the row (unknown_value)
    default: null         # not strict: unmapped values become this (none: kept as they are)
    match: normalized     # or exact; normalized = NFKC, spaces folded, case-folded (`Ｒｅｌ ` = `rel`)
    allowed: [quarantine, released, rejected, consumed]   # unified codes accepted on import
    entries:
      合格: released
      待检: quarantine

Consultants keep value maps in Excel: an `.xlsx` with a sheet `map` (columns `legacy`,
`unified`) and optionally a sheet `options` (rows `key`, `value` for strict/default/match)
is read the same way. `migrate values export` lists every unmapped value with its count
and sample lineage; `migrate values import` merges the filled workbook back, validated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from migrate.errors import ConfigError
from migrate.mapping.report import safe_cell, safe_row
from migrate.mapping.spec import VALUES_DIR
from migrate.mapping.transforms import StepResult, as_text, distinct
from migrate.project import NAME, Spec, read_yaml, validated
from migrate.store import normalize_header
from migrate.yamlio import read_guarded_text

if TYPE_CHECKING:
    from openpyxl import Workbook

EXPORT_SHEET = "unmapped"
ALLOWED_SHEET = "allowed"
EXPORT_HEADER = ("value_map", "legacy_value", "unified_value", "count", "samples")


class ValueMapSpec(Spec):
    description: str = ""
    strict: bool = True
    default: str | None = None
    match: Literal["exact", "normalized"] = "normalized"
    allowed: tuple[str, ...] | None = None
    entries: dict[str, str | None] = {}


@dataclass(frozen=True)
class ValueMap:
    name: str
    spec: ValueMapSpec
    path: Path

    def key(self, raw: str) -> str:
        return normalize_header(raw) if self.spec.match == "normalized" else raw

    @property
    def table(self) -> dict[str, str | None]:
        return {self.key(str(k)): v for k, v in self.spec.entries.items()}

    def apply(self, values: pd.Series) -> StepResult:
        """Mapped codes; unmapped (present, unknown) values flagged, rejected if strict.
        Each distinct legacy value is looked up once, then spread to its rows."""
        table = self.table
        missing = object()
        found, codes = distinct(values, lambda v: table.get(self.key(v), missing))
        known = np.array([v is not missing for v in found[:-1]] + [True], dtype=bool)
        unmapped = pd.Series(~known[codes], index=values.index)
        mapped = pd.Series(np.where(known, found, None)[codes], index=values.index, dtype=object)
        if self.spec.strict:
            return StepResult(as_text(mapped), unmapped, unmapped, "unknown_value")
        if self.spec.default is None:  # kept as they are: still codes no map knows
            return StepResult(as_text(mapped.where(~unmapped, values)), None, unmapped)
        # the declared default is a decision, not an unknown: reported as defaulted
        return StepResult(as_text(mapped.where(~unmapped, self.spec.default)), defaulted=unmapped)


def value_map_files(root: Path) -> dict[str, Path]:
    folder = root / VALUES_DIR
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*")) if folder.is_dir() else ():
        if path.suffix not in (".yaml", ".yml", ".xlsx") or path.name.startswith(("~$", ".")):
            continue
        if path.stem in found:
            raise ConfigError(
                f"value map {path.stem!r} is defined twice ({found[path.stem].name} and {path.name}).",
                file=str(path.relative_to(root)),
            )
        found[path.stem] = path
    return found


def load_value_maps(root: Path) -> dict[str, ValueMap]:
    return {name: read_value_map(path, root) for name, path in value_map_files(root).items()}


def read_value_map(path: Path, root: Path) -> ValueMap:
    shown = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    if not re.match(NAME, path.stem):
        raise ConfigError("a value map's file name must be lower_snake_case.", file=shown)
    data = _read_xlsx_map(path, shown) if path.suffix == ".xlsx" else read_yaml(path, root)
    if not isinstance(data, dict):
        raise ConfigError("expected keys (strict, default, entries...).", file=shown)
    data = {**data, "entries": {str(k): _text(v) for k, v in (data.get("entries") or {}).items()}}
    return ValueMap(path.stem, validated(ValueMapSpec, data, path, root), path)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_xlsx_map(path: Path, shown: str) -> dict:
    from openpyxl import load_workbook  # openpyxl only for xlsx value maps

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        if "map" not in book.sheetnames:
            raise ConfigError("a value-map workbook needs a sheet named `map`.", file=shown)
        rows = list(book["map"].iter_rows(values_only=True))
        options = {}
        if "options" in book.sheetnames:
            options = {
                str(r[0]): r[1] for r in book["options"].iter_rows(min_row=2, values_only=True) if r[0]
            }
    finally:
        book.close()
    header = [normalize_header(h or "") for h in rows[0]] if rows else []
    if header[:2] != ["legacy", "unified"]:
        raise ConfigError(
            "sheet map must start with the columns legacy, unified.", file=shown, sheet="map", row=1
        )
    entries = {_text(r[0]): _text(r[1]) for r in rows[1:] if r and r[0] is not None}
    return {**options, "entries": entries}


# --- export / import ---------------------------------------------------------------------


@dataclass(frozen=True)
class UnmappedValue:
    value_map: str
    value: str
    count: int
    samples: tuple[str, ...]  # lineage of a few rows: "file, sheet, row"


def write_export(
    path: Path, unmapped: list[UnmappedValue], allowed: dict[str, tuple[str, ...]] | None = None
) -> int:
    """The consultant's workbook: one row per unmapped value, `unified_value` to fill. Where
    the codes a value map may give are known (`allowed`: its own `allowed:` and the model's
    enumeration of the columns it fills), each such cell offers them as a drop-down list (kept
    on a sheet of its own, `allowed`), and refuses any other code."""
    from openpyxl import Workbook  # openpyxl only for xlsx value maps

    book = Workbook()
    sheet = book.active
    sheet.title = EXPORT_SHEET
    safe_row(sheet, 1, EXPORT_HEADER)
    ordered = sorted(unmapped, key=lambda u: (u.value_map, -u.count, u.value))
    for i, item in enumerate(ordered, start=2):
        safe_row(sheet, i, (item.value_map, item.value, None, item.count, " | ".join(item.samples)))
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:E{len(ordered) + 1}"
    for column, width in zip("ABCDE", (24, 24, 24, 8, 60), strict=True):
        sheet.column_dimensions[column].width = width
    _offer_allowed(book, sheet, [u.value_map for u in ordered], allowed or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return len(unmapped)


def _offer_allowed(book: Workbook, sheet, names: list[str], allowed: dict[str, tuple[str, ...]]) -> None:
    """A list validation per value map on its rows' unified_value cells, its codes in a column
    of the `allowed` sheet (a range, not an inline list: Excel caps those at 255 characters)."""
    from openpyxl.utils import get_column_letter, quote_sheetname
    from openpyxl.worksheet.datavalidation import DataValidation

    used = [n for n in dict.fromkeys(names) if allowed.get(n)]
    if not used:
        return
    codes = book.create_sheet(ALLOWED_SHEET)
    for index, name in enumerate(used, start=1):
        letter = get_column_letter(index)
        for row, code in enumerate((name, *allowed[name]), start=1):
            safe_cell(codes, row, index, code)
        rule = DataValidation(
            type="list",
            formula1=f"{quote_sheetname(ALLOWED_SHEET)}!${letter}$2:${letter}${len(allowed[name]) + 1}",
            allow_blank=True,
            showErrorMessage=True,
            errorTitle="not an allowed code",
            error=f"Value map {name} accepts only the codes on sheet {ALLOWED_SHEET}, column {letter}.",
        )
        sheet.add_data_validation(rule)
        for row, value_map in enumerate(names, start=2):
            if value_map == name:
                rule.add(f"C{row}")


def allowed_codes(
    value_map: ValueMap, targets: list[tuple[str, str, tuple[str, ...]]]
) -> tuple[str, ...] | None:
    """The codes `values import` accepts for this value map (see _check_allowed): those of its
    `allowed:` and of every enumerated column it fills; None when nothing limits them."""
    limits = [value_map.spec.allowed, *(codes for _, _, codes in targets)]
    limits = [tuple(c) for c in limits if c is not None]
    if not limits:
        return None
    return tuple(c for c in limits[0] if all(c in other for other in limits[1:]))


def read_import(
    path: Path,
    maps: dict[str, ValueMap],
    targets: dict[str, list[tuple[str, str, tuple[str, ...]]]] | None = None,
) -> dict[str, dict[str, str]]:
    """Filled rows of an export workbook, validated: known value map, and a unified code the
    value map (`allowed:`) and the model's enumeration of every column it fills accept."""
    shown = path.name
    rows = _export_rows(path, shown)
    additions: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows[1:], start=2):
        name, legacy, unified = (_text(v) for v in (tuple(row) + (None, None, None))[:3])
        if not unified or not unified.strip():
            continue
        where = {"file": shown, "sheet": EXPORT_SHEET, "row": number}
        if name not in maps:
            raise ConfigError(
                f"unknown value map {name!r}; known: {', '.join(sorted(maps))}.", column="value_map", **where
            )
        if legacy is None:
            raise ConfigError("legacy_value is empty.", column="legacy_value", **where)
        _check_allowed(maps[name], legacy, unified.strip(), (targets or {}).get(name, []), where)
        _check_not_remapped(maps[name], legacy, unified.strip(), where)
        additions.setdefault(name, {})[legacy] = unified.strip()
    return additions


def _export_rows(path: Path, shown: str) -> list[tuple]:
    from openpyxl import load_workbook  # openpyxl only for xlsx value maps

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not xlsx
        raise ConfigError(f"cannot read the workbook: {type(exc).__name__}.", file=shown) from None
    try:
        if EXPORT_SHEET not in book.sheetnames:
            raise ConfigError(f"no sheet named {EXPORT_SHEET!r}.", file=shown)
        rows = list(book[EXPORT_SHEET].iter_rows(values_only=True))
    finally:
        book.close()
    header = [normalize_header(h or "") for h in (rows[0] if rows else ())]
    if tuple(header[:3]) != EXPORT_HEADER[:3]:
        raise ConfigError(
            f"the first columns must be {', '.join(EXPORT_HEADER[:3])}.",
            file=shown,
            sheet=EXPORT_SHEET,
            row=1,
        )
    return rows


def _check_allowed(value_map: ValueMap, legacy: str, unified: str, targets: list, where: dict) -> None:
    """Refuse a unified code the value map or a target column would not accept (load never
    has to be the first to say a value is forbidden)."""
    checks = [(f"value map {value_map.name}", value_map.spec.allowed)]
    checks += [(f"{entity}.{column}", allowed) for entity, column, allowed in targets]
    for what, allowed in checks:
        if allowed is not None and unified not in allowed:
            raise ConfigError(
                f"value map {value_map.name}: code {excerpt(legacy)} -> {excerpt(unified)} is not allowed "
                f"for {what}; allowed: {', '.join(allowed)}.",
                column="unified_value",
                **where,
            )


def _check_not_remapped(value_map: ValueMap, legacy: str, unified: str, where: dict) -> None:
    """Refuse a code the value map already maps elsewhere: an older or another person's workbook
    would otherwise silently change a mapping the consultant made (import only adds codes)."""
    known = value_map.spec.entries.get(legacy)
    if known is not None and known != unified:
        raise ConfigError(
            f"value map {value_map.name} already maps {excerpt(legacy)} to {excerpt(known)}, not "
            f"{excerpt(unified)}; import only adds codes the map does not know.",
            column="unified_value",
            hint=f"To change the mapping, edit {value_map.path.name} in mappings/values/; "
            "or export a new workbook and fill that.",
            **where,
        )


def excerpt(value: str, limit: int = 60) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def merge_entries(value_map: ValueMap, entries: dict[str, str], root: Path) -> int:
    """Write new entries into the value map's own file: xlsx rows appended; YAML edited in a
    round trip that keeps the file's comments, key order and layout."""
    from openpyxl import load_workbook  # openpyxl only for xlsx value maps

    changed = {k: v for k, v in entries.items() if value_map.spec.entries.get(k) != v}
    if not changed:
        return 0
    if value_map.path.suffix == ".xlsx":
        book = load_workbook(value_map.path)
        sheet = book["map"]
        for legacy, unified in changed.items():
            safe_row(sheet, sheet.max_row + 1, (legacy, unified))
        book.save(value_map.path)
        return len(changed)
    yaml_rt, data = read_round_trip(value_map.path, root)
    if data.get("entries") is None:
        data["entries"] = {}
    for legacy, unified in changed.items():
        data["entries"][legacy] = unified  # an existing key keeps its place and its comment
    with value_map.path.open("w", encoding="utf-8") as handle:
        yaml_rt.dump(data, handle)
    return len(changed)


def read_round_trip(path: Path, root: Path):
    """The one place a project YAML file is read for rewriting (ruamel.yaml, round-trip mode).

    Guarded like every project file (migrate.yamlio: size limit, alias budget) before ruamel's
    round-trip loader sees it."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.util import load_yaml_guess_indent

    shown = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    text = read_guarded_text(path, shown)
    try:
        data, indent, sequence_offset = load_yaml_guess_indent(text)
    except YAMLError as exc:
        raise ConfigError(f"not valid YAML: {type(exc).__name__}.", file=shown) from None
    yaml_rt = YAML(typ="rt")
    yaml_rt.preserve_quotes = True
    yaml_rt.width = 4096  # never re-wrap a long line the consultant wrote
    # ruamel guesses the sequences' indent; mappings keep the 2 spaces every project file uses
    yaml_rt.indent(mapping=2, sequence=indent or 2, offset=sequence_offset or 0)
    if not isinstance(data, dict):
        raise ConfigError("expected keys (strict, default, entries...).", file=shown)
    return yaml_rt, data
