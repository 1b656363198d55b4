"""The database's refusals, named for what they are, each with its own next step.

A write the target refuses is one of: a lost connection (the server stopped, the network
went), a full disk, a read-only target, missing permissions, a lock held too long by
another session, or a constraint the rows break. Only the last is about the rows; for the
others the rows are fine and a plain resume after fixing the cause is what works.
SQLite says which by its extended error name, PostgreSQL by SQLSTATE.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass

from migrate.errors import EXIT_BAD_INPUT, EXIT_FAILED, TargetError
from migrate.urls import redact


@dataclass(frozen=True)
class Refusal:
    kind: str  # lost_connection, disk_full, read_only, permission, lock_timeout, constraint, other
    problem: str  # what happened, in words
    fix: str  # what to do before trying again

    @property
    def about_rows(self) -> bool:
        return self.kind in ("constraint", "other")


_WORDS = {
    "lost_connection": ("lost the connection to the target", "When the target is reachable again"),
    "disk_full": ("the target's disk is full", "Free space on the target's disk"),
    "read_only": (
        "the target is read-only",
        "Make the target writable (SQLite: the file and its folder; PostgreSQL: a primary, "
        "not a standby, and a role allowed to write)",
    ),
    "permission": ("the target refused permission", "Grant the target's user the rights to write"),
    "lock_timeout": (
        "another session held a lock on the target too long",
        "Find and end the other session (another migrate run is refused at its start, so it is someone else)",
    ),
    "constraint": ("the rows break a constraint of the target", "Fix the mapped rows (`migrate map`)"),
    "other": ("the target refused the write", "Fix what the message says"),
}

_SQLITE = {
    "SQLITE_FULL": "disk_full",
    "SQLITE_READONLY": "read_only",
    "SQLITE_CANTOPEN": "permission",
    "SQLITE_PERM": "permission",
    "SQLITE_AUTH": "permission",
    "SQLITE_BUSY": "lock_timeout",
    "SQLITE_LOCKED": "lock_timeout",
    "SQLITE_CONSTRAINT": "constraint",
    "SQLITE_IOERR": "disk_full",  # a write the file system refused (often ENOSPC)
}

_POSTGRES = {
    "53100": "disk_full",  # disk_full
    "53200": "disk_full",  # out_of_memory
    "25006": "read_only",  # read_only_sql_transaction
    "42501": "permission",  # insufficient_privilege
    "55P03": "lock_timeout",  # lock_not_available
    "57014": "lock_timeout",  # query_canceled (statement or lock timeout)
    "40P01": "lock_timeout",  # deadlock_detected
    "57P01": "lost_connection",  # admin_shutdown
    "57P02": "lost_connection",  # crash_shutdown
    "57P03": "lost_connection",  # cannot_connect_now
}


def _kind(exc: BaseException) -> str:
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        for prefix, kind in _SQLITE.items():
            if name.startswith(prefix):
                return kind
        return "constraint" if isinstance(exc, sqlite3.IntegrityError) else "other"
    # an error psycopg raised means psycopg is imported: an SQLite-only command never imports it
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(exc, psycopg.Error):
        state = exc.sqlstate or ""
        if state in _POSTGRES:
            return _POSTGRES[state]
        if state.startswith("08") or (not state and isinstance(exc, psycopg.OperationalError)):
            return "lost_connection"  # connection exceptions, or a socket that died unannounced
        return "constraint" if state.startswith("23") else "other"
    if isinstance(exc, OSError):
        return "disk_full" if exc.errno == 28 else "permission" if exc.errno in (1, 13, 30) else "other"
    return "other"


def classify(exc: BaseException) -> Refusal:
    """What kind of refusal `exc` is, in words, with the step to take before trying again."""
    kind = _kind(exc)
    problem, fix = _WORDS[kind]
    return Refusal(kind, problem, fix)


def is_lost_connection(exc: BaseException) -> bool:
    """A failure of the connection, not of the write: worth a reconnect-and-retry."""
    return _kind(exc) == "lost_connection"


def refused(exc: BaseException, while_doing: str, resume: str, after: str = "") -> TargetError:
    """The error for a refusal that is not about the rows: what happened, while doing what,
    what is safe (`after`), and the command that continues once the cause is fixed."""
    r = classify(exc)
    detail = redact(str(exc)).strip()[:200]
    return TargetError(
        f"{r.problem} while {while_doing} ({detail}).{' ' + after if after else ''}",
        hint=f"{r.fix}, then run `{resume}`.",
        exit_code=EXIT_FAILED if r.kind in ("lost_connection", "lock_timeout") else EXIT_BAD_INPUT,
        details={"refusal": r.kind},
    )
