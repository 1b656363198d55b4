"""A newcomer's own plant, made with `migrate init`: an .xls master workbook of several sheets
(written by xlwt), a UTF-16 customer CSV and a query over an MES SQLite database; two phases.
What broke or confused on the way, each pinned here."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import xlwt
import yaml
from openpyxl import load_workbook
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.scaffold import scaffold
from tests.cli.terminal import run_in_terminal, screen_lines
from tests.signoff.helpers import keygen, require_signatures, write_people

SOURCES = """sources:
  suppliers: {kind: xls, path: legacy/master.xls, sheet: 供应商}
  materials: {kind: xls, path: legacy/master.xls, sheet: 物料}
  customers: {kind: csv, path: legacy/customers.csv, encoding: utf-16}
  mes_lots:
    kind: sql
    url: sqlite:///legacy/mes.db
    query: SELECT lot_no, mat, sup, qty, st FROM lots WHERE deleted = 0
"""

MAPPINGS = {
    "supplier": """entity: supplier
sources: [suppliers]
columns:
  supplier_code: {from: 供应商编码, steps: [trim]}
  name: {from: 供应商名称, steps: [trim]}
  qualification_status: {from: 状态, steps: [trim, {value_map: supplier_status}]}
""",
    "material": """entity: material
sources: [materials]
columns:
  material_code: {from: 物料编码, steps: [trim]}
  name: {from: 物料名称, steps: [trim]}
  material_type: {const: raw}
  base_uom: {from: 单位, steps: [trim]}
""",
    "customer": """entity: customer
sources: [customers]
columns:
  customer_code: {from: 客户编码, steps: [trim]}
  name: {from: 客户名称, steps: [trim]}
""",
    "material_lot": """entity: material_lot
sources: [mes_lots]
columns:
  lot_no: {from: lot_no, steps: [trim]}
  material_code: {from: mat, steps: [trim]}
  supplier_code: {from: sup, steps: [trim]}
  quantity: {from: qty, steps: [decimal]}
  uom: {const: kg}
  status: {from: st, steps: [trim, {value_map: lot_status}]}
""",
}

VALUE_MAPS = {
    "supplier_status": "entries:\n  合格: approved\n  暂停: blocked\n",
    "lot_status": "entries:\n  Q: quarantine\n  R: released\n",
}

PLAN = """phases:
  - name: master-data
    entities: [supplier, material, customer]
  - name: inventory
    depends_on: [master-data]
    entities: [material_lot]
"""


def write_legacy(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    book = xlwt.Workbook(encoding="utf-8")
    book.add_sheet("说明").write(0, 0, "主数据导出, 请勿修改")
    sheets = {
        "供应商": [("供应商编码", "供应商名称", "状态")]
        + [(f"SUP{i:03d}", f"供应商{i}", ["合格", "暂停", "待审"][i % 3]) for i in range(1, 13)],
        "物料": [("物料编码", "物料名称", "单位")] + [(f"M{i:03d}", f"物料{i}", "kg") for i in range(1, 9)],
    }
    for title, rows in sheets.items():
        sheet = book.add_sheet(title)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
    book.save(str(folder / "master.xls"))
    with (folder / "customers.csv").open("w", encoding="utf-16", newline="") as handle:
        csv.writer(handle).writerows(
            [("客户编码", "客户名称"), *((f"C{i:02d}", f"客户{i}") for i in range(1, 6))]
        )
    with sqlite3.connect(folder / "mes.db") as mes:
        mes.execute("CREATE TABLE lots (lot_no TEXT, mat TEXT, sup TEXT, qty REAL, st TEXT, deleted INT)")
        mes.executemany(
            "INSERT INTO lots VALUES (?, ?, ?, ?, ?, ?)",
            [
                (f"L{i:04d}", f"M{i % 8 + 1:03d}", f"SUP{i % 12 + 1:03d}", i * 1.5, "QRH"[i % 3], 0)
                for i in range(30)
            ]
            + [("LOT[b]7", "M001", "SUP001", 7.0, "Q", 0)],  # legacy lot numbers hold brackets too
        )


def make_plant(root: Path) -> Path:
    scaffold(root)
    write_legacy(root / "legacy")
    (root / "project.yaml").write_text(
        (root / "project.yaml").read_text(encoding="utf-8").replace("sources: {}", SOURCES), encoding="utf-8"
    )
    for entity, text in MAPPINGS.items():
        (root / "mappings" / f"{entity}.yaml").write_text(text, encoding="utf-8")
    for name, text in VALUE_MAPS.items():
        (root / "mappings" / "values" / f"{name}.yaml").write_text(text, encoding="utf-8")
    (root / "phases" / "plan.yaml").write_text(PLAN, encoding="utf-8")
    return root


def run(root: Path, *args: str):
    return CliRunner().invoke(
        app, ["--project", str(root), "--operator", "li.na", *args], env={"COLUMNS": "80"}
    )


def one_line(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Path:
    """The plant with master data approved and the inventory phase run."""
    root = make_plant(tmp_path_factory.mktemp("newcomer") / "plant")
    for args in (("db", "upgrade"), ("phase", "run", "master-data"), ("phase", "approve", "master-data")):
        result = run(root, *args)
        assert result.exit_code == 0, result.output
    result = run(root, "phase", "run", "inventory")
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def own_copy(plant, tmp_path) -> Path:
    """A copy of the plant a test may change."""
    return Path(shutil.copytree(plant, tmp_path / "plant"))


def test_a_rehearsal_of_a_query_source_leaves_status_and_board_working(own_copy):
    """The ETA scales by a query source's row count; a text() query has no .subquery(), so once
    a rehearsal existed `phase status`, `phase run` and `report` ended in an internal error."""
    assert run(own_copy, "rehearsal", "run", "mock-1").exit_code in (0, 1)
    status = run(own_copy, "--json", "phase", "status")
    assert status.exit_code == 0, status.output
    assert '"mes_lots"' in status.stdout  # the query source is scaled by its rows now
    board = run(own_copy, "report", "--out", str(own_copy / "status.html"))
    assert board.exit_code == 0, board.output


def fill(workbook: Path, codes: dict[str, str]) -> None:
    """Type unified values into an export workbook, as the consultant does in Excel."""
    book = load_workbook(workbook)
    sheet = book["unmapped"]
    for row in sheet.iter_rows(min_row=2):
        if row[1].value in codes:
            row[2].value = codes[row[1].value]
    book.save(workbook)


def test_values_import_refuses_to_change_a_code_already_mapped(own_copy):
    """Re-importing an older workbook filled differently used to overwrite the entry silently
    and call it "1 value-map entries added"."""
    exported = run(own_copy, "values", "export", "supplier", "--out", str(own_copy / "unmapped.xlsx"))
    assert exported.exit_code == 0, exported.output
    stale = own_copy / "stale.xlsx"
    shutil.copy(own_copy / "unmapped.xlsx", stale)
    fill(own_copy / "unmapped.xlsx", {"待审": "conditional"})
    fill(stale, {"待审": "blocked"})
    assert run(own_copy, "values", "import", str(own_copy / "unmapped.xlsx")).exit_code == 0
    value_map = own_copy / "mappings" / "values" / "supplier_status.yaml"
    before = value_map.read_bytes()

    refused = run(own_copy, "values", "import", str(stale))
    assert refused.exit_code == 2, refused.output
    said = one_line(refused)
    assert "row 2" in said and "already maps '待审' to 'conditional', not 'blocked'" in said
    assert "supplier_status.yaml" in said and "Traceback" not in said
    assert value_map.read_bytes() == before

    again = run(own_copy, "values", "import", str(own_copy / "unmapped.xlsx"))
    assert again.exit_code == 0 and "nothing to add" in one_line(again)


def test_reconcile_without_a_selection_takes_the_mapped_entities(plant):
    """It compared all twelve entities of the model, eight of them 'no map run ... OK'."""
    result = run(plant, "--json", "reconcile")
    assert result.exit_code == 0, result.output
    entities = [e["entity"] for e in json.loads(result.stdout)["entities"]]
    assert entities == ["supplier", "customer", "material", "material_lot"]
    assert "no map run" not in run(plant, "reconcile").output


def test_reconcile_with_no_mapping_says_what_to_write(tmp_path):
    root = tmp_path / "fresh"
    scaffold(root)
    assert run(root, "db", "upgrade").exit_code == 0
    result = run(root, "reconcile")
    assert result.exit_code == 0, result.output
    assert "No mapping files in mappings/" in one_line(result)


def test_a_misspelt_key_is_named_before_the_field_it_leaves_missing(own_copy):
    """`minuts:` said "key steps.0.minutes: Field required. (1 more problem in this file.)",
    hiding the typo behind the problem it caused."""
    (own_copy / "rollback" / "master-data.yaml").write_text(
        "steps:\n  - {step: Freeze goods receipts, owner: 李娜, minuts: 15}\n", encoding="utf-8"
    )
    result = run(own_copy, "rollback", "plan", "--to", "master-data")
    assert result.exit_code == 2, result.output
    assert "key steps.0.minuts: unknown key 'minuts' (did you mean 'minutes'?)" in one_line(result)


def test_a_mapping_with_every_column_commented_out_says_so(own_copy):
    """`new mapping` matching no header leaves `columns:` with every entry commented out, which
    said "key columns: Input should be a valid dictionary"."""
    (own_copy / "mappings" / "supplier.yaml").write_text(
        "entity: supplier\nsources: [suppliers]\ncolumns:\n  # supplier_code: {from: '?', steps: [trim]}\n",
        encoding="utf-8",
    )
    result = run(own_copy, "map", "supplier", "--simulate")
    assert result.exit_code == 2, result.output
    said = one_line(result)
    assert "key columns: nothing is given here (are all its entries commented out?)" in said
    assert "valid dictionary" not in said


def test_trace_prints_a_lot_number_with_brackets_and_says_when_nothing_is_linked(plant):
    """A lot number was rich markup ('LOT[b]7' printed as 'LOT7'), a lot without a supplier
    lot number ended in '(None)', and a lot with no links printed its line alone."""
    result = run(plant, "trace", "LOT[b]7", "--forward")
    assert result.exit_code == 0, result.output
    assert "forward trace of LOT[b]7 M001 7.000000 kg from SUP001" in result.output
    assert "(None)" not in result.output
    assert "no child lots or shipments in the target" in result.output


def test_unmapped_codes_of_a_query_source_say_where_they_are(plant, tmp_path):
    """A database source has no file: its samples read ', row 4 | , row 9'."""
    out = tmp_path / "lots.xlsx"
    result = run(plant, "values", "export", "material_lot", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(load_workbook(out)["unmapped"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1], r[3]) for r in rows] == [("lot_status", "H", 10)]
    assert rows[0][4].startswith("source mes_lots, row 3 | source mes_lots, row 6")


def test_a_misspelt_phase_name_gets_a_suggestion(plant):
    result = run(plant, "phase", "run", "inventry")
    assert result.exit_code == 2, result.output
    assert (
        "no phase 'inventry' (did you mean 'inventory'?); the plan has: master-data, inventory"
        in one_line(result)
    )


def test_docs_finds_a_project_file_by_its_folder_name_once():
    """`migrate docs project rollback` said there was no such section (its heading is
    rollback/<point>.yaml); `reconcile` printed 'Keys of reconcile/<entity>.yaml' twice."""
    rollback = CliRunner().invoke(app, ["docs", "project", "rollback"])
    assert rollback.exit_code == 0, rollback.output
    assert rollback.output.startswith("## `rollback/<point>.yaml`")
    reconcile = CliRunner().invoke(app, ["docs", "project", "reconcile"])
    assert reconcile.exit_code == 0, reconcile.output
    assert reconcile.output.count("### Keys of reconcile/<entity>.yaml") == 1


def test_values_export_takes_a_phase_as_map_does(tmp_path):
    """Working phase by phase, `values export` mapped every entity and stopped at the first
    whose source was not extracted yet; it had no --phase, unlike map, load and reconcile."""
    root = make_plant(tmp_path / "plant")
    assert run(root, "extract", "--phase", "master-data").exit_code == 0
    out = tmp_path / "master.xlsx"
    every = run(root, "values", "export", "--out", str(out))
    assert every.exit_code == 2 and "or --phase P for one phase's" in one_line(every)
    result = run(root, "values", "export", "--phase", "master-data", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(load_workbook(out)["unmapped"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1], r[3]) for r in rows] == [("supplier_status", "待审", 4)]


def test_an_unreachable_target_is_one_paragraph(plant):
    """psycopg's 'Connection refused' came with a tab-indented second line."""
    result = run(plant, "--target", "postgresql+psycopg://erp:pw@127.0.0.1:1/erp", "phase", "status")
    assert result.exit_code == 2, result.output
    assert "\t" not in result.output and "\n " not in result.output
    assert "Connection refused Is the server running" in one_line(result)
    assert ":pw@" not in result.output


def test_rehearsal_compare_of_two_like_runs_is_lines_not_squeezed_tables(own_copy):
    """With nothing changed, each empty table wrapped its title and caption into an 18-column
    box ('inputs changed (by' / 'fingerprint)' / 'sources, mappings ...')."""
    for name in ("mock-1", "mock-2"):
        assert run(own_copy, "rehearsal", "run", name).exit_code in (0, 1)
    code, received = run_in_terminal(["rehearsal", "compare"], cwd=own_copy, columns=80)
    shown = [line.rstrip() for line in screen_lines(received)]
    assert code == 0, received
    assert "rejects: mock-1 -> mock-2: 3 entity/reason pairs unchanged" in shown
    assert "reconcile variances: none opened or closed" in shown
    assert "inputs: sources, mappings and value maps all unchanged (by fingerprint)" in shown


def test_counts_of_one_are_singular(plant, tmp_path):
    """'1 problems', '1 entities', '0 signatures ... 1 signatures' read as slips."""
    pack = tmp_path / "pack"
    assert run(plant, "evidence", "master-data", "--out", str(pack)).exit_code == 0
    (pack / "gates.json").write_text("{}", encoding="utf-8")
    result = run(plant, "evidence", "verify", str(pack))
    assert result.exit_code == 1
    assert "evidence pack NOT intact (1 problem):" in result.output
    code, received = run_in_terminal(["reconcile", "customer"], cwd=plant, columns=80)
    assert code == 0, received
    assert "✓ reconcile: 1 entity in" in received


def test_a_misspelt_source_gets_a_suggestion_and_an_existing_mapping_is_named_once(plant):
    result = run(plant, "new", "mapping", "customer", "--source", "custmers")
    assert result.exit_code == 2, result.output
    assert "no source 'custmers' is declared (did you mean 'customers'?)" in one_line(result)
    again = run(plant, "new", "mapping", "customer", "--source", "customers")
    assert again.exit_code == 2, again.output
    assert "mappings/customer.yaml: the file already exists. Edit it, or pass --force" in one_line(again)


def test_a_legacy_code_that_looks_like_markup_is_printed_as_it_is(own_copy):
    """A status '[/void]' in the MES ended `map --simulate` in a rich MarkupError traceback;
    '[red]H' lost its brackets."""
    with sqlite3.connect(own_copy / "legacy" / "mes.db") as mes:
        mes.execute("UPDATE lots SET st = '[/void]' WHERE lot_no = 'L0001'")
        mes.execute("UPDATE lots SET st = '[red]H' WHERE lot_no = 'L0002'")
    assert run(own_copy, "extract", "mes_lots").exit_code == 0
    result = run(own_copy, "map", "material_lot", "--simulate")
    assert result.exit_code == 0, result.output
    assert "material_lot unmapped lot_status: '[/void]' x1" in result.output
    assert "material_lot unmapped lot_status: '[red]H' x1" in result.output


def test_project_file_text_that_looks_like_markup_is_printed_as_it_is(plant, tmp_path):
    """An owner '[/QA] 李娜' in rollback/master-data.yaml ended `rollback plan` in a MarkupError
    traceback: table cells went through rich markup."""
    root = Path(shutil.copytree(plant, tmp_path / "plant"))
    assert run(root, "phase", "run", "inventory").exit_code == 0
    (root / "rollback" / "master-data.yaml").write_text(
        'steps:\n  - {step: "Freeze [b]receipts[/b]", owner: "[/QA] 李娜", minutes: 15, when: before}\n',
        encoding="utf-8",
    )
    result = run(root, "rollback", "plan", "--to", "master-data")
    assert result.exit_code == 0, result.output
    assert "Freeze [b]receipts[/b]" in result.output and "[/QA] 李娜" in result.output


def test_a_bug_while_rendering_is_one_paragraph_without_a_traceback(plant):
    """Rendering runs after the stage, outside reported_errors: a bug there printed typer's
    whole traceback. Seeded here: the plan's renderers raising, in a real `migrate` process."""
    seeded = (
        "import sys; import migrate.cli.rollback as r\n"
        "def broken(*_): raise RuntimeError('seeded render bug')\n"
        "r.render_plan = r.emit_json = broken\n"
        "from migrate.cli.app import main\n"
        "sys.argv = ['migrate', *sys.argv[1:]]; main()\n"
    )
    for extra, stream in (([], "stderr"), (["--json"], "stdout")):
        done = subprocess.run(
            [sys.executable, "-c", seeded, *extra, "rollback", "plan", "--to", "start"],
            cwd=plant,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert "internal error: RuntimeError: seeded render bug" in done.stderr
        if stream == "stdout":
            assert json.loads(done.stdout) == {
                "ok": False,
                "error": "InternalError",
                "message": "RuntimeError: seeded render bug",
            }


def test_a_workbook_source_without_a_sheet_warns_that_every_sheet_is_stacked(own_copy):
    """The docs said `sheet:` defaults to the first sheet; every visible sheet is read, so the
    notes sheet and the materials came in as suppliers, rejected by the dozen, unexplained."""
    project = own_copy / "project.yaml"
    project.write_text(
        project.read_text(encoding="utf-8").replace(
            "{kind: xls, path: legacy/master.xls, sheet: 供应商}", "{kind: xls, path: legacy/master.xls}"
        ),
        encoding="utf-8",
    )
    result = run(own_copy, "extract", "suppliers")
    assert result.exit_code == 0, result.output
    assert (
        "warning: legacy/master.xls: no sheet declared, so all 3 visible sheets are stacked (说明, 供应商, 物料)"
        in one_line(result)
    )
    page = CliRunner().invoke(app, ["docs", "project", "sources"]).output
    assert "one sheet by name (default: every visible sheet, stacked)" in page


def test_phase_status_takes_a_phase_name(plant):
    """`phase status inventory` said 'Got unexpected extra argument(s) (inventory)'."""
    result = run(plant, "phase", "status", "inventory")
    assert result.exit_code == 0, result.output
    assert "phase inventory: gates now" in result.output
    assert "phase master-data: gates now" not in result.output
    wrong = run(plant, "phase", "status", "inventry")
    assert wrong.exit_code == 2 and "(did you mean 'inventory'?)" in one_line(wrong)


def test_traceability_checks_the_plan_can_never_run_are_left_out(plant):
    """Four lines 'traceability lot_origin: not yet loaded: inventory_movement, lot_genealogy'
    on every reconcile of a plan that carries neither (and a ✓ for each on the board)."""
    result = run(plant, "--json", "reconcile")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["traceability"] == []
    assert "traceability" not in run(plant, "reconcile").output


def test_a_signature_given_again_over_new_evidence_is_superseded_not_invalid(plant, tmp_path):
    """QA signed, the plan changed, QA signed again: the board (in bold) and `phase status`
    still called the first signature 'not valid', before and after the approval."""
    root = Path(shutil.copytree(plant, tmp_path / "plant"))
    keys = tmp_path / "keys"
    write_people(
        root, {"li.na": (["qa"], keygen(keys, "li.na")), "chen.min": (["lead"], keygen(keys, "chen.min"))}
    )
    require_signatures(root, "inventory", [{"role": "qa", "meaning": "reviewed"}])

    def sign() -> None:
        signed = run(
            root, "sign", "inventory", "--as", "qa", "--meaning", "reviewed", "--key", str(keys / "li.na")
        )
        assert signed.exit_code == 0, signed.output

    sign()
    plan = root / "phases" / "plan.yaml"
    data = yaml.safe_load(plan.read_text(encoding="utf-8"))
    data["phases"][1]["runbook"] = ["Freeze goods receipts"]  # the evidence covers the plan
    plan.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    sign()
    status = run(root, "phase", "status", "inventory")
    assert "superseded: signed again over the current evidence" in one_line(status)
    assert "not valid" not in status.output
    board = root / "status.html"
    assert run(root, "report", "--out", str(board)).exit_code == 0
    page = board.read_text(encoding="utf-8")
    assert "superseded: signed again over the current evidence" in page and "not valid" not in page


def test_signing_with_a_passphrase_key_and_no_passphrase_says_which_variable(plant, tmp_path):
    """The message began with ssh-keygen's prompt ('Enter passphrase: Load key ...') and did
    not say the variable was unset. Run without a controlling terminal, as a script is (else
    ssh-keygen would ask on /dev/tty)."""
    keys = tmp_path / "keys"
    root = Path(shutil.copytree(plant, tmp_path / "plant"))
    write_people(
        root, {"chen.min": (["lead"], keygen(keys, "chen.min", "s3cret"))}, passphrase_env="PLANT_PASS"
    )
    args = ["sign", "master-data", "--as", "lead", "--meaning", "approved", "--key", str(keys / "chen.min")]
    env = {k: v for k, v in os.environ.items() if k != "PLANT_PASS"} | {"COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-m", "migrate", *args],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    said = " ".join(done.stderr.split())
    assert "Enter passphrase" not in said and "incorrect passphrase" in said
    assert "export PLANT_PASS (people.yaml's passphrase_env; not set now)" in said


def test_sources_list_tells_apart_two_sheets_of_one_workbook_and_names_the_database(own_copy):
    """Both workbook sources read 'legacy/master.xls' and the MES query just 'query'."""
    project = own_copy / "project.yaml"
    project.write_text(
        project.read_text(encoding="utf-8").replace(
            "sources:\n",
            "sources:\n  mes_history:\n    kind: sql\n"
            "    url: postgresql+psycopg://reader:${MES_PW}@mes.example:5432/mes\n    table: history\n",
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["--project", str(own_copy), "--json", "sources", "list"], env={"MES_PW": "hunter2"}
    )
    assert result.exit_code == 0, result.output
    where = {s["source"]: s["where"] for s in json.loads(result.stdout)["sources"]}
    assert where["suppliers"] == "legacy/master.xls, sheet 供应商"
    assert where["materials"] == "legacy/master.xls, sheet 物料"
    assert where["mes_lots"] == "sqlite:///legacy/mes.db, query"
    assert where["mes_history"] == "postgresql+psycopg://reader:***@mes.example:5432/mes, table history"
    assert "hunter2" not in result.output


def test_a_wrapped_reject_line_hangs_under_its_start_at_80_columns(plant):
    """At 80 columns a reject's example wrapped to column 0, level with the table."""
    code, received = run_in_terminal(["map", "material_lot", "--simulate"], cwd=plant, columns=80)
    assert code == 0, received
    lines = [line.rstrip() for line in screen_lines(received)]
    start = next(
        i for i, line in enumerate(lines) if line.startswith("  material_lot rejected unknown_value")
    )
    assert lines[start + 1].startswith("    ") and lines[start + 1].strip().endswith("(status.value_map))")
    assert all(len(line) <= 80 for line in lines)


def test_running_a_phase_before_the_one_it_depends_on_says_so(tmp_path):
    """`phase run inventory` first: every lot rejected (no supplier or material in the target),
    and it said 'phase inventory loaded; check it with `migrate phase approve inventory`'."""
    root = make_plant(tmp_path / "plant")
    assert run(root, "db", "upgrade").exit_code == 0
    result = run(root, "phase", "run", "inventory")
    assert result.exit_code == 0, result.output
    said = one_line(result)
    assert "phase inventory ran before master-data, which it depends on, was approved" in said
    assert "Run and approve master-data first, then run inventory again" in said
    assert "check it with `migrate phase approve inventory`" not in said
    as_json = run(root, "--json", "phase", "run", "inventory")
    assert json.loads(as_json.stdout)["unapproved_dependencies"] == ["master-data"]


def test_a_rehearsal_run_again_under_its_name_says_it_replaced_the_earlier_one(own_copy):
    """`rehearsal run mock-1` twice silently dropped the first record (and the trend with it)."""
    first = run(own_copy, "rehearsal", "run", "mock-1")
    assert "replaced" not in first.output
    again = run(own_copy, "rehearsal", "run", "mock-1")
    assert again.exit_code in (0, 1), again.output
    assert "it replaced the earlier rehearsal mock-1 of 20" in one_line(again)
