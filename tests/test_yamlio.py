"""Hostile project files (RELIABILITY T16): an alias bomb or an oversized file in every kind
of YAML the tool reads is refused with exit 2, naming the file, in under 2 s and 200 MB;
messages show only a short excerpt of an input value.

Each case runs the real command in a fresh interpreter whose address space may grow by at
most 200 MB past what the imports took (RLIMIT_AS): on the old loader the project.yaml bomb
walked into `${VAR}` interpolation and died on that cap (or ran out the timeout)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from migrate import db
from migrate.errors import ConfigError
from migrate.project import Project
from migrate.yamlio import MAX_BYTES, guard_yaml

REPO = Path(__file__).resolve().parents[1]

BOMB = "\n".join(
    [
        "bomb:",
        '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"  {n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
    ]
)

# (file the case plants into, the command that reads it)
KINDS = {
    "project": ("project.yaml", ["sources", "list"]),
    "plan": ("phases/plan.yaml", ["phase", "list"]),
    "mapping": ("mappings/material.yaml", ["map", "material"]),
    "value map": ("mappings/values/country.yaml", ["map", "material"]),
    "reconcile": ("reconcile/material.yaml", ["reconcile", "material"]),
    "rollback plan": ("rollback/start.yaml", ["rollback", "plan", "--to", "start"]),
}

# Runs each case's command in-process after the imports, under an address-space cap of
# +200 MB: the case's file is planted, the command run and timed, the file restored.
RUNNER = r"""
import json, resource, sys, time
from pathlib import Path
from migrate.cli.app import COMMANDS, app
for name in ("sources", "phase", "map", "reconcile", "rollback"):
    COMMANDS[name].resolve()  # commands load lazily: their imports happen before the cap
import migrate.mapping.engine, migrate.reconcile, migrate.rollback.plan  # noqa: E401,F401
def vm():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
cap = vm() + 200 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
root, cases, out = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()), []
for case in cases:
    path = root / case["file"]
    original = path.read_text(encoding="utf-8")
    path.write_text(case["text"], encoding="utf-8")
    started = time.monotonic()
    try:
        app(["-p", str(root), "--quiet", *case["args"]], prog_name="migrate")
        code = 0
    except SystemExit as exc:
        code = exc.code
    except MemoryError:
        code = "MemoryError"
    out.append({"code": code, "seconds": time.monotonic() - started})
    path.write_text(original, encoding="utf-8")
    print("\n=== end of case ===", file=sys.stderr, flush=True)
print(json.dumps(out), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    for part in ("project.yaml", "phases", "mappings", "reconcile", "rollback"):
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / part)
    engine = db.make_engine(f"sqlite:///{root / '.migrate' / 'target.db'}")
    db.upgrade(engine)  # `rollback plan` reads its file once the target's schema is checked
    engine.dispose()
    return root


def _planted(original: str, hostile: str) -> str:
    if hostile == "bomb":
        return original + "\n" + BOMB + "\n"
    # valid YAML, just too much of it
    return original + "\n# padding\n" + ("# " + "x" * 98 + "\n") * (MAX_BYTES // 100 + 10)


def test_hostile_files_refused_fast(project, tmp_path):
    cases = [
        {
            "kind": kind,
            "hostile": hostile,
            "file": relative,
            "args": args,
            "text": _planted((project / relative).read_text(encoding="utf-8"), hostile),
        }
        for kind, (relative, args) in KINDS.items()
        for hostile in ("bomb", "oversized")
    ]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(project), str(tmp_path / "cases.json")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project,
    )
    results = json.loads(proc.stderr.strip().splitlines()[-1])
    outputs = proc.stderr.split("=== end of case ===")
    assert len(results) == len(cases), proc.stderr[-2000:]
    for case, result, output in zip(cases, results, outputs, strict=False):
        what = f"{case['kind']} {case['hostile']}: {output[-600:]}"
        assert result["code"] == 2, what
        assert result["seconds"] < 2.0, what
        assert case["file"] in output, what
        assert ("alias bomb" if case["hostile"] == "bomb" else "MiB") in output, what


def test_recursive_alias_refused():
    with pytest.raises(ConfigError, match="recursive"):
        guard_yaml("a: &a [1, *a]\n", "x.yaml")


def test_anchors_for_small_blocks_still_work(tmp_path):
    (tmp_path / "project.yaml").write_text(
        "name: x\nsources:\n  a: &s {kind: csv, path: a.csv}\n  b: *s\n", encoding="utf-8"
    )
    assert Project(tmp_path).spec.sources["b"].path == "a.csv"


def test_messages_show_only_an_excerpt_of_a_value(tmp_path):
    long = "Z" * 1000  # under YAML's 1024-character limit on a plain key
    (tmp_path / "project.yaml").write_text(f"name: x\n{long}: 1\n")
    with pytest.raises(ConfigError) as info:
        Project(tmp_path).spec
    (tmp_path / "phases").mkdir()
    (tmp_path / "project.yaml").write_text("name: x\n")
    (tmp_path / "phases" / "plan.yaml").write_text(f"phases:\n  - name: p\n    entities: [{long}]\n")
    with pytest.raises(ConfigError) as plan_info:
        Project(tmp_path).plan
    for error in (info.value, plan_info.value):
        assert "ZZZZ" in error.message or "ZZZZ" in (error.key or "")
        assert len(error.message) < 600, error.message[:200]
