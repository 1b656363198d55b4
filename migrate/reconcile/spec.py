"""Reconcile rule files: `reconcile/<entity>.yaml`, parsed into a frozen `ReconcileSpec`.

A rule file is data. Column names in it are checked against the model (compared columns)
or against the staged source's normalised headers at run time (control totals), and are
always quoted in SQL: nothing from a rule file is executed.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from migrate.errors import ConfigError
from migrate.model import ENTITIES
from migrate.project import NAME, Project, Spec, interpolate, read_yaml, validated

RULES_DIR = "reconcile"
DEFAULT_CHUNK = 100_000  # rows per batch read (here, not in `core`: the CLI shows it without pandas)
Normalisation = Literal["trim", "case", "nfkc", "nbsp"]


class Tolerance(Spec):
    """How far apart two values may be and still count as equal.

    Numbers: equal when |expected - actual| <= abs + rel * |actual| (numpy's isclose rule,
    the one datacompy uses). Timestamps: equal when at most `seconds` apart.
    """

    abs: Decimal = Field(default=Decimal(0), ge=0)
    rel: Decimal = Field(default=Decimal(0), ge=0)
    seconds: Decimal = Field(default=Decimal(0), ge=0)


class ValueParsing(Spec):
    """The rule's own parsing of a raw staged cell (independent of the mapping code)."""

    strip_suffix: tuple[str, ...] = ()  # unit suffixes removed before parsing: "kg", "千克"
    thousands: str | None = ","  # a grouping character removed before parsing
    decimal_comma: bool = False  # "12,5" means 12.5 (then `thousands` should be "." or None)
    scale: Decimal = Decimal(1)  # multiply after parsing (e.g. 1000 for t -> kg)


class TotalPart(Spec):
    """Another source counted into the same control total (an entity fed by several sources:
    the total of the whole). Its column and grouping default to the total's own."""

    source: str = Field(pattern=NAME)  # another declared source of the same entity
    source_column: str | None = None  # its header to aggregate; default: the total's source_column
    group_by_source: str | None = None  # its header naming the group; default: the total's


class ControlTotal(Spec):
    """A sum or count over the raw staged source (and the `also` sources: the whole of an
    entity fed by several), against the same aggregate on the target."""

    name: str
    source: str = Field(pattern=NAME)  # a declared source: the staged table stg_<source>
    aggregate: Literal["sum", "count"] = "sum"
    source_column: str | None = None  # header as in the source; normalised by normalize_header
    parse: ValueParsing = ValueParsing()
    target_column: str | None = None  # a mapped column of the entity (decimal or integer)
    group_by_source: str | None = None  # source header whose text (trimmed) names the group
    group_by_target: str | None = None  # mapped column of the entity, e.g. material_code
    exclude_rejected: bool = True  # leave out staged rows that map rejected (by lineage)
    also: tuple[TotalPart, ...] = ()  # further sources of the same entity, summed in
    tolerance: Tolerance = Tolerance()

    @model_validator(mode="after")
    def _complete(self) -> ControlTotal:
        if self.aggregate == "sum" and not (self.source_column and self.target_column):
            raise ValueError("a sum needs `source_column` and `target_column`")
        if (self.group_by_source is None) != (self.group_by_target is None):
            raise ValueError("give both `group_by_source` and `group_by_target`, or neither")
        return self


class ReconcileSpec(Spec):
    """What `migrate reconcile` checks for one entity."""

    entity: str
    key: tuple[str, ...] | None = None  # default: the entity's natural key
    columns: tuple[str, ...] | None = None  # compared columns; default: every mapped column
    ignore: tuple[str, ...] = ()
    tolerances: dict[str, Tolerance] = {}
    normalize: dict[str, tuple[Normalisation, ...]] = {}  # column (or "*") -> normalisations
    control_totals: tuple[ControlTotal, ...] = ()
    max_details: int = Field(default=1000, ge=0)  # differences listed per entity (all are counted)

    @field_validator("entity")
    @classmethod
    def _known_entity(cls, name: str) -> str:
        if name not in ENTITIES:
            raise ValueError(f"unknown entity {name!r}; known: {', '.join(ENTITIES)}")
        return name

    @model_validator(mode="after")
    def _known_columns(self) -> ReconcileSpec:
        known = set(ENTITIES[self.entity].mapped_columns)
        named = [*(self.key or ()), *(self.columns or ()), *self.ignore, *self.tolerances]
        named += [c for c in self.normalize if c != "*"]
        for total in self.control_totals:
            named += [c for c in (total.target_column, total.group_by_target) if c]
        for column in named:
            if column not in known:
                raise ValueError(
                    f"{column!r} is not a column of {self.entity}; it has: {', '.join(sorted(known))}"
                )
        return self

    @property
    def key_columns(self) -> tuple[str, ...]:
        return self.key or ENTITIES[self.entity].natural_key

    @property
    def compared_columns(self) -> tuple[str, ...]:
        chosen = self.columns or ENTITIES[self.entity].mapped_columns
        return tuple(c for c in chosen if c not in self.key_columns and c not in self.ignore)

    def normalisations(self, column: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.normalize.get("*", ()), *self.normalize.get(column, ()))))


_FILE = re.compile(r"^[a-z_]+\.ya?ml$")


def load_spec(project: Project, entity: str) -> ReconcileSpec:
    """The entity's rule file, or the default rules (exact compare of every column) if there is none."""
    path = project.root / RULES_DIR / f"{entity}.yaml"
    if not path.exists():
        return ReconcileSpec(entity=entity)
    data = read_yaml(path, project.root)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of keys (entity, key, columns...).", file=str(path))
    data = interpolate(data, path, root=project.root)
    data.setdefault("entity", entity)
    spec = validated(ReconcileSpec, data, path, project.root)
    if spec.entity != entity:
        raise ConfigError(
            f"the file is named for {entity!r} but declares entity {spec.entity!r}.",
            file=f"{RULES_DIR}/{path.name}",
            key="entity",
        )
    return spec


def rule_files(root: Path) -> list[Path]:
    folder = root / RULES_DIR
    return sorted(p for p in folder.glob("*.y*ml") if _FILE.match(p.name)) if folder.is_dir() else []
