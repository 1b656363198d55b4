"""Keys made by the real ssh-keygen, people.yaml written from them, the CLI on a project."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from typer.testing import CliRunner

from migrate.cli.app import app


def keygen(directory: Path, name: str, passphrase: str = "") -> Path:
    """An ed25519 key pair made by ssh-keygen; returns the private key's path."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", f"{name}@test", "-f", str(key)],
        check=True,
    )
    return key


def write_people(root: Path, people: dict[str, tuple[list[str], Path]], **extra) -> None:
    """people.yaml: {name: (roles, private key path)}."""
    rows = [
        {"name": n, "printed_name": n.title(), "roles": roles, "key": Path(f"{k}.pub").read_text().strip()}
        for n, (roles, k) in people.items()
    ]
    (root / "people.yaml").write_text(yaml.safe_dump({**extra, "people": rows}, allow_unicode=True))


def cli(root: Path, *args: str, operator: str = "tester", env: dict | None = None):
    return CliRunner().invoke(
        app,
        ["--project", str(root), "--operator", operator, *args],
        env={"COLUMNS": "240", **(env or {})},
    )


def require_signatures(root: Path, phase: str, required: list[dict]) -> None:
    """Add `signatures:` to one phase of the project's plan."""
    plan_file = root / "phases" / "plan.yaml"
    plan = yaml.safe_load(plan_file.read_text())
    for p in plan["phases"]:
        if p["name"] == phase:
            p["signatures"] = required
    plan_file.write_text(yaml.safe_dump(plan, allow_unicode=True, sort_keys=False))


def reference_project(root: Path, target: str | None = None) -> Path:
    """The reference project (500-row factory) with its schema at head on `target`."""
    from migrate import db
    from migrate.demo import prepare
    from migrate.project import Project

    prepare(root, rows=500)
    engine = db.make_engine(target or Project(root).target_url)
    db.upgrade(engine)
    engine.dispose()
    return root
