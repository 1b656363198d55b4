"""`migrate extract` and `migrate sources` through the CLI: output, --json, exit codes, selection."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from migrate.cli.app import _hoist_global_flags, app
from tests.extract.helpers import make_project

runner = CliRunner()


def run(*args):
    return runner.invoke(app, _hoist_global_flags(list(args)), env={"COLUMNS": "120"})


def _project(tmp_path):
    (tmp_path / "a.csv").write_text("编码,名称\n001,甲\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("code\n1\n2\n", encoding="utf-8")
    make_project(tmp_path, {"a": {"kind": "csv", "path": "a.csv"}, "b": {"kind": "csv", "path": "b.csv"}})
    return tmp_path


def test_extract_summary_then_unchanged(tmp_path):
    root = _project(tmp_path)
    first = run("--project", str(root), "extract")
    assert first.exit_code == 0, first.output
    assert "extracted" in first.stdout and "a " in first.stdout
    again = run("--project", str(root), "extract", "a")
    assert again.exit_code == 0 and "unchanged, nothing done" in again.stdout


def test_extract_json_and_named_sources(tmp_path):
    root = _project(tmp_path)
    result = run("--project", str(root), "extract", "b", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] and [s["source"] for s in data["sources"]] == ["b"] and data["rows"] == 2


def test_unknown_source_and_bad_file_exit_2_without_traceback(tmp_path):
    root = _project(tmp_path)
    unknown = run("--project", str(root), "extract", "nope")
    assert unknown.exit_code == 2 and "no source 'nope' is declared" in unknown.stderr
    (root / "a.csv").write_bytes(b"")
    empty = run("--project", str(root), "extract", "a")
    assert empty.exit_code == 2 and "a.csv is empty" in empty.stderr and "Traceback" not in empty.output


def test_sources_check_reports_changed_and_missing(tmp_path):
    root = _project(tmp_path)
    assert run("--project", str(root), "extract").exit_code == 0
    (root / "a.csv").write_text("编码,名称\n001,乙\n", encoding="utf-8")
    result = run("--project", str(root), "--json", "sources", "check")
    states = {s["source"]: s["state"] for s in json.loads(result.stdout)["sources"]}
    assert result.exit_code == 0 and states == {"a": "changed", "b": "ok"}
    (root / "b.csv").unlink()
    missing = run("--project", str(root), "sources", "check")
    assert missing.exit_code == 1 and "missing" in missing.stdout


def test_sources_list(tmp_path):
    root = _project(tmp_path)
    result = run("--project", str(root), "--json", "sources", "list")
    assert [s["source"] for s in json.loads(result.stdout)["sources"]] == ["a", "b"]


def test_extract_by_phase_reads_the_mappings(tmp_path):
    root = _project(tmp_path)
    (root / "phases").mkdir()
    (root / "mappings").mkdir()
    plan = {"phases": [{"name": "master", "entities": ["material"]}]}
    (root / "phases" / "plan.yaml").write_text(yaml.safe_dump(plan), encoding="utf-8")
    (root / "mappings" / "material.yaml").write_text(yaml.safe_dump({"source": "b"}), encoding="utf-8")
    result = run("--project", str(root), "--json", "extract", "--phase", "master")
    assert result.exit_code == 0, result.output
    assert [s["source"] for s in json.loads(result.stdout)["sources"]] == ["b"]


def test_sources_check_names_columns_the_mappings_use_but_the_source_lacks(tmp_path):
    root = _project(tmp_path)
    (root / "mappings").mkdir()
    mapping = {
        "entity": "material",
        "sources": ["a"],
        "columns": {"material_code": {"from": "编码"}, "name": {"from": "品名"}},
    }
    (root / "mappings" / "material.yaml").write_text(
        yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8"
    )
    result = run("--project", str(root), "--json", "sources", "check", "a")
    (source,) = json.loads(result.stdout)["sources"]
    assert result.exit_code == 1 and source["missing_columns"] == ["品名"] and source["state"] == "new"


def test_extract_json_names_the_reader_of_every_kind_also_when_unchanged(tmp_path):
    """`reader` says what read the staged rows, .ods included; an unchanged source (nothing
    read this time) names the reader of the rows still staged, not ""."""
    import pandas as pd

    root = _project(tmp_path)
    pd.DataFrame({"编码": ["007"], "数量": [1.5]}).to_excel(root / "c.ods", engine="odf", index=False)
    pd.DataFrame({"编码": ["007"], "数量": [1.5]}).to_excel(root / "d.xlsx", index=False)
    spec = yaml.safe_load((root / "project.yaml").read_text(encoding="utf-8"))
    spec["sources"] |= {"c": {"kind": "ods", "path": "c.ods"}, "d": {"kind": "xlsx", "path": "d.xlsx"}}
    (root / "project.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    runs = []
    for _ in range(2):
        result = run("--project", str(root), "--json", "extract")
        assert result.exit_code == 0, result.output
        runs.append({s["source"]: (s["status"], s["reader"]) for s in json.loads(result.stdout)["sources"]})
    csv = "csv (utf-8, ',')"
    assert runs[0] == {
        "a": ("extracted", csv),
        "b": ("extracted", csv),
        "c": ("extracted", "fastexcel"),
        "d": ("extracted", "fastexcel"),
    }
    assert runs[1] == {k: ("unchanged", reader) for k, (_, reader) in runs[0].items()}


def test_a_work_store_from_before_the_reader_column_is_read_and_upgraded(tmp_path):
    import sqlite3

    root = _project(tmp_path)
    assert run("--project", str(root), "extract").exit_code == 0
    with sqlite3.connect(root / ".migrate" / "staging.db") as c:
        c.execute("ALTER TABLE stg_runs DROP COLUMN reader")  # as an earlier version made it
    check = run("--project", str(root), "--json", "sources", "check")
    assert check.exit_code == 0 and {s["state"] for s in json.loads(check.stdout)["sources"]} == {"ok"}
    again = run("--project", str(root), "--json", "extract", "a")
    assert again.exit_code == 0, again.output
    assert [(s["status"], s["reader"]) for s in json.loads(again.stdout)["sources"]] == [("unchanged", "")]
    forced = run("--project", str(root), "--json", "extract", "a", "--force")
    assert json.loads(forced.stdout)["sources"][0]["reader"] == "csv (utf-8, ',')"
    again = run("--project", str(root), "--json", "extract", "a")
    assert json.loads(again.stdout)["sources"][0]["reader"] == "csv (utf-8, ',')"
