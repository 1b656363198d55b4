"""One error family for the whole toolkit.

Stages raise a `MigrateError` (or a subclass) carrying *where* the problem is; the CLI
catches it once, renders one paragraph and exits with `exit_code`. Anything else that
escapes a stage is a bug and is reported as such.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found a failure (mismatch, gate not met, lock held)
EXIT_BAD_INPUT = 2  # bad usage, configuration or input


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' naming the nearest of `known` to a misspelt `name`, or ''."""
    near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


@dataclass
class MigrateError(Exception):
    """A problem the user can act on: it says where and what to do."""

    problem: str
    file: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    key: str | None = None
    hint: str | None = None
    exit_code: int = EXIT_BAD_INPUT
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.sheet is not None:
            parts.append(f"sheet {self.sheet}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.key is not None:
            parts.append(f"key {self.key}")
        return ", ".join(parts)

    @property
    def message(self) -> str:
        text = f"{self.location}: {self.problem}" if self.location else self.problem
        if self.hint:
            text = f"{text} {self.hint}"
        return text

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict:
        out = {
            "error": type(self).__name__,
            "message": self.message,
            "file": self.file,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "key": self.key,
            "hint": self.hint,
        }
        if self.details:
            out["details"] = self.details
        return out


class ConfigError(MigrateError):
    """A project file (project.yaml, a mapping, a plan...) is invalid."""


class SourceError(MigrateError):
    """A legacy source could not be read as declared."""


class TargetError(MigrateError):
    """The target database could not be used as asked."""


class CheckFailed(MigrateError):
    """The command ran and its check failed (reconcile past tolerance, gate not met, lock held)."""

    def __init__(self, problem: str, **kwargs) -> None:
        kwargs.setdefault("exit_code", EXIT_FAILED)
        super().__init__(problem, **kwargs)
