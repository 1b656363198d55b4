"""Worker processes of a stage: how they start (fork, sharing the parent's heap), how they end
when the parent is gone, and the scratch files big items cross to them in.

Used by extract's segment workers and by the ingest process (`ingest.py`) that extract and map
share, so it sits below both.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

from migrate.locks import process_alive


def usable_cores() -> int:
    """The cores this process may run on (Linux: its affinity, which a container may narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_context():
    """fork on Linux: a spawned worker would first import the parent's __main__ (the `migrate`
    console script imports every command: about 2 s per process). Workers touch none of the
    parent's connections or threads (Arrow and logging reset their own at fork) and end by
    os._exit, which closes nothing the parent holds. Elsewhere fork is unsafe or missing: spawn."""
    return get_context("fork" if sys.platform.startswith("linux") else "spawn")


@contextmanager
def frozen_heap():
    """Forks made inside share the parent's objects for good: the collector leaves frozen objects
    alone, so a child's collections do not copy the pages they sit on (Python's gc.freeze idiom)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def watch_parent(parent: int) -> None:
    """In a worker: end when the parent is gone (kill -9 leaves the pool's queues open, and a
    worker would wait on them for ever)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def scratch_dir() -> str:
    """Segments and staged batches cross to worker processes as files, written and read once
    (memory-backed /dev/shm when it is there): a big item in a pool's pipe blocks its feeder
    thread for good when the process that should read it is killed. Files of processes that
    are gone (kill -9) are removed here."""
    shm = Path("/dev/shm")
    directory = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else tempfile.gettempdir()
    for leftover in Path(directory).glob("migrate-scratch-*"):
        try:
            pid = int(leftover.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if not process_alive(pid):
            leftover.unlink(missing_ok=True)
    return directory


def scratch_file(directory: str, suffix: str) -> str:
    """A new scratch file's name, carrying the writer's process id (see scratch_dir)."""
    return os.path.join(directory, f"migrate-scratch-{os.getpid()}-{uuid.uuid4().hex}{suffix}")
