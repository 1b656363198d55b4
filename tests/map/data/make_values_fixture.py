"""How `values_filled_libreoffice.xlsx` was produced (run once by hand; CI uses the committed file).

1. Build the map tests' scenario project and export its unmapped values (`export_values`).
2. Fill `unified_value` as a consultant would (openpyxl stands in for the typing).
3. Re-save the workbook with a real spreadsheet program:
   `libreoffice --headless --convert-to xlsx --outdir OUT filled.xlsx` (Debian's libreoffice-calc).

    .venv/bin/python tests/map/data/make_values_fixture.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from openpyxl import load_workbook

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from migrate.mapping.engine import export_values  # noqa: E402
from migrate.project import Project  # noqa: E402
from tests.map import scenario  # noqa: E402

FILLED = {"神秘": "finished", "007": "packaging", "=SUM(A1)": "semi"}


def main() -> None:
    work = Path(tempfile.mkdtemp())
    project = Project(scenario.build(work / "project"))
    exported = work / "unmapped.xlsx"
    export_values(project, exported)
    book = load_workbook(exported)
    sheet = book["unmapped"]
    for row in sheet.iter_rows(min_row=2):
        row[2].value = FILLED[row[1].value]
    filled = work / "filled.xlsx"
    book.save(filled)
    out = work / "out"
    subprocess.run(
        ["libreoffice", "--headless", "--convert-to", "xlsx", "--outdir", str(out), str(filled)],
        check=True,
        timeout=300,
    )
    shutil.copy(out / "filled.xlsx", HERE / "values_filled_libreoffice.xlsx")
    print(f"wrote {HERE / 'values_filled_libreoffice.xlsx'}")


if __name__ == "__main__":
    main()
