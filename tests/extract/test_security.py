"""RELIABILITY T11 for extract: hostile header text stays data, and no secret leaves in errors or the store."""

from __future__ import annotations

import json

from sqlalchemy import inspect, text
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.extract import extract
from migrate.store import WorkStore
from tests.extract.helpers import make_project, staged

HOSTILE = ['x"; DROP TABLE stg_columns; --', "a'b", "select", "_row", "Ｘ\u200b", "é" * 40]


def test_hostile_headers_are_quoted_column_names(tmp_path):
    header = ",".join(f'"{h.replace(chr(34), chr(34) * 2)}"' for h in HOSTILE)
    (tmp_path / "h.csv").write_text(
        header + "\n" + ",".join(str(i) for i in range(len(HOSTILE))) + "\n", encoding="utf-8"
    )
    project = make_project(tmp_path, {"h": {"kind": "csv", "path": "h.csv"}})
    extract(project)
    (row,) = staged(project, "h")
    store = WorkStore(project.staging_url)
    with store.engine.connect() as c:
        catalogue = c.execute(text("select name, original from stg_columns order by position")).all()
    tables = set(inspect(store.engine).get_table_names())
    store.dispose()
    assert {"stg_columns", "stg_runs", "stg_h"} <= tables
    assert [o for _, o in catalogue] == HOSTILE
    assert row["_row"] == 2  # a header named `_row` did not overwrite the lineage column
    names = [n for n, _ in catalogue]
    assert [row[n] for n in names] == [str(i) for i in range(len(HOSTILE))]
    assert all(len(n.encode()) <= 63 for n in names)


def test_database_password_never_in_errors_or_the_store(tmp_path):
    secret = "Sup3rS3cretPw"
    url = f"postgresql://erp:{secret}@127.0.0.1:1/legacy?sslpassword=Qu3rySecret"
    (tmp_path / "a.csv").write_text("a\n1\n", encoding="utf-8")
    make_project(
        tmp_path, {"a": {"kind": "csv", "path": "a.csv"}, "mes": {"kind": "sql", "url": url, "table": "wo"}}
    )
    runner = CliRunner()
    assert runner.invoke(app, ["--project", str(tmp_path), "extract", "a"]).exit_code == 0
    result = runner.invoke(app, ["--project", str(tmp_path), "--json", "extract", "mes"])
    assert result.exit_code == 2
    assert "cannot read postgresql" in json.loads(result.stdout)["message"]
    checked = runner.invoke(app, ["--project", str(tmp_path), "--json", "sources", "check"])
    dump = (tmp_path / ".migrate" / "staging.db").read_bytes()
    for output in (result.output, checked.output, dump.decode("latin-1")):
        assert secret not in output and "Qu3rySecret" not in output
