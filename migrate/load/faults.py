"""Test-only fault injection, read only by the load loop.

`MIGRATE_LOAD_FAULT` lists faults as `POINT:CHUNK[:ENTITY]`, comma separated. CHUNK is a
chunk number (the fault fires once per process), `N+` (every time from chunk N on) or `*`
(every time). Crash points kill
the process with SIGKILL, so nothing (no finally, no atexit) softens the crash:

- before_begin, after_data, after_ledger, after_checkpoint, after_commit: at that point of
  the chunk; during_commit: a thread sends SIGKILL while the COMMIT is in flight.
- lose_connection: the connection breaks before COMMIT (PostgreSQL: the backend is
  terminated from outside; SQLite: the driver call fails); lose_reply: the COMMIT succeeds
  but its reply is lost.

- disk_full (SQLite): the chunk's connection may not grow the file (`PRAGMA max_page_count`),
  so its writes meet SQLite's real SQLITE_FULL, as on a full disk; a later process is free.

- stall (a load on several connections): that chunk waits after its data, the
  `MIGRATE_LOAD_SLOW` seconds or 2 s, so the chunks after it commit first (a hole to resume).

`MIGRATE_LOAD_SLOW=SECONDS` sleeps after each chunk's data (signal and lock tests).
`MIGRATE_SEEDED_BUG` turns on a bug a test must catch: `checkpoint_after_commit`,
`blind_retry`, `resume_after_last_chunk` (a load on several connections resumed after its
highest committed chunk, leaving earlier holes) (and, read by migrate.rollback.replay, `rollback_update_as_delete`).
`migrate rollback run` answers to the same crash points with ENTITY `rollback` (its chunks).
"""

from __future__ import annotations

import os
import signal
import threading
import time

CRASH_POINTS = (
    "before_begin",
    "after_data",
    "after_ledger",
    "after_checkpoint",
    "during_commit",
    "after_commit",
)


def _parse(spec: str) -> list[tuple[str, str, str | None]]:
    faults = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        parts = item.split(":")
        faults.append((parts[0], parts[1] if len(parts) > 1 else "*", parts[2] if len(parts) > 2 else None))
    return faults


class Faults:
    """The faults switched on for this process (none in normal use)."""

    def __init__(self, spec: str | None = None, slow: str | None = None, bug: str | None = None) -> None:
        self.faults = _parse(spec if spec is not None else os.environ.get("MIGRATE_LOAD_FAULT", ""))
        self.slow = float(slow if slow is not None else os.environ.get("MIGRATE_LOAD_SLOW", "0") or 0)
        self.bug = bug if bug is not None else os.environ.get("MIGRATE_SEEDED_BUG", "")
        self._fired: set[tuple[str, str, str | None]] = set()

    def active(self, point: str, entity: str, chunk: int) -> bool:
        for fault in self.faults:
            name, when, only = fault
            if name != point or (only and only != entity) or fault in self._fired:
                continue
            if when == "*" or (when.endswith("+") and chunk >= int(when[:-1])):
                return True
            if when == str(chunk):
                self._fired.add(fault)
                return True
        return False

    def at(self, point: str, entity: str, chunk: int) -> None:
        """Crash here if a fault names this point of this chunk."""
        if self.faults and self.active(point, entity, chunk):
            os.kill(os.getpid(), signal.SIGKILL)

    def kill_during(self, entity: str, chunk: int) -> None:
        """Start a SIGKILL racing the COMMIT that follows."""
        if self.faults and self.active("during_commit", entity, chunk):
            threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGKILL), daemon=True).start()
            time.sleep(0)  # let the killer run while the commit is being written

    def fill_disk(self, conn, entity: str, chunk: int) -> None:
        """Make the disk full for this connection's writes (SQLite) if a fault says so."""
        if self.faults and conn.dialect == "sqlite" and self.active("disk_full", entity, chunk):
            pages = conn.scalar("PRAGMA page_count")
            conn.scalar(f"PRAGMA max_page_count = {int(pages)}")

    def pause(self) -> None:
        if self.slow:
            time.sleep(self.slow)

    def stall(self, entity: str, chunk: int) -> None:
        """Hold this chunk uncommitted while the others go on, if a fault says so."""
        if self.faults and self.active("stall", entity, chunk):
            time.sleep(self.slow or 2.0)


NO_FAULTS = Faults("", "0", "")
