"""What the toolkit's two database locks share: load's one-writer lease on the target
(`migrate.load.lease`) and extract's claim on one source in the work store
(`migrate.extract.claim`). Both are a PostgreSQL advisory lock, or elsewhere a row naming its
holder (host, pid, expiry) that is taken over once the holder is dead."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

# The server frees a killed holder's advisory lock ~0.3 s after the kill, when it notices the
# dead socket: a short grace keeps a run right after a crash from being refused, and still
# refuses a live holder well within 2 s.
GRACE_SECONDS = 1.0


def retry_for(attempt: Callable[[], bool], seconds: float = GRACE_SECONDS) -> bool:
    """Call `attempt` every 0.1 s until it succeeds or `seconds` have passed; its last answer."""
    deadline = time.monotonic() + seconds
    while not attempt():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def process_alive(pid: int) -> bool:
    """Whether a process of this host still runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
