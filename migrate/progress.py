"""Progress reporting without UI code in the engine.

Stages take a `Progress`; the CLI passes a rich implementation on a terminal, tests
and quiet runs pass `NO_PROGRESS`.
"""

from __future__ import annotations

from typing import Protocol


class Task(Protocol):
    def advance(self, amount: int = 1) -> None: ...

    def update(self, *, total: int | None = None, description: str | None = None) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: int | None = None, unit: str = "rows") -> Task: ...


class _NullTask:
    def advance(self, amount: int = 1) -> None:
        pass

    def update(self, *, total: int | None = None, description: str | None = None) -> None:
        pass


class _NullProgress:
    def task(self, description: str, total: int | None = None, unit: str = "rows") -> Task:
        return _NullTask()


NO_PROGRESS: Progress = _NullProgress()
