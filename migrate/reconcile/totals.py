"""Control totals: an aggregate over the raw staged source, parsed by the rule file's own
declarations (never by the mapping code), against the same aggregate computed by SQL on
the target. A mapping bug that changes values shows up here even if the row-level
comparison (which trusts the mapped rows) cannot see it."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
from sqlalchemy import Engine, text

from migrate.errors import ConfigError
from migrate.reconcile.sides import column_kind, from_clause, raw_expr
from migrate.reconcile.spec import RULES_DIR, ControlTotal
from migrate.store import LINEAGE, WorkStore, normalize_header, staged_table

_MICRO = Decimal("0.000001")
TOTAL = "(all)"  # the group name of an ungrouped total


@dataclass(frozen=True)
class TotalResult:
    name: str
    aggregate: str
    source: str
    groups: dict[str, tuple[Decimal, Decimal]]  # group -> (source, target)
    tolerance_abs: Decimal
    tolerance_rel: Decimal
    unparsed_rows: int = 0  # staged cells the rule's parsing could not read (listed, never skipped silently)
    unparsed_examples: list[dict[str, Any]] = field(default_factory=list)
    excluded_rejected: int = 0
    # each source's (and column's) share of the source side, for an entity fed by several;
    # the target cannot be split by source (it keeps no lineage), so these are not compared
    by_source: dict[str, Decimal] = field(default_factory=dict)

    def past_tolerance(self) -> dict[str, tuple[Decimal, Decimal]]:
        return {
            g: (s, t)
            for g, (s, t) in self.groups.items()
            if abs(s - t) > self.tolerance_abs + self.tolerance_rel * abs(t)
        }

    @property
    def ok(self) -> bool:
        return not self.past_tolerance() and self.unparsed_rows == 0

    def to_dict(self) -> dict[str, Any]:
        bad = self.past_tolerance()
        return {
            "name": self.name,
            "ok": self.ok,
            "aggregate": self.aggregate,
            "source": self.source,
            "tolerance": {"abs": str(self.tolerance_abs), "rel": str(self.tolerance_rel)},
            "groups": len(self.groups),
            "groups_past_tolerance": len(bad),
            "source_total": str(sum((s for s, _ in self.groups.values()), Decimal(0))),
            "target_total": str(sum((t for _, t in self.groups.values()), Decimal(0))),
            "differences": [
                {"group": g, "source": str(s), "target": str(t), "difference": str(t - s)}
                for g, (s, t) in sorted(bad.items())
            ],
            "unparsed_rows": self.unparsed_rows,
            "unparsed_examples": self.unparsed_examples,
            "excluded_rejected_rows": self.excluded_rejected,
            "by_source": {label: str(value) for label, value in self.by_source.items()},
        }


def control_total(store: WorkStore, target: Engine, entity: str, total: ControlTotal) -> TotalResult:
    source, unparsed, examples, excluded, shares = _whole_source_side(store, entity, total)
    target_side = _target_side(target, entity, total)
    groups = {g: (source.get(g, Decimal(0)), target_side.get(g, Decimal(0))) for g in {*source, *target_side}}
    return TotalResult(
        total.name,
        total.aggregate,
        " + ".join([total.source, *(p.source for p in total.also)]),
        groups,
        total.tolerance.abs,
        total.tolerance.rel,
        unparsed,
        examples,
        excluded,
        shares,
    )


def _share_label(total: ControlTotal) -> str:
    return f"{total.source}: {total.source_column}" if total.source_column else total.source


def _staged_columns(store: WorkStore, entity: str, total: ControlTotal) -> dict[str, str]:
    """Rule headers -> staged column names, checked against the staged table."""
    table = staged_table(total.source)
    where = f"{RULES_DIR}/{entity}.yaml"
    if not store.has_table(table):
        raise ConfigError(
            f"control total {total.name!r}: source {total.source!r} has not been extracted "
            f"(no {table} in the work store).",
            file=where,
            hint="Run `migrate extract` first.",
        )
    present = set(store.columns(table))
    wanted = {h: normalize_header(h) for h in (total.source_column, total.group_by_source) if h}
    for header, column in wanted.items():
        if column not in present:
            raise ConfigError(
                f"control total {total.name!r}: source {total.source!r} has no column {header!r}.",
                file=where,
                key="control_totals",
            )
    return wanted


def _whole_source_side(store: WorkStore, entity: str, total: ControlTotal):
    """The source side over the total's source and its `also` sources, added group by group,
    and each one's share of it."""
    sums, unparsed, examples, excluded = _source_side(store, entity, total)
    shares = {_share_label(total): sum(sums.values(), Decimal(0))}
    for part in total.also:
        one = total.model_copy(
            update={
                "source": part.source,
                "source_column": part.source_column or total.source_column,
                "group_by_source": part.group_by_source or total.group_by_source,
            }
        )
        more, bad, shown, dropped = _source_side(store, entity, one)
        label = _share_label(one)
        shares[label] = shares.get(label, Decimal(0)) + sum(more.values(), Decimal(0))
        for group, value in more.items():
            sums[group] = sums.get(group, Decimal(0)) + value
        unparsed, excluded = unparsed + bad, excluded + dropped
        examples += shown[: max(5 - len(examples), 0)]
    return sums, unparsed, examples, excluded, shares


def _source_side(store: WorkStore, entity: str, total: ControlTotal):
    if total.aggregate == "count":
        return _counted_source_side(store, entity, total)
    wanted = _staged_columns(store, entity, total)
    rejected = _rejected_lineage(store, entity, total.source) if total.exclude_rejected else set()
    sums: dict[str, Decimal] = {}
    unparsed, excluded, examples = 0, 0, []
    for chunk in store.read_chunks(
        staged_table(total.source), columns=[*LINEAGE, *dict.fromkeys(wanted.values())]
    ):
        if rejected:
            lineage = pd.Series(
                list(zip(*(_lineage_text(chunk[c]) for c in LINEAGE), strict=True)), index=chunk.index
            )
            drop = lineage.isin(rejected)
            excluded += int(drop.sum())
            chunk = chunk[~drop]
        group = _groups(chunk, wanted.get(total.group_by_source or ""))
        if total.aggregate == "count":
            values = pd.Series(Decimal(1), index=chunk.index, dtype=object)
        else:
            values = parse_values(chunk[wanted[total.source_column]], total)
            bad = values.isna() & chunk[wanted[total.source_column]].notna()
            unparsed += int(bad.sum())
            examples += _examples(chunk[bad], wanted[total.source_column], 5 - len(examples))
            values = values.fillna(Decimal(0))
        for g, v in values.groupby(group, sort=False).sum().items():
            sums[g] = sums.get(g, Decimal(0)) + Decimal(v)
    return sums, unparsed, examples, excluded


def _counted_source_side(store: WorkStore, entity: str, total: ControlTotal):
    """A count needs no value parsed: rows per group counted by the work store's SQL, less the
    rejected rows, which are found by their row number and then matched on their whole
    lineage, as the chunked path matches them (a 10M-row source is not read into Python)."""
    wanted = _staged_columns(store, entity, total)
    group = wanted.get(total.group_by_source or "")
    quote = store.engine.dialect.identifier_preparer.quote
    table = quote(staged_table(total.source))
    rejected = _rejected_lineage(store, entity, total.source) if total.exclude_rejected else set()
    counts: dict[str, int] = {}
    with store.engine.connect() as c:
        if group is None:
            counts[TOTAL] = int(c.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())
        else:
            sql = f"SELECT {quote(group)}, COUNT(*) FROM {table} GROUP BY {quote(group)}"
            for value, n in c.exec_driver_sql(sql):
                counts[_group_text(value)] = counts.get(_group_text(value), 0) + int(n)
        excluded = _rejected_rows(c, table, quote(group) if group else None, rejected)
    for name, n in excluded.items():
        counts[name] -= n
    sums = {name: Decimal(n) for name, n in counts.items() if n}  # a group all rejected is no group
    return sums, 0, [], sum(excluded.values())


REJECTED_ROWS = "migrate_rejected_rows"  # a temporary table of the rejected rows' numbers


def _rejected_rows(conn, table: str, group: str | None, rejected: set[tuple[str, ...]]) -> Counter:
    """How many staged rows per group have a rejected lineage: candidates by row number (a
    temporary table, joined by the database), each candidate's whole lineage checked here."""
    numbers = sorted({r[3] for r in rejected})  # as text: a staged _row may be stored either way
    out: Counter = Counter()
    if not numbers:
        return out
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {REJECTED_ROWS}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {REJECTED_ROWS} (_row TEXT PRIMARY KEY)")
    conn.execute(text(f"INSERT INTO {REJECTED_ROWS} (_row) VALUES (:n)"), [{"n": n} for n in numbers])
    listed = ", ".join(f'"{c}"' for c in LINEAGE) + (f", {group}" if group else "")
    sql = f"SELECT {listed} FROM {table} WHERE CAST(_row AS TEXT) IN (SELECT _row FROM {REJECTED_ROWS})"
    for row in conn.exec_driver_sql(sql):
        if tuple("" if v is None else str(v) for v in row[: len(LINEAGE)]) in rejected:
            out[_group_text(row[-1]) if group else TOTAL] += 1
    conn.exec_driver_sql(f"DROP TABLE {REJECTED_ROWS}")
    return out


def _group_text(value) -> str:
    """A group's name as `_groups` makes it: the text trimmed, NULL as ''."""
    return "" if value is None else str(value).strip()


def _groups(chunk: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None:
        return pd.Series(TOTAL, index=chunk.index, dtype=object)
    return chunk[column].astype(object).where(chunk[column].notna(), "").astype(str).str.strip()


def _examples(rows: pd.DataFrame, column: str, room: int) -> list[dict[str, Any]]:
    out = []
    for row in rows.head(max(room, 0)).to_dict("records"):  # records: names may not be identifiers
        out.append({"file": row["_file"], "sheet": row["_sheet"], "row": row["_row"], "value": row[column]})
    return out


def parse_values(raw: pd.Series, total: ControlTotal) -> pd.Series:
    """Staged text -> exact decimals by the rule's declared parsing; None where it does not parse."""
    p = total.parse
    text_ = raw.astype(object).where(raw.notna(), None).dropna().astype(str)
    text_ = text_.map(lambda s: unicodedata.normalize("NFKC", s)).str.replace("\u00a0", " ").str.strip()
    if p.strip_suffix:
        suffix = "|".join(re.escape(unicodedata.normalize("NFKC", s)) for s in p.strip_suffix)
        text_ = text_.str.replace(f"\\s*(?:{suffix})$", "", regex=True, flags=re.IGNORECASE)
    if p.thousands:
        text_ = text_.str.replace(p.thousands, "", regex=False)
    if p.decimal_comma:
        text_ = text_.str.replace(",", ".", regex=False)
    parsed = text_.str.replace(" ", "", regex=False).map(_decimal)
    if p.scale != 1:
        parsed = parsed.map(lambda d: None if d is None else d * p.scale)
    return parsed.reindex(raw.index).astype(object).where(parsed.reindex(raw.index).notna(), None)


def _decimal(s: str) -> Decimal | None:
    try:
        value = Decimal(s)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _rejected_lineage(store: WorkStore, entity: str, source: str) -> set[tuple[str, ...]]:
    if not store.has_table("map_rejects"):
        return set()
    sql = 'SELECT "_source", "_file", "_sheet", "_row" FROM map_rejects WHERE entity = :e AND "_source" = :s'
    with store.engine.connect() as c:
        rows = c.execute(text(sql), {"e": entity, "s": source}).all()
    return {tuple("" if v is None else str(v) for v in row) for row in rows}


def _lineage_text(column: pd.Series) -> list[str]:
    """Lineage values as text, NULL as '' (a database source has no file or sheet)."""
    return ["" if v is None or v != v else str(v) for v in column.tolist()]


def _target_side(target: Engine, entity: str, total: ControlTotal) -> dict[str, Decimal]:
    """The aggregate by SQL on the target, exact on both backends (micro-units on SQLite)."""
    group = raw_expr(target, entity, total.group_by_target) if total.group_by_target else "'(all)'"
    if total.aggregate == "count":
        value = "COUNT(*)"
    else:
        column = raw_expr(target, entity, total.target_column)
        kind = column_kind(entity, total.target_column)
        if target.dialect.name == "sqlite" and kind == "decimal":
            value = f"SUM(CAST(REPLACE({column}, '.', '') AS INTEGER))"  # canonical text has 6 decimals
        else:
            value = f"SUM({column})"
    grouped = f" GROUP BY {group}" if total.group_by_target else ""  # PostgreSQL refuses GROUP BY a constant
    sql = f"SELECT {group} AS g, {value} AS v FROM {from_clause(target, entity)}{grouped}"
    micro = (
        total.aggregate == "sum"
        and target.dialect.name == "sqlite"
        and column_kind(entity, total.target_column) == "decimal"
    )
    with target.connect() as c:
        rows = c.exec_driver_sql(sql).all()
    out = {}
    for g, v in rows:
        amount = Decimal(0) if v is None else Decimal(str(v))
        out["" if g is None else str(g).strip()] = amount * _MICRO if micro else amount
    return out
