"""`python -m migrate.factory OUT [--seed S] [--scale small|default|large|N]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from migrate.factory import generate, sizes_for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migrate.factory", description=__doc__)
    parser.add_argument("out", type=Path, help="folder to write legacy/ and manifest.json into")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--scale", default="default", help="small, default, large, or a process-parameter row count"
    )
    args = parser.parse_args(argv)
    scale = int(args.scale) if args.scale.isdigit() else args.scale
    try:
        sizes_for(scale)
    except ValueError as exc:
        parser.error(str(exc))
    manifest = generate(args.out, seed=args.seed, scale=scale)
    rows = sum(s["rows"] for s in manifest["sources"].values())
    print(
        f"wrote {len(manifest['sources'])} sources, {rows} rows, {len(manifest['defects'])} defects to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
