"""Extract into staging: values as read, lineage, layout options, fingerprints, atomic replace."""

from __future__ import annotations

import datetime as dt
import sqlite3

import openpyxl
import pytest
from sqlalchemy import create_engine, event, text

from migrate.errors import MigrateError, SourceError
from migrate.extract import check_sources, extract
from migrate.store import WorkStore
from tests.extract.helpers import make_project, staged


def _ledger(path, epoch_1904: bool = False) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2024-03"
    ws["A1"] = "批次台账 2024年3月"
    ws.append(["批次号", "物料编码", "数量", "生产日期", "备注"])
    ws.append(["L001", "00123", 12.5, dt.date(2024, 3, 5), "NA"])
    ws.append(["L002", "12345678901234567", 3, dt.datetime(2024, 3, 5, 8, 30), "=1+1"])
    ws.append(["L003", "0042", 7, None, "N/A"])
    ws.row_dimensions[5].hidden = True
    ws.cell(row=7, column=1, value="合计")  # row 6 left empty
    ws.cell(row=7, column=3, value=22.5)
    ws.append(["备注: 手工录入"])
    second = wb.create_sheet("2024-04")
    second.append(["批次号", "物料编码 ", "ＱＴＹ", "生产日期", "备注"])
    second.append(["L004", "007", 1, None, "NULL"])
    hidden = wb.create_sheet("2024-05")
    hidden.sheet_state = "hidden"
    hidden.append(["批次号"])
    hidden.append(["L999"])
    if epoch_1904:
        wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    wb.save(path)


LEDGER = {"kind": "xlsx", "path": "lots.xlsx", "sheet_pattern": r"^\d{4}-\d{2}$", "stop_at": "^合计"}


@pytest.mark.parametrize("epoch_1904", [False, True])
def test_xlsx_values_lineage_and_layout(tmp_path, epoch_1904):
    _ledger(tmp_path / "lots.xlsx", epoch_1904)
    project = make_project(tmp_path, {"lots": LEDGER})
    result = extract(project).sources[0]
    rows = staged(project, "lots")
    assert [(r["_sheet"], r["_row"]) for r in rows] == [("2024-03", 3), ("2024-03", 4), ("2024-04", 2)]
    assert {r["_source"] for r in rows} == {"lots"} and {r["_file"] for r in rows} == {"lots.xlsx"}
    assert [r["物料编码"] for r in rows] == ["00123", "12345678901234567", "007"]
    assert [r["数量"] for r in rows[:2]] == ["12.5", "3"]
    assert rows[2]["qty"] == "1"  # full-width ＱＴＹ normalised to its own column
    assert [r["生产日期"] for r in rows] == ["2024-03-05", "2024-03-05 08:30:00", None]
    assert rows[0]["备注"] == "NA" and rows[1]["备注"] is None and rows[2]["备注"] == "NULL"
    assert result.skipped == {
        "above_header": 1,
        "hidden_row": 1,
        "empty_row": 1,
        "stop_row": 1,
        "after_stop": 1,
    }
    assert result.hidden_sheets == ("2024-05",)
    assert any("row 4, column E: formula without a cached value" in w for w in result.warnings)
    assert result.sheets == {"2024-03": 2, "2024-04": 1}


def test_hidden_rows_and_sheets_on_request(tmp_path):
    _ledger(tmp_path / "lots.xlsx")
    project = make_project(tmp_path, {"lots": {**LEDGER, "include_hidden": True}})
    result = extract(project).sources[0]
    assert result.sheets == {"2024-03": 3, "2024-04": 1, "2024-05": 1}
    assert "0042" in [r["物料编码"] for r in staged(project, "lots")]


def test_merged_two_row_header_flattened(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "物料"
    ws.append(["物料主数据"])
    ws.merge_cells("A1:D1")
    ws.append(["物料编码", "名称", "数量", None])
    ws.append([None, None, "合格", "不合格"])
    ws.merge_cells("C2:D2")
    ws.merge_cells("A2:A3")
    ws.append(["M01", "螺丝", 5, 0])
    wb.save(tmp_path / "m.xlsx")
    project = make_project(
        tmp_path, {"m": {"kind": "xlsx", "path": "m.xlsx", "header_row": 2, "header_rows": 2}}
    )
    extract(project)
    (row,) = staged(project, "m")
    assert row["物料编码"] == "M01" and row["数量 合格"] == "5" and row["数量 不合格"] == "0"
    assert row["_row"] == 4


@pytest.mark.parametrize(
    ("encoding", "bom"), [("gb18030", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16", b""), ("utf-8", b"")]
)
def test_csv_encodings_detected(tmp_path, encoding, bom):
    body = "编码,名称,数量\r\n001,物料一,NA\r\n\r\n002,质检 合格,\r\n"
    (tmp_path / "q.csv").write_bytes(bom + body.encode(encoding))
    project = make_project(tmp_path, {"q": {"kind": "csv", "path": "q.csv"}})
    result = extract(project).sources[0]
    rows = staged(project, "q")
    assert [(r["_row"], r["编码"], r["名称"], r["数量"]) for r in rows] == [
        (2, "001", "物料一", "NA"),
        (4, "002", "质检 合格", None),
    ]
    assert result.skipped == {"empty_row": 1}


def test_sql_table_in_key_order_to_each_store(tmp_path, target_url):
    db = tmp_path / "mes.db"
    with sqlite3.connect(db) as c:
        c.execute("create table wo (id integer primary key, no text, qty numeric, at text)")
        c.executemany(
            "insert into wo values (?,?,?,?)", [(2, "WO2", None, "x"), (1, "WO1", 1.5, "2024-03-01")]
        )
    project = make_project(
        tmp_path,
        {"wo": {"kind": "sql", "url": f"sqlite:///{db}", "table": "wo", "chunk_size": 1}},
        staging=target_url,
    )
    assert extract(project).sources[0].rows == 2
    rows = staged(project, "wo")
    assert [(r["_row"], r["id"], r["no"], r["qty"]) for r in rows] == [
        (1, "1", "WO1", "1.5"),
        (2, "2", "WO2", None),
    ]
    assert extract(project).sources[0].status == "unchanged"
    with sqlite3.connect(db) as c:
        c.execute("update wo set no = 'WO2b' where id = 2")
    assert check_sources(project).sources[0].state == "changed"
    assert extract(project).sources[0].status == "extracted"
    assert staged(project, "wo")[1]["no"] == "WO2b"


def test_unchanged_is_a_no_op_and_change_replaces(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    project = make_project(tmp_path, {"q": {"kind": "csv", "path": "q.csv"}})
    first = extract(project).sources[0]
    again = extract(project).sources[0]
    assert again.status == "unchanged" and again.run_id == first.run_id
    path.write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    assert check_sources(project).sources[0].state == "changed"
    changed = extract(project).sources[0]
    assert changed.status == "extracted" and changed.previous_fingerprint == first.fingerprint
    assert [r["a"] for r in staged(project, "q")] == ["1", "3"]
    assert check_sources(project).sources[0].state == "ok"


def test_failed_extract_keeps_previous_rows_whole(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    project = make_project(tmp_path, {"q": {"kind": "csv", "path": "q.csv", "chunk_size": 2}})
    extract(project)
    path.write_bytes(b"a,b\n5,6\n7,8\n9,10\n\xff\xfe\xfa,1\n")  # good chunks, then bytes that are not UTF-8
    project = make_project(
        tmp_path, {"q": {"kind": "csv", "path": "q.csv", "chunk_size": 2, "encoding": "utf-8"}}
    )
    with pytest.raises(SourceError, match=r"q.csv, line 5: bytes that are not valid utf-8"):
        extract(project)
    assert [r["a"] for r in staged(project, "q")] == ["1"]
    store = WorkStore(project.staging_url)
    with store.engine.connect() as c:
        names = [r[0] for r in c.execute(text("select name from sqlite_master where type='table'"))]
        statuses = [r[0] for r in c.execute(text("select status from stg_runs order by run_id"))]
    store.dispose()
    assert not [n for n in names if n.startswith("stg__new_")]
    assert statuses == ["ok", "failed"]


def test_column_catalogue_keeps_originals_and_dedupes(tmp_path):
    (tmp_path / "d.csv").write_text("Code, code ,数量\u00a0,\n1,2,3,4\n", encoding="utf-8")
    project = make_project(tmp_path, {"d": {"kind": "csv", "path": "d.csv"}})
    extract(project)
    store = WorkStore(project.staging_url)
    with store.engine.connect() as c:
        catalogue = c.execute(
            text("select position, name, original from stg_columns order by position")
        ).all()
    store.dispose()
    assert [tuple(r) for r in catalogue] == [
        (1, "code", "Code"),
        (2, "code_2", " code "),
        (3, "数量", "数量\u00a0"),
        (4, "column_d", "column_d"),
    ]


def _full_store(path, pages: int) -> WorkStore:
    """A work store that runs out of space after `pages` pages, as a full disk would."""
    store = WorkStore(f"sqlite:///{path}")
    event.listen(store.engine, "connect", lambda conn, _: conn.execute(f"PRAGMA max_page_count={pages}"))
    return store


def test_full_or_read_only_store_is_a_clear_error_and_rerun_completes(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    store_file = tmp_path / "store.db"
    project = make_project(
        tmp_path, {"q": {"kind": "csv", "path": "q.csv"}}, staging=f"sqlite:///{store_file}"
    )
    extract(project)
    path.write_text("a,b\n" + "".join(f"{i},{'x' * 200}\n" for i in range(5000)), encoding="utf-8")
    full = _full_store(store_file, 40)
    with pytest.raises(MigrateError, match="cannot write the work store .*full") as info:
        extract(project, store=full)
    full.dispose()
    assert info.value.exit_code == 2
    read_only = WorkStore(create_engine(f"sqlite:///file:{store_file}?mode=ro&uri=true"))
    with pytest.raises(MigrateError, match="cannot write the work store .*readonly"):
        extract(project, store=read_only)
    read_only.dispose()
    assert [r["a"] for r in staged(project, "q")] == ["1"]  # the previous rows, whole
    assert extract(project).sources[0].rows == 5000


def test_xls_biff8_values_dates_and_hidden_sheet(tmp_path):
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("供应商")
    dates = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for c, name in enumerate(["供应商编码", "名称", "合格日期", "评分"]):
        ws.write(0, c, name)
    ws.write(1, 0, "000123")
    ws.write(1, 1, "N/A")
    ws.write(1, 2, dt.date(2024, 2, 29), dates)
    ws.write(1, 3, 95.5)
    hidden = book.add_sheet("old")
    hidden.write(0, 0, "x")
    hidden.visibility = 1
    book.save(str(tmp_path / "s.xls"))
    project = make_project(tmp_path, {"s": {"kind": "xls", "path": "s.xls"}})
    result = extract(project).sources[0]
    (row,) = staged(project, "s")
    assert (row["_sheet"], row["_row"], row["供应商编码"], row["名称"]) == ("供应商", 2, "000123", "N/A")
    assert (row["合格日期"], row["评分"]) == ("2024-02-29", "95.5")
    assert result.hidden_sheets == ("old",)


def test_csv_nul_character_refused_where_it_is(tmp_path, target_url):
    """pandas would cut `x<NUL>y` to `x` and PostgreSQL cannot store it: refused, located, exit 2,
    the previous rows whole (on either work store)."""
    path = tmp_path / "q.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    project = make_project(tmp_path, {"q": {"kind": "csv", "path": "q.csv"}}, staging=target_url)
    extract(project)
    path.write_text("a,b\n1,2\n3,x\x00y\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"q.csv, line 3, column 'b': a NUL character") as info:
        extract(project)
    assert info.value.exit_code == 2
    assert [r["b"] for r in staged(project, "q")] == ["2"]


@pytest.mark.postgres
def test_postgresql_store_refusing_a_row_is_a_work_store_error(tmp_path, pg_url):
    """A row PostgreSQL refuses (here a NUL inside a database source's text value) is a
    work-store error, exit 2, not an internal error."""
    db = tmp_path / "mes.db"
    with sqlite3.connect(db) as c:
        c.execute("create table t (id integer primary key, v text)")
        c.execute("insert into t values (1, ?)", ("x\x00y",))
    project = make_project(
        tmp_path, {"t": {"kind": "sql", "url": f"sqlite:///{db}", "table": "t"}}, staging=pg_url
    )
    with pytest.raises(MigrateError, match="cannot write the work store .*0x00") as info:
        extract(project)
    assert info.value.exit_code == 2


def test_csv_field_over_128_kib_is_staged_whole(tmp_path):
    """The csv module's default field limit must not refuse a long remark near the header."""
    remark = "备注" * 100_000  # 200,000 characters
    (tmp_path / "q.csv").write_text(f"a,b\n1,{remark}\n2,x\n", encoding="utf-8")
    project = make_project(tmp_path, {"q": {"kind": "csv", "path": "q.csv"}})
    assert extract(project).sources[0].rows == 2
    assert staged(project, "q")[0]["b"] == remark
