"""The legacy factory: a deterministic, plausible legacy estate of a Chinese manufacturer.

`generate(out_dir, seed=7, scale="default")` writes the old ERP's Excel exports, the QC
lab's and the warehouse's CSVs and the MES database under `out_dir/legacy/`, and a
`manifest.json` listing every source's data-row counts and every injected defect with
its exact location and the reject reason map must give it. Same seed and scale: the
same bytes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from migrate.factory import sources
from migrate.factory.manifest import Manifest
from migrate.factory.mes import copy_mes, mes_ddl, write_mes
from migrate.factory.render import value_maps
from migrate.factory.world import build_world

__all__ = ["generate", "sizes_for", "mes_ddl", "copy_mes", "SCALES"]

_SMALL = {
    "materials": 60,
    "suppliers": 15,
    "customers": 10,
    "equipment": 8,
    "purchased_lots": 150,
    "work_orders": 40,
    "parameters": 2_000,
}
_DEFAULT = {
    "materials": 200,
    "suppliers": 40,
    "customers": 30,
    "equipment": 20,
    "purchased_lots": 700,
    "work_orders": 300,
    "parameters": 5_000,
}
SCALES = {"small": _SMALL, "default": _DEFAULT, "large": {**_DEFAULT, "parameters": 1_000_000}}


def sizes_for(scale: str | int) -> dict[str, int]:
    """Row counts of the world for a named scale, or an approximate process-parameter count."""
    if isinstance(scale, int) or (isinstance(scale, str) and scale.isdigit()):
        rows = int(scale)
        if rows < 1:
            raise ValueError(f"scale must be a positive number of rows, got {rows}")
        base = _SMALL if rows <= _SMALL["parameters"] else _DEFAULT
        return {**base, "parameters": rows}
    try:
        return dict(SCALES[scale])
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; use small, default, large or a row count") from None


def generate(out_dir: Path, *, seed: int = 7, scale: str | int = "default") -> dict[str, Any]:
    """Write the legacy estate into `out_dir` and return the manifest (also `out_dir/manifest.json`)."""
    out_dir = Path(out_dir)
    sizes = sizes_for(scale)
    (out_dir / "legacy").mkdir(parents=True, exist_ok=True)
    manifest = Manifest(seed, scale)
    manifest.value_maps = value_maps()
    # One random stream per part (string seeds hash deterministically), so adding rows
    # to one source does not reshuffle the others.
    world = build_world(random.Random(f"{seed}:world"), sizes)
    for name in ("materials", "suppliers", "lots", "sales", "inspections", "movements"):
        getattr(sources, name)(out_dir, world, random.Random(f"{seed}:{name}"), manifest)
    write_mes(out_dir, world, random.Random(f"{seed}:mes"), manifest, sizes["parameters"])
    manifest.sources = dict(sorted(manifest.sources.items()))
    return manifest.write(out_dir / "manifest.json")
