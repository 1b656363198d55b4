"""One share of a SQLite content hash, sorted in a process of its own (`hashing._sqlite_hash`).

Run as a script (`python -I -S sqlite_share.py`), never imported with the package: it needs
the standard library only, so it starts in milliseconds. On standard input, one JSON request:
the database file, the SQL that starts the read transaction and the SQL of the share's sorted
lines with its parameters. On standard error: `begun` once its snapshot is taken, `done ROWS
BYTES` at the end (anything else is an error). On standard output: the share's lines as the
digest reads them (`block_bytes`). It stops when its parent is gone.

`hashing` imports `block_bytes` from here, so both processes write the digest's input the same way.

`MIGRATE_HASH_SHARE_FAULT` (test-only) kills this process with SIGKILL at a point: `start`,
`begun` (snapshot taken), `rows` (a first block written) or `done` (everything written).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

BLOCK_ROWS = 50_000


def block_bytes(rows: list[tuple[str]]) -> bytes:
    """Lines as the digest reads them: each followed by a newline, backslashes doubled (as
    PostgreSQL's COPY writes them; JSON leaves no other character COPY would escape)."""
    return ("\n".join([row[0] for row in rows]) + "\n").replace("\\", "\\\\").encode()


def _fault(point: str) -> None:
    if os.environ.get("MIGRATE_HASH_SHARE_FAULT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def _say(word: str) -> None:
    sys.stderr.write(word + "\n")
    sys.stderr.flush()


def main() -> int:
    parent = os.getppid()
    _fault("start")
    request = json.loads(sys.stdin.readline())
    uri = f"{Path(request['database']).as_uri()}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5)
    connection.execute("BEGIN")  # a read transaction's snapshot starts at its first read:
    connection.execute(request["snapshot"]).fetchall()
    _say("begun")
    _fault("begun")
    cursor = connection.execute(request["lines"], request["parameters"])
    out, rows, size = sys.stdout.buffer, 0, 0
    while block := cursor.fetchmany(BLOCK_ROWS):
        if os.getppid() != parent:  # the parent is gone: nobody will read the rest
            return 1
        data = block_bytes(block)
        out.write(data)
        rows, size = rows + len(block), size + len(data)
        _fault("rows")
    out.flush()
    _fault("done")
    _say(f"done {rows} {size}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
