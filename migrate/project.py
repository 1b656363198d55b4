"""The cutover project: `project.yaml` and `phases/plan.yaml`, parsed into frozen specs.

Every error names the file and the key path (`sources.materials.path`) and exits 2.
Secrets stay out of files: `${VAR}` in a string is replaced by the environment variable.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import URL

from migrate.errors import ConfigError, did_you_mean
from migrate.model import ENTITIES
from migrate.urls import parse_url
from migrate.yamlio import excerpt, load_yaml

PROJECT_FILE = "project.yaml"
PLAN_FILE = "phases/plan.yaml"
WORK_DIR = ".migrate"
DEFAULT_TARGET = f"sqlite:///{WORK_DIR}/target.db"
DEFAULT_STAGING = f"sqlite:///{WORK_DIR}/staging.db"

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_QUOTED = re.compile(r"'([^']{41,})'")  # a long quoted input value in a validation message
# what a key left empty (`columns:` with every entry commented out) should have held
_EXPECTED = {
    "dict_type": "a mapping of keys",
    "list_type": "a list",
    "tuple_type": "a list",
    "string_type": "text",
}
NAME = r"^[a-z][a-z0-9_]{0,62}$"  # names that become table-name suffixes: checked, never free text


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceSpec(Spec):
    """One legacy source: a workbook, a text file, or a table/query in a database.

    A workbook's cells are staged as text, each as python-calamine reads it, except where that
    would lose what is stored: an error cell stages the text Excel shows (#N/A), a number in a
    date-formatted cell that is no date (negative, past 9999) stages the number, text with
    spaces at its ends stages them even without xml:space="preserve", and a merged range's
    value stays in its top-left cell unless `fill_merged` is declared. Hidden rows are left
    out and counted (`include_hidden` stages them); merged ranges over data rows are named in
    the warnings."""

    kind: Literal["xlsx", "xls", "xlsb", "ods", "csv", "sql"] = Field(
        description='`xlsx` (also .xlsm), `xls` (Excel 97-2003; an "xls" that is really Excel 2003 XML or '
        "an HTML table is recognised by its content and read as such), `xlsb` (Excel binary), `ods` "
        "(OpenDocument), `csv` (any delimited text), `sql` (a table or query in a database). A file "
        "that is something else is refused, naming what it is and how to convert it."
    )
    description: str = ""
    # files
    path: str | None = None
    # spreadsheets: a sheet name, a list of names, or a regular expression over names
    sheet: str | None = None
    sheets: tuple[str, ...] | None = None
    sheet_pattern: str | None = None
    include_hidden: bool = False
    header_row: int | None = None  # 1-based; None: detected
    header_rows: int = 1  # rows a (merged) header spans, flattened to one name per column
    header: Literal["auto", "none"] = Field(
        default="auto",
        description="`none`: the sheet has no header row; every row is data and columns are named "
        "by letter (A, B, C...). `auto`: the header is `header_row`, or found under title rows.",
    )
    fill_merged: bool = Field(
        default=False,
        description="Repeat a merged range's value (held by its top-left cell) over every cell of the "
        "range in data rows. Off by default: a value merged over three rows staged three times would "
        "be counted three times. Merged ranges over data rows are named in the warnings either way.",
    )
    password: str | None = Field(
        default=None,
        repr=False,
        description="The password of an encrypted (password-protected) .xlsx, given from an environment "
        "variable, never written in the file: `password: ${SUPPLIERS_XLSX_PASSWORD}`. The workbook is "
        "decrypted (msoffcrypto-tool) into a temporary file that is removed after the extract.",
    )
    inflate_limit_mb: int | None = Field(
        default=None,
        gt=0,
        le=4096,
        description="xlsx, xlsb, ods: how far (in MB) one part of the zip may inflate at any compression "
        "ratio (default 16); past it, a part compressed more than 100:1 is refused as a zip bomb. Raise it "
        "for a genuine workbook of repetitive rows refused so.",
    )
    stop_at: str | None = None  # regex: a row whose first non-empty cell matches ends the sheet (合计, Total)
    skip_empty_rows: bool = True
    # text files
    encoding: str | None = None  # None: detected
    delimiter: str | None = None  # None: detected
    # databases
    url: str | None = None
    table: str | None = None
    query: str | None = None
    chunk_size: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _where(self) -> SourceSpec:
        if self.kind == "sql":
            if not self.url:
                raise ValueError("a sql source needs `url`")
            if bool(self.table) == bool(self.query):
                raise ValueError("a sql source needs exactly one of `table` or `query`")
        elif not self.path:
            raise ValueError(f"a {self.kind} source needs `path`")
        if self.header == "none" and self.kind in ("csv", "sql"):
            raise ValueError("`header: none` is for workbooks (xlsx, xls, xlsb, ods)")
        if self.inflate_limit_mb is not None and self.kind not in ("xlsx", "xlsb", "ods"):
            raise ValueError("`inflate_limit_mb` is for zipped workbooks (xlsx, xlsb, ods)")
        if self.password is not None and self.kind != "xlsx":
            raise ValueError("`password` opens an encrypted xlsx only")
        if sum(x is not None for x in (self.sheet, self.sheets, self.sheet_pattern)) > 1:
            raise ValueError("give at most one of `sheet`, `sheets`, `sheet_pattern`")
        if self.sheet_pattern is not None:
            try:
                re.compile(self.sheet_pattern)
            except re.error as exc:
                raise ValueError(f"`sheet_pattern` is not a regular expression: {exc}") from None
        return self


class Defaults(Spec):
    chunk_size: int = Field(default=10_000, gt=0)
    load_jobs: int = Field(default=1, gt=0, le=64)  # PostgreSQL connections per entity's load
    timezone: str = "Asia/Shanghai"  # legacy timestamps without an offset are read in this zone

    @field_validator("timezone")
    @classmethod
    def _real_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{excerpt(name)!r} is not a time zone of the IANA database (e.g. Asia/Shanghai, Europe/Berlin, UTC)"
            ) from None
        return name

    def jobs_for(self, target: URL) -> int:
        """`load_jobs` on a PostgreSQL target; 1 on SQLite, which lets one connection write."""
        return self.load_jobs if target.get_backend_name() == "postgresql" else 1


class ProjectSpec(Spec):
    name: str
    description: str = ""
    target: str = DEFAULT_TARGET
    staging: str = DEFAULT_STAGING
    defaults: Defaults = Defaults()
    sources: dict[Annotated[str, Field(pattern=NAME)], SourceSpec] = {}
    transforms: tuple[str, ...] = ()  # import paths of modules registering project transforms


class SignatureRequirement(Spec):
    """A signature a phase needs before approval: a role and what the signature means."""

    role: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_\-]{0,62}$")]  # a role of people.yaml
    meaning: Literal["reviewed", "approved"]  # what the signature must state (`migrate sign --meaning`)


class RunbookStep(Spec):
    """A manual step of a phase's runbook; `minutes` is what the ETA counts for it."""

    step: str = Field(min_length=1)  # what is done by hand, as the runbook prints it
    owner: str = ""  # who does it
    minutes: float = Field(default=0, ge=0)  # how long it takes: counted into the go-live ETA


class PhaseSpec(Spec):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,62}$")]
    description: str = ""
    entities: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    gates: tuple[dict[str, Any], ...] = ()
    runbook: tuple[RunbookStep | str, ...] = ()  # a plain string: a step without a time estimate
    signatures: tuple[SignatureRequirement, ...] = ()  # migrate.signoff: each by a different person

    @field_validator("entities")
    @classmethod
    def _known(cls, entities: tuple[str, ...]) -> tuple[str, ...]:
        for name in entities:
            if name not in ENTITIES:
                raise ValueError(f"unknown entity {name!r}; known: {', '.join(ENTITIES)}")
        return entities


class PlanSpec(Spec):
    phases: tuple[PhaseSpec, ...]

    @model_validator(mode="after")
    def _consistent(self) -> PlanSpec:
        seen_phases: set[str] = set()
        carried: dict[str, str] = {}
        for phase in self.phases:
            if phase.name in seen_phases:
                raise ValueError(f"phase {phase.name!r} is declared twice")
            for dep in phase.depends_on:
                if dep not in seen_phases:
                    raise ValueError(
                        f"phase {phase.name!r} depends on {dep!r}, which is not an earlier phase"
                    )
            for name in phase.entities:
                if name in carried:
                    raise ValueError(f"entity {name!r} is in phases {carried[name]!r} and {phase.name!r}")
                for ref in ENTITIES[name].depends_on:
                    if ref not in carried and ref not in phase.entities:
                        raise ValueError(
                            f"phase {phase.name!r} carries {name!r}, which references {ref!r}, "
                            "carried by no earlier or same phase"
                        )
                carried[name] = phase.name
            seen_phases.add(phase.name)
        from migrate.reconcile.trace import plan_problem  # the checks the phase gates run

        if problem := plan_problem(self):
            raise ValueError(problem)
        return self

    def phase(self, name: str) -> PhaseSpec:
        for phase in self.phases:
            if phase.name == name:
                return phase
        names = [p.name for p in self.phases]
        guess = did_you_mean(name, names)
        raise ConfigError(
            f"no phase {excerpt(name)!r}{guess}; the plan has: {', '.join(names)}.", file=PLAN_FILE
        )


def read_yaml(path: Path, root: Path | None = None) -> Any:
    """Parse a YAML file (data only, size- and alias-limited: `migrate.yamlio`), naming the file on error."""
    return load_yaml(path, _shown(path, root))


def validated(model: type[Spec], data: Any, path: Path, root: Path | None = None) -> Any:
    """Validate parsed YAML into a spec; the first error names the file and the key path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # a misspelt key first: it is the cause of the "Field required" its right name then reports
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        key = ".".join(excerpt(str(p)) for p in first["loc"]) or "(top level)"
        message = _QUOTED.sub(lambda m: repr(excerpt(m.group(1))), first["msg"].removeprefix("Value error, "))
        if first["type"] == "extra_forbidden" and first["loc"]:
            message = _unknown_key(model, first["loc"])
        elif first["input"] is None and first["type"] in _EXPECTED:
            message = f"nothing is given here (are all its entries commented out?); expected {_EXPECTED[first['type']]}"
        more = len(errors) - 1
        hint = f"({more} more problem{'s' if more > 1 else ''} in this file.)" if more else None
        raise ConfigError(message + ".", file=_shown(path, root), key=key, hint=hint) from None


def _unknown_key(model: type[BaseModel], loc: tuple) -> str:
    """'unknown key' with the keys allowed where it stands, and the nearest one (a typo: `form`)."""
    allowed = sorted(
        {f.alias or name for m in _models_at(model, loc[:-1]) for name, f in m.model_fields.items()}
    )
    unknown = excerpt(str(loc[-1]))
    guess = did_you_mean(str(loc[-1]), allowed)
    listed = ", ".join(allowed)
    return (
        f"unknown key {unknown!r}{guess}; the keys allowed here: {excerpt(listed, 300) if listed else 'none'}"
    )


def _models_at(model: Any, path: tuple) -> list[type[BaseModel]]:
    """The spec classes a validation error's location leads to, through fields, mapping values,
    list items and unions."""
    found = [model]
    for part in path:
        found = [inner for a in found for inner in _step(a, part)]
    return [a for a in _unwrapped(found) if isinstance(a, type) and issubclass(a, BaseModel)]


def _unwrapped(annotations: list) -> list:
    out = []
    for a in annotations:
        origin = get_origin(a)
        if origin is Annotated:
            out += _unwrapped([get_args(a)[0]])
        elif origin in (Union, UnionType):
            out += _unwrapped(list(get_args(a)))
        else:
            out.append(a)
    return out


def _step(annotation: Any, part: Any) -> list:
    inner = []
    for a in _unwrapped([annotation]):
        if isinstance(a, type) and issubclass(a, BaseModel):
            by_key = {f.alias or name: f for name, f in a.model_fields.items()}
            inner += [by_key[part].annotation] if part in by_key else []
        elif get_origin(a) is dict:
            inner.append(get_args(a)[1])
        elif get_origin(a) in (tuple, list):
            inner.append(get_args(a)[0])
    return inner


def interpolate(value: Any, path: Path, key: str = "", root: Path | None = None) -> Any:
    """Replace `${VAR}` in every string of parsed YAML with the environment's value."""
    if isinstance(value, dict):
        return {k: interpolate(v, path, f"{key}.{k}" if key else str(k), root) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, path, f"{key}.{i}", root) for i, v in enumerate(value)]
    if isinstance(value, str):

        def env(match: re.Match) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(
                    f"environment variable {name} is not set.",
                    file=_shown(path, root),
                    key=key,
                    hint=f"Export {name} before running, or remove ${{{name}}} from the file.",
                )
            if _URL_KEY.match(key) and _in_user_info(value, match.start()):
                return quote(os.environ[name], safe="")  # a password's @ : / # would end its part
            return os.environ[name]

        return _ENV.sub(env, value)
    return value


_URL_KEY = re.compile(r"(target|staging|sources\.[^.]+\.url)$")


def _in_user_info(url: str, at: int) -> bool:
    """Whether position `at` of a URL template lies in its user:password part: after `://`,
    before the `@` that follows, with no `/` between (still the URL's authority)."""
    scheme_end = url.find("://")
    return 0 <= scheme_end < at and "/" not in url[scheme_end + 3 : at] and "@" in url[at:]


def _shown(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


class Project:
    """A cutover project folder, its specs parsed on first use."""

    def __init__(self, root: Path | str, *, target_override: str | None = None) -> None:
        self.root = Path(root).resolve()
        self._target_override = target_override

    @cached_property
    def spec(self) -> ProjectSpec:
        path = self.root / PROJECT_FILE
        data = read_yaml(path, self.root)
        if not isinstance(data, dict):
            raise ConfigError("expected a mapping of keys (name, target, sources...).", file=PROJECT_FILE)
        return validated(ProjectSpec, interpolate(data, path, root=self.root), path, self.root)

    @cached_property
    def plan(self) -> PlanSpec:
        path = self.root / PLAN_FILE
        data = read_yaml(path, self.root)
        return validated(PlanSpec, interpolate(data, path, root=self.root), path, self.root)

    @property
    def work_dir(self) -> Path:
        return self.root / WORK_DIR

    @property
    def target_url(self) -> URL:
        if self._target_override:
            return parse_url(self._target_override, base_dir=self.root, where="--target")
        return parse_url(self.spec.target, base_dir=self.root, where=f"{PROJECT_FILE} key target")

    @property
    def staging_url(self) -> URL:
        return parse_url(self.spec.staging, base_dir=self.root, where=f"{PROJECT_FILE} key staging")

    def path(self, relative: str) -> Path:
        """A path from a project file, resolved against the project folder."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    def source(self, name: str) -> SourceSpec:
        try:
            return self.spec.sources[name]
        except KeyError:
            known = ", ".join(self.spec.sources) or "none"
            guess = did_you_mean(name, self.spec.sources)
            raise ConfigError(
                f"no source {excerpt(name)!r} is declared{guess}; declared: {known}.", file=PROJECT_FILE
            ) from None

    def entities(self, names: tuple[str, ...] | list[str] = (), phase: str | None = None) -> tuple[str, ...]:
        """Resolve a stage's selection (entity names, a phase, or nothing = all) in load order."""
        from migrate.model import LOAD_ORDER, entity

        if phase is not None and names:
            raise ConfigError("give entity names or --phase, not both.")
        if phase is not None:
            chosen = set(self.plan.phase(phase).entities)
        elif names:
            chosen = {entity(n).name for n in names}
        else:
            chosen = set(LOAD_ORDER)
        return tuple(e for e in LOAD_ORDER if e in chosen)
