"""`python -m migrate.docs [--check] [--out DIR]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from migrate.docs import differences, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m migrate.docs", description="Generate docs/ from the code."
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a page differs from the code")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="the docs folder (default: docs)")
    args = parser.parse_args(argv)
    if args.check:
        found = differences(args.out)
        for line in found:
            print(line)
        if found:
            print("docs/ is out of date: run `make docs` (python -m migrate.docs) and commit the result.")
        return 1 if found else 0
    for path in write(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
