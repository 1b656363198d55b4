"""docs/project.md: project.yaml, phases/plan.yaml (with the gates), rollback/<point>.yaml and
reconcile/<entity>.yaml, from their specs, the scaffold's templates and the reference project."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import yaml

from migrate import people as people_module
from migrate import phase
from migrate.docs.specs import doc_paragraphs, render_sections, spec_sections
from migrate.people import PeopleSpec
from migrate.project import PlanSpec, ProjectSpec
from migrate.reconcile import spec as reconcile_spec
from migrate.rollback.plan import RollbackPlanSpec

REFERENCE = Path(__file__).resolve().parents[2]  # the repository root: the reference project

# An example value per declared gate kind (a kind added without one is shown with `...`).
GATE_EXAMPLES = {"max_rejected": 0, "max_reject_rate": 0.01}

NOTES = {
    "ProjectSpec": {
        "name": "the project's name (shown in reports)",
        "description": "free text for people",
        "target": "SQLAlchemy URL of the target ERP database; `${VAR}` is read from the environment. "
        "A PostgreSQL database must exist and its user may create tables; `migrate db upgrade` creates them",
        "staging": "SQLAlchemy URL of the work store (staged and mapped rows)",
        "defaults": "values every stage uses unless told otherwise",
        "sources": "every legacy source, by name (lower case, digits, `_`); never written to",
    },
    "SourceSpec": {
        "kind": "`xlsx`, `xls` (workbooks), `csv` (text), `sql` (a table or query of a database)",
        "description": "free text for people",
        "path": "files: the file, relative to the project folder",
        "sheet": "workbooks: one sheet by name (default: every visible sheet, stacked)",
        "sheets": "workbooks: several sheets by name, stacked",
        "sheet_pattern": "workbooks: every sheet whose name matches this regular expression, stacked",
        "include_hidden": "workbooks: read hidden sheets too",
        "header_row": "workbooks: the header's row, counted from 1 (default: detected)",
        "skip_empty_rows": "leave out rows with no value in any cell (counted as skipped)",
        "encoding": "csv: the text encoding, e.g. `gb18030` (default: detected)",
        "delimiter": "csv: the field separator (default: detected)",
        "url": "sql: SQLAlchemy URL of the legacy database (`${VAR}` for passwords)",
        "table": "sql: a table to read whole",
        "query": "sql: a SELECT to read instead of a table",
        "chunk_size": "sql: rows fetched per round trip",
    },
    "Defaults": {
        "chunk_size": "rows per chunk for map and load",
        "load_jobs": "connections each entity's load uses at once on a PostgreSQL target "
        "(`migrate load --jobs`); a SQLite target loads on one",
    },
    "PlanSpec": {"phases": "in the order they are run and approved"},
    "PhaseSpec": {
        "name": "the phase, and the name of the cutover point its approval records",
        "description": "free text for people",
        "entities": "entities this phase carries; each entity in exactly one phase",
        "depends_on": "earlier phases that must be approved first",
        "gates": "extra gates, one key each (see [Gates](#gates))",
        "runbook": "manual steps, shown by `migrate phase status`",
    },
    "RollbackPlanSpec": {
        "description": "free text for people",
        "rows_per_second": "the automatic replay's speed, for the time estimate (measure it: `migrate rollback rehearse`)",
        "steps": "manual steps around the replay",
    },
    "ManualStep": {"step": "what to do", "owner": "who does it", "minutes": "how long it takes"},
    "ReconcileSpec": {
        "entity": "the entity; defaults to the file's name",
        "ignore": "columns left out of the comparison",
        "tolerances": "per compared column: how far apart values may be",
        "control_totals": "sums or counts over the raw source, compared with the target's",
    },
    "Tolerance": {
        "abs": "numbers: absolute difference allowed",
        "rel": "numbers: difference allowed relative to the target's value",
        "seconds": "timestamps: seconds apart allowed",
    },
    "ControlTotal": {
        "name": "how the total is named in the report",
        "aggregate": "`sum` of a column, or `count` of rows",
        "parse": "how the raw source text is read as a number",
        "tolerance": "how far apart the two totals may be",
    },
}


def _template(relative: str) -> str:
    return (files("migrate") / "templates" / "project" / relative).read_text(encoding="utf-8").strip()


def _reference(relative: str) -> str:
    path = REFERENCE / relative
    return path.read_text(encoding="utf-8").strip() if path.exists() else ""


def plan_example() -> str:
    """A plan.yaml using every declared gate kind (parsed and checked by the docs test)."""
    gates = [{kind: GATE_EXAMPLES.get(kind, "...")} for kind in phase.DECLARED_GATES]
    plan = {
        "phases": [
            {
                "name": "master-data",
                "description": "Suppliers, customers, materials, equipment.",
                "entities": ["supplier", "customer", "material", "equipment"],
                "gates": gates,
                "runbook": ["Freeze master-data changes in the legacy ERP"],
            },
            {
                "name": "open-inventory",
                "depends_on": ["master-data"],
                "entities": ["material_lot", "inventory_movement"],
            },
        ]
    }
    return yaml.safe_dump(plan, allow_unicode=True, sort_keys=False, default_flow_style=None).strip()


def _gates() -> str:
    declared = "\n".join(f"- `{kind}: {GATE_EXAMPLES.get(kind, '...')}`" for kind in phase.DECLARED_GATES)
    return "\n".join(
        [
            "## Gates\n",
            *(f"{p}\n" for p in doc_paragraphs(phase)[1:]),
            "`migrate phase approve` checks them in this order; once one is not met the later ones "
            "are not checked and it exits 1 naming it. The declared gate kinds (`gates:` of a "
            "phase, a list of one-key entries), checked after the built-in ones:\n",
            declared + "\n",
            "A plan using them:\n",
            f"```yaml\n{plan_example()}\n```\n",
        ]
    )


def render() -> str:
    project = spec_sections(ProjectSpec, placeholders={"sources": "<source>"})
    plan = spec_sections(PlanSpec)
    rollback = spec_sections(RollbackPlanSpec)
    reconcile = spec_sections(reconcile_spec.ReconcileSpec, placeholders={"tolerances": "<column>"})
    return "\n".join(
        [
            "# Project files\n",
            "A cutover project is a folder: `project.yaml`, `mappings/` ([mapping.md](mapping.md)), "
            "`phases/plan.yaml`, `rollback/<point>.yaml`, `reconcile/<entity>.yaml` and, where phases "
            "need signatures, `people.yaml`. Every file "
            "is data, validated before anything runs; an error names the file and the key path and "
            "exits 2. `migrate init DIR` scaffolds one.\n",
            "## `project.yaml`\n",
            "As `migrate init` writes it, with an example of each kind of source:\n",
            f"```yaml\n{_template('project.yaml')}\n```\n",
            render_sections(project, "Keys of project.yaml", NOTES),
            "## `phases/plan.yaml`\n",
            f"```yaml\n{_template('phases/plan.yaml')}\n```\n",
            render_sections(plan, "Keys of phases/plan.yaml", NOTES),
            _gates(),
            "## `rollback/<point>.yaml`\n",
            "The plan for rolling the target back **to** cutover point `<point>` (a phase's name once "
            "approved, or `start`, the state before the first load): `migrate rollback plan --to "
            "<point>` shows it beside the automatic steps the ledger implies.\n",
            f"```yaml\n{_reference('rollback/master-data.yaml')}\n```\n",
            render_sections(rollback, "Keys of rollback/<point>.yaml", NOTES),
            "## `reconcile/<entity>.yaml`\n",
            *(f"{p}\n" for p in doc_paragraphs(reconcile_spec)[1:]),
            "Without a file, `migrate reconcile` compares every mapped column exactly by the natural key.\n",
            f"```yaml\n{_reference('reconcile/material_lot.yaml')}\n```\n",
            render_sections(reconcile, "Keys of reconcile/<entity>.yaml", NOTES),
            "## `people.yaml`\n",
            *(f"{p}\n" for p in doc_paragraphs(people_module)[1:]),
            "Who must sign a phase is `signatures:` in phases/plan.yaml; `migrate sign PHASE --as ROLE "
            "--meaning M --key ~/.ssh/id_ed25519` signs it; `migrate people list` shows who is declared.\n",
            render_sections(spec_sections(PeopleSpec), "Keys of people.yaml", NOTES),
        ]
    )
