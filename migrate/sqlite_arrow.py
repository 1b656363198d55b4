"""Read one SQLite query into an Arrow IPC stream on stdout, in a process of its own.

    python sqlite_arrow.py < {"path": ..., "sql": ..., "params": [...], "batch": N}

The ADBC SQLite driver builds Arrow arrays in C, several times faster than Python's sqlite3,
but it carries its own copy of SQLite. POSIX file locks belong to a process, so two copies in
one process defeat each other's locking: closing the ADBC connection released sqlite3's locks
and deleted the -wal/-shm files under sqlite3's open connection, whose later commits were then
invisible to other processes (measured; sqlite.org/howtocorrupt.html 2.2.1). In a process of
its own the driver is just another reader. This file is run as a script: it imports nothing
from `migrate`, so it starts in the time pyarrow and the driver take to import.
"""

import json
import sys
from pathlib import Path


def main() -> int:
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa

    job = json.loads(sys.stdin.read())
    uri = Path(job["path"]).resolve().as_uri() + "?mode=ro"  # a reader never checkpoints the WAL away
    with adbc.connect(uri) as conn, conn.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 5000")  # as sqlite3's default wait for a writer
        cursor.fetchall()
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(int(job["batch"]))})
        cursor.execute(job["sql"], tuple(job["params"]) or None)
        reader = cursor.fetch_record_batch()
        with pa.ipc.new_stream(sys.stdout.buffer, reader.schema) as out:
            for batch in reader:
                out.write_batch(batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
