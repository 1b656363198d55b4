"""The README's own-project walkthrough, followed as written on a fresh project: from
`migrate init` to an approved first phase, with a small workbook written by openpyxl.

The commands and the file edits are read from the README itself (its `sh` blocks, and its
`yaml` blocks whose first line names the file they go into), so the README cannot drift."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from openpyxl import Workbook
from typer.testing import CliRunner

from migrate.cli.app import app

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Your own project, step by step"
# The workbook the walkthrough describes: a sheet per entity of the first phase.
SHEETS = {
    "suppliers": [
        ["Supplier Code", "Name", "Country", "Status"],
        ["V001", "Acme Resins", "CN", "合格"],
        ["V002", "Borealis", "AT", "暂停"],
    ],
    "customers": [["Customer Code", "Name", "Country"], ["C001", "Haier", "CN"]],
    "materials": [
        ["Material Code", "Name", "Material Type", "Base UoM"],
        ["M001", "PP pellets", "raw", "kg"],
        ["M002", "Carton 40x30", "packaging", "pcs"],
    ],
    "equipment": [["Equipment Code", "Name", "Line"], ["E01", "Injection press 1", "L1"]],
}


def walkthrough_blocks() -> list[tuple[str, str]]:
    """(language, body) of every fenced block of the walkthrough section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


def apply_edit(block: str) -> None:
    """A yaml block's first line says where it goes: `# FILE` (the whole file), `# FILE, instead
    of `TEXT`` or `# FILE, instead of the commented NAME line`."""
    first, _, body = block.partition("\n")
    match = re.fullmatch(r"# (\S+)(?:, instead of (.+))?", first.strip())
    assert match, f"a yaml block of the walkthrough does not name its file: {first!r}"
    path, instead = Path(match.group(1)), match.group(2)
    if instead is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    literal = re.fullmatch(r"`(.+)`", instead)
    if literal:
        assert literal.group(1) in text, f"{path} has no {literal.group(1)!r}"
        text = text.replace(literal.group(1), body.rstrip("\n"), 1)
    else:
        column = re.fullmatch(r"the commented (\w+) line", instead).group(1)
        pattern = re.compile(rf"^\s*# {column}:.*$", re.M)
        assert pattern.search(text), f"{path} has no commented {column} line"
        text = pattern.sub(lambda _: body.rstrip("\n"), text, count=1)
    path.write_text(text, encoding="utf-8")


def write_workbook(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in SHEETS.items():
        sheet = wb.create_sheet(name)
        for row in rows:
            sheet.append(row)
    wb.save(path)


def test_readme_walkthrough_reaches_an_approved_first_phase(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ran = []
    for language, body in walkthrough_blocks():
        if language == "yaml":
            apply_edit(body)
            continue
        for line in body.splitlines():
            words = shlex.split(line, comments=True)
            if not words:
                continue
            if words[0] == "cd":
                monkeypatch.chdir(words[1])
                write_workbook(Path("legacy/master.xlsx"))  # "then put the workbook in my-cutover/legacy/"
                continue
            assert words[0] == "migrate", line
            result = runner.invoke(app, ["--operator", "li.wei", *words[1:]], env={"COLUMNS": "120"})
            assert result.exit_code == 0, f"{line}\n{result.output}"
            ran.append(words[1:3])
    assert ["phase", "approve"] in ran  # the walkthrough goes all the way
    status = runner.invoke(app, ["--json", "phase", "status"])
    phases = {p["phase"]: p for p in json.loads(status.stdout)["phases"]}
    assert phases["master-data"]["approved"] is True
    assert [e["rows"] for e in phases["master-data"]["entities"]] == [2, 1, 2, 1]
