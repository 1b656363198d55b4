"""A newcomer's first PostgreSQL project, made with `migrate init`: a master workbook written by
openpyxl (suppliers, materials and a notes sheet), a GBK customer CSV and a UTF-8-with-BOM lot
CSV; the target a database of its own on a PostgreSQL server, its URL in project.yaml with the
password from an environment variable. What broke or confused on the way, each pinned here,
with the mistakes a newcomer makes with PostgreSQL: each exits 2 with one paragraph naming what
is wrong and what to do, never an internal error."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import text
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.db import make_engine, upgrade
from migrate.scaffold import scaffold
from tests import pgserver
from tests.cli.terminal import run_in_terminal, screen_lines
from tests.signoff.helpers import keygen, require_signatures, write_people

pytestmark = pytest.mark.postgres

SOURCES = """sources:
  suppliers: {kind: xlsx, path: legacy/master.xlsx, sheet: 供应商}
  materials: {kind: xlsx, path: legacy/master.xlsx, sheet: 物料}
  customers: {kind: csv, path: legacy/customers.csv, encoding: gbk}
  lots: {kind: csv, path: legacy/lots.csv}
"""

MAPPINGS = {
    "supplier": """entity: supplier
sources: [suppliers]
columns:
  supplier_code: {from: 供应商编码, steps: [trim]}
  name: {from: 供应商名称, steps: [trim]}
  qualification_status: {from: 状态, steps: [trim, {value_map: qualification_status}]}
""",
    "material": """entity: material
sources: [materials]
columns:
  material_code: {from: 物料编码, steps: [trim]}
  name: {from: 物料名称, steps: [trim]}
  material_type: {const: raw}
  base_uom: {from: 单位, steps: [trim]}
  shelf_life_days: {from: 保质期, steps: [integer]}
rules:
  - {range: {column: shelf_life_days, min: 0}, reason: out_of_range}
""",
    "customer": """entity: customer
sources: [customers]
columns:
  customer_code: {from: 客户编码, steps: [trim]}
  name: {from: 客户名称, steps: [trim]}
""",
    "material_lot": """entity: material_lot
sources: [lots]
columns:
  lot_no: {from: 批号, steps: [trim]}
  material_code: {from: 物料, steps: [trim]}
  supplier_code: {from: 供应商, steps: [trim]}
  quantity: {from: 数量, steps: [decimal]}
  uom: {const: kg}
  status: {from: 状态, steps: [trim, {value_map: lot_status}]}
""",
}

VALUE_MAPS = {
    "qualification_status": "entries:\n  合格: approved\n  暂停: blocked\n",
    "lot_status": "entries:\n  Q: quarantine\n  R: released\n",
}

PLAN = """phases:
  - name: master-data
    entities: [supplier, material, customer]
  - name: open-inventory
    depends_on: [master-data]
    entities: [material_lot]
"""


def write_legacy(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    book = Workbook()
    suppliers = book.active
    suppliers.title = "供应商"
    suppliers.append(["供应商编码", "供应商名称", "状态"])
    for i in range(1, 13):
        suppliers.append([f"S{i:03d}", f"宁波供应商{i}", ["合格", "暂停", "试用"][i % 3]])
    materials = book.create_sheet("物料")
    materials.append(["物料编码", "物料名称", "单位", "保质期"])
    for i in range(1, 9):
        materials.append([f"M{i:03d}", f"轴承钢{i}", "kg", -5 if i == 7 else 365])
    book.create_sheet("说明").append(["主数据导出, 请勿修改"])
    book.save(folder / "master.xlsx")
    with (folder / "customers.csv").open("w", encoding="gbk", newline="") as handle:
        csv.writer(handle).writerows(
            [("客户编码", "客户名称"), *((f"C{i:02d}", f"客户{i}") for i in range(1, 6))]
        )
    with (folder / "lots.csv").open("w", encoding="utf-8-sig", newline="") as handle:
        rows = [
            (f"L{i:04d}", f"M{i % 8 + 1:03d}", f"S{i % 12 + 1:03d}", f"{i * 1.5}", "QR"[i % 2])
            for i in range(40)
        ]
        csv.writer(handle).writerows([("批号", "物料", "供应商", "数量", "状态"), *rows])


def make_plant(root: Path, target: str) -> Path:
    """The project as the README teaches it: the target's URL in project.yaml, its password
    from the environment (${ERP_PASSWORD}; the test server trusts any)."""
    scaffold(root)
    write_legacy(root / "legacy")
    user, _, rest = target.removeprefix("postgresql+psycopg://").partition("@")
    project = (root / "project.yaml").read_text(encoding="utf-8")
    project = project.replace("sources: {}", SOURCES).replace(
        "target: sqlite:///.migrate/target.db",
        f"target: postgresql+psycopg://{user}:${{ERP_PASSWORD}}@{rest}",
    )
    (root / "project.yaml").write_text(project, encoding="utf-8")
    for entity, body in MAPPINGS.items():
        (root / "mappings" / f"{entity}.yaml").write_text(body, encoding="utf-8")
    for name, body in VALUE_MAPS.items():
        (root / "mappings" / "values" / f"{name}.yaml").write_text(body, encoding="utf-8")
    (root / "phases" / "plan.yaml").write_text(PLAN, encoding="utf-8")
    return root


def run(root: Path, *args: str):
    return CliRunner().invoke(
        app,
        ["--project", str(root), "--operator", "li.na", *args],
        env={"COLUMNS": "80", "ERP_PASSWORD": "not-a-secret"},
    )


def one_line(result) -> str:
    return " ".join(result.output.split())


def refused_cleanly(result, *words: str) -> str:
    """Exit 2, one error paragraph holding `words`, no traceback and no internal error."""
    said = one_line(result)
    assert result.exit_code == 2, result.output
    assert "internal error" not in said and "Traceback" not in said, said
    for word in words:
        assert word in said, said
    return said


def json_refusal(result) -> dict:
    """Under --json stdout is one JSON object and nothing else."""
    assert result.exit_code == 2, result.output
    out = json.loads(result.stdout)
    assert out["ok"] is False
    return out


@pytest.fixture
def plant(tmp_path, pg_url) -> Path:
    root = make_plant(tmp_path / "plant", pg_url)
    assert run(root, "db", "upgrade").exit_code == 0
    return root


@pytest.fixture
def server_base(pg_server) -> str:
    """The shared server's URL without its database name."""
    return pg_server.rpartition("/")[0]


def test_a_postgres_scheme_names_the_scheme_to_write(tmp_path):
    """`postgres://` (Heroku's, libpq's spelling) ended in "internal error: NoSuchModuleError:
    Can't load plugin: sqlalchemy.dialects:postgres"."""
    root = tmp_path / "plant"
    scaffold(root)
    url = "postgres://erp@127.0.0.1:5432/erp"
    for args in (("db", "upgrade"), ("phase", "status"), ("reconcile",)):
        refused_cleanly(run(root, "--target", url, *args), "postgres://", "postgresql+psycopg://")
    assert (
        "postgresql+psycopg://" in json_refusal(run(root, "--json", "--target", url, "db", "upgrade"))["hint"]
    )
    refused_cleanly(run(root, "--target", "postgresq://erp@h/erp", "db", "current"), "no database driver")


def test_a_database_not_created_yet_says_to_create_it(tmp_path, server_base):
    root = make_plant(tmp_path / "plant", f"{server_base}/pguser_missing_{uuid.uuid4().hex[:8]}")
    for args in (("db", "upgrade"), ("phase", "status"), ("extract", "customers")):
        refused_cleanly(run(root, *args), "does not exist", "CREATE DATABASE")


def test_a_server_not_running_says_to_start_it(tmp_path):
    """A port with nothing listening. `extract` and `map` reach the target only to audit, after
    their work: that ended in "internal error: OperationalError" once the work was done."""
    root = make_plant(tmp_path / "plant", pgserver.url_for(pgserver.free_port(), "erp"))
    for args in (("db", "upgrade"), ("phase", "status"), ("extract",), ("map",)):
        refused_cleanly(run(root, *args), "Connection refused", "Start the server")
    assert not (root / ".migrate" / "staging.db").exists()  # refused before the work, not after
    assert "Start the server" in json_refusal(run(root, "--json", "map"))["message"]


def test_a_user_without_create_rights_is_told_what_to_grant(tmp_path, pg_url, pg_server):
    """`db upgrade` as a user who may not create tables ended in an internal error quoting
    alembic's CREATE TABLE statement."""
    role = f"pguser_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE ROLE {role} LOGIN"))
    try:
        target = pg_url.replace("postgresql+psycopg://postgres@", f"postgresql+psycopg://{role}@")
        root = make_plant(tmp_path / "plant", target)
        refused_cleanly(
            run(root, "db", "upgrade"),
            "permission denied for schema public",
            f"GRANT CREATE ON SCHEMA public TO {role}",
        )
        assert "CREATE TABLE" not in run(root, "db", "upgrade").output  # not the statement's text
        owner = make_engine(pg_url)
        upgrade(owner)  # the tables made by their owner; the role may not use them yet
        owner.dispose()
        said = refused_cleanly(run(root, "phase", "status"), "permission denied for table")
        assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}" in said
        assert "GRANT CREATE" not in said
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP OWNED BY {role}"))
            c.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def test_a_target_of_a_newer_migrate_is_not_sent_to_db_upgrade(plant, pg_url):
    """A target at a revision this migrate does not ship: every command said "Run `migrate db
    upgrade` first", and `db upgrade` then ended in "internal error: CommandError"."""
    engine = make_engine(pg_url)
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    for args in (("rollback", "points"), ("db", "upgrade"), ("phase", "status")):
        said = refused_cleanly(run(plant, *args), "revision 0099", "a newer migrate upgraded it")
        assert "Run `migrate db upgrade`" not in said


def test_an_older_target_and_an_unknown_revision(plant):
    assert run(plant, "db", "downgrade", "0006", "--yes", "--force").exit_code == 0
    refused_cleanly(run(plant, "reconcile"), "revision 0006", "Run `migrate db upgrade` first")
    refused_cleanly(run(plant, "db", "upgrade", "0042"), "no schema revision '0042'")
    assert run(plant, "db", "upgrade").exit_code == 0


def test_sign_refuses_a_phase_with_nothing_loaded(plant, pg_url, tmp_path):
    """A QA person signing `reviewed` a phase nobody loaded was accepted: a signature over
    empty evidence, superseded by the load that follows."""
    key = keygen(tmp_path / "keys", "li.na")
    write_people(plant, {"li.na": (["qa"], key)})
    require_signatures(plant, "master-data", [{"role": "qa", "meaning": "reviewed"}])
    args = ("sign", "master-data", "--as", "qa", "--meaning", "reviewed", "--key", str(key))
    refused = run(plant, *args)
    assert refused.exit_code == 1, refused.output
    said = one_line(refused)
    assert "phase master-data is not loaded" in said and "supplier not loaded" in said
    assert "migrate phase run master-data" in said
    prepared = run(
        plant,
        "sign",
        "master-data",
        "--as",
        "qa",
        "--meaning",
        "reviewed",
        "--key",
        str(key),
        "--prepare",
        str(tmp_path / "statement"),
    )
    assert prepared.exit_code == 1 and not (tmp_path / "statement").exists()
    engine = make_engine(pg_url)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM migrate_signature")).scalar() == 0
    engine.dispose()

    assert run(plant, "phase", "run", "master-data").exit_code == 0
    signed = run(plant, *args)
    assert signed.exit_code == 0, signed.output


def test_sources_check_warns_of_stacked_sheets_as_extract_does(plant):
    """Without `sheet:` a workbook's visible sheets are stacked; extract warned naming them,
    `sources check` (run first, as the README says) did not."""
    project = plant / "project.yaml"
    project.write_text(
        project.read_text(encoding="utf-8").replace(
            "  lots: {kind: csv", "  everything: {kind: xlsx, path: legacy/master.xlsx}\n  lots: {kind: csv"
        ),
        encoding="utf-8",
    )
    checked = run(plant, "sources", "check", "everything")
    assert checked.exit_code == 0, checked.output
    assert "all 3 visible sheets are stacked (供应商, 物料, 说明)" in one_line(checked)
    (warning,) = json.loads(run(plant, "--json", "sources", "check", "everything").stdout)["sources"][0][
        "warnings"
    ]
    assert "declare `sheet:`" in warning
    single = run(plant, "--json", "sources", "check", "suppliers")
    assert json.loads(single.stdout)["sources"][0]["warnings"] == []


def test_a_utf16_file_declared_gbk_names_the_encoding_to_write(plant):
    """A customer export re-saved as "Unicode text" (UTF-16, with its byte-order mark) while
    project.yaml still says `encoding: gbk` was "bytes that are not valid gbk text"."""
    customers = plant / "legacy" / "customers.csv"
    rows = customers.read_text(encoding="gbk")
    customers.write_text(rows, encoding="utf-16")
    said = refused_cleanly(
        run(plant, "extract", "customers"),
        "legacy/customers.csv",
        "UTF-16 (little-endian) byte-order mark",
        "`encoding: gbk`",
        "Write `encoding: utf-16`",
    )
    assert "not valid gbk" not in said
    checked = json.loads(run(plant, "--json", "sources", "check", "customers").stdout)["sources"][0]
    assert checked["state"] == "unreadable" and "Write `encoding: utf-16`" in checked["problem"]
    customers.write_text(rows, encoding="utf-8-sig")
    refused_cleanly(
        run(plant, "extract", "customers"), "UTF-8 byte-order mark", "Write `encoding: utf-8-sig`"
    )


def test_a_password_with_url_characters_from_the_environment(plant):
    """`${ERP_PASSWORD}` holding `@ : / #` broke the URL it was put in: "internal error:
    ValueError: invalid literal for int() with base 10: 'w'", a piece of the password."""
    secret = "p@ss:w/rd#1"
    env = {"COLUMNS": "80", "ERP_PASSWORD": secret}
    for args in (("db", "current"), ("--json", "phase", "status")):
        result = CliRunner().invoke(app, ["--project", str(plant), *args], env=env)
        assert result.exit_code == 0, result.output
        assert "ss:w" not in result.output and "rd#1" not in result.output
    written = run(plant, "--target", "postgresql+psycopg://erp:p@ss:w/rd@127.0.0.1/erp", "db", "current")
    said = refused_cleanly(written, "Percent-encode", "%40")
    assert "ss:w" not in said


def test_a_database_source_on_a_server_not_running_says_to_start_it(plant):
    """A legacy MES database declared as a source: its connection fault said only libpq's words."""
    dead = pgserver.url_for(pgserver.free_port(), "mes")
    project = plant / "project.yaml"
    project.write_text(
        project.read_text(encoding="utf-8").replace(
            "  lots: {kind: csv", f"  mes: {{kind: sql, url: '{dead}', table: lots}}\n  lots: {{kind: csv"
        ),
        encoding="utf-8",
    )
    refused_cleanly(run(plant, "extract", "mes"), "source mes", "Connection refused", "Start the server")
    checked = json.loads(run(plant, "--json", "sources", "check", "mes").stdout)["sources"][0]
    assert checked["state"] == "unreadable" and "Start the server" in checked["problem"]


def test_ctrl_c_in_a_rollback_says_where_it_stopped_and_how_to_finish(plant):
    """A rollback on PostgreSQL takes a while (148,454 lots: 11-33 s here); Ctrl-C in it said
    only "interrupted (Ctrl-C)." -- nothing on what was undone or what to run next."""
    for args in (
        ("phase", "run", "master-data"),
        ("phase", "approve", "master-data"),
        ("phase", "run", "open-inventory"),
    ):
        assert run(plant, *args).exit_code == 0
    code, screen = run_in_terminal(
        ["--project", str(plant), "rollback", "run", "--to", "master-data", "--yes", "--chunk-size", "1"],
        cwd=plant,
        interrupt_at="rollback to master-data",
        env={"ERP_PASSWORD": "x", "MIGRATE_LOAD_SLOW": "2"},  # each chunk held 2 s: Ctrl-C lands in one
    )
    said = " ".join(" ".join(screen_lines(screen)).split())
    assert code == 130, said
    assert "rollback to master-data stopped (Ctrl-C) after undoing 0 of" in said
    assert "Run `migrate rollback run --to master-data` again to finish it" in said
    finished = run(plant, "rollback", "run", "--to", "master-data", "--yes")
    assert finished.exit_code == 0 and "back at master-data" in one_line(finished)


def test_a_database_holding_another_applications_tables_is_refused_before_any_change(tmp_path, pg_url):
    """The newcomer points `target:` at the existing ERP database, which has its own `supplier`:
    `db upgrade` ended in "internal error: ProgrammingError: (psycopg.errors.DuplicateTable)"
    followed by alembic's whole CREATE TABLE statement."""
    engine = make_engine(pg_url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE supplier (code text PRIMARY KEY, name text)"))
    root = make_plant(tmp_path / "plant", pg_url)
    refused_cleanly(run(root, "db", "upgrade"), "already holds tables migrate did not create", ": supplier.")
    with engine.connect() as c:
        tables = set(c.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    engine.dispose()
    assert tables == {"supplier"}  # nothing created beside it


def test_a_global_option_after_the_command_says_where_it_goes(tmp_path):
    """`migrate db upgrade --target URL` (the natural order for a newcomer) said "No such option:
    --target" with the command's usage, which lists no --target."""
    root = tmp_path / "plant"
    scaffold(root)

    def migrate(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "migrate", *args], cwd=root, capture_output=True, text=True, timeout=60
        )

    wrong = migrate("db", "upgrade", "--target", "postgresql+psycopg://erp@db/erp")
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert "--target is a global option: write it before the command" in wrong.stderr
    assert "`migrate --target VALUE db ...`" in wrong.stderr
    assert "global option" in migrate("phase", "list", "--quiet").stderr
    scratch = migrate("rehearsal", "run", "m1", "--target", "postgres://x@y/z")  # rehearsal's own --target
    assert "global option" not in scratch.stderr and "postgresql+psycopg://" in scratch.stderr


def test_a_database_source_in_a_schema_of_its_own(plant, pg_url):
    """The MES tables live in schema `mes`, chosen as libpq does, with `?options=-csearch_path=mes`
    in the source's URL: the read-only option migrate adds replaced it, and the table was
    not found (or, worse, a table of the same name in `public` was read)."""
    engine = make_engine(pg_url)
    with engine.begin() as c:
        c.execute(text("CREATE SCHEMA mes"))
        c.execute(text("CREATE TABLE mes.lots (lot_no text PRIMARY KEY, qty numeric)"))
        c.execute(text("INSERT INTO mes.lots VALUES ('L1', 1.5), ('L2', 2)"))
        c.execute(text("CREATE TABLE public.lots (lot_no text)"))  # the wrong one, empty
    engine.dispose()
    project = plant / "project.yaml"
    url = f"{pg_url}?options=-csearch_path%3Dmes"
    project.write_text(
        project.read_text(encoding="utf-8").replace(
            "  lots: {kind: csv", f"  mes: {{kind: sql, url: '{url}', table: lots}}\n  lots: {{kind: csv"
        ),
        encoding="utf-8",
    )
    extracted = run(plant, "--json", "extract", "mes")
    assert extracted.exit_code == 0, extracted.output
    assert json.loads(extracted.stdout)["sources"][0]["rows"] == 2
