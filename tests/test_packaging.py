"""The package works from a built wheel, not only from the repository."""

from __future__ import annotations

import subprocess
import sys
import zipfile


def test_wheel_ships_migrations_and_templates(tmp_path):
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(root),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("migrate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "migrate/migrations/env.py" in names
    assert "migrate/migrations/script.py.mako" in names
    assert "migrate/migrations/versions/0001_unified_model.py" in names
    assert "migrate/templates/project/project.yaml" in names
    assert "migrate/templates/project/phases/plan.yaml" in names
    assert "migrate/report/templates/board.html.j2" in names  # the board (migrate report)
